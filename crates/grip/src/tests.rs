use super::*;
use serde_json::json;

#[test]
fn large_publishes_are_split_in_order_below_the_limit() {
    let items: Vec<PublishItem> = (0..50)
        .map(|n| PublishItem::direct("c".into(), format!("{n:0>1000}")))
        .collect();
    let bodies = PublishRequest::bodies(items.clone(), 10_000);
    assert!(bodies.len() > 5);
    assert!(bodies.iter().all(|b| b.len() <= 10_000));
    let rejoined: Vec<PublishItem> = bodies
        .iter()
        .flat_map(|b| serde_json::from_slice::<PublishRequest>(b).unwrap().items)
        .collect();
    assert_eq!(rejoined, items);
    // One item over the limit goes alone; nothing is one body.
    let big = PublishItem::direct("c".into(), "x".repeat(20_000));
    assert_eq!(PublishRequest::bodies(vec![big], 10_000).len(), 1);
    assert!(PublishRequest::bodies(Vec::new(), 10_000).is_empty());
}

#[test]
fn connection_channels_are_unambiguous() {
    assert_ne!(
        connection_channel("a:b", "c"),
        connection_channel("a", "b:c")
    );
    assert_eq!(connection_channel("u1", "c1"), "connection:2:u1:c1");
}

#[test]
fn control_messages_have_pushpins_shape() {
    let subscribe = ControlMessage::Subscribe {
        channel: user_channel("u1"),
        filters: vec![SKIP_SELF.into()],
    };
    assert_eq!(
        subscribe.to_event().as_text().unwrap(),
        r#"c:{"type":"subscribe","channel":"user:u1","filters":["skip-self"]}"#
    );
    let set_meta = ControlMessage::SetMeta {
        name: "user".into(),
        value: "c1".into(),
    };
    assert_eq!(
        serde_json::to_value(&set_meta).unwrap(),
        json!({"type": "set-meta", "name": "user", "value": "c1"})
    );
    let keep_alive = ControlMessage::KeepAlive {
        content: Some("{}".into()),
        message_type: Some("ping".into()),
        timeout: Some(30),
    };
    assert_eq!(
        serde_json::to_value(&keep_alive).unwrap(),
        json!({"type": "keep-alive", "content": "{}", "message-type": "ping", "timeout": 30})
    );
}

#[test]
fn classify_app_events() {
    let subscribe = ControlMessage::Subscribe {
        channel: "c".into(),
        filters: vec![],
    };
    assert_eq!(
        classify(&subscribe.to_event()),
        AppEvent::Control(subscribe)
    );
    assert_eq!(
        classify(&message_event("{\"type\":\"PONG\"}")),
        AppEvent::Message {
            binary: false,
            content: b"{\"type\":\"PONG\"}"
        }
    );
    assert_eq!(classify(&Event::text("hello")), AppEvent::Unprefixed);
    assert!(matches!(
        classify(&Event::text("c:{\"type\":\"teleport\"}")),
        AppEvent::BadControl(_)
    ));
    let binary = Event {
        kind: EventKind::Binary,
        content: b"m:\x00\x01".to_vec(),
    };
    assert_eq!(
        classify(&binary),
        AppEvent::Message {
            binary: true,
            content: b"\x00\x01"
        }
    );
}

#[test]
fn publish_items_roundtrip_in_pushpins_shape() {
    let item = PublishItem::relay(user_channel("u1"), 7, Some("conn-a"), "{\"seq\":7}".into());
    let value = serde_json::to_value(PublishRequest {
        items: vec![item.clone()],
    })
    .unwrap();
    assert_eq!(
        value,
        json!({"items": [{"channel": "user:u1", "id": "7", "prev-id": "6", "meta": {"sender": "conn-a"},
                           "formats": {"ws-message": {"content": "{\"seq\":7}"}}}]})
    );
    let back: PublishRequest = serde_json::from_value(value).unwrap();
    assert_eq!(back.items, vec![item]);
    // The first item of a stream has no predecessor.
    assert_eq!(
        PublishItem::relay("c".into(), 1, None, String::new()).prev_id,
        None
    );
    let close = PublishItem::close(connection_channel("u1", "c1"), 4002, "replaced");
    let message = close.formats.ws_message.unwrap();
    assert!(message.is_close());
    assert_eq!(
        (message.code, message.reason.as_deref()),
        (Some(4002), Some("replaced"))
    );
}

// Property tests (issue 21): control messages and publish items of any content, through
// the wire formats the gateway reads (docs/protocol.md §7, docs/gateways.md).
use crate::ws_events;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// Any text, control characters, quotes and escapes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        "[\"\\\\\u{0}-\u{1f}:{}a-z]{0,16}",
        any::<String>(),
    ]
}

fn control_message() -> impl Strategy<Value = ControlMessage> {
    prop_oneof![
        (text(), vec(text(), 0..3))
            .prop_map(|(channel, filters)| ControlMessage::Subscribe { channel, filters }),
        text().prop_map(|channel| ControlMessage::Unsubscribe { channel }),
        (
            option::of(text()),
            option::of(text()),
            option::of(any::<u32>())
        )
            .prop_map(|(content, message_type, timeout)| {
                ControlMessage::KeepAlive {
                    content,
                    message_type,
                    timeout,
                }
            }),
        (text(), text()).prop_map(|(name, value)| ControlMessage::SetMeta { name, value }),
        Just(ControlMessage::Detach),
    ]
}

fn ws_message() -> impl Strategy<Value = WsMessage> {
    (
        option::of(text()),
        option::of("[A-Za-z0-9+/]{0,12}={0,2}"),
        option::of(prop_oneof![Just("close".to_string()), text()]),
        option::of(any::<u16>()),
        option::of(text()),
    )
        .prop_map(|(content, content_bin, action, code, reason)| WsMessage {
            content,
            content_bin,
            action,
            code,
            reason,
        })
}

fn publish_item() -> impl Strategy<Value = PublishItem> {
    (
        text(),
        option::of(text()),
        option::of(text()),
        btree_map(text(), text(), 0..3),
        option::of(ws_message()),
    )
        .prop_map(|(channel, id, prev_id, meta, ws_message)| PublishItem {
            channel,
            id,
            prev_id,
            meta,
            formats: Formats { ws_message },
        })
}

/// Items of any size: most small, some of several KiB.
fn sized_item() -> impl Strategy<Value = PublishItem> {
    prop_oneof![
        4 => publish_item(),
        1 => (text(), 0usize..8192).prop_map(|(channel, n)| PublishItem::direct(channel, "x".repeat(n))),
    ]
}

/// Fields Pushpin defines that this gateway does not use: they must not make an item or
/// a control message unreadable (§1.5: "Fields not listed here are ignored").
fn pushpin_extras() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    proptest::sample::subsequence(
        vec![
            ("no-seq", json!(false)),
            ("size", json!(123)),
            ("mode", json!("idle")),
            ("content-filters", json!(["f"])),
            ("http-stream", json!({"content": "x"})),
            ("x-unknown", json!([1, {"a": null}])),
        ],
        0..=6,
    )
}

/// A random edit of a JSON text: a cut, or a byte inserted, removed or replaced.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Insert(Index, u8),
    Remove(Index),
    Replace(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        proptest::sample::select(b"{}[]\":,\\ 0-9etnf".to_vec()),
        any::<u8>()
    ];
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn apply(json: &[u8], edit: &Edit) -> Vec<u8> {
    let mut out = json.to_vec();
    let n = out.len();
    match edit {
        Edit::Truncate(i) => out.truncate(i.index(n)),
        Edit::Insert(i, b) => out.insert(i.index(n + 1), *b),
        Edit::Remove(i) => {
            out.remove(i.index(n));
        }
        Edit::Replace(i, b) => out[i.index(n)] = *b,
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any control message, as the TEXT event a reply carries and through the event codec,
    /// is read back as itself; unknown fields Pushpin may add do not change it.
    #[test]
    fn prop_control_messages_roundtrip(message in control_message(), extras in pushpin_extras()) {
        let event = message.to_event();
        prop_assert_eq!(event.kind, EventKind::Text);
        prop_assert!(event.content.starts_with(CONTROL_PREFIX.as_bytes()));
        let decoded = ws_events::decode(&ws_events::encode(std::slice::from_ref(&event))).unwrap();
        prop_assert_eq!(classify(&decoded[0]), AppEvent::Control(message.clone()));
        let mut value = serde_json::to_value(&message).unwrap();
        for (key, extra) in extras {
            value[key] = extra;
        }
        let extended = Event::text(format!("{CONTROL_PREFIX}{value}"));
        prop_assert_eq!(classify(&extended), AppEvent::Control(message));
    }

    /// A control message edited at random (cut, a byte changed) is read as what it now says
    /// or refused as a bad control message, never a panic; a cut one is always refused.
    #[test]
    fn prop_edited_control_messages_are_refused_or_read_as_written(
        message in control_message(),
        edit in edit(),
    ) {
        let json = serde_json::to_vec(&message).unwrap();
        let edited = apply(&json, &edit);
        let mut content = CONTROL_PREFIX.as_bytes().to_vec();
        content.extend_from_slice(&edited);
        let event = Event { kind: EventKind::Text, content };
        let classified = classify(&event);
        match serde_json::from_slice::<ControlMessage>(&edited) {
            Ok(control) => prop_assert_eq!(classified, AppEvent::Control(control)),
            Err(_) => prop_assert!(matches!(classified, AppEvent::BadControl(_)), "{:?}", classified),
        }
        if matches!(edit, Edit::Truncate(_)) {
            prop_assert!(matches!(classify(&event), AppEvent::BadControl(_)));
        }
    }

    /// Events from the app, by prefix: `m:` on TEXT or BINARY is a message for the client
    /// (prefix removed), `c:` on TEXT a control message or a bad one, anything else dropped.
    #[test]
    fn prop_app_events_classify_by_prefix(
        binary in any::<bool>(),
        prefix in proptest::sample::select(vec!["m:", "c:", "", "m", "M:", "c", " m:", "C:", "c:{"]),
        rest in vec(prop_oneof![proptest::sample::select(b":mc{}".to_vec()), any::<u8>()], 0..64),
    ) {
        let mut content = prefix.as_bytes().to_vec();
        content.extend_from_slice(&rest);
        let kind = if binary { EventKind::Binary } else { EventKind::Text };
        let event = Event { kind, content: content.clone() };
        let classified = classify(&event);
        if let Some(message) = content.strip_prefix(b"m:") {
            prop_assert_eq!(classified, AppEvent::Message { binary, content: message });
        } else if let (false, Some(json)) = (binary, content.strip_prefix(b"c:")) {
            match serde_json::from_slice::<ControlMessage>(json) {
                Ok(control) => prop_assert_eq!(classified, AppEvent::Control(control)),
                Err(_) => prop_assert!(matches!(classified, AppEvent::BadControl(_))),
            }
        } else {
            prop_assert_eq!(classified, AppEvent::Unprefixed);
        }
    }

    /// Any frame as a message event is exactly that frame for the client.
    #[test]
    fn prop_message_events_carry_the_frame(frame in text()) {
        let event = message_event(&frame);
        prop_assert_eq!(
            classify(&event),
            AppEvent::Message { binary: false, content: frame.as_bytes() }
        );
    }

    /// Any publish item survives the publish body (`{"items":[…]}`) unchanged, in Pushpin's
    /// field names, with absent options omitted, and with Pushpin's other fields ignored.
    #[test]
    fn prop_publish_items_roundtrip(items in vec(publish_item(), 0..4), extras in pushpin_extras()) {
        let body = serde_json::to_vec(&PublishRequest { items: items.clone() }).unwrap();
        let back: PublishRequest = serde_json::from_slice(&body).unwrap();
        prop_assert_eq!(&back.items, &items);
        let mut value: Value = serde_json::from_slice(&body).unwrap();
        for (item, json) in items.iter().zip(value["items"].as_array_mut().unwrap()) {
            let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
            prop_assert!(keys.iter().all(|k| ["channel", "id", "prev-id", "meta", "formats"].contains(k)));
            prop_assert_eq!(json.get("prev-id").and_then(Value::as_str), item.prev_id.as_deref());
            prop_assert_eq!(json.get("meta").is_some(), !item.meta.is_empty());
            let message = &json["formats"]["ws-message"];
            if let Some(ws) = &item.formats.ws_message {
                prop_assert_eq!(message.get("content-bin").and_then(Value::as_str), ws.content_bin.as_deref());
                prop_assert_eq!(message.get("code").and_then(Value::as_u64), ws.code.map(u64::from));
            } else {
                prop_assert!(message.is_null());
            }
            for (key, extra) in &extras {
                json[*key] = extra.clone();
            }
        }
        let extended: PublishRequest = serde_json::from_value(value).unwrap();
        prop_assert_eq!(extended.items, items);
    }

    /// A publish body edited at random is refused or read as what it now says, never a
    /// panic; a cut body is always refused (the gateway answers 400).
    #[test]
    fn prop_edited_publish_bodies_are_refused_or_read_as_written(
        items in vec(publish_item(), 1..3),
        edit in edit(),
    ) {
        let body = serde_json::to_vec(&PublishRequest { items }).unwrap();
        let edited = apply(&body, &edit);
        let parsed = serde_json::from_slice::<PublishRequest>(&edited);
        if matches!(edit, Edit::Truncate(_)) {
            prop_assert!(parsed.is_err());
        }
        if let Ok(request) = parsed {
            let again = serde_json::to_vec(&request).unwrap();
            prop_assert_eq!(serde_json::from_slice::<PublishRequest>(&again).unwrap(), request);
        }
    }

    /// Bodies keep every item once, in order; each is a valid publish body within the limit
    /// unless it is a single item larger than the limit; a batch closes only when the next
    /// item would not fit.
    #[test]
    fn prop_publish_bodies_split_in_order_within_the_limit(
        items in vec(sized_item(), 0..40),
        max_bytes in prop_oneof![64usize..2048, 2048usize..65536, Just(MAX_PUBLISH_BODY)],
    ) {
        let bodies = PublishRequest::bodies(items.clone(), max_bytes);
        let batches: Vec<Vec<PublishItem>> = bodies
            .iter()
            .map(|b| serde_json::from_slice::<PublishRequest>(b).unwrap().items)
            .collect();
        prop_assert_eq!(batches.concat(), items.clone());
        prop_assert_eq!(bodies.is_empty(), items.is_empty());
        for (body, batch) in bodies.iter().zip(&batches) {
            prop_assert!(!batch.is_empty());
            prop_assert!(body.len() <= max_bytes || batch.len() == 1, "{} > {}", body.len(), max_bytes);
        }
        for (body, next) in bodies.iter().zip(batches.iter().skip(1)) {
            let first = serde_json::to_vec(&next[0]).unwrap().len();
            prop_assert!(body.len() + 1 + first > max_bytes.saturating_sub(1));
        }
    }

    /// A relay is numbered by its seq, follows seq − 1 (none for the first), and names its
    /// sender for `skip-self`.
    #[test]
    fn prop_relays_are_numbered_by_seq(
        channel in text(),
        seq in prop_oneof![0u64..4, any::<u64>()],
        sender in option::of(text()),
        frame in text(),
    ) {
        let item = PublishItem::relay(channel.clone(), seq, sender.as_deref(), frame.clone());
        prop_assert_eq!(item.id, Some(seq.to_string()));
        prop_assert_eq!(item.prev_id, (seq > 1).then(|| (seq - 1).to_string()));
        prop_assert_eq!(item.meta.get("sender"), sender.as_ref());
        prop_assert_eq!(item.formats.ws_message.and_then(|m| m.content), Some(frame));
        prop_assert_eq!(item.channel, channel);
    }

    /// Connection channels never collide: distinct (user, connection) pairs name distinct
    /// channels, whatever the ids hold, even pairs that join to the same `user:connection`.
    #[test]
    fn prop_connection_channels_are_unambiguous(
        a in ("[a1:]{0,5}", "[a1:]{0,5}"),
        split in any::<Index>(),
        other in ("[a1:]{0,5}", "[a1:]{0,5}"),
    ) {
        let joined = format!("{}:{}", a.0, a.1);
        let colons: Vec<usize> = joined.match_indices(':').map(|(i, _)| i).collect();
        let at = colons[split.index(colons.len())];
        let resplit = (joined[..at].to_string(), joined[at + 1..].to_string());
        for b in [resplit, other] {
            if b != a {
                prop_assert_ne!(connection_channel(&a.0, &a.1), connection_channel(&b.0, &b.1));
            }
        }
    }
}
