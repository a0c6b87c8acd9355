//! How every port the host serves (HTTP triggers, gateway, publish endpoint) speaks HTTP/1: a
//! client must send a whole request head within the header-read timeout, or its connection is
//! closed. hyper starts that timer whenever it waits for a request head — on a new connection and
//! again after each response — so a silent connection, a half-sent request line and an idle
//! keep-alive connection are all closed once it passes. An upgraded WebSocket is no longer
//! hyper's; the gateway's pings look after those.

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use std::time::Duration;

/// How long a client has to send a request head, and how long a keep-alive connection may sit idle
/// between requests. Browsers and proxies send a head at once; this only bounds the connections a
/// slow or silent client can hold.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/1 server builder with the header-read timeout in force.
pub fn builder(header_read_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
}
