//! Calls the app the way Pushpin does (WebSocket-over-HTTP, docs/protocol.md §7), in process: a POST to
//! the upgrade's path and query with the client's handshake headers replayed, `Connection-Id`,
//! `Meta-*`, a fresh `Grip-Sig`, and a body of events.

use super::headers;
use crate::app::live::LiveApp;
use crate::trigger;
use bytes::Bytes;
use grip::ws_events::{self, Event};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Client handshake headers that are not replayed to the app (hop-by-hop, or set per request);
/// the gateway-only ones (`headers::is_gateway_only`) are never replayed either.
const NOT_REPLAYED: &[&str] = &[
    "upgrade",
    "connection",
    "accept",
    "content-length",
    "content-type",
    "keep-alive",
    "accept-encoding",
    "content-encoding",
    "transfer-encoding",
    "expect",
    "sec-websocket-extensions",
];

/// Signs `Grip-Sig` (HS256, `{iss, exp: now + 1 h}`), as Pushpin does with `sig_key`/`sig_iss`.
pub struct GripSigner {
    key: jsonwebtoken::EncodingKey,
    issuer: String,
}

impl GripSigner {
    pub fn new(key: &str, issuer: &str) -> Self {
        Self {
            key: jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
            issuer: issuer.to_string(),
        }
    }

    fn sign(&self) -> String {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 3600)
            .unwrap_or_default();
        let claims = serde_json::json!({"iss": self.issuer, "exp": exp});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.key,
        )
        .unwrap_or_default()
    }
}

/// What the app answered.
pub struct AppReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl AppReply {
    /// A well-formed events reply: 200 with exactly `application/websocket-events`.
    pub fn events(&self) -> Option<Result<Vec<Event>, ws_events::DecodeError>> {
        let content_type = self
            .headers
            .get(hyper::header::CONTENT_TYPE)?
            .to_str()
            .ok()?;
        (self.status == 200 && content_type == ws_events::CONTENT_TYPE)
            .then(|| ws_events::decode(&self.body))
    }

    /// `Set-Meta-<Name>` headers: name (lowercase) → value; an empty value deletes.
    pub fn set_meta(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.headers.iter().filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("set-meta-")?;
            Some((name.to_string(), value.to_str().ok()?.to_string()))
        })
    }

    /// `Keep-Alive-Interval` in seconds, if set.
    pub fn keep_alive_interval(&self) -> Option<u64> {
        self.headers
            .get("keep-alive-interval")?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the app turned GRIP on (`Sec-WebSocket-Extensions: grip`).
    pub fn grip(&self) -> bool {
        self.headers
            .get("sec-websocket-extensions")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|e| e.trim() == "grip"))
    }
}

pub struct AppClient {
    pub app: Arc<LiveApp>,
    pub signer: GripSigner,
    /// The address the client reached (for the app's `Host`-derived headers).
    pub local: SocketAddr,
}

/// One connection's fixed request context.
pub struct ConnectionContext {
    pub id: String,
    pub path_and_query: String,
    pub handshake: HeaderMap,
    pub peer: SocketAddr,
}

/// One WebSocket-over-HTTP request to the app and its reply: what a session needs of the app
/// (a seam, so sessions are tested against a fake app over an in-memory socket).
pub trait AppCall: Send + Sync + 'static {
    fn call(
        &self,
        connection: &ConnectionContext,
        meta: &BTreeMap<String, String>,
        events: &[Event],
    ) -> impl Future<Output = anyhow::Result<AppReply>> + Send;
}

impl AppCall for AppClient {
    async fn call(
        &self,
        connection: &ConnectionContext,
        meta: &BTreeMap<String, String>,
        events: &[Event],
    ) -> anyhow::Result<AppReply> {
        AppClient::call(self, connection, meta, events).await
    }
}

impl AppClient {
    pub async fn call(
        &self,
        connection: &ConnectionContext,
        meta: &BTreeMap<String, String>,
        events: &[Event],
    ) -> anyhow::Result<AppReply> {
        let body = ws_events::encode(events);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&connection.path_and_query)
            .body(Full::new(Bytes::from(body)).map_err(
                |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
            ))?;
        let headers = request.headers_mut();
        for (name, value) in &connection.handshake {
            let lower = name.as_str();
            if NOT_REPLAYED.contains(&lower) || headers::is_gateway_only(lower) {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static(ws_events::CONTENT_TYPE),
        );
        headers.insert(
            hyper::header::ACCEPT,
            HeaderValue::from_static(ws_events::CONTENT_TYPE),
        );
        headers.insert("sec-websocket-extensions", HeaderValue::from_static("grip"));
        headers.insert("connection-id", HeaderValue::from_str(&connection.id)?);
        headers.insert("grip-sig", HeaderValue::from_str(&self.signer.sign())?);
        for (name, value) in meta {
            let name = HeaderName::from_bytes(format!("meta-{name}").as_bytes())?;
            headers.insert(name, HeaderValue::from_str(value)?);
        }
        let response =
            trigger::handle(&self.app.current(), request, self.local, connection.peer).await;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the app's reply: {e:?}"));
        let outcome = match (&body, parts.status.as_u16()) {
            (Ok(_), 200) => "ok",
            (Ok(_), _) => "refused",
            (Err(_), _) => "error",
        };
        crate::ops::metrics::get()
            .gateway_app_calls
            .get_or_create(&crate::ops::metrics::Outcome { outcome })
            .inc();
        let body = body?.to_bytes();
        Ok(AppReply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests;
