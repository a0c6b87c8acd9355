//! The graceful drain at shutdown: once no port accepts, every client socket is closed with 1012
//! (service restart), the closes spread evenly over a window so that the clients' reconnects do
//! not all arrive in the same instant. Until its turn a socket keeps working; frames queued for it
//! (an ack) go out before its close.

use super::hub::{CloseRequest, Hub};
use std::time::Duration;
use tokio::time::Instant;

/// RFC 6455's "service restart": the client should reconnect.
pub const SERVICE_RESTART: u16 = 1012;
const REASON: &str = "service restart";

/// How long sessions may take to end after the last close was sent (a client that does not read
/// is dropped by its writer well before).
const GRACE: Duration = Duration::from_secs(10);

/// When the `index`-th of `count` closes is due, from `start`: evenly over `window`, the first at
/// once.
pub fn close_at(start: Instant, window: Duration, index: usize, count: usize) -> Instant {
    start + window.mul_f64(index as f64 / count.max(1) as f64)
}

/// Closes every connection of `hub` over `window` and waits for their sessions to end.
pub async fn drain(hub: &Hub, window: Duration) {
    let connections = hub.connections();
    let count = connections.len();
    tracing::info!(
        "draining: closing {count} client sockets with {SERVICE_RESTART} over {window:?}"
    );
    let start = Instant::now();
    for (index, (_, closes)) in connections.into_iter().enumerate() {
        tokio::time::sleep_until(close_at(start, window, index, count)).await;
        // Fails only when the session has ended already.
        let _ = closes.send(restart());
    }
    // A handshake that was under way when the ports stopped accepting registers late.
    for (_, closes) in hub.connections() {
        let _ = closes.send(restart());
    }
    match tokio::time::timeout(GRACE, hub.all_removed()).await {
        Ok(()) => tracing::info!("drained: every client socket is closed"),
        Err(_) => tracing::warn!(
            "gave up waiting for {} client sockets to close",
            hub.connections().len()
        ),
    }
}

fn restart() -> CloseRequest {
    CloseRequest {
        code: SERVICE_RESTART,
        reason: REASON.into(),
        after_queued: true,
    }
}

#[cfg(test)]
mod tests;
