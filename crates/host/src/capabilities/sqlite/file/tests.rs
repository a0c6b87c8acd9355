use super::*;
use std::sync::{Arc, Barrier};

#[test]
fn concurrent_first_opens_of_a_fresh_file_all_succeed() {
    for _ in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let connection = open_wal(&path)?;
                    connection.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap().unwrap(), "wal");
        }
    }
}

#[test]
fn an_unopenable_path_is_an_error_not_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    assert!(open_wal(dir.path()).is_err());
    assert!(started.elapsed() < BUSY_TIMEOUT);
}
