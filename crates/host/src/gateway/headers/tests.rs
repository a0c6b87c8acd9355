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

// Property tests (issue 21): which headers only the gateway may send, and the one media
// type a client may not send, in every spelling.
use proptest::collection::vec;
use proptest::prelude::*;

/// A header name: gateway-only ones in any case, near misses, and ordinary ones.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "(Grip|grip|GRIP)-[A-Za-z0-9-]{0,10}",
        "(Meta|meta|META)-[A-Za-z0-9-]{0,10}",
        "(Connection-Id|connection-id|CONNECTION-ID)",
        "(metadata|grip|gripsig|meta|x-meta-user|x-grip-sig|connection-ids|connection|sec-grip)",
        "[a-zA-Z][a-zA-Z0-9-]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..16)
}

/// A `Content-Type` value naming `application/websocket-events`: any case, optional
/// whitespace around it, optional parameters.
fn events_type() -> impl Strategy<Value = String> {
    (
        any::<u64>(),
        "[ \t]{0,2}",
        "[ \t]{0,2}",
        proptest::option::of("; ?[a-z]{1,8}=[a-z0-9\\-\"]{0,8}"),
    )
        .prop_map(|(mask, before, after, params)| {
            let media: String = ws_events::CONTENT_TYPE
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            format!("{before}{media}{after}{}", params.unwrap_or_default())
        })
}

/// A media type one edit away from it.
fn other_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_string()),
        Just("text/plain; x=application/websocket-events".to_string()),
        super::super::near_miss::near_miss(ws_events::CONTENT_TYPE, "[a-z/ \\-.]"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After stripping, no `Grip-*`, `Meta-*` or `Connection-Id` header is left (in any
    /// case), and every other header keeps all its values, in order.
    #[test]
    fn prop_gateway_only_headers_are_stripped_and_the_rest_kept(
        pairs in vec((name(), value()), 0..12),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in &pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let before = map.clone();
        strip_gateway_only(&mut map);
        for name in before.keys() {
            let lower = name.as_str().to_ascii_lowercase();
            let gateway_only = lower.starts_with("grip-") || lower.starts_with("meta-") || lower == "connection-id";
            let kept: Vec<&HeaderValue> = map.get_all(name).iter().collect();
            if gateway_only {
                prop_assert!(kept.is_empty(), "{} kept", name);
            } else {
                prop_assert_eq!(kept, before.get_all(name).iter().collect::<Vec<_>>());
            }
        }
        prop_assert!(map.keys().all(|name| before.contains_key(name)));
    }

    /// A `Content-Type` naming `application/websocket-events` in any spelling marks a
    /// request only the gateway may make, in whichever of several values it stands.
    #[test]
    fn prop_websocket_events_requests_are_recognised_in_any_spelling(
        events in events_type(),
        others in vec(other_type(), 0..3),
        at in any::<proptest::sample::Index>(),
    ) {
        let mut values = others.clone();
        values.insert(at.index(others.len() + 1), events);
        let mut map = HeaderMap::new();
        for value in &values {
            map.append(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        prop_assert!(is_websocket_events(&map), "{:?}", values);
        let mut others_only = HeaderMap::new();
        for value in &others {
            others_only.append(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        prop_assert!(!is_websocket_events(&others_only), "{:?}", others);
    }

    /// Any `Content-Type` bytes: never a panic, and recognised exactly when the media type
    /// (before any `;`, whitespace trimmed) is `application/websocket-events` in some case.
    #[test]
    fn prop_arbitrary_content_types_follow_the_media_type_rule(values in vec(value(), 0..3)) {
        let mut map = HeaderMap::new();
        for value in &values {
            map.append(CONTENT_TYPE, HeaderValue::from_bytes(value).unwrap());
        }
        let expected = values.iter().any(|v| {
            let media = v.split(|&b| b == b';').next().unwrap_or_default();
            media.trim_ascii().eq_ignore_ascii_case(b"application/websocket-events")
        });
        prop_assert_eq!(is_websocket_events(&map), expected);
    }
}
