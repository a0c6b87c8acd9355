//! The one rule for headers only the gateway may send to the app. The app trusts `Meta-*` (and
//! the `Connection-Id` they belong to) when `Grip-Sig` verifies, so a client must never get any of
//! them to the app: they are stripped from every client request the gateway passes on (plain HTTP
//! and the handshake it replays), and a client's own WebSocket-over-HTTP request is refused, as
//! Pushpin refuses it.

use grip::ws_events;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName};

/// Whether `name` (lowercase, as `http` stores names) is the gateway's to send: `Grip-*`
/// (`Grip-Sig` and the rest of GRIP's), `Meta-*` and `Connection-Id`.
pub fn is_gateway_only(name: &str) -> bool {
    name.starts_with("grip-") || name.starts_with("meta-") || name == "connection-id"
}

/// Removes every gateway-only header (all values of each).
pub fn strip_gateway_only(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_gateway_only(name.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(&name);
    }
}

/// Whether any `Content-Type` names `application/websocket-events` (parameters and case aside):
/// the body of a request only the gateway may make.
pub fn is_websocket_events(headers: &HeaderMap) -> bool {
    headers.get_all(CONTENT_TYPE).iter().any(|value| {
        let media_type = value
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        media_type
            .trim_ascii()
            .eq_ignore_ascii_case(ws_events::CONTENT_TYPE.as_bytes())
    })
}

#[cfg(test)]
mod tests;
