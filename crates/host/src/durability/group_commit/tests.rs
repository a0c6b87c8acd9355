use super::gated::gated;
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Polls `future` once: its output if that finished it. A waiter is driven here, not in a
/// spawned task, so "not released yet" is a fact rather than a task that has not run yet.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *future).poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_is_released_only_after_a_flush_that_began_after_its_commit() {
    let (sync, flushes, permit) = gated();
    let mut waiter = Box::pin(sync.synced(sync.committed()));
    assert!(
        poll_once(&mut waiter).await.is_none(),
        "released before any flush"
    );
    permit.send(()).unwrap();
    waiter.await.unwrap();
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_made_during_a_flush_share_the_next_one() {
    let (sync, flushes, permit) = gated();
    let mut leader = Box::pin(sync.synced(sync.committed()));
    assert!(
        poll_once(&mut leader).await.is_none(),
        "the first flush runs"
    );
    // While the first flush is stalled, 20 more requests commit and wait.
    let mut followers: Vec<_> = (0..20)
        .map(|_| Box::pin(sync.synced(sync.committed())))
        .collect();
    for follower in &mut followers {
        assert!(poll_once(follower).await.is_none());
    }
    permit.send(()).unwrap();
    leader.await.unwrap();
    // The first flush began before their commits, so it released none of them.
    for follower in &mut followers {
        assert!(
            poll_once(follower).await.is_none(),
            "released by a flush that began before its commit"
        );
    }
    permit.send(()).unwrap();
    for follower in followers {
        follower.await.unwrap();
    }
    assert_eq!(flushes.load(Ordering::SeqCst), 2, "20 commits, one flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_fails_its_waiters_and_the_next_flush_can_succeed() {
    struct FailOnce(AtomicUsize);
    impl Flush for FailOnce {
        fn flush(&self) -> std::io::Result<()> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                0 => Err(std::io::Error::other("disk gone")),
                _ => Ok(()),
            }
        }
    }
    let sync = GroupSync::new(FailOnce(AtomicUsize::new(0)));
    let ticket = sync.committed();
    assert!(
        sync.synced(ticket)
            .await
            .unwrap_err()
            .to_string()
            .contains("disk gone")
    );
    let ticket = sync.committed();
    sync.synced(ticket).await.unwrap();
}

/// A request cancelled while its flush runs (the guest dropped its publish, the client went
/// away) used to take the flush with it and leave `flushing` set: every later request waited
/// forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiter_does_not_leave_the_others_waiting() {
    let (sync, flushes, permit) = gated();
    let ticket = sync.committed();
    let first = tokio::spawn({
        let sync = sync.clone();
        async move { sync.synced(ticket).await }
    });
    while !sync.inner.positions.lock().unwrap().flushing {
        tokio::task::yield_now().await;
    }
    first.abort();
    let second = tokio::spawn({
        let sync = sync.clone();
        async move { sync.synced(ticket).await }
    });
    permit.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), second)
        .await
        .expect("left waiting for a flush nobody finishes")
        .unwrap()
        .unwrap();
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wal_that_is_not_there_has_nothing_to_flush() {
    let dir = tempfile::tempdir().unwrap();
    WalFile::new(&dir.path().join("db.sqlite")).flush().unwrap();
}
