//! Serving a port: the one accept loop every listener of the host uses (HTTP triggers, the
//! gateway's client and publish ports, metrics), how each speaks HTTP/1 (`http1`), and how the
//! ports a gateway sends requests to let go of their connections at shutdown (`handover`).

pub mod handover;
pub mod http1;

use anyhow::Context;
use futures_util::FutureExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Connections the kernel completes and queues for each listener before it accepts them. The
/// standard library's 128 is exceeded when many devices reconnect at once (after a deploy, or a
/// network blip): a connection that finds the queue full waits a second for its SYN to be sent
/// again. The kernel caps it at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener on `address`, for every port the host serves; `what` names it in the
/// error.
pub fn listen(address: SocketAddr, what: &str) -> anyhow::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let listen = || -> std::io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
        // As the standard library's `bind` does: a restarted host can listen on its port again
        // while the old one's connections are in TIME_WAIT.
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    listen().with_context(|| format!("cannot listen on {address} ({what})"))
}

/// How long the accept loop pauses after a failed accept.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` until `shutdown` resolves, handing each to `serve`, which
/// returns the future that serves it; that runs in a task of its own, and its error (a client
/// that went away mid-request, a malformed request) is logged at debug level. `what` names the
/// port in the log. At shutdown the connections the kernel has already completed are accepted
/// and served too: closing the listener would reset them, and a client that has sent its request
/// on one (Pushpin's zurl) cannot tell whether it was processed, so does not send it again.
pub async fn accept_until<S, F, E>(
    what: &'static str,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    mut serve: S,
) where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say. The connection stays in the listen queue, so
                    // an accept at once would fail again at once: a loop that spins a core and
                    // floods the log for as long as a peer holds the descriptors. A pause lets
                    // sockets close meanwhile; then the next accept may succeed.
                    tracing::warn!("{what}: accept failed, pausing {ACCEPT_RETRY:?}: {error}");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        accepted(&mut serve, what, stream, peer);
    }
    while let Some(Ok((stream, peer))) = listener.accept().now_or_never() {
        accepted(&mut serve, what, stream, peer);
    }
    tracing::debug!("{what}: no longer accepting");
}

/// Serves one accepted connection in a task of its own.
fn accepted<S, F, E>(serve: &mut S, what: &'static str, stream: TcpStream, peer: SocketAddr)
where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    // A response leaves in more than one write (head, then body frames); with Nagle's algorithm
    // the second waits for the peer's delayed ACK, 40 ms.
    let _ = stream.set_nodelay(true);
    let connection = serve(stream, peer);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("{what}: connection from {peer} ended: {error}");
        }
    });
}
