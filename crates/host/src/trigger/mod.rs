//! The HTTP trigger: routes each request to its component (Spin's rules), instantiates the
//! component for that request, sets Spin's request metadata headers, and logs one line per request.

pub mod router;

use crate::app::App;
use crate::app::live::LiveApp;
use crate::capabilities::instance::InstanceState;
use crate::durability::held_response::DurableBody;
use crate::server::handover::Shutdown;
use crate::trigger::router::RouteMatch;
use anyhow::{Context, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Serves the live app on `listener` until `shutdown` says, then lets go of it as
/// `server::handover` does.
pub async fn serve(
    live: Arc<LiveApp>,
    listener: TcpListener,
    header_read_timeout: Duration,
    shutdown: Shutdown<impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let handle = move |request, peer| {
        let app = live.current();
        async move { handle(&app, request, local, peer).await }
    };
    crate::server::handover::serve(
        "HTTP triggers",
        listener,
        header_read_timeout,
        shutdown,
        handle,
    )
    .await;
    Ok(())
}

/// Routes and runs one request. Generic over the body so the embedded gateway can call the app in
/// process with a body it built.
pub async fn handle<B>(
    app: &App,
    request: Request<B>,
    local: SocketAddr,
    peer: SocketAddr,
) -> Response<HyperOutgoingBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: query strings can carry tokens, which must never reach a log.
    let path = request.uri().path().to_string();
    // The route as the manifest writes it: a metrics label with as many values as routes.
    let mut route_label = "unmatched".to_string();
    let mut component_label = None;
    let mut response = match app.router.route(&path) {
        None => json_response(StatusCode::NOT_FOUND, r#"{"error":"Not found"}"#),
        Some(route) => {
            let component = route.component.to_string();
            route_label = route.raw_route.to_string();
            component_label = Some(component.clone());
            crate::ops::metrics::get()
                .component_instantiations
                .get_or_create(&crate::ops::metrics::ComponentLabel {
                    component: component.clone(),
                })
                .inc();
            match run_component(app, &route, request, local, peer).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::error!(component, "request failed: {error:#}");
                    json_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        r#"{"error":"Internal server error"}"#,
                    )
                }
            }
        }
    };
    if let Some(component) = &component_label {
        crate::ops::metrics::app_metrics::record(component, response.headers_mut());
    }
    let metrics = crate::ops::metrics::get();
    metrics
        .http_requests
        .get_or_create(&crate::ops::metrics::RouteStatus {
            route: route_label.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .http_request_duration
        .get_or_create(&crate::ops::metrics::Route { route: route_label })
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        target: "request",
        "{method} {path} {} {:.3}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

fn json_response(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Spin's request metadata headers, so a component behaves the same here and on Spin.
fn set_spin_headers<B>(
    request: &mut Request<B>,
    route: &RouteMatch<'_>,
    local: SocketAddr,
    peer: SocketAddr,
) {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| local.to_string());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut values = vec![
        (
            "spin-full-url".to_string(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-path-info".to_string(), route.path_info.clone()),
        (
            "spin-matched-route".to_string(),
            route.matched_route.clone(),
        ),
        (
            "spin-raw-component-route".to_string(),
            route.raw_route.to_string(),
        ),
        (
            "spin-component-route".to_string(),
            route.component_route.to_string(),
        ),
        ("spin-base-path".to_string(), "/".to_string()),
        ("spin-client-addr".to_string(), peer.to_string()),
    ];
    // Spin's header name for `:user_id` is `spin-path-match-user-id`.
    values.extend(route.params.iter().map(|(name, value)| {
        (
            format!(
                "spin-path-match-{}",
                name.to_ascii_lowercase().replace('_', "-")
            ),
            value.clone(),
        )
    }));
    for (name, value) in values {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::try_from(name),
            HeaderValue::try_from(value),
        ) {
            request.headers_mut().insert(name, value);
        }
    }
}

async fn run_component<B>(
    app: &App,
    route: &RouteMatch<'_>,
    mut request: Request<B>,
    local: SocketAddr,
    peer: SocketAddr,
) -> anyhow::Result<Response<HyperOutgoingBody>>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let component = app
        .components
        .get(route.component)
        .context("route names an unloaded component")?;
    set_spin_headers(&mut request, route, local, peer);
    let mut store = Store::new(&app.engine, InstanceState::new(&component.grants));
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let pending = store.data().pending_sync();
    let pre = component.pre.clone();
    // The guest keeps running after it sets the response, to stream the body.
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });
    match receiver.await {
        Ok(Ok(response)) => {
            // Nothing the guest committed is reported before it is on disk.
            pending
                .wait()
                .await
                .map_err(|error| anyhow!("a commit did not reach the disk: {error}"))?;
            Ok(response.map(|body| DurableBody::new(body, pending).boxed_unsync()))
        }
        Ok(Err(code)) => Err(anyhow!("the component answered with error code {code:?}")),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow!("the component returned without setting a response")),
            Ok(Err(error)) => {
                Err(anyhow::Error::from(error).context("the component failed before responding"))
            }
            Err(join) => Err(anyhow!("the component task failed: {join}")),
        },
    }
}
