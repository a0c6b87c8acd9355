//! `POST /publish/`, compatible with Pushpin's HTTP publish endpoint: `{"items":[…]}` →
//! `200 Published`. Like Pushpin's, it has no authentication: bind it to loopback.

use super::hub::Hub;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use protocol::grip::PublishRequest;
use std::convert::Infallible;
use tokio::net::TcpListener;

/// Pushpin's `push_in_http_max_body_size`.
const MAX_BODY: usize = 1_000_000;

pub async fn serve(hub: Hub, listener: TcpListener, http1: http1::Builder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let hub = hub.clone();
        let http1 = http1.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(publish(&hub, request).await) }
            });
            let _ = http1.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

async fn publish(hub: &Hub, request: Request<Incoming>) -> Response<Full<Bytes>> {
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
    for item in request.items {
        hub.publish(item);
    }
    reply(StatusCode::OK, "Published\n")
}
