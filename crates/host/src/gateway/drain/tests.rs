use super::{close_at, drain};
use crate::gateway::hub::{Hub, connection_queues};
use std::time::Duration;
use tokio::time::Instant;

#[test]
fn closes_are_spread_evenly_over_the_window_the_first_at_once() {
    let start = Instant::now();
    let window = Duration::from_secs(10);
    let due: Vec<Duration> = (0..4)
        .map(|i| close_at(start, window, i, 4) - start)
        .collect();
    assert_eq!(
        due,
        [0, 2500, 5000, 7500].map(Duration::from_millis).to_vec()
    );
    assert_eq!(
        close_at(start, window, 0, 0),
        start,
        "no connection, no wait"
    );
}

#[tokio::test(start_paused = true)]
async fn every_connection_gets_1012_in_turn_and_the_drain_ends_when_they_are_gone() {
    let hub = Hub::default();
    let mut inboxes = Vec::new();
    for id in ["a", "b"] {
        let (outbox, inbox) = connection_queues();
        let open = hub.add_connection(id, outbox.closes);
        inboxes.push((open, inbox));
    }
    let started = Instant::now();
    let draining = tokio::spawn({
        let hub = hub.clone();
        async move { drain(&hub, Duration::from_secs(4)).await }
    });
    // Each connection's close is awaited on its own: the drain's order is the registry's.
    let waiting: Vec<_> = inboxes
        .into_iter()
        .map(|(open, mut inbox)| {
            tokio::spawn(async move {
                let close = inbox.closes.recv().await.expect("a close");
                assert_eq!((close.code, close.after_queued), (1012, true));
                drop(open);
                started.elapsed()
            })
        })
        .collect();
    let mut closed_at = Vec::new();
    for waiting in waiting {
        closed_at.push(waiting.await.unwrap());
    }
    closed_at.sort();
    assert_eq!(closed_at, [Duration::ZERO, Duration::from_secs(2)]);
    draining.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the drain ended when the last session did, not at a timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn the_drain_waits_for_a_session_to_end_not_for_it_to_leave_its_channels() {
    let hub = Hub::default();
    let (outbox, mut inbox) = connection_queues();
    hub.subscribe("a", "user:u", &[], outbox.clone());
    let open = hub.add_connection("a", outbox.closes);
    let mut draining = tokio::spawn({
        let hub = hub.clone();
        async move { drain(&hub, Duration::from_secs(1)).await }
    });
    inbox.closes.recv().await.expect("a close");
    // The session stops taking relays at once, but its close frame and the app's DISCONNECT
    // are still on their way: the process must not end yet.
    hub.remove("a");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), &mut draining)
            .await
            .is_err(),
        "the drain ended while the session was still closing"
    );
    drop(open);
    draining.await.unwrap();
}
