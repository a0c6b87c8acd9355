//! Durable sync state (docs/durability.md): per-user dense streams, latest entity states with
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
//! meets another connection's lock is retried for a bounded time (`busy`).
//!
//! - `schema`: the migrations and the journal mode.
//! - `transaction`: running a statement; transactions, savepoints and a request's batch.
//! - `apply`: applying a mutation, from the duplicate and conflict checks to the commit.
//! - `streams`: each user's stream and its seqs.
//! - `entities`: entities' latest states, and reading what changed.
//! - `applied_events`: the idempotency keys.
//! - [`connections`]: the per-user connection registry.
//! - [`rate_limits`]: each rate-limit key's state.
//! - `busy`: retrying an operation that met another connection's lock.

mod applied_events;
mod apply;
mod busy;
pub mod connections;
mod entities;
pub mod rate_limits;
mod schema;
mod streams;
mod transaction;

pub use applied_events::prune_applied_events;
pub use apply::{apply, apply_in_batch};
pub use entities::changes_since;
pub use schema::migrate;
pub use streams::{ensure_stream, stream};
pub use transaction::{begin_batch, commit_batch, write_transaction};

use crate::sql::SqlError;
use protocol::entity::EntityType;
use serde_json::Value;

/// Why a store operation failed. Built from the database's error in one place (its `From`
/// below), which tells another connection's lock ([`StoreError::Busy`], retried) from the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {}", self.reason())]
pub enum StoreError {
    /// Another connection holds a lock SQLite did not wait for (`SQLITE_BUSY`, `SQLITE_LOCKED`):
    /// the operation may succeed when run again. SQLite's text.
    Busy(String),
    /// Any other failure SQLite reported, in its words.
    Sqlite(String),
    NoSuchDatabase,
    AccessDenied,
    InvalidConnection,
    DatabaseFull,
    /// The database answered, but not as the schema promises (a row missing right after its
    /// insert).
    Unexpected(String),
}

impl StoreError {
    /// What failed, for the log (no request data, no tokens: SQLite's message or the variant's).
    pub fn reason(&self) -> &str {
        match self {
            StoreError::Busy(text) | StoreError::Sqlite(text) | StoreError::Unexpected(text) => {
                text
            }
            StoreError::NoSuchDatabase => "no such database",
            StoreError::AccessDenied => "access denied",
            StoreError::InvalidConnection => "invalid connection",
            StoreError::DatabaseFull => "database full",
        }
    }
}

impl From<SqlError> for StoreError {
    fn from(error: SqlError) -> Self {
        match error {
            SqlError::Io(text) if names_a_lock(&text) => StoreError::Busy(text),
            SqlError::Io(text) => StoreError::Sqlite(text),
            SqlError::NoSuchDatabase => StoreError::NoSuchDatabase,
            SqlError::AccessDenied => StoreError::AccessDenied,
            SqlError::InvalidConnection => StoreError::InvalidConnection,
            SqlError::DatabaseFull => StoreError::DatabaseFull,
        }
    }
}

/// Whether an `io` error's text is SQLite saying another connection holds a lock. Spin's SQLite
/// interface has no variant for it; Spin and sync-host both pass SQLite's own text, which SQLite
/// defines (`sqlite3_errstr`, `sqlite3_errmsg`):
///
/// - `SQLITE_BUSY`: exactly `database is locked`;
/// - `SQLITE_LOCKED`: `database table is locked` or `database schema is locked`, exactly or
///   followed by `: ` and the table's or schema's name.
///
/// Nothing else is a lock: not a message that merely contains `is locked`.
fn names_a_lock(text: &str) -> bool {
    const LOCKED: [&str; 2] = ["database table is locked", "database schema is locked"];
    text == "database is locked"
        || LOCKED.iter().any(|prefix| {
            text.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(": "))
        })
}

type Result<T> = std::result::Result<T, StoreError>;

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

/// Which changes a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Every change with a seq above this one (a catch-up from a cursor).
    Seq(u64),
    /// Every change committed at or after this time, ms (the replay on reconnect).
    CommittedAt(i64),
}

#[cfg(test)]
mod tests;
