//! Calls the app the way Pushpin does (WebSocket-over-HTTP, protocol.md §7), in process: a POST to
//! the upgrade's path and query with the client's handshake headers replayed, `Connection-Id`,
//! `Meta-*`, a fresh `Grip-Sig`, and a body of events.

use super::headers;
use crate::app::App;
use crate::trigger;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use protocol::ws_events::{self, Event};
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
    pub app: Arc<App>,
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
        let response = trigger::handle(&self.app, request, self.local, connection.peer).await;
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
mod tests {
    //! Property tests (issue 21) for reading the app's replies (pushpin-gateway.md §1.4):
    //! the events body, `Set-Meta-*`, `Keep-Alive-Interval` and the `grip` extension.
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use protocol::ws_events::EventKind;

    fn reply(status: u16, headers: &[(&str, Vec<u8>)], body: Vec<u8>) -> AppReply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        AppReply {
            status,
            headers: map,
            body: body.into(),
        }
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[ -~]{0,16}".prop_map(String::into_bytes),
            vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..16),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A reply's events are read only from a 200 with exactly `application/websocket-events`
        /// (no parameters, no other case), and then are what the codec decodes, errors included.
        #[test]
        fn prop_reply_events_only_from_200_with_the_exact_type(
            status in prop_oneof![Just(200u16), 100u16..600],
            content_type in proptest::option::of(prop_oneof![
                Just(ws_events::CONTENT_TYPE.as_bytes().to_vec()),
                Just(b"application/websocket-events;charset=utf-8".to_vec()),
                Just(b"APPLICATION/WEBSOCKET-EVENTS".to_vec()),
                Just(b"application/websocket-events ".to_vec()),
                header_value(),
            ]),
            body in prop_oneof![
                vec((proptest::sample::select(vec![EventKind::Open, EventKind::Text, EventKind::Binary, EventKind::Close]), vec(any::<u8>(), 0..24))
                    .prop_map(|(kind, content)| Event { kind, content }), 0..4)
                    .prop_map(|events| ws_events::encode(&events)),
                vec(any::<u8>(), 0..48),
            ],
        ) {
            let headers: Vec<(&str, Vec<u8>)> = content_type.iter().map(|v| ("content-type", v.clone())).collect();
            let reply = reply(status, &headers, body.clone());
            let exact = content_type.as_deref() == Some(ws_events::CONTENT_TYPE.as_bytes());
            let expected = (status == 200 && exact).then(|| ws_events::decode(&body));
            prop_assert_eq!(reply.events(), expected);
        }

        /// Every `Set-Meta-<Name>` value that is text is read, with its name lowercased (an
        /// empty value deletes); other headers and non-text values are not.
        #[test]
        fn prop_set_meta_headers_are_read(
            metas in vec(("[A-Za-z0-9-]{0,10}", header_value()), 0..6),
            others in vec(("(meta-[a-z]{1,4}|set-metax|x-set-meta-a|set-meta|content-type)", header_value()), 0..3),
        ) {
            let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
            for (name, value) in &metas {
                headers.push((format!("Set-Meta-{name}"), value.clone()));
            }
            headers.extend(others.iter().cloned());
            let borrowed: Vec<(&str, Vec<u8>)> = headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            let reply = reply(200, &borrowed, Vec::new());
            let mut read: Vec<(String, String)> = reply.set_meta().collect();
            let mut expected: Vec<(String, String)> = metas
                .iter()
                .filter_map(|(name, value)| {
                    let text = value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
                    text.then(|| (name.to_ascii_lowercase(), String::from_utf8(value.clone()).unwrap()))
                })
                .collect();
            read.sort();
            expected.sort();
            prop_assert_eq!(read, expected);
        }

        /// `Keep-Alive-Interval` is a whole number of seconds, whitespace aside; anything else is
        /// no interval. Any value: never a panic.
        #[test]
        fn prop_keep_alive_interval_is_whole_seconds(
            seconds in any::<u64>(),
            before in "[ \t]{0,2}",
            after in "[ \t]{0,2}",
            junk in header_value(),
        ) {
            let value = format!("{before}{seconds}{after}").into_bytes();
            prop_assert_eq!(reply(200, &[("keep-alive-interval", value)], Vec::new()).keep_alive_interval(), Some(seconds));
            let expected = std::str::from_utf8(&junk).ok().and_then(|t| t.trim().parse::<u64>().ok());
            prop_assert_eq!(reply(200, &[("keep-alive-interval", junk)], Vec::new()).keep_alive_interval(), expected);
            let past = format!("{}0", u64::MAX).into_bytes();
            prop_assert_eq!(reply(200, &[("keep-alive-interval", past)], Vec::new()).keep_alive_interval(), None);
        }

        /// GRIP is on when `Sec-WebSocket-Extensions` names `grip` first, with or without
        /// parameters (`grip; message-prefix=""`).
        #[test]
        fn prop_grip_extension_is_recognised(
            params in proptest::option::of("[ ]?; ?message-prefix=\"[a-z:]{0,3}\""),
            ows in "[ \t]{0,2}",
            other in "(grip2|grips|gri|x-grip|permessage-deflate)",
        ) {
            let value = format!("{ows}grip{}", params.unwrap_or_default()).into_bytes();
            prop_assert!(reply(200, &[("sec-websocket-extensions", value)], Vec::new()).grip());
            prop_assert!(!reply(200, &[("sec-websocket-extensions", other.into_bytes())], Vec::new()).grip());
            prop_assert!(!reply(200, &[], Vec::new()).grip());
        }
    }
}
