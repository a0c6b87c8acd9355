use super::*;

fn locked() -> StoreError {
    StoreError::Busy("database is locked".into())
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
        Err(StoreError::Sqlite("disk I/O error".into()))
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
