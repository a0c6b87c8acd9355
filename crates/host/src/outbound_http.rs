//! `wasi:http/outgoing-handler`: outbound requests, only to the component's `allowed_outbound_hosts`
//! (see `allowed_hosts`). A refused request is the guest-visible `HTTP-request-denied` error code,
//! never a trap.

use crate::allowed_hosts::{AllowedHosts, well_known_port};
use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Per-instance hooks: the default sender behind an allow-list check.
pub struct OutboundHooks {
    pub allowed: Arc<AllowedHosts>,
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
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as SendFuture,
            ))
        })
    }
}
