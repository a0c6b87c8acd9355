use super::*;

fn with_view(allowed: &[&str], f: impl FnOnce(&mut SqliteView<'_>, &std::path::Path)) {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(AppState::with_default_file(
        dir.path().join("db.sqlite"),
        SqliteMode::Wal,
    ));
    let state = InstanceState {
        app,
        allowed: Arc::new(allowed.iter().map(|s| s.to_string()).collect()),
        pending: Default::default(),
    };
    let mut table = ResourceTable::new();
    f(
        &mut SqliteView {
            state: &state,
            table: &mut table,
        },
        dir.path(),
    );
}

fn run(
    view: &mut SqliteView<'_>,
    c: &Resource<OpenConnection>,
    sql: &str,
    params: Vec<Value>,
) -> Result<QueryResult, Error> {
    view.execute(Resource::new_borrow(c.rep()), sql.into(), params)
        .unwrap()
}

#[test]
fn parameters_and_values_roundtrip() {
    with_view(&["default"], |view, _| {
        let c = view.open("default".into()).unwrap().unwrap();
        run(
            view,
            &c,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
            vec![],
        )
        .unwrap();
        let row = vec![
            Value::Integer(-7),
            Value::Real(1.5),
            Value::Text("é".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
        ];
        run(
            view,
            &c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            row.clone(),
        )
        .unwrap();
        let result = run(view, &c, "SELECT i, r, s, b, n FROM t", vec![]).unwrap();
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(result.rows.len(), 1);
        assert_eq!(format!("{:?}", result.rows[0].values), format!("{row:?}"));
    });
}

#[test]
fn open_transaction_is_rolled_back_when_dropped() {
    with_view(&["default"], |view, _| {
        let c = view.open("default".into()).unwrap().unwrap();
        run(view, &c, "CREATE TABLE t (i INTEGER)", vec![]).unwrap();
        run(view, &c, "BEGIN", vec![]).unwrap();
        run(view, &c, "INSERT INTO t VALUES (1)", vec![]).unwrap();
        view.drop(c).unwrap();
        let c = view.open("default".into()).unwrap().unwrap();
        let count = run(view, &c, "SELECT count(*) FROM t", vec![]).unwrap();
        assert!(matches!(count.rows[0].values[0], Value::Integer(0)));
    });
}

#[test]
fn errors_are_typed() {
    with_view(&[], |view, _| {
        assert!(matches!(
            view.open("default".into()).unwrap(),
            Err(Error::AccessDenied)
        ));
    });
    with_view(&["other"], |view, _| {
        assert!(matches!(
            view.open("other".into()).unwrap(),
            Err(Error::NoSuchDatabase)
        ));
    });
    with_view(&["default"], |view, _| {
        let c = view.open("default".into()).unwrap().unwrap();
        assert!(matches!(
            run(view, &c, "SELEKT 1", vec![]),
            Err(Error::Io(_))
        ));
    });
}

#[test]
fn unopenable_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("db.sqlite")).unwrap();
    let app = Arc::new(AppState::with_default_file(
        dir.path().join("db.sqlite"),
        SqliteMode::Wal,
    ));
    let state = InstanceState {
        app,
        allowed: Arc::new(BTreeSet::from(["default".to_string()])),
        pending: Default::default(),
    };
    let mut table = ResourceTable::new();
    let mut view = SqliteView {
        state: &state,
        table: &mut table,
    };
    assert!(matches!(
        view.open("default".into()).unwrap(),
        Err(Error::Io(_))
    ));
}

fn view_of<'a>(state: &'a InstanceState, table: &'a mut ResourceTable) -> SqliteView<'a> {
    SqliteView { state, table }
}

#[test]
fn spin_mode_keeps_the_files_journal_mode_and_a_connection_per_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE t (i INTEGER);")
        .unwrap();
    let state = InstanceState {
        app: Arc::new(AppState::with_default_file(path.clone(), SqliteMode::Spin)),
        allowed: Arc::new(BTreeSet::from(["default".to_string()])),
        pending: Default::default(),
    };
    let mut table = ResourceTable::new();
    let mut view = view_of(&state, &mut table);
    let c = view.open("default".into()).unwrap().unwrap();
    let mode = run(&mut view, &c, "PRAGMA journal_mode", vec![]).unwrap();
    assert!(matches!(&mode.rows[0].values[0], Value::Text(m) if m == "delete"));
    // A setting made on one connection is gone on the next: each open is a new connection.
    run(&mut view, &c, "PRAGMA cache_size = 7", vec![]).unwrap();
    view.drop(c).unwrap();
    let c = view.open("default".into()).unwrap().unwrap();
    let size = run(&mut view, &c, "PRAGMA cache_size", vec![]).unwrap();
    assert!(!matches!(size.rows[0].values[0], Value::Integer(7)));
    // The app may switch the file to WAL itself, and that persists.
    run(&mut view, &c, "PRAGMA journal_mode = WAL", vec![]).unwrap();
    view.drop(c).unwrap();
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn wal_mode_switches_the_file_to_wal_and_reuses_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let state = InstanceState {
        app: Arc::new(AppState::with_default_file(path, SqliteMode::Wal)),
        allowed: Arc::new(BTreeSet::from(["default".to_string()])),
        pending: Default::default(),
    };
    let mut table = ResourceTable::new();
    let mut view = view_of(&state, &mut table);
    let c = view.open("default".into()).unwrap().unwrap();
    let mode = run(&mut view, &c, "PRAGMA journal_mode", vec![]).unwrap();
    assert!(matches!(&mode.rows[0].values[0], Value::Text(m) if m == "wal"));
    run(&mut view, &c, "PRAGMA cache_size = 7", vec![]).unwrap();
    view.drop(c).unwrap();
    let c = view.open("default".into()).unwrap().unwrap();
    let size = run(&mut view, &c, "PRAGMA cache_size", vec![]).unwrap();
    assert!(matches!(size.rows[0].values[0], Value::Integer(7)));
}

#[test]
fn a_commit_and_only_a_commit_leaves_the_request_a_flush_to_wait_for() {
    with_view(&["default"], |view, _| {
        let c = view.open("default".into()).unwrap().unwrap();
        let group = view.state.app.file("default").group.clone().unwrap();
        run(view, &c, "CREATE TABLE t (i INTEGER)", vec![]).unwrap();
        assert_eq!(group.committed(), 2, "the CREATE committed as ticket 1");
        run(view, &c, "SELECT * FROM t", vec![]).unwrap();
        run(view, &c, "BEGIN IMMEDIATE", vec![]).unwrap();
        run(view, &c, "INSERT INTO t VALUES (1)", vec![]).unwrap();
        run(view, &c, "INSERT INTO t VALUES (2)", vec![]).unwrap();
        assert_eq!(
            group.committed(),
            3,
            "nothing committed inside the transaction"
        );
        run(view, &c, "COMMIT", vec![]).unwrap();
        assert_eq!(
            group.committed(),
            5,
            "the COMMIT took ticket 4; the reads none"
        );
        run(view, &c, "BEGIN IMMEDIATE", vec![]).unwrap();
        run(view, &c, "SELECT * FROM t", vec![]).unwrap();
        run(view, &c, "COMMIT", vec![]).unwrap();
        // Each `committed()` here takes a ticket itself: 6 means none was taken in between.
        assert_eq!(
            group.committed(),
            6,
            "a transaction that wrote nothing took a ticket"
        );
    });
}

/// A writer takes the database's gate at its first write and gives it back when its
/// transaction ends; readers never take it.
#[test]
fn a_lock_held_elsewhere_reaches_the_guest_as_the_one_busy_value() {
    let failure = |code, message: Option<&str>| {
        map_error(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            message.map(str::to_string),
        ))
    };
    for (code, message) in [
        (rusqlite::ffi::SQLITE_BUSY, None),
        (rusqlite::ffi::SQLITE_BUSY, Some("database is locked")),
        (
            rusqlite::ffi::SQLITE_LOCKED,
            Some("database table is locked: t"),
        ),
        (
            rusqlite::ffi::SQLITE_LOCKED,
            Some("database schema is locked: main"),
        ),
    ] {
        assert!(
            matches!(failure(code, message), Error::Io(text) if text == BUSY),
            "{code} {message:?}"
        );
    }
    assert!(matches!(
        failure(rusqlite::ffi::SQLITE_CONSTRAINT, Some("row is locked by user")),
        Error::Io(text) if text == "row is locked by user"
    ));
}

#[test]
fn writers_queue_at_the_gate_and_readers_pass() {
    with_view(&["default"], |view, _| {
        let first = view.open("default".into()).unwrap().unwrap();
        let second = view.open("default".into()).unwrap().unwrap();
        let writers = &view.state.app.file("default").writers;
        run(view, &first, "CREATE TABLE t (i INTEGER)", vec![]).unwrap();
        assert!(
            writers.acquire(std::time::Duration::ZERO),
            "released at autocommit"
        );
        writers.release();
        run(view, &first, "BEGIN IMMEDIATE", vec![]).unwrap();
        assert!(
            !writers.acquire(std::time::Duration::ZERO),
            "held in the transaction"
        );
        run(view, &second, "SELECT * FROM t", vec![]).unwrap();
        run(view, &first, "INSERT INTO t VALUES (1)", vec![]).unwrap();
        run(view, &first, "COMMIT", vec![]).unwrap();
        assert!(
            writers.acquire(std::time::Duration::ZERO),
            "released at COMMIT"
        );
        writers.release();
        run(view, &second, "BEGIN", vec![]).unwrap();
        run(view, &second, "INSERT INTO t VALUES (2)", vec![]).unwrap();
        view.drop(second).unwrap();
        assert!(
            writers.acquire(std::time::Duration::ZERO),
            "released when dropped"
        );
    });
}

#[test]
fn statements_that_may_end_a_writing_transaction_are_told_apart() {
    // Outside a transaction every statement commits itself, except `BEGIN`; a `SAVEPOINT` there
    // begins a transaction but is counted too (it only runs off the worker thread).
    assert!(may_commit("INSERT INTO t VALUES (1)", true));
    assert!(may_commit("  savepoint s", true));
    assert!(!may_commit("BEGIN IMMEDIATE", true));
    assert!(!may_commit("begin", true));
    // Inside one, only what ends it.
    for ending in ["COMMIT", "commit;", "END TRANSACTION", " RELEASE mutation"] {
        assert!(may_commit(ending, false), "{ending}");
    }
    for inside in [
        "INSERT INTO t VALUES (1)",
        "SAVEPOINT s",
        "ROLLBACK TO s",
        "COMMITTED",
    ] {
        assert!(!may_commit(inside, false), "{inside}");
    }
}
