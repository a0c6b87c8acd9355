//! `wasi:http/outgoing-handler`: outbound requests, only to the component's `allowed_outbound_hosts`
//! (see `allowed_hosts`). A refused request is the guest-visible `HTTP-request-denied` error code,
//! never a trap. A request to an endpoint this process serves itself (the embedded gateway's
//! publish endpoint) is handed to it in process: the guest makes the same call, and the host skips
//! the loopback TCP and HTTP round trip. Either way a request leaves only once what the instance
//! has committed is on disk: a relay published after a commit never outruns its flush.

use crate::capabilities::outbound::allowed_hosts::{AllowedHosts, well_known_port};
use crate::durability::held_response::PendingSync;
use http_body_util::BodyExt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// An HTTP endpoint served by this process that outbound requests may reach directly.
pub trait LocalEndpoint: Send + Sync {
    /// Where it listens.
    fn address(&self) -> SocketAddr;
    fn handle(
        &self,
        request: http::Request<WasiBody>,
    ) -> Pin<Box<dyn Future<Output = http::Response<WasiBody>> + Send>>;
}

/// Set once the embedded gateway serves (never with `--no-gateway`).
pub type LocalEndpointSlot = Arc<OnceLock<Arc<dyn LocalEndpoint>>>;

/// Per-instance hooks: the default sender behind an allow-list check.
pub struct OutboundHooks {
    pub allowed: Arc<AllowedHosts>,
    pub local: LocalEndpointSlot,
    /// The instance's commits not yet known to be on disk.
    pub pending: Arc<PendingSync>,
}

/// Whether `host:port` names `address` as seen from this machine.
fn is_local(address: SocketAddr, host: &str, port: u16) -> bool {
    if port != address.port() {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip == address.ip() || (ip.is_loopback() && address.ip().is_unspecified()),
        Err(_) => host.eq_ignore_ascii_case("localhost") && address.ip().is_loopback(),
    }
}

type SendFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: SendFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, SendFuture), Error>> + Send>
    {
        drop(fut);
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .or_else(|| well_known_port(&scheme))
            .unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(%scheme, %host, port, "outbound request denied: not in allowed_outbound_hosts");
            count_outbound("denied");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let pending = self.pending.clone();
        let durable = async move {
            pending
                .wait()
                .await
                .map_err(|error| Error::InternalError(Some(format!("not durable: {error}"))))
        };
        if let Some(local) = self.local.get()
            && scheme == "http"
            && is_local(local.address(), &host, port)
        {
            let local = local.clone();
            return Box::new(async move {
                durable.await?;
                let done: SendFuture = Box::new(async { Ok(()) });
                let response = local.handle(request).await;
                count_outbound(status_class(response.status()));
                Ok((response, done))
            });
        }
        Box::new(async move {
            durable.await?;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options)
                .await
                .inspect_err(|_| count_outbound("error"))?;
            count_outbound(status_class(response.status()));
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as SendFuture,
            ))
        })
    }
}

/// An outbound request's outcome in the metrics: refused by `allowed_outbound_hosts`, failed
/// before a response, or the response's status class.
fn count_outbound(outcome: &'static str) {
    crate::ops::metrics::get()
        .outbound_requests
        .get_or_create(&crate::ops::metrics::Outcome { outcome })
        .inc();
}

fn status_class(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::group_commit::gated::gated;
    use http_body_util::{Empty, Full};
    use std::task::Poll;

    /// Records that it was called; answers 200.
    struct Recorder(Arc<std::sync::atomic::AtomicBool>, SocketAddr);

    impl LocalEndpoint for Recorder {
        fn address(&self) -> SocketAddr {
            self.1
        }
        fn handle(
            &self,
            _request: http::Request<WasiBody>,
        ) -> Pin<Box<dyn Future<Output = http::Response<WasiBody>> + Send>> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async {
                http::Response::new(
                    Full::new(bytes::Bytes::from_static(b"Published\n"))
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
            })
        }
    }

    /// A publish made after a commit leaves only once that commit is on disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outbound_request_waits_for_the_instances_commits_to_be_flushed() {
        let address: SocketAddr = "127.0.0.1:5561".parse().unwrap();
        let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let local = LocalEndpointSlot::default();
        let _ = local.set(Arc::new(Recorder(called.clone(), address)));
        let (group, _, permit) = gated();
        let pending = Arc::new(PendingSync::default());
        pending.record(&group, group.committed());
        let mut hooks = OutboundHooks {
            allowed: Arc::new(AllowedHosts::parse(["http://127.0.0.1:5561"]).unwrap()),
            local,
            pending,
        };
        let request = http::Request::post("http://127.0.0.1:5561/publish/")
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .unwrap();
        let mut sent = Box::into_pin(hooks.send_request(request, None, Box::new(async { Ok(()) })));
        // One poll goes as far as the request can without the flush.
        let first = std::future::poll_fn(|cx| Poll::Ready(sent.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "answered before the flush");
        assert!(
            !called.load(std::sync::atomic::Ordering::SeqCst),
            "sent before the flush"
        );
        permit.send(()).unwrap();
        let (response, _) = sent.await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(called.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn only_the_listening_address_itself_is_local() {
        let loopback = "127.0.0.1:5561".parse().unwrap();
        assert!(is_local(loopback, "127.0.0.1", 5561));
        assert!(is_local(loopback, "localhost", 5561));
        assert!(!is_local(loopback, "127.0.0.1", 5562));
        assert!(!is_local(loopback, "127.0.0.2", 5561));
        assert!(!is_local(loopback, "example.com", 5561));
        let everywhere = "0.0.0.0:5561".parse().unwrap();
        assert!(is_local(everywhere, "127.0.0.1", 5561));
        assert!(!is_local(everywhere, "192.0.2.1", 5561));
        assert!(is_local("[::1]:5561".parse().unwrap(), "[::1]", 5561));
    }
}
