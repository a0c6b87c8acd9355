//! The schema: migrations, each run once, and the journal mode (WAL) every request relies on.

use super::transaction::{first_i64, in_transaction, run};
use super::{Result, busy};
use crate::sql::Sql;

/// Migrations in order; each runs once, in its own transaction, recorded in `schema_version`.
pub(super) const MIGRATIONS: &[&[&str]] = &[
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
    &[
        // Rate-limit state (a GCRA theoretical arrival time per key, µs), moved here from
        // key-value so that a charge commits with the request's mutations: one commit, not two.
        // State left in key-value by older versions is not carried over: each key starts full.
        "CREATE TABLE IF NOT EXISTS rate_limits (
        key TEXT PRIMARY KEY,
        tat_us INTEGER NOT NULL) WITHOUT ROWID",
    ],
];

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
pub(super) fn journal_mode(db: &dyn Sql) -> Option<String> {
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
