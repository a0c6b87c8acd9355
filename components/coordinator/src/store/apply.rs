//! Applying a mutation: a duplicate `eventId` or a conflict is found before anything is written;
//! otherwise the stream's next seq, the entities' new states and the idempotency key are written
//! together, in one transaction (or one savepoint of a request's batch).

use super::transaction::{in_savepoint, in_transaction};
use super::{Applied, Result, applied_events, busy, entities, streams};
use crate::sql::Sql;
use protocol::client_frame::Mutation;

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
    // Each attempt is one transaction: committed, or rolled back on any error. A duplicate or a
    // conflict commits nothing.
    busy::retry("sync write", busy::BUDGET, || {
        in_transaction(db, || {
            write(db, user, mutation, new_epoch, seq_base, now_ms)
        })
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
    .inspect_err(|error| {
        eprintln!(
            "coordinator: sync write failed (in a batch): {}",
            error.reason()
        )
    })
}

/// The writes of one mutation, inside the caller's transaction or savepoint.
fn write(
    db: &dyn Sql,
    user: &str,
    mutation: &Mutation,
    new_epoch: &str,
    seq_base: u64,
    now_ms: i64,
) -> Result<Applied> {
    if let Some(event_id) = &mutation.event_id
        && let Some(seq) = applied_events::applied_seq(db, user, event_id)?
    {
        return Ok(Applied::Duplicate { seq });
    }
    if let Some(conflict) = entities::conflict(db, user, mutation)? {
        return Ok(conflict);
    }
    let seq = streams::next_seq(db, user, new_epoch, seq_base)?;
    for change in &mutation.changes {
        entities::store(db, user, change, seq, now_ms)?;
    }
    if let Some(event_id) = &mutation.event_id {
        applied_events::record(db, user, event_id, seq, now_ms)?;
    }
    Ok(Applied::Committed { seq: seq as u64 })
}
