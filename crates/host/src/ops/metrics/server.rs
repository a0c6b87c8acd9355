//! `GET /metrics` on the `--metrics-listen` address, in Prometheus's text format.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves. `engine` gives the live instance count at each scrape.
pub async fn serve(
    listener: TcpListener,
    engine: wasmtime::Engine,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let http1 = crate::server::http1::builder(header_read_timeout);
    crate::server::accept_until("metrics", listener, shutdown, |stream, _| {
        let engine = engine.clone();
        let service = service_fn(move |request| {
            let engine = engine.clone();
            async move { Ok::<_, Infallible>(answer(&request, &engine)) }
        });
        http1.serve_connection(TokioIo::new(stream), service)
    })
    .await;
}

fn answer<B>(request: &Request<B>, engine: &wasmtime::Engine) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            let metrics = super::get();
            if let Some(pool) = engine.pooling_allocator_metrics() {
                metrics
                    .component_instances_live
                    .set(pool.component_instances() as i64);
            }
            (
                StatusCode::OK,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                metrics.encode(),
            )
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            r#"{"error":"Method not allowed: GET /metrics"}"#.to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":"Not found: metrics are at /metrics"}"#.to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
