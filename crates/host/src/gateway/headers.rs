//! The one rule for headers only the gateway may send to the app. The app trusts `Meta-*` (and
//! the `Connection-Id` they belong to) when `Grip-Sig` verifies, so a client must never get any of
//! them to the app: they are stripped from every client request the gateway passes on (plain HTTP
//! and the handshake it replays), and a client's own WebSocket-over-HTTP request is refused, as
//! Pushpin refuses it.

use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName};
use protocol::ws_events;

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
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn strips_grip_meta_and_connection_id_and_keeps_the_rest() {
        let mut map = headers(&[
            ("Grip-Sig", "forged"),
            ("grip-last", "x"),
            ("Meta-User-Id", "alice"),
            ("meta-token-exp", "9999999999"),
            ("meta-token-exp", "again"),
            ("Connection-Id", "x"),
            ("authorization", "Bearer t"),
            ("origin", "http://localhost:3000"),
            ("metadata", "not a meta header"),
        ]);
        strip_gateway_only(&mut map);
        let mut left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "metadata", "origin"]);
    }

    #[test]
    fn recognises_websocket_events_with_parameters_and_any_case() {
        for value in [
            "application/websocket-events",
            "Application/WebSocket-Events; charset=utf-8",
            " application/websocket-events ;x=y",
        ] {
            let mut map = HeaderMap::new();
            map.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert!(is_websocket_events(&map), "{value}");
        }
        for value in [
            "text/plain",
            "application/json",
            "application/websocket-eventsx",
        ] {
            let mut map = HeaderMap::new();
            map.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert!(!is_websocket_events(&map), "{value}");
        }
        assert!(!is_websocket_events(&HeaderMap::new()));
    }
}
