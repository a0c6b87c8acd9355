//! Property tests (issue 21) for the handshake: the upgrade request the gateway recognises
//! (RFC 6455 §4.2.1's header tokens; RFC 9110 §5.6.1 lists) and the app's answer to OPEN
//! (docs/protocol.md §7).
use super::*;
use grip::ws_events;
use hyper::header::HeaderName;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// `token` in a random case.
fn any_case(token: &'static str) -> impl Strategy<Value = String> {
    any::<u64>().prop_map(move |mask| {
        token
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    })
}

/// Optional whitespace, as a list allows around its items.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// A comma-separated list holding `token` among other tokens, as one value or split over
/// several.
fn list_with(token: &'static str) -> impl Strategy<Value = Vec<String>> {
    (
        vec("[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,10}(/[0-9]{1,2})?", 0..3),
        any::<Index>(),
        any_case(token),
        vec(ows(), 8),
        any::<Index>(),
    )
        .prop_map(|(mut others, at, token, spaces, split)| {
            others.retain(|o| !o.eq_ignore_ascii_case(&token));
            let at = at.index(others.len() + 1);
            others.insert(at, token);
            let items: Vec<String> = others
                .into_iter()
                .enumerate()
                .map(|(i, t)| format!("{}{t}{}", spaces[i % 8], spaces[(i + 3) % 8]))
                .collect();
            let split = split.index(items.len() + 1);
            [items[..split].join(","), items[split..].join(",")]
                .into_iter()
                .filter(|v| !v.is_empty())
                .collect()
        })
}

/// Other headers a browser sends with a handshake.
fn other_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    vec(
        (
            prop_oneof![
                Just("origin".to_string()),
                Just("sec-websocket-version".to_string()),
                Just("sec-websocket-protocol".to_string()),
                Just("cookie".to_string()),
                "x-[a-z]{1,8}",
            ],
            "[ -~]{0,24}",
        ),
        0..4,
    )
}

fn handshake(
    upgrade: &[String],
    connection: &[String],
    key: Option<&str>,
    others: &[(String, String)],
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in others {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.append(name, HeaderValue::from_str(value.trim()).unwrap());
    }
    for value in upgrade {
        headers.append(UPGRADE, HeaderValue::from_str(value).unwrap());
    }
    for value in connection {
        headers.append(CONNECTION, HeaderValue::from_str(value).unwrap());
    }
    if let Some(key) = key {
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_str(key).unwrap());
    }
    headers
}

/// RFC 9110's list rule, read directly: comma-separated items with optional whitespace
/// around them, in any of the field's values that is text.
fn lists(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        let bytes = value.as_bytes();
        let text = bytes
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
        text && bytes
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

fn base64_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{22}=="
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An upgrade request in any spelling the token lists allow (any case, other tokens,
    /// whitespace, split over several values), with any other headers, is recognised.
    #[test]
    fn prop_handshake_upgrades_are_recognised(
        upgrade in list_with("websocket"),
        connection in list_with("upgrade"),
        key in base64_key(),
        others in other_headers(),
    ) {
        let headers = handshake(&upgrade, &connection, Some(&key), &others);
        prop_assert!(is_websocket_upgrade(&headers), "{:?}", headers);
    }

    /// Without the `websocket` token, the `upgrade` token or the key (or with a token one
    /// edit away), a request is plain HTTP.
    #[test]
    fn prop_handshake_without_a_required_part_is_not_an_upgrade(
        upgrade in list_with("websocket"),
        connection in list_with("upgrade"),
        key in base64_key(),
        others in other_headers(),
        upgrade_miss in super::near_miss::near_miss("websocket", "[a-z \\-]"),
        connection_miss in super::near_miss::near_miss("upgrade", "[a-z \\-]"),
        which in 0u8..5,
    ) {
        let headers = match which {
            0 => handshake(&[], &connection, Some(&key), &others),
            1 => handshake(&upgrade, &[], Some(&key), &others),
            2 => handshake(&upgrade, &connection, None, &others),
            3 => handshake(&[upgrade_miss], &connection, Some(&key), &others),
            _ => handshake(&upgrade, &[connection_miss], Some(&key), &others),
        };
        prop_assert!(!is_websocket_upgrade(&headers), "{:?}", headers);
    }

    /// Any header values (any bytes a field may hold, obs-text included): never a panic, and
    /// exactly the list rule's answer.
    #[test]
    fn prop_handshake_arbitrary_headers_follow_the_list_rule(
        values in vec(
            (
                0u8..4,
                prop_oneof![
                    vec(prop_oneof![
                        proptest::sample::select(b"websocket upgrade, \t".to_vec()),
                        (0x20u8..0x7f),
                        (0x80u8..=0xff),
                        Just(b'\t'),
                    ], 0..24),
                    "[ \t]*(websocket|Upgrade|WebSocket)[ \t]*(,[ \t]*[a-z]{0,4})?".prop_map(String::into_bytes),
                ],
            ),
            0..6,
        ),
    ) {
        let mut headers = HeaderMap::new();
        for (which, value) in &values {
            let name = [UPGRADE, CONNECTION, SEC_WEBSOCKET_KEY, hyper::header::ORIGIN][usize::from(*which)].clone();
            headers.append(name, HeaderValue::from_bytes(value).unwrap());
        }
        let expected = lists(&headers, UPGRADE, "websocket")
            && lists(&headers, CONNECTION, "upgrade")
            && headers.contains_key(SEC_WEBSOCKET_KEY);
        prop_assert_eq!(is_websocket_upgrade(&headers), expected);
    }

    /// The app's answer to OPEN: accepted only as a 200 with exactly
    /// `application/websocket-events` whose body decodes and starts with OPEN; any other
    /// status or type refuses the handshake (the client gets it as is); a 200 of that type
    /// without a valid OPEN first is an error, whatever the body.
    #[test]
    fn prop_open_replies_accept_refuse_or_fail_as_the_contract_says(
        status in prop_oneof![Just(200u16), Just(400u16), Just(401u16), Just(403u16), Just(429u16), 100u16..600],
        content_type in prop_oneof![
            3 => Just(Some(ws_events::CONTENT_TYPE.to_string())),
            1 => proptest::option::of(proptest::sample::select(vec![
                "application/websocket-events; charset=utf-8".to_string(),
                "Application/WebSocket-Events".to_string(),
                "application/json".to_string(),
                " application/websocket-events".to_string(),
                "text/plain".to_string(),
            ])),
        ],
        events in vec(
            (proptest::sample::select(vec![EventKind::Open, EventKind::Text, EventKind::Close, EventKind::Disconnect]), vec(any::<u8>(), 0..16))
                .prop_map(|(kind, content)| Event { kind, content }),
            0..4,
        ),
        open_first in any::<bool>(),
        garbage in proptest::option::of(vec(any::<u8>(), 0..32)),
    ) {
        let mut events = events;
        if open_first {
            events.insert(0, Event::new(EventKind::Open));
        }
        let body = garbage.clone().unwrap_or_else(|| ws_events::encode(&events));
        let mut headers = HeaderMap::new();
        if let Some(content_type) = &content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        }
        let reply = AppReply { status, headers, body: body.clone().into() };
        let accepting = status == 200 && content_type.as_deref() == Some(ws_events::CONTENT_TYPE);
        match (read_open_reply(&reply), accepting, ws_events::decode(&body)) {
            (Ok(None), false, _) => {}
            (Ok(Some(read)), true, Ok(decoded)) => {
                prop_assert_eq!(read.first().map(|e| e.kind), Some(EventKind::Open));
                prop_assert_eq!(read, decoded);
            }
            (Err(_), true, Ok(decoded)) => prop_assert!(decoded.first().is_none_or(|e| e.kind != EventKind::Open)),
            (Err(_), true, Err(_)) => {}
            (outcome, accepting, decoded) => prop_assert!(false, "{:?} for accepting={} decoded={:?}", outcome.map(|o| o.map(|e| e.len())), accepting, decoded),
        }
    }
}
