//! Property tests (issue 21) for reading the app's replies (docs/protocol.md §7):
//! the events body, `Set-Meta-*`, `Keep-Alive-Interval` and the `grip` extension.
use super::*;
use grip::ws_events::EventKind;
use proptest::collection::vec;
use proptest::prelude::*;

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
