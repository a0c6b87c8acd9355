use super::connections;
use super::schema::{MIGRATIONS, journal_mode};
use super::transaction::first_i64;
use super::*;
use crate::sql::{Rows, Sql, SqlValue};
use crate::test_db::Db;
use protocol::catch_up::Row;
use protocol::client_frame::Mutation;
use protocol::client_frame::{ClientFrame, parse};
use std::cell::Cell;

/// Fails the first statement containing `fragment`, to prove a failed write leaves nothing behind.
struct FailingOnce<'a> {
    inner: &'a Db,
    fragment: &'static str,
    failed: Cell<bool>,
}

impl Sql for FailingOnce<'_> {
    fn execute(
        &self,
        statement: &str,
        parameters: &[SqlValue],
    ) -> std::result::Result<Rows, SqlError> {
        if !self.failed.get() && statement.contains(self.fragment) {
            self.failed.set(true);
            return Err(SqlError::Io("disk I/O error (injected)".into()));
        }
        self.inner.execute(statement, parameters)
    }
}

/// Answers "database is locked" to the first `times` statements containing `fragment`, as SQLite
/// does (through Spin's interface) when another connection holds the lock.
struct LockedAt<'a> {
    inner: &'a Db,
    fragment: &'static str,
    times: Cell<u32>,
}

impl Sql for LockedAt<'_> {
    fn execute(
        &self,
        statement: &str,
        parameters: &[SqlValue],
    ) -> std::result::Result<Rows, SqlError> {
        if self.times.get() > 0 && statement.contains(self.fragment) {
            self.times.set(self.times.get() - 1);
            return Err(SqlError::Io("database is locked".into()));
        }
        self.inner.execute(statement, parameters)
    }
}

fn fresh() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("sync.db"));
    migrate(&db, 0).unwrap();
    (dir, db)
}

fn mutation(frame: &str) -> Mutation {
    match parse(frame).unwrap() {
        ClientFrame::Mutation(m) => m,
        other => panic!("not a mutation: {other:?}"),
    }
}

fn entry(id: &str, updated_at: &str) -> Mutation {
    mutation(&format!(
        r#"{{"type":"ENTRY_UPDATED","timestamp":"t","entry":{{"id":"{id}","duration":30,"updatedAt":"{updated_at}"}}}}"#
    ))
}

fn count(db: &Db, table: &str) -> i64 {
    first_i64(
        &db.execute(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn migrations_are_idempotent() {
    let (_dir, db) = fresh();
    migrate(&db, 1).unwrap();
    migrate(&db, 2).unwrap();
    assert_eq!(count(&db, "schema_version"), MIGRATIONS.len() as i64);
}

#[test]
fn seqs_are_dense_from_the_base_and_per_user() {
    let (_dir, db) = fresh();
    for expected in 1..=5u64 {
        let applied = apply(
            &db,
            "alice",
            &entry(&format!("e{expected}"), "2025-01-01T00:00:00Z"),
            "ep-a",
            0,
            0,
        )
        .unwrap();
        assert_eq!(applied, Applied::Committed { seq: expected });
    }
    assert_eq!(
        apply(
            &db,
            "bob",
            &entry("e1", "2025-01-01T00:00:00Z"),
            "ep-b",
            1000,
            0
        )
        .unwrap(),
        Applied::Committed { seq: 1001 }
    );
    assert_eq!(
        stream(&db, "alice").unwrap(),
        Some(Stream {
            epoch: "ep-a".into(),
            last_seq: 5
        })
    );
    assert_eq!(stream(&db, "bob").unwrap().unwrap().last_seq, 1001);
    assert_eq!(stream(&db, "carol").unwrap(), None);
}

#[test]
fn a_retried_event_id_is_applied_once() {
    let (_dir, db) = fresh();
    let frame = r#"{"type":"ENTRY_CREATED","timestamp":"t","eventId":"ev-1","entry":{"id":"e1"}}"#;
    assert_eq!(
        apply(&db, "u", &mutation(frame), "ep", 0, 0).unwrap(),
        Applied::Committed { seq: 1 }
    );
    assert_eq!(
        apply(&db, "u", &mutation(frame), "ep", 0, 0).unwrap(),
        Applied::Duplicate { seq: 1 }
    );
    assert_eq!(
        apply(&db, "u", &mutation(frame), "ep", 0, 0).unwrap(),
        Applied::Duplicate { seq: 1 }
    );
    assert_eq!(stream(&db, "u").unwrap().unwrap().last_seq, 1);
    // Event ids are per user.
    assert_eq!(
        apply(&db, "v", &mutation(frame), "ep", 0, 0).unwrap(),
        Applied::Committed { seq: 1 }
    );
}

#[test]
fn older_update_is_a_conflict_carrying_the_stored_object() {
    let (_dir, db) = fresh();
    apply(
        &db,
        "u",
        &entry("e1", "2025-10-10T12:00:00.000Z"),
        "ep",
        0,
        0,
    )
    .unwrap();
    let applied = apply(
        &db,
        "u",
        &entry("e1", "2025-10-10T11:00:00.000Z"),
        "ep",
        0,
        0,
    )
    .unwrap();
    let Applied::Conflict {
        entity_type,
        entity_id,
        current,
        seq,
    } = applied
    else {
        panic!("{applied:?}")
    };
    assert_eq!(
        (entity_type, entity_id.as_str(), seq),
        (EntityType::Entry, "e1", 1)
    );
    assert_eq!(current["updatedAt"], "2025-10-10T12:00:00.000Z");
    assert_eq!(
        stream(&db, "u").unwrap().unwrap().last_seq,
        1,
        "a conflict must not take a seq"
    );
    // Same instant or newer is fine; pieces compare epoch milliseconds.
    assert!(matches!(
        apply(&db, "u", &entry("e1", "2025-10-10T12:00:00Z"), "ep", 0, 0).unwrap(),
        Applied::Committed { .. }
    ));
    let piece = |at: i64| {
        mutation(&format!(
            r#"{{"type":"PIECE_UPDATED","timestamp":"t","piece":{{"scoreId":"s","updatedAt":{at}}}}}"#
        ))
    };
    apply(&db, "u", &piece(2000), "ep", 0, 0).unwrap();
    assert!(matches!(
        apply(&db, "u", &piece(1000), "ep", 0, 0).unwrap(),
        Applied::Conflict { .. }
    ));
}

#[test]
fn delete_is_a_tombstone_and_a_re_create_clears_it() {
    let (_dir, db) = fresh();
    apply(&db, "u", &entry("e1", "2025-10-10T12:00:00Z"), "ep", 0, 0).unwrap();
    apply(
        &db,
        "u",
        &mutation(r#"{"type":"ENTRY_DELETED","timestamp":"t","entryId":"e1"}"#),
        "ep",
        0,
        5,
    )
    .unwrap();
    let (_, rows) = changes_since(&db, "u", Since::Seq(0)).unwrap();
    assert_eq!(
        rows,
        vec![Row {
            entity_type: EntityType::Entry,
            entity_id: "e1".into(),
            data: None,
            seq: 2
        }]
    );
    // Re-created with an older updatedAt than the deleted version: a tombstone never conflicts.
    apply(&db, "u", &entry("e1", "2025-10-10T11:00:00Z"), "ep", 0, 0).unwrap();
    let (head, rows) = changes_since(&db, "u", Since::Seq(0)).unwrap();
    assert_eq!(head.unwrap().last_seq, 3);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].seq, 3);
    assert_eq!(
        rows[0].data.as_ref().unwrap()["updatedAt"],
        "2025-10-10T11:00:00Z"
    );
}

#[test]
fn catch_up_lists_each_entity_once_at_its_latest_state() {
    let (_dir, db) = fresh();
    for minute in 0..5 {
        apply(
            &db,
            "u",
            &entry("e1", &format!("2025-10-10T12:0{minute}:00Z")),
            "ep",
            0,
            0,
        )
        .unwrap();
    }
    apply(&db, "u", &entry("e2", "2025-10-10T12:00:00Z"), "ep", 0, 0).unwrap();
    let plan = r#"{"type":"PLAN_CREATED","timestamp":"t","plan":{"id":"p"},"occurrences":[{"id":"o1","planId":"p"},{"id":"o2","planId":"p"}]}"#;
    apply(&db, "u", &mutation(plan), "ep", 0, 0).unwrap();
    let (head, rows) = changes_since(&db, "u", Since::Seq(0)).unwrap();
    assert_eq!(head.unwrap().last_seq, 7);
    let listed: Vec<(&str, u64)> = rows.iter().map(|r| (r.entity_id.as_str(), r.seq)).collect();
    assert_eq!(
        listed,
        [("e1", 5), ("e2", 6), ("p", 7), ("o1", 7), ("o2", 7)]
    );
    let (_, after) = changes_since(&db, "u", Since::Seq(6)).unwrap();
    assert_eq!(after.len(), 3);
    let (_, none) = changes_since(&db, "u", Since::Seq(7)).unwrap();
    assert!(none.is_empty());
}

#[test]
fn the_replay_read_returns_what_was_committed_in_the_window_at_its_latest_state() {
    let (_dir, db) = fresh();
    apply(
        &db,
        "u",
        &entry("old", "2025-10-10T12:00:00Z"),
        "ep",
        0,
        1_000,
    )
    .unwrap();
    apply(
        &db,
        "u",
        &entry("e1", "2025-10-10T12:00:00Z"),
        "ep",
        0,
        2_000,
    )
    .unwrap();
    // e1 changes again inside the window: listed once, at seq 4; `old` is outside it.
    apply(
        &db,
        "u",
        &entry("e2", "2025-10-10T12:00:00Z"),
        "ep",
        0,
        5_000,
    )
    .unwrap();
    apply(
        &db,
        "u",
        &entry("e1", "2025-10-10T12:01:00Z"),
        "ep",
        0,
        6_000,
    )
    .unwrap();
    let (head, rows) = changes_since(&db, "u", Since::CommittedAt(5_000)).unwrap();
    assert_eq!(head.unwrap().last_seq, 4);
    let listed: Vec<(&str, u64)> = rows.iter().map(|r| (r.entity_id.as_str(), r.seq)).collect();
    assert_eq!(listed, [("e2", 3), ("e1", 4)]);
    assert!(
        changes_since(&db, "u", Since::CommittedAt(6_001))
            .unwrap()
            .1
            .is_empty()
    );
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let (_dir, db) = fresh();
    apply(&db, "u", &entry("e0", "2025-01-01T00:00:00Z"), "ep", 0, 0).unwrap();
    let plan = r#"{"type":"PLAN_CREATED","timestamp":"t","eventId":"ev","plan":{"id":"p"},"occurrences":[{"id":"o1","planId":"p"}]}"#;
    for fragment in [
        "UPDATE streams",
        "INSERT INTO entities",
        "INSERT INTO applied_events",
        "COMMIT",
    ] {
        let failing = FailingOnce {
            inner: &db,
            fragment,
            failed: Cell::new(false),
        };
        let result = apply(&failing, "u", &mutation(plan), "ep", 0, 0);
        assert!(result.is_err(), "{fragment}: {result:?}");
        assert_eq!(
            stream(&db, "u").unwrap().unwrap().last_seq,
            1,
            "{fragment}: seq moved"
        );
        assert_eq!(count(&db, "entities"), 1, "{fragment}: partial entities");
        assert_eq!(
            count(&db, "applied_events"),
            0,
            "{fragment}: event recorded"
        );
    }
    // The connection is usable afterwards and the same event applies once.
    assert_eq!(
        apply(&db, "u", &mutation(plan), "ep", 0, 0).unwrap(),
        Applied::Committed { seq: 2 }
    );
}

#[test]
fn concurrent_writers_of_one_user_get_dense_commit_ordered_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    migrate(&Db::open(&path), 0).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|device| {
            let path = path.clone();
            std::thread::spawn(move || {
                let db = Db::open(&path);
                (0..200)
                    .map(|n| {
                        match apply(
                            &db,
                            "u",
                            &entry(&format!("d{device}-{n}"), "2025-01-01T00:00:00Z"),
                            "ep",
                            0,
                            0,
                        )
                        .unwrap()
                        {
                            Applied::Committed { seq } => seq,
                            other => panic!("{other:?}"),
                        }
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = Vec::new();
    for writer in writers {
        let mine = writer.join().unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one writer's seqs went backwards"
        );
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=800).collect::<Vec<u64>>());
    let (head, rows) = changes_since(&Db::open(&path), "u", Since::Seq(0)).unwrap();
    assert_eq!(head.unwrap().last_seq, 800);
    assert_eq!(rows.len(), 800);
}

#[test]
fn pruning_forgets_old_event_ids_only() {
    let (_dir, db) = fresh();
    let with_event = |id: &str| {
        mutation(&format!(
            r#"{{"type":"ENTRY_CREATED","timestamp":"t","eventId":"{id}","entry":{{"id":"e"}}}}"#
        ))
    };
    apply(&db, "u", &with_event("old"), "ep", 0, 1_000).unwrap();
    apply(&db, "u", &with_event("new"), "ep", 0, 9_000).unwrap();
    prune_applied_events(&db, 5_000).unwrap();
    assert_eq!(count(&db, "applied_events"), 1);
    assert!(matches!(
        apply(&db, "u", &with_event("new"), "ep", 0, 9_500).unwrap(),
        Applied::Duplicate { .. }
    ));
}

#[test]
fn migration_switches_a_rollback_journal_database_to_wal_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_like_spin(&dir.path().join("sync.db"));
    db.execute("PRAGMA journal_mode = DELETE", &[]).unwrap();
    migrate(&db, 0).unwrap();
    assert_eq!(journal_mode(&db).as_deref(), Some("wal"));
    migrate(&db, 1).unwrap();
    assert_eq!(journal_mode(&db).as_deref(), Some("wal"));
    // The mode lives in the file: a new connection sees it.
    let again = Db::open_like_spin(&dir.path().join("sync.db"));
    assert_eq!(journal_mode(&again).as_deref(), Some("wal"));
}

#[test]
fn a_write_that_meets_a_lock_is_retried_whole_and_stays_dense() {
    let (_dir, db) = fresh();
    for fragment in ["BEGIN IMMEDIATE", "UPDATE streams", "COMMIT"] {
        let locked = LockedAt {
            inner: &db,
            fragment,
            times: Cell::new(3),
        };
        let id = format!("e-{fragment}");
        let applied = apply(
            &locked,
            "u",
            &entry(&id, "2026-01-01T00:00:00Z"),
            "ep",
            0,
            0,
        );
        assert!(
            matches!(applied, Ok(Applied::Committed { .. })),
            "{fragment}: {applied:?}"
        );
        assert_eq!(locked.times.get(), 0, "{fragment}: every lock was met");
    }
    // Three writes, three seqs: no attempt that met a lock left a seq or a row behind.
    assert_eq!(stream(&db, "u").unwrap().unwrap().last_seq, 3);
    assert_eq!(count(&db, "entities"), 3);
}

#[test]
fn reads_and_stream_creation_are_retried_on_locks_too() {
    let (_dir, db) = fresh();
    let locked = LockedAt {
        inner: &db,
        fragment: "INSERT INTO streams",
        times: Cell::new(2),
    };
    assert_eq!(ensure_stream(&locked, "u", "ep", 5).unwrap().last_seq, 5);
    let locked = LockedAt {
        inner: &db,
        fragment: "FROM entities",
        times: Cell::new(2),
    };
    let (head, rows) = changes_since(&locked, "u", Since::Seq(0)).unwrap();
    assert_eq!((head.map(|h| h.last_seq), rows.len()), (Some(5), 0));
}

#[test]
fn concurrent_registrations_leave_exactly_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    migrate(&Db::open(&path), 0).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let evicted: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let (path, barrier) = (path.clone(), barrier.clone());
                scope.spawn(move || {
                    let db = Db::open(&path);
                    barrier.wait();
                    let mut evicted = Vec::new();
                    for n in 0..5 {
                        let id = format!("c{worker}-{n}");
                        evicted.extend(register(&db, "alice", &id, 1_000, 0, 10).unwrap());
                    }
                    evicted
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let db = Db::open(&path);
    let left = connections::list(&db, "alice").unwrap();
    assert_eq!(left.len(), 10);
    assert_eq!(evicted.len(), 30);
    assert!(left.iter().all(|id| !evicted.contains(id)));
}

#[test]
fn the_registry_forgets_stale_entries_and_evicts_the_oldest_opened() {
    let (_dir, db) = fresh();
    for n in 0..3 {
        register(&db, "alice", &format!("c{n}"), 1_000 + n, 0, 3).unwrap();
    }
    // A touch keeps c0 alive but does not make it younger: it is still the first to go.
    connections::touch(&db, "alice", "c0", 5_000).unwrap();
    assert_eq!(register(&db, "alice", "c3", 5_000, 0, 3).unwrap(), ["c0"]);
    // c1 and c2 were last seen at 1001 and 1002: expired by 2000, so nobody is evicted.
    assert!(
        register(&db, "alice", "c4", 6_000, 2_000, 3)
            .unwrap()
            .is_empty()
    );
    assert_eq!(connections::list(&db, "alice").unwrap(), ["c3", "c4"]);
    // An evicted connection's refresh does not bring it back; it is told when it asks.
    connections::touch(&db, "alice", "c0", 6_000).unwrap();
    assert_eq!(connections::list(&db, "alice").unwrap().len(), 2);
    assert_eq!(
        connections::registration(&db, "alice", "c0").unwrap(),
        connections::Registration::Evicted
    );
    assert_eq!(
        connections::registration(&db, "alice", "c4").unwrap(),
        connections::Registration::Live { seen_at: 6_000 }
    );
    assert_eq!(
        connections::registration(&db, "alice", "nobody").unwrap(),
        connections::Registration::Unknown
    );
    connections::unregister(&db, "alice", "c3").unwrap();
    assert_eq!(connections::list(&db, "alice").unwrap(), ["c4"]);
}

/// Counts the statements run through it.
struct Counting<'a> {
    inner: &'a Db,
    statements: Cell<usize>,
}

impl Sql for Counting<'_> {
    fn execute(
        &self,
        statement: &str,
        parameters: &[SqlValue],
    ) -> std::result::Result<Rows, SqlError> {
        self.statements.set(self.statements.get() + 1);
        self.inner.execute(statement, parameters)
    }
}

#[test]
fn a_current_database_is_checked_with_one_statement_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_like_spin(&dir.path().join("sync.db"));
    let counting = Counting {
        inner: &db,
        statements: Cell::new(0),
    };
    migrate(&counting, 0).unwrap();
    assert!(counting.statements.get() > 1, "the first call migrates");
    assert_eq!(journal_mode(&db).as_deref(), Some("wal"));
    counting.statements.set(0);
    migrate(&counting, 1).unwrap();
    assert_eq!(counting.statements.get(), 1);
}

#[test]
fn a_current_database_back_in_a_rollback_journal_is_switched_to_wal_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_like_spin(&dir.path().join("sync.db"));
    migrate(&db, 0).unwrap();
    db.execute("PRAGMA journal_mode = DELETE", &[]).unwrap();
    migrate(&db, 1).unwrap();
    assert_eq!(journal_mode(&db).as_deref(), Some("wal"));
}

fn classified(text: &str) -> StoreError {
    StoreError::from(SqlError::Io(text.into()))
}

/// Another connection's lock is recognised by the texts SQLite defines for it, exactly those:
/// `SQLITE_BUSY`'s, and `SQLITE_LOCKED`'s alone or naming the table or schema.
#[test]
fn lock_errors_are_recognised_by_sqlites_own_text() {
    for text in [
        "database is locked",
        "database table is locked",
        "database table is locked: streams",
        "database schema is locked",
        "database schema is locked: main",
    ] {
        assert_eq!(classified(text), StoreError::Busy(text.into()), "{text}");
    }
    for text in [
        "UNIQUE constraint failed: streams.user_id",
        "disk I/O error",
        "row is locked by user",
        "the database is locked",
        "database is locked (waited for the other writers)",
        "Io(\"database is locked\")",
        "DATABASE IS LOCKED",
        "database table is locked!",
        "database table is lockedstreams",
        "database schema is locked:main",
        "",
    ] {
        assert_eq!(classified(text), StoreError::Sqlite(text.into()), "{text}");
    }
}

/// The interface's other errors keep their variant (none is a lock), and every error says what
/// failed.
#[test]
fn the_interfaces_other_errors_keep_their_variant() {
    for (error, expected, said) in [
        (
            SqlError::NoSuchDatabase,
            StoreError::NoSuchDatabase,
            "no such database",
        ),
        (
            SqlError::AccessDenied,
            StoreError::AccessDenied,
            "access denied",
        ),
        (
            SqlError::InvalidConnection,
            StoreError::InvalidConnection,
            "invalid connection",
        ),
        (
            SqlError::DatabaseFull,
            StoreError::DatabaseFull,
            "database full",
        ),
    ] {
        let error = StoreError::from(error);
        assert_eq!(error, expected);
        assert_eq!(error.to_string(), format!("storage failed: {said}"));
    }
    assert_eq!(
        classified("database is locked").to_string(),
        "storage failed: database is locked"
    );
}

/// Registers in a write transaction of its own, as the coordinator does.
fn register(
    db: &dyn crate::sql::Sql,
    user: &str,
    connection: &str,
    now_ms: i64,
    expired_before_ms: i64,
    cap: usize,
) -> Result<Vec<String>> {
    super::write_transaction(db, "registering", || {
        connections::register(db, user, connection, now_ms, expired_before_ms, cap)
    })
}
