//! Each user's stream: its epoch and head, created on first use, and the dense seqs it hands out.

use super::transaction::{first_i64, run};
use super::{Result, StoreError, Stream, busy};
use crate::sql::Sql;

/// The user's stream, created (with `new_epoch`, head `seq_base`) if it has none yet.
pub fn ensure_stream(db: &dyn Sql, user: &str, new_epoch: &str, seq_base: u64) -> Result<Stream> {
    busy::retry("creating a stream", busy::BUDGET, || {
        create_if_missing(db, user, new_epoch, seq_base)?;
        stream(db, user)?
            .ok_or_else(|| StoreError::Unexpected("stream missing right after insert".into()))
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

/// The user's next seq, its stream created first if need be. Only inside the transaction that
/// writes the change: the write lock it holds keeps the seqs dense and in commit order.
pub(super) fn next_seq(db: &dyn Sql, user: &str, new_epoch: &str, seq_base: u64) -> Result<i64> {
    create_if_missing(db, user, new_epoch, seq_base)?;
    let rows = run(
        db,
        "UPDATE streams SET last_seq = last_seq + 1 WHERE user_id = ? RETURNING last_seq",
        &[user.into()],
    )?;
    first_i64(&rows).ok_or_else(|| StoreError::Unexpected("no stream row after insert".into()))
}

fn create_if_missing(db: &dyn Sql, user: &str, new_epoch: &str, seq_base: u64) -> Result<()> {
    run(
        db,
        "INSERT INTO streams (user_id, epoch, last_seq) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
        &[user.into(), new_epoch.into(), (seq_base as i64).into()],
    )
    .map(drop)
}
