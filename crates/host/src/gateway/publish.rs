//! `POST /publish/`, compatible with Pushpin's HTTP publish endpoint: `{"items":[…]}` →
//! `200 Published`. Without a token it has no authentication, like Pushpin's, and the host keeps it
//! on loopback; with one (`grip_publish_token`) every publish must carry
//! `Authorization: Bearer <token>`, as Fanout's API does, or is refused with 401.

use super::hub::Hub;
use bytes::Bytes;
use grip::PublishRequest;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

/// Pushpin's `push_in_http_max_body_size`.
const MAX_BODY: usize = 1_000_000;

/// Serves the publish endpoint until `shutdown` resolves.
pub async fn serve(
    hub: Hub,
    listener: TcpListener,
    http1: http1::Builder,
    token: Option<Arc<str>>,
    shutdown: impl Future<Output = ()>,
) {
    crate::server::accept_until("publish endpoint", listener, shutdown, |stream, _| {
        let (hub, token) = (hub.clone(), token.clone());
        let service = service_fn(move |request| {
            let (hub, token) = (hub.clone(), token.clone());
            async move { Ok::<_, Infallible>(publish(&hub, token.as_deref(), request).await) }
        });
        http1.serve_connection(TokioIo::new(stream), service)
    })
    .await;
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn unauthorized() -> Response<Full<Bytes>> {
    let body = r#"{"error":"Missing or invalid publish token"}"#;
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether the request carries `Authorization: Bearer <token>`. The comparison takes the same
/// time wherever the first difference is (digests hide the length too), so timing reveals nothing
/// of the token.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes) else {
        return false;
    };
    let Some((scheme, given)) = value.split_at_checked(7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    let (given, expected) = (Sha256::digest(given), Sha256::digest(token.as_bytes()));
    bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

/// This process's publish endpoint as an outbound request reaches it in process.
pub struct InProcess {
    pub hub: Hub,
    pub token: Option<Arc<str>>,
    pub address: std::net::SocketAddr,
}

impl crate::capabilities::outbound::http::LocalEndpoint for InProcess {
    fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    fn handle(
        &self,
        request: Request<wasmtime_wasi_http::WasiBody>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Response<wasmtime_wasi_http::WasiBody>> + Send>>
    {
        let (hub, token) = (self.hub.clone(), self.token.clone());
        Box::pin(async move {
            publish(&hub, token.as_deref(), request)
                .await
                .map(|body| body.map_err(|never| match never {}).boxed_unsync())
        })
    }
}

async fn publish<B>(hub: &Hub, token: Option<&str>, request: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let response = publish_items(hub, token, request).await;
    let outcome = if response.status() == StatusCode::OK {
        "published"
    } else {
        "refused"
    };
    crate::ops::metrics::get()
        .gateway_publish_requests
        .get_or_create(&crate::ops::metrics::Outcome { outcome })
        .inc();
    response
}

async fn publish_items<B>(
    hub: &Hub,
    token: Option<&str>,
    request: Request<B>,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Some(token) = token
        && !authorized(request.headers(), token)
    {
        return unauthorized();
    }
    let path = request.uri().path().trim_end_matches('/');
    if path != "/publish" {
        return reply(StatusCode::NOT_FOUND, "Not Found\n");
    }
    if request.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large\n"),
    };
    let request: PublishRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => return reply(StatusCode::BAD_REQUEST, "Invalid JSON or missing items\n"),
    };
    crate::ops::metrics::get()
        .gateway_published_items
        .inc_by(request.items.len() as u64);
    for item in request.items {
        hub.publish(item);
    }
    reply(StatusCode::OK, "Published\n")
}

#[cfg(test)]
mod tests;
