//! Running statements: one at a time, in a `BEGIN IMMEDIATE` transaction, in a savepoint of one,
//! and the transaction all the mutations of a request share (a batch).

use super::{Result, busy};
use crate::sql::{Rows, Sql, SqlValue};

/// Runs one statement.
pub(super) fn run(db: &dyn Sql, statement: &str, parameters: &[SqlValue]) -> Result<Rows> {
    Ok(db.execute(statement, parameters)?)
}

/// The first column of the first row, as an integer.
pub(super) fn first_i64(rows: &Rows) -> Option<i64> {
    rows.first()?.first()?.as_i64()
}

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on any error.
pub(super) fn in_transaction<T>(db: &dyn Sql, body: impl FnOnce() -> Result<T>) -> Result<T> {
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

/// Runs `body` in its own write transaction, all of it again while another connection holds the
/// lock (for at most [`busy::BUDGET`]); `what` names it in the log line of a final failure.
pub fn write_transaction<T>(
    db: &dyn Sql,
    what: &str,
    mut body: impl FnMut() -> Result<T>,
) -> Result<T> {
    busy::retry(what, busy::BUDGET, || in_transaction(db, &mut body))
}

/// Runs `body` inside a savepoint of the open transaction: its writes are undone on error, the
/// transaction's others kept.
pub(super) fn in_savepoint<T>(db: &dyn Sql, body: impl FnOnce() -> Result<T>) -> Result<T> {
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
/// Each mutation then goes through [`apply_in_batch`](super::apply_in_batch); nothing is
/// acknowledged before [`commit_batch`] returns.
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
