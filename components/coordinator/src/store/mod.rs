//! Durable sync state (design.md, Storage): per-user dense streams, latest entity states with
//! tombstones, and idempotency keys.
//!
//! Each mutation is one `BEGIN IMMEDIATE` transaction, or a savepoint in one such transaction for
//! all the mutations of a request (a batch): the write lock is taken before a seq is allocated and
//! held until commit, so seqs are dense and commit order is seq order — the original service's
//! out-of-order commits cannot happen. Nothing is acknowledged before `COMMIT` returns, and a
//! failure rolls everything back.
//!
//! Spin-safe: the migration puts the database in WAL mode itself (Spin's default database starts
//! with a rollback journal, where readers and writers block each other), and an operation that
//! meets another connection's lock is retried for a bounded time ([`busy`]).

use crate::sql::{Rows, Sql, SqlValue};
use protocol::catch_up::Row;
use protocol::client_frame::Mutation;
use protocol::entity::{EntityType, updated_at_millis};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StoreError(pub String);

type Result<T> = std::result::Result<T, StoreError>;

mod busy;
pub mod connections;

/// Migrations in order; each runs once, in its own transaction, recorded in `schema_version`.
const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE IF NOT EXISTS streams (
        user_id TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        last_seq INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS entities (
        user_id TEXT NOT NULL,
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        data TEXT,
        updated_at INTEGER,
        deleted_at INTEGER,
        seq INTEGER NOT NULL,
        PRIMARY KEY (user_id, entity_type, entity_id))",
        "CREATE INDEX IF NOT EXISTS entities_by_seq ON entities (user_id, seq)",
        "CREATE TABLE IF NOT EXISTS applied_events (
        user_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        applied_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, event_id))",
    ],
    &[
        // When each entity's latest change was committed (ms), for the replay on reconnect
        // (docs/delivery.md). Rows written before this migration read as 0: never replayed.
        "ALTER TABLE entities ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX IF NOT EXISTS entities_by_change_time ON entities (user_id, changed_at)",
    ],
    &[
        // The connection registry (per-user cap), moved here from key-value so that registering
        // is one transaction: concurrent connects cannot both see room for themselves. An evicted
        // connection keeps its row (`evicted_at`) until it expires, so its next request is told.
        "CREATE TABLE IF NOT EXISTS connections (
        user_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL,
        evicted_at INTEGER,
        PRIMARY KEY (user_id, connection_id))",
    ],
];

fn run(db: &dyn Sql, statement: &str, parameters: &[SqlValue]) -> Result<Rows> {
    db.execute(statement, parameters).map_err(StoreError)
}

fn first_i64(rows: &Rows) -> Option<i64> {
    rows.first()?.first()?.as_i64()
}

/// Applies every pending migration, after switching the database to WAL. Safe to call on every
/// request and from concurrent instances: each migration re-checks the version under the write
/// lock.
pub fn migrate(db: &dyn Sql, now_ms: i64) -> Result<()> {
    if is_current(db) {
        return Ok(());
    }
    use_wal(db);
    busy::retry("migration", busy::BUDGET, || {
        run(
            db,
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            &[],
        )
        .map(drop)
    })?;
    let current = || -> Result<usize> {
        Ok(first_i64(&run(
            db,
            "SELECT coalesce(max(version), 0) FROM schema_version",
            &[],
        )?)
        .unwrap_or(0) as usize)
    };
    if busy::retry("migration", busy::BUDGET, current)? >= MIGRATIONS.len() {
        return Ok(());
    }
    for (index, statements) in MIGRATIONS.iter().enumerate() {
        let version = index + 1;
        busy::retry("migration", busy::BUDGET, || {
            in_transaction(db, || {
                if current()? >= version {
                    return Ok(());
                }
                for statement in *statements {
                    run(db, statement, &[])?;
                }
                run(
                    db,
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    &[(version as i64).into(), now_ms.into()],
                )?;
                Ok(())
            })
        })?;
    }
    Ok(())
}

/// Whether the schema is current and the file in WAL mode, asked with one statement: this runs on
/// every request. Any error (no `schema_version` table yet, a database without the pragma
/// function) means "not known to be current", and the full path runs.
fn is_current(db: &dyn Sql) -> bool {
    let Ok(rows) = db.execute(
        "SELECT (SELECT coalesce(max(version), 0) FROM schema_version), \
         (SELECT journal_mode FROM pragma_journal_mode)",
        &[],
    ) else {
        return false;
    };
    let Some([version, mode]) = rows.first().map(Vec::as_slice) else {
        return false;
    };
    version
        .as_i64()
        .is_some_and(|v| v >= MIGRATIONS.len() as i64)
        && mode
            .as_str()
            .is_some_and(|mode| !is_rollback_journal(&mode.to_ascii_lowercase()))
}

fn is_rollback_journal(mode: &str) -> bool {
    matches!(mode, "delete" | "truncate" | "persist")
}

/// The journal mode SQLite reports, lower case (`delete`, `wal`, …), if it reports one.
fn journal_mode(db: &dyn Sql) -> Option<String> {
    let rows = db.execute("PRAGMA journal_mode", &[]).ok()?;
    Some(rows.first()?.first()?.as_str()?.to_ascii_lowercase())
}

/// Puts a local database file in WAL mode, where readers never wait for the writer and the writer
/// never waits for readers. The mode is stored in the file, so this is a cheap check once done.
/// Anything else — an in-memory database, a remote libSQL one without the pragma, a switch that
/// keeps meeting other connections' locks — leaves the mode as it is: writes still work, retried
/// on locks, and the next request tries again.
fn use_wal(db: &dyn Sql) {
    if !journal_mode(db).is_some_and(|mode| is_rollback_journal(&mode)) {
        return;
    }
    let switched = busy::retry("switching the database to WAL", busy::BUDGET, || {
        run(db, "PRAGMA journal_mode = WAL", &[])
    });
    if let Ok(rows) = switched {
        let mode = rows
            .first()
            .and_then(|row| row.first()?.as_str().map(str::to_string));
        if mode.as_deref() != Some("wal") {
            eprintln!("coordinator: the database stays in {mode:?} journal mode (WAL refused)");
        }
    }
}

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on any error.
fn in_transaction<T>(db: &dyn Sql, body: impl FnOnce() -> Result<T>) -> Result<T> {
    run(db, "BEGIN IMMEDIATE", &[])?;
    match body().and_then(|value| run(db, "COMMIT", &[]).map(|_| value)) {
        Ok(value) => Ok(value),
        Err(error) => {
            // A failed COMMIT or statement leaves the transaction open; close it either way.
            let _ = db.execute("ROLLBACK", &[]);
            Err(error)
        }
    }
}

/// Runs `body` inside a savepoint of the open transaction: its writes are undone on error, the
/// transaction's others kept.
fn in_savepoint<T>(db: &dyn Sql, body: impl FnOnce() -> Result<T>) -> Result<T> {
    run(db, "SAVEPOINT mutation", &[])?;
    match body() {
        Ok(value) => run(db, "RELEASE mutation", &[]).map(|_| value),
        Err(error) => {
            let _ = db.execute("ROLLBACK TO mutation", &[]);
            let _ = db.execute("RELEASE mutation", &[]);
            Err(error)
        }
    }
}

/// Starts one transaction for all the mutations of a request (`BEGIN IMMEDIATE`, so the seqs it
/// allocates stay dense and in commit order), retried while another connection holds the lock.
/// Each mutation then goes through [`apply_in_batch`]; nothing is acknowledged before
/// [`commit_batch`] returns.
pub fn begin_batch(db: &dyn Sql) -> Result<()> {
    busy::retry("starting a write batch", busy::BUDGET, || {
        run(db, "BEGIN IMMEDIATE", &[]).map(drop)
    })
}

/// Commits the batch; on failure rolls all of it back.
pub fn commit_batch(db: &dyn Sql) -> Result<()> {
    run(db, "COMMIT", &[]).map(drop).inspect_err(|_| {
        let _ = db.execute("ROLLBACK", &[]);
    })
}

/// [`apply`] inside a batch: one savepoint, so a mutation that fails leaves the others.
pub fn apply_in_batch(
    db: &dyn Sql,
    user: &str,
    mutation: &Mutation,
    new_epoch: &str,
    seq_base: u64,
    now_ms: i64,
) -> Result<Applied> {
    in_savepoint(db, || {
        write(db, user, mutation, new_epoch, seq_base, now_ms)
    })
    // Logged as `apply` logs it: the reason, which names no request data.
    .inspect_err(|error| eprintln!("coordinator: sync write failed (in a batch): {}", error.0))
}

/// What a mutation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Written at `seq`.
    Committed { seq: u64 },
    /// Its `eventId` was applied before, at `seq`; nothing was written.
    Duplicate { seq: u64 },
    /// The stored entity is newer; nothing was written.
    Conflict {
        entity_type: EntityType,
        entity_id: String,
        current: Value,
        seq: u64,
    },
}

/// A user's stream: its epoch (changes when the store is reset) and head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub epoch: String,
    pub last_seq: u64,
}

/// Applies `mutation` for `user`. `new_epoch` names the stream if this is its first write, and
/// `seq_base` is its first seq minus one (above the original service's counter when migrating).
pub fn apply(
    db: &dyn Sql,
    user: &str,
    mutation: &Mutation,
    new_epoch: &str,
    seq_base: u64,
    now_ms: i64,
) -> Result<Applied> {
    busy::retry("sync write", busy::BUDGET, || {
        apply_once(db, user, mutation, new_epoch, seq_base, now_ms)
    })
}

/// One attempt at [`apply`], in one transaction: committed, or rolled back on any error. A
/// duplicate or a conflict is found before anything is written, so its transaction commits nothing.
fn apply_once(
    db: &dyn Sql,
    user: &str,
    mutation: &Mutation,
    new_epoch: &str,
    seq_base: u64,
    now_ms: i64,
) -> Result<Applied> {
    in_transaction(db, || {
        write(db, user, mutation, new_epoch, seq_base, now_ms)
    })
}

fn write(
    db: &dyn Sql,
    user: &str,
    mutation: &Mutation,
    new_epoch: &str,
    seq_base: u64,
    now_ms: i64,
) -> Result<Applied> {
    if let Some(event_id) = &mutation.event_id {
        let rows = run(
            db,
            "SELECT seq FROM applied_events WHERE user_id = ? AND event_id = ?",
            &[user.into(), event_id.as_str().into()],
        )?;
        if let Some(seq) = first_i64(&rows) {
            return Ok(Applied::Duplicate { seq: seq as u64 });
        }
    }
    for change in &mutation.changes {
        let Some(incoming) = change.data.as_ref().and_then(updated_at_millis) else {
            continue;
        };
        let rows = run(
            db,
            "SELECT data, updated_at, seq FROM entities
             WHERE user_id = ? AND entity_type = ? AND entity_id = ? AND deleted_at IS NULL",
            &[
                user.into(),
                change.entity_type.as_str().into(),
                change.entity_id.as_str().into(),
            ],
        )?;
        let Some(stored) = rows.first() else { continue };
        if stored[1]
            .as_i64()
            .is_some_and(|stored_at| incoming < stored_at)
        {
            let current = stored[0]
                .as_str()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            return Ok(Applied::Conflict {
                entity_type: change.entity_type,
                entity_id: change.entity_id.clone(),
                current,
                seq: stored[2].as_i64().unwrap_or_default() as u64,
            });
        }
    }
    run(
        db,
        "INSERT INTO streams (user_id, epoch, last_seq) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
        &[user.into(), new_epoch.into(), (seq_base as i64).into()],
    )?;
    let rows = run(
        db,
        "UPDATE streams SET last_seq = last_seq + 1 WHERE user_id = ? RETURNING last_seq",
        &[user.into()],
    )?;
    let seq = first_i64(&rows).ok_or_else(|| StoreError("no stream row after insert".into()))?;
    for change in &mutation.changes {
        let (data, updated_at, deleted_at) = match &change.data {
            Some(data) => (
                SqlValue::Text(data.to_string()),
                updated_at_millis(data).into(),
                SqlValue::Null,
            ),
            None => (SqlValue::Null, SqlValue::Null, now_ms.into()),
        };
        run(
            db,
            "INSERT INTO entities (user_id, entity_type, entity_id, data, updated_at, deleted_at, seq, changed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET
                 data = excluded.data, updated_at = excluded.updated_at,
                 deleted_at = excluded.deleted_at, seq = excluded.seq, changed_at = excluded.changed_at",
            &[user.into(), change.entity_type.as_str().into(), change.entity_id.as_str().into(), data, updated_at, deleted_at, seq.into(), now_ms.into()],
        )?;
    }
    if let Some(event_id) = &mutation.event_id {
        run(
            db,
            "INSERT INTO applied_events (user_id, event_id, seq, applied_at) VALUES (?, ?, ?, ?)",
            &[
                user.into(),
                event_id.as_str().into(),
                seq.into(),
                now_ms.into(),
            ],
        )?;
    }
    Ok(Applied::Committed { seq: seq as u64 })
}

/// The user's stream, created (with `new_epoch`, head `seq_base`) if it has none yet.
pub fn ensure_stream(db: &dyn Sql, user: &str, new_epoch: &str, seq_base: u64) -> Result<Stream> {
    busy::retry("creating a stream", busy::BUDGET, || {
        run(
            db,
            "INSERT INTO streams (user_id, epoch, last_seq) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
            &[user.into(), new_epoch.into(), (seq_base as i64).into()],
        )?;
        stream(db, user)?.ok_or_else(|| StoreError("stream missing right after insert".into()))
    })
}

/// The user's stream, if it has one.
pub fn stream(db: &dyn Sql, user: &str) -> Result<Option<Stream>> {
    let rows = run(
        db,
        "SELECT epoch, last_seq FROM streams WHERE user_id = ?",
        &[user.into()],
    )?;
    Ok(rows.first().map(|row| Stream {
        epoch: row[0].as_str().unwrap_or_default().to_string(),
        last_seq: row[1].as_i64().unwrap_or_default() as u64,
    }))
}

/// Which changes a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Every change with a seq above this one (a catch-up from a cursor).
    Seq(u64),
    /// Every change committed at or after this time, ms (the replay on reconnect).
    CommittedAt(i64),
}

/// Every entity of `user` changed since `since`, at its latest state, with the stream head,
/// read in one transaction so the head and the rows agree.
pub fn changes_since(db: &dyn Sql, user: &str, since: Since) -> Result<(Option<Stream>, Vec<Row>)> {
    busy::retry("catch-up read", busy::BUDGET, || {
        changes_since_once(db, user, since)
    })
}

fn changes_since_once(
    db: &dyn Sql,
    user: &str,
    since: Since,
) -> Result<(Option<Stream>, Vec<Row>)> {
    run(db, "BEGIN", &[])?;
    let read = || -> Result<(Option<Stream>, Vec<Row>)> {
        let head = stream(db, user)?;
        let (condition, bound) = match since {
            Since::Seq(seq) => ("seq > ?", seq as i64),
            Since::CommittedAt(ms) => ("changed_at >= ?", ms),
        };
        let rows = run(
            db,
            &format!(
                "SELECT entity_type, entity_id, data, deleted_at, seq FROM entities
                 WHERE user_id = ? AND {condition} ORDER BY seq"
            ),
            &[user.into(), bound.into()],
        )?;
        let rows = rows
            .into_iter()
            .filter_map(|row| {
                let entity_type = EntityType::parse(row[0].as_str()?)?;
                let data = match row[3] {
                    SqlValue::Null => row[2].as_str().and_then(|d| serde_json::from_str(d).ok()),
                    _ => None,
                };
                Some(Row {
                    entity_type,
                    entity_id: row[1].as_str()?.to_string(),
                    data,
                    seq: row[4].as_i64()? as u64,
                })
            })
            .collect();
        Ok((head, rows))
    };
    let result = read();
    let _ = db.execute("COMMIT", &[]);
    result
}

/// Forgets idempotency keys applied before `before_ms` (retries older than that are new writes).
pub fn prune_applied_events(db: &dyn Sql, before_ms: i64) -> Result<()> {
    busy::retry("pruning event ids", busy::BUDGET, || {
        run(
            db,
            "DELETE FROM applied_events WHERE applied_at < ?",
            &[before_ms.into()],
        )
        .map(drop)
    })
}

#[cfg(test)]
mod tests;
