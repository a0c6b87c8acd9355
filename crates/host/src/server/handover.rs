//! Serving HTTP/1 until shutdown, then letting go of every connection without losing a request.
//!
//! Closing an idle keep-alive connection races with the client's next request on it: a request
//! already sent when the close arrives is lost, and a client that has sent a request's body
//! (Pushpin) does not send it again, so it drops the WebSocket the request was for. So at shutdown
//! each connection first gets `Connection: close` on its next response, which the client reads
//! before it could reuse the connection; only connections still open after the handover window
//! (idle all that time) are closed from this side. Requests in flight then finish.

use hyper::body::{Body, Incoming};
use hyper::header::{CONNECTION, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How long shutdown waits for in-flight requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How a port is let go of at shutdown.
pub struct Shutdown<F> {
    /// Resolves when the port should stop accepting.
    pub signal: F,
    /// How long connections have to take their `Connection: close`.
    pub handover: Duration,
}

/// Serves `handle(request, peer)` on `listener` (named `what` in the log) until the shutdown
/// signal, then lets go of every connection as the module says.
pub async fn serve<H, R, B>(
    what: &'static str,
    listener: TcpListener,
    header_read_timeout: Duration,
    shutdown: Shutdown<impl Future<Output = ()>>,
    handle: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> R + Clone + Send + Sync + 'static,
    R: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let http1 = super::http1::builder(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let closing = Arc::new(AtomicBool::new(false));
    // Every connection holds a sender: the receiver hears the end of the last.
    let (open, mut all_ended) = mpsc::channel::<()>(1);
    super::accept_until(what, listener, shutdown.signal, |stream, peer| {
        let (handle, closing, open) = (handle.clone(), closing.clone(), open.clone());
        let service = service_fn(move |request| {
            let (handle, closing) = (handle.clone(), closing.clone());
            async move {
                let mut response = handle(request, peer).await;
                if closing.load(Ordering::Relaxed) {
                    let close = HeaderValue::from_static("close");
                    response.headers_mut().insert(CONNECTION, close);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        async move {
            let ended = connection.await;
            drop(open);
            ended
        }
    })
    .await;
    closing.store(true, Ordering::Relaxed);
    drop(open);
    let handover = shutdown.handover;
    tracing::info!("{what}: handing keep-alive connections back for up to {handover:?}");
    if tokio::time::timeout(handover, all_ended.recv())
        .await
        .is_err()
    {
        tracing::info!("{what}: closing {} idle connections", graceful.count());
    }
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("{what}: all requests finished"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("{what}: gave up waiting for in-flight requests"),
    }
}
