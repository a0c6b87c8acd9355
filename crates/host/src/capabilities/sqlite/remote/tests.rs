use super::*;

fn hrana(message: &str) -> libsql::Error {
    libsql::Error::Hrana(message.into())
}

#[test]
fn a_lock_held_elsewhere_reaches_the_guest_as_sqlites_own_text() {
    for message in [
        "stream error: Error { message: \"SQLite error: database is locked\", code: \"SQLITE_BUSY\" }",
        "stream error: Error { message: \"database table is locked\", code: \"SQLITE_LOCKED\" }",
    ] {
        assert!(matches!(failed(&hrana(message)), Error::Io(text) if text == super::super::BUSY));
    }
}

#[test]
fn a_full_database_and_other_failures_keep_their_meaning() {
    let full = hrana(
        "stream error: Error { message: \"database or disk is full\", code: \"SQLITE_FULL\" }",
    );
    assert!(matches!(failed(&full), Error::DatabaseFull));
    let refused =
        hrana("http error: error trying to connect: tcp connect error: Connection refused");
    let Error::Io(text) = failed(&refused) else {
        panic!("an io error");
    };
    assert!(
        text.starts_with("libsql: ") && text.contains("Connection refused"),
        "{text}"
    );
}

#[test]
fn values_cross_both_ways_unchanged() {
    let values = [
        Value::Integer(i64::MIN),
        Value::Real(1.5),
        Value::Text("é".into()),
        Value::Blob(vec![0, 255]),
        Value::Null,
    ];
    for value in values {
        let back = from_libsql(to_libsql(&value));
        assert_eq!(format!("{back:?}"), format!("{value:?}"));
    }
}

#[test]
fn outside_the_multi_threaded_runtime_a_statement_is_an_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async { wait(async { Ok(()) }) });
    assert!(matches!(result, Err(Error::Io(text)) if text.contains("multi-threaded")));
    assert!(
        matches!(wait(async { Ok(()) }), Err(Error::Io(_))),
        "no runtime at all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_is_an_error_within_the_statement_limit() {
    // A listener that accepts and never answers: the client's request waits for a reply.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let database = RemoteDatabase::new(url, "token".into());
    let mut connection = database.connect().unwrap();
    // Bounded here too, so that a missing limit fails the test instead of hanging it.
    let statement = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let result = connection.execute("SELECT 1", &[]);
        (
            result,
            started.elapsed(),
            connection.execute("SELECT 1", &[]),
        )
    });
    let (result, waited, next) = tokio::time::timeout(STATEMENT_TIMEOUT * 2, statement)
        .await
        .expect("the statement returned within its limit")
        .unwrap();
    assert!(
        matches!(&result, Err(Error::Io(text)) if text == TIMED_OUT),
        "{result:?}"
    );
    assert!(waited >= STATEMENT_TIMEOUT, "{waited:?}");
    assert!(
        matches!(&next, Err(Error::Io(text)) if text.contains("timed out")),
        "{next:?}"
    );
}
