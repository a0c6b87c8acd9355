//! Writes that meet a lock held by another connection (`SQLITE_BUSY`, `SQLITE_LOCKED`).
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

/// Whether `error` is SQLite saying another connection holds a lock (the message text is all that
/// crosses Spin's SQLite interface: `database is locked`, `database table is locked`, …).
pub fn is_busy(error: &StoreError) -> bool {
    let message = error.0.to_ascii_lowercase();
    message.contains("is locked")
        || message.contains("sqlite_busy")
        || message.contains("sqlite_locked")
}

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
            Err(error) if is_busy(&error) && started.elapsed() + pause < budget => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(LONGEST_PAUSE);
                attempts += 1;
            }
            Err(error) => {
                eprintln!(
                    "coordinator: {what} failed after {attempts} attempt(s) in {} ms: {}",
                    started.elapsed().as_millis(),
                    error.0
                );
                return Err(error);
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked() -> StoreError {
        StoreError("Io(\"database is locked\")".into())
    }

    #[test]
    fn lock_errors_are_recognised_whatever_wraps_them() {
        assert!(is_busy(&locked()));
        assert!(is_busy(&StoreError(
            "database table is locked: streams".into()
        )));
        assert!(!is_busy(&StoreError(
            "UNIQUE constraint failed: streams.user_id".into()
        )));
        assert!(!is_busy(&StoreError("disk I/O error".into())));
    }

    #[test]
    fn a_locked_operation_is_run_again_until_it_succeeds() {
        let mut calls = 0;
        let result = retry("test write", BUDGET, || {
            calls += 1;
            if calls < 4 { Err(locked()) } else { Ok(calls) }
        });
        assert_eq!(result, Ok(4));
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<(), _> = retry("test write", BUDGET, || {
            calls += 1;
            Err(StoreError("disk I/O error".into()))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_lock_that_never_clears_fails_within_the_budget() {
        let budget = Duration::from_millis(100);
        let started = Instant::now();
        let mut calls = 0;
        let result: Result<(), _> = retry("test write", budget, || {
            calls += 1;
            Err(locked())
        });
        assert_eq!(result, Err(locked()));
        assert!(calls > 1, "it retried");
        assert!(
            started.elapsed() < budget + LONGEST_PAUSE,
            "{:?}",
            started.elapsed()
        );
    }
}
