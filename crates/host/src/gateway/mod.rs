//! The embedded gateway: terminates client WebSockets and speaks Pushpin's WebSocket-over-HTTP to
//! the app in process, plus a Pushpin-compatible publish endpoint. The app cannot tell it from
//! Pushpin, except where `docs/gateways.md` says.
//!
//! - `app_client`: requests to the app (headers, `Meta-*`, `Grip-Sig`) and reading its replies.
//! - `headers`: which headers only the gateway may send to the app.
//! - `session`: one client connection after the handshake.
//! - `writer`: the writing half of a client socket, which a client that stops reading cannot block
//!   the session with.
//! - `hub`: channel subscriptions, `skip-self`, `id`/`prev-id` ordering.
//! - `publish`: `POST /publish/`.
//! - `drain`: closing every client socket with 1012 at shutdown, spread over a window.
//!
//! The OPEN request is answered before the client sees the 101, and its subscriptions are in the
//! hub by then, so — unlike Pushpin — no publish can slip past a new connection.

mod app_client;
mod drain;
mod fragments;
mod headers;
mod hub;
#[cfg(test)]
mod near_miss;
mod publish;
mod session;
mod writer;

use crate::app::live::LiveApp;
use app_client::{AppClient, AppReply, ConnectionContext, GripSigner};
use bytes::Bytes;
use futures_util::FutureExt;
use grip::ws_events::{Event, EventKind};
use http_body_util::{BodyExt, Full};
use hub::Hub;
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, CONTENT_TYPE, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    UPGRADE,
};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use session::{ConnectionState, Session};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub struct GatewayConfig {
    pub sig_key: String,
    pub sig_iss: String,
    pub ping_interval: Duration,
    /// For the client and publish ports: `http1_server::builder`.
    pub header_read_timeout: Duration,
    /// When set, every publish must carry `Authorization: Bearer <token>`.
    pub publish_token: Option<String>,
    /// How long the drain at shutdown spreads its closes over.
    pub drain_window: Duration,
}

/// Largest client message accepted by the socket layer; the app applies its own, smaller limit
/// (and answers with an error frame), so this only bounds memory.
const MAX_CLIENT_MESSAGE: usize = 256 * 1024;

/// Largest single frame read. A frame over `MAX_CLIENT_MESSAGE` but within this is read whole and
/// then refused (1009), so the session goes on reading to the client's close echo; one refused at
/// its header leaves its payload unread in the socket, and closing a socket with bytes unread sends
/// a reset that can overtake the 1009 (seen in 13 of 60 runs with a 300 KiB frame).
const MAX_CLIENT_FRAME: usize = 4 * MAX_CLIENT_MESSAGE;

fn websocket_config() -> WebSocketConfig {
    // Small buffers keep an idle socket cheap: tungstenite keeps its read buffer for the socket's
    // life (the default is 128 KiB). A larger frame grows it while it is read.
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_FRAME))
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

struct Gateway {
    client: Arc<AppClient>,
    hub: Hub,
    ping_interval: Duration,
}

/// Serves client connections on `listener` and publishes on `publish_listener` until `shutdown`.
pub async fn serve(
    app: Arc<LiveApp>,
    config: GatewayConfig,
    listener: TcpListener,
    publish_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let hub = Hub::default();
    let client = Arc::new(AppClient {
        app,
        signer: GripSigner::new(&config.sig_key, &config.sig_iss),
        local,
    });
    let gateway = Arc::new(Gateway {
        client,
        hub: hub.clone(),
        ping_interval: config.ping_interval,
    });
    let http1 = crate::server::http1::builder(config.header_read_timeout);
    let publish_token = config.publish_token.map(Arc::<str>::from);
    let in_process = publish::InProcess {
        hub: hub.clone(),
        token: publish_token.clone(),
        address: publish_listener.local_addr()?,
    };
    let _ = gateway
        .client
        .app
        .current()
        .local_endpoint
        .set(Arc::new(in_process));
    // Both ports stop accepting at the same shutdown.
    let shutdown = shutdown.shared();
    let publisher = publish::serve(
        hub,
        publish_listener,
        http1.clone(),
        publish_token,
        shutdown.clone(),
    );
    let clients = crate::server::accept_until("gateway", listener, shutdown, |stream, peer| {
        let gateway = gateway.clone();
        let service = service_fn(move |request| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
        });
        http1
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    });
    tokio::join!(publisher, clients);
    drain::drain(&gateway.hub, config.drain_window).await;
    Ok(())
}

/// Whether a request's headers ask for a WebSocket upgrade: `Upgrade` lists `websocket` and
/// `Connection` lists `upgrade` (comma-separated tokens, any case, in any of their values), and a
/// `Sec-WebSocket-Key` is present.
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(UPGRADE, "websocket")
        && has_token(CONNECTION, "upgrade")
        && headers.contains_key(SEC_WEBSOCKET_KEY)
}

/// The app's answer to OPEN: accepted with its events (the first one `OPEN`), or `None` when it
/// refuses the handshake (anything but 200 with exactly `application/websocket-events`: the
/// client then gets the app's status and body); an error for a 200 without a valid OPEN first.
fn read_open_reply(reply: &AppReply) -> anyhow::Result<Option<Vec<Event>>> {
    match reply.events() {
        Some(Ok(events)) if events.first().is_some_and(|e| e.kind == EventKind::Open) => {
            Ok(Some(events))
        }
        Some(_) => anyhow::bail!("the app accepted the handshake without a valid OPEN reply"),
        None => Ok(None),
    }
}

impl Gateway {
    async fn handle(&self, mut request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if !is_websocket_upgrade(request.headers()) {
            if headers::is_websocket_events(request.headers()) {
                // Only the gateway speaks WebSocket-over-HTTP to the app (Pushpin refuses it too).
                return full(
                    StatusCode::FORBIDDEN,
                    "application/json",
                    r#"{"error":"WebSocket-over-HTTP requests are not accepted from clients"}"#,
                );
            }
            // Plain HTTP goes to the app as through Pushpin's proxy, without the headers only the
            // gateway may send.
            headers::strip_gateway_only(request.headers_mut());
            let response = crate::trigger::handle(
                &self.client.app.current(),
                request,
                self.client.local,
                peer,
            )
            .await;
            let (parts, body) = response.into_parts();
            return match body.collect().await {
                Ok(body) => Response::from_parts(parts, Full::new(body.to_bytes()).boxed_unsync()),
                Err(_) => full(
                    StatusCode::BAD_GATEWAY,
                    "application/json",
                    r#"{"error":"Bad gateway"}"#,
                ),
            };
        }
        match self.open(request, peer).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!("websocket open failed: {error:#}");
                full(
                    StatusCode::BAD_GATEWAY,
                    "application/json",
                    r#"{"error":"Bad gateway"}"#,
                )
            }
        }
    }

    /// The handshake: OPEN to the app first; only an accepting reply upgrades the client.
    async fn open(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> anyhow::Result<Response<Body>> {
        let key = request
            .headers()
            .get(SEC_WEBSOCKET_KEY)
            .cloned()
            .unwrap_or(HeaderValue::from_static(""));
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "/".into());
        let context = ConnectionContext {
            id: uuid::Uuid::new_v4().to_string(),
            path_and_query,
            handshake: detached(request.headers()),
            peer,
        };
        let (outbox, inbox) = hub::connection_queues();
        let mut state = ConnectionState {
            context,
            meta: BTreeMap::new(),
            keep_alive: None,
            outbox,
            pongs_owed: 0,
        };
        let reply = self
            .client
            .call(&state.context, &state.meta, &[Event::new(EventKind::Open)])
            .await?;
        let Some(events) = read_open_reply(&reply)? else {
            return Ok(rejection(&reply));
        };
        if !reply.grip() {
            tracing::warn!(
                "the app answered OPEN without Sec-WebSocket-Extensions: grip; treating it as GRIP anyway"
            );
        }
        let open = self
            .hub
            .add_connection(&state.context.id, state.outbox.closes.clone());
        let mut pending = Vec::new();
        let next = state.apply(&self.hub, &reply, events, &mut pending);
        let response = switching_protocols(&reply, &key)?;
        let upgrade = hyper::upgrade::on(&mut request);
        let (client, hub, ping_interval) =
            (self.client.clone(), self.hub.clone(), self.ping_interval);
        tokio::spawn(async move {
            let upgraded = match upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!("upgrade failed: {error}");
                    hub.remove(&state.context.id);
                    return;
                }
            };
            // The TCP stream itself, not hyper's wrapper of it, and the bytes hyper read past the
            // handshake (usually none) copied out: what hyper hands over shares its whole 8 KiB
            // read buffer, which an idle socket would otherwise hold until its first frame.
            let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
                tracing::warn!("upgrade of an unexpected connection type");
                hub.remove(&state.context.id);
                return;
            };
            let (stream, read_ahead) = (parts.io.into_inner(), parts.read_buf.to_vec());
            drop(parts.read_buf);
            let socket = WebSocketStream::from_partially_read(
                stream,
                read_ahead,
                Role::Server,
                Some(websocket_config()),
            )
            .await;
            let session = Session {
                socket,
                state,
                inbox,
                client,
                hub,
                ping_interval,
                open,
            };
            session.run(pending, next).await;
        });
        Ok(response)
    }
}

/// A copy of `headers` that owns its values. hyper's values are slices of its 8 KiB read buffer,
/// so a connection that kept them (its handshake is replayed to the app with every request) would
/// keep that buffer for as long as the socket is open.
fn detached(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name.clone(), owned);
    }
    copy
}

/// The app refused the OPEN: the client gets its status and body (how 400/401/403/429 arrive).
fn rejection(reply: &AppReply) -> Response<Body> {
    let mut response = Response::new(Full::new(reply.body.clone()).boxed_unsync());
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(content_type) = reply.headers.get(CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.clone());
    }
    response
}

/// The handshake's answer: the app's own headers, less those that were for the gateway.
fn switching_protocols(reply: &AppReply, key: &HeaderValue) -> anyhow::Result<Response<Body>> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in &reply.headers {
        let name_str = name.as_str();
        let for_the_gateway = matches!(
            name_str,
            "content-type"
                | "content-length"
                | "keep-alive-interval"
                | "sec-websocket-extensions"
                | "date"
        ) || name_str.starts_with("set-meta-");
        if !for_the_gateway {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes()))?,
    );
    Ok(response)
}

#[cfg(test)]
mod tests;
