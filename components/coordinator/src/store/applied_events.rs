//! Idempotency keys: the `eventId`s applied, with the seq each got, remembered for a retention
//! period so a retried mutation is answered as a duplicate rather than written twice.

use super::transaction::{first_i64, run};
use super::{Result, busy};
use crate::sql::Sql;

/// The seq `event_id` was applied at, if it was.
pub(super) fn applied_seq(db: &dyn Sql, user: &str, event_id: &str) -> Result<Option<u64>> {
    let rows = run(
        db,
        "SELECT seq FROM applied_events WHERE user_id = ? AND event_id = ?",
        &[user.into(), event_id.into()],
    )?;
    Ok(first_i64(&rows).map(|seq| seq as u64))
}

/// Remembers that `event_id` was applied at `seq`.
pub(super) fn record(
    db: &dyn Sql,
    user: &str,
    event_id: &str,
    seq: i64,
    now_ms: i64,
) -> Result<()> {
    run(
        db,
        "INSERT INTO applied_events (user_id, event_id, seq, applied_at) VALUES (?, ?, ?, ?)",
        &[user.into(), event_id.into(), seq.into(), now_ms.into()],
    )
    .map(drop)
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
