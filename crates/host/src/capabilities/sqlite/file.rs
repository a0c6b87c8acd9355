//! Opening the SQLite files behind the key-value and SQLite capabilities, in WAL mode.

use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a statement waits for another connection's lock before reporting `busy`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: more than the app's distinct statements (rusqlite
/// keeps 16), so a request's statements are found prepared rather than parsed again.
const STATEMENT_CACHE: usize = 128;

/// Opens `path` with [`BUSY_TIMEOUT`] and switches it to WAL (readers run beside the writer).
///
/// The switch takes an exclusive lock, and when two connections race to make it on a fresh file
/// (the startup `/health` probe and a client's first request do) SQLite answers `SQLITE_BUSY` at
/// once, without consulting the busy handler, to avoid a deadlock. The loser retries here, within
/// the same timeout, instead of failing the guest's `open`.
pub fn open_wal(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match connection.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(error) if is_busy(&error) && Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result.map(|()| connection),
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests;
