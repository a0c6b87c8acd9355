use super::*;
use std::sync::Arc;

#[test]
fn a_second_writer_waits_for_the_first_and_gives_up_after_its_timeout() {
    let gate = Arc::new(WriteGate::default());
    assert!(gate.acquire(Duration::from_millis(1)));
    assert!(!gate.acquire(Duration::from_millis(20)), "taken twice");
    let waiter = std::thread::spawn({
        let gate = gate.clone();
        move || gate.acquire(Duration::from_secs(5))
    });
    gate.release();
    assert!(waiter.join().unwrap(), "the waiter got it once released");
}

#[test]
fn try_acquire_takes_only_a_free_gate() {
    let gate = WriteGate::default();
    assert!(gate.try_acquire(), "free");
    assert!(!gate.try_acquire(), "taken");
    gate.release();
    assert!(gate.try_acquire(), "free again once released");
}
