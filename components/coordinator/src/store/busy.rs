//! Writes that meet a lock held by another connection (`SQLITE_BUSY`, `SQLITE_LOCKED`: a
//! [`StoreError::Busy`]).
//!
//! On Spin every request opens its own connection, and Spin's default database starts in
//! rollback-journal mode, where readers and writers block each other; SQLite's busy handler does
//! not wait in every such case (it answers at once where waiting could deadlock, and gives up after
//! its timeout). Measured on Spin 4.0.2: 5–6 of 1,000 concurrent mutations answered "Sync write
//! failed". So an operation that meets a lock is rolled back by its caller and run again from the
//! start, with a short growing pause, for at most [`BUDGET`]; only then is the failure reported,
//! and its reason logged (SQLite's message: no request data, no tokens).

use super::StoreError;
use std::time::{Duration, Instant};

/// How long an operation keeps retrying after its first attempt met a lock.
pub const BUDGET: Duration = Duration::from_secs(2);
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// Runs `operation` until it succeeds, fails for another reason, or `budget` has passed since the
/// first attempt. `operation` must leave no transaction open when it fails. `what` names the
/// operation in the log line written when it finally fails.
pub fn retry<T>(
    what: &str,
    budget: Duration,
    mut operation: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempts = 1u32;
    loop {
        match operation() {
            Err(StoreError::Busy(_)) if started.elapsed() + pause < budget => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(LONGEST_PAUSE);
                attempts += 1;
            }
            Err(error) => {
                eprintln!(
                    "coordinator: {what} failed after {attempts} attempt(s) in {} ms: {}",
                    started.elapsed().as_millis(),
                    error.reason()
                );
                return Err(error);
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests;
