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
mod tests;
