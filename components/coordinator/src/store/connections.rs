//! The connection registry: which connections each user holds, for the per-user cap. Registering
//! happens inside a `BEGIN IMMEDIATE` transaction (forget expired entries, add, evict the oldest
//! beyond the cap), so any burst of concurrent connects leaves exactly the cap registered. An
//! evicted entry stays, marked, until it expires: the close published for it can miss a connection
//! whose own handshake is still in flight, and its next request then learns it was evicted.

use super::transaction::run;
use super::{Result, busy};
use crate::sql::{Sql, SqlValue};

/// What the registry knows of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Holds a slot; last heard of at `seen_at` (ms).
    Live { seen_at: i64 },
    /// Lost its slot to newer connections.
    Evicted,
    /// Never registered, or expired.
    Unknown,
}

/// Registers `connection` for `user` at `now_ms`, forgetting entries not seen since
/// `expired_before_ms` (a crashed gateway's), and returns the connections evicted to keep at most
/// `cap`: the oldest opened first. Runs inside the caller's write transaction
/// ([`write_transaction`](super::write_transaction)), which may charge the connect rate first.
pub fn register(
    db: &dyn Sql,
    user: &str,
    connection: &str,
    now_ms: i64,
    expired_before_ms: i64,
    cap: usize,
) -> Result<Vec<String>> {
    run(
        db,
        "DELETE FROM connections WHERE user_id = ? AND seen_at < ?",
        &[user.into(), expired_before_ms.into()],
    )?;
    run(
        db,
        "INSERT INTO connections (user_id, connection_id, opened_at, seen_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, connection_id) DO UPDATE SET seen_at = excluded.seen_at",
        &[user.into(), connection.into(), now_ms.into(), now_ms.into()],
    )?;
    let rows = run(
        db,
        "SELECT connection_id FROM connections WHERE user_id = ? AND evicted_at IS NULL
         ORDER BY opened_at DESC, rowid DESC LIMIT -1 OFFSET ?",
        &[user.into(), (cap as i64).into()],
    )?;
    let evicted: Vec<String> = rows
        .iter()
        .filter_map(|row| row.first()?.as_str().map(str::to_string))
        .collect();
    for id in &evicted {
        run(
            db,
            "UPDATE connections SET evicted_at = ? WHERE user_id = ? AND connection_id = ?",
            &[now_ms.into(), user.into(), id.as_str().into()],
        )?;
    }
    Ok(evicted)
}

/// Whether `connection` holds a slot.
pub fn registration(db: &dyn Sql, user: &str, connection: &str) -> Result<Registration> {
    let rows = busy::retry("reading the registry", busy::BUDGET, || {
        run(
            db,
            "SELECT seen_at, evicted_at FROM connections WHERE user_id = ? AND connection_id = ?",
            &[user.into(), connection.into()],
        )
    })?;
    Ok(match rows.first().map(Vec::as_slice) {
        Some([_, SqlValue::Integer(_)]) => Registration::Evicted,
        Some([seen_at, _]) => Registration::Live {
            seen_at: seen_at.as_i64().unwrap_or(0),
        },
        _ => Registration::Unknown,
    })
}

/// Marks a live `connection` as heard of at `now_ms` (an evicted one stays evicted).
pub fn touch(db: &dyn Sql, user: &str, connection: &str, now_ms: i64) -> Result<()> {
    busy::retry("refreshing a connection", busy::BUDGET, || {
        run(
            db,
            "UPDATE connections SET seen_at = ?
             WHERE user_id = ? AND connection_id = ? AND evicted_at IS NULL",
            &[now_ms.into(), user.into(), connection.into()],
        )
        .map(drop)
    })
}

/// Forgets `connection`.
pub fn unregister(db: &dyn Sql, user: &str, connection: &str) -> Result<()> {
    busy::retry("unregistering a connection", busy::BUDGET, || {
        run(
            db,
            "DELETE FROM connections WHERE user_id = ? AND connection_id = ?",
            &[user.into(), connection.into()],
        )
        .map(drop)
    })
}

/// The user's connections that hold a slot, oldest first.
pub fn list(db: &dyn Sql, user: &str) -> Result<Vec<String>> {
    let rows = run(
        db,
        "SELECT connection_id FROM connections WHERE user_id = ? AND evicted_at IS NULL
         ORDER BY opened_at, rowid",
        &[user.into()],
    )?;
    Ok(rows
        .iter()
        .filter_map(|row| row.first()?.as_str().map(str::to_string))
        .collect())
}
