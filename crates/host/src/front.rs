//! `sync-host front`: a reverse proxy in front of one host that cannot let go of its requests at
//! shutdown. Spin's SIGINT/SIGTERM abort the requests in flight, and Pushpin closes the WebSocket
//! whose request was lost (it never sends a request again once its body went out). Behind a front
//! Spin is restarted without that: on SIGUSR1 the front holds every new request and says when none
//! is in flight upstream; the host is then stopped and started again; on SIGUSR2 the held
//! requests go to it. A request that cannot connect upstream (the host is not back yet) is tried
//! again until `--hold-seconds` pass. The front's own SIGTERM lets go of its connections as
//! sync-host's ports do (`server::handover`).

use crate::server::handover::{self, Shutdown};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(clap::Args)]
pub struct FrontArgs {
    /// Address to serve on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:3001")]
    pub listen: SocketAddr,
    /// The host's address: where every request goes.
    #[arg(long)]
    pub upstream: SocketAddr,
    /// How long a request may wait, held or for its host to accept connections again, before it
    /// is answered 503.
    #[arg(long, default_value_t = 30)]
    pub hold_seconds: u64,
    /// At shutdown, seconds that keep-alive connections have to take their `Connection: close`.
    #[arg(long, default_value_t = 5)]
    pub drain_seconds: u64,
}

/// The largest request body forwarded (WebSocket-over-HTTP batches are far smaller).
const MAX_BODY: usize = 8 << 20;
/// How long an idle connection to the host is kept for reuse: shorter than the host keeps one
/// (sync-host 10 s), so that the front, not the host, closes it, and a request is never sent on
/// a connection the host is closing.
const POOL_IDLE: Duration = Duration::from_secs(5);
/// How often a request that found its host not accepting connections tries again.
const CONNECT_RETRY: Duration = Duration::from_millis(50);

/// Whether requests are held, and how many are upstream now.
#[derive(Clone, Copy, Default)]
struct Flow {
    held: bool,
    in_flight: usize,
}

struct Front {
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: SocketAddr,
    flow: watch::Sender<Flow>,
    hold: Duration,
}

pub fn front(args: FrontArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: FrontArgs) -> anyhow::Result<()> {
    let listener = TcpListener::from_std(crate::server::listen(args.listen, "front")?)?;
    let mut holds = signal(SignalKind::user_defined1())?;
    let mut releases = signal(SignalKind::user_defined2())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let front = Arc::new(Front {
        client: Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build_http(),
        upstream: args.upstream,
        flow: watch::Sender::new(Flow::default()),
        hold: Duration::from_secs(args.hold_seconds),
    });
    let mut stdout = std::io::stdout().lock();
    let address = listener.local_addr()?;
    writeln!(stdout, "Front http://{address} -> http://{}", args.upstream)?;
    stdout.flush()?;
    drop(stdout);
    tokio::spawn({
        let front = front.clone();
        async move {
            loop {
                tokio::select! {
                    Some(()) = holds.recv() => {
                        // Waits for the requests in flight; a release may come first.
                        let front = front.clone();
                        tokio::spawn(async move { front.hold_all().await });
                    }
                    Some(()) = releases.recv() => front.release(),
                }
            }
        }
    });
    let shutdown = Shutdown {
        signal: async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        },
        handover: Duration::from_secs(args.drain_seconds),
    };
    let handle = move |request, _peer| {
        let front = front.clone();
        async move { front.forward(request).await }
    };
    handover::serve(
        "front",
        listener,
        crate::server::http1::HEADER_READ_TIMEOUT,
        shutdown,
        handle,
    )
    .await;
    Ok(())
}

/// Counts a request upstream until dropped.
struct InFlight<'a>(&'a watch::Sender<Flow>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|flow| flow.in_flight -= 1);
    }
}

impl Front {
    async fn hold_all(&self) {
        self.flow.send_modify(|flow| flow.held = true);
        tracing::info!("holding new requests");
        let mut flow = self.flow.subscribe();
        let _ = flow
            .wait_for(|flow| !flow.held || flow.in_flight == 0)
            .await;
        if self.flow.borrow().held {
            tracing::info!("held: no request in flight upstream");
        }
    }

    fn release(&self) {
        self.flow.send_modify(|flow| flow.held = false);
        tracing::info!("released: requests go upstream");
    }

    /// Waits while requests are held, then counts this one as in flight.
    async fn enter(&self) -> InFlight<'_> {
        let mut flow = self.flow.subscribe();
        loop {
            let mut entered = false;
            self.flow.send_if_modified(|flow| {
                entered = !flow.held;
                flow.in_flight += usize::from(entered);
                entered
            });
            if entered {
                return InFlight(&self.flow);
            }
            let _ = flow.wait_for(|flow| !flow.held).await;
        }
    }

    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        // Whole, so that a request refused at connect can be sent again.
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        };
        let deadline = Instant::now() + self.hold;
        let Ok(_in_flight) = tokio::time::timeout_at(deadline, self.enter()).await else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "Upstream held too long");
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://{}{path}", self.upstream).parse::<Uri>() else {
            return error(StatusCode::BAD_REQUEST, "Bad request target");
        };
        loop {
            let mut upstream = Request::new(Full::new(body.clone()));
            *upstream.method_mut() = parts.method.clone();
            *upstream.uri_mut() = uri.clone();
            *upstream.headers_mut() = parts.headers.clone();
            strip_hop_by_hop(upstream.headers_mut());
            match self.client.request(upstream).await {
                Ok(response) => {
                    let (mut parts, body) = response.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    // Whole before the request stops counting as in flight: a hold reported
                    // while a body is still coming would let the host be stopped mid-response.
                    let Ok(body) = body.collect().await else {
                        return error(StatusCode::BAD_GATEWAY, "Upstream response cut short");
                    };
                    return Response::from_parts(parts, Full::new(body.to_bytes()));
                }
                // Nothing was sent: the host is not accepting connections (yet).
                Err(failure) if failure.is_connect() && Instant::now() < deadline => {
                    tokio::time::sleep(CONNECT_RETRY).await;
                }
                Err(failure) => {
                    tracing::warn!("upstream request failed: {failure}");
                    return error(StatusCode::BAD_GATEWAY, "Upstream request failed");
                }
            }
        }
    }
}

/// Removes the headers that belong to one connection, not to the request or response.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests;
