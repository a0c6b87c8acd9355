//! What a user with a valid token of their own can do to others, and to the service: name another
//! user's connection, open connections in a burst, flood cheap frames, send numbers that would be
//! rounded, or send two `Origin` headers. Each test reproduces an attack that worked before.

use e2e::device::{Attempt, Device, FRAME_DEADLINE, open_socket, timestamp, token};
use e2e::{HostConfig, app_manifest};
use futures_util::{SinkExt, StreamExt};
use protocol::ws_events::Event;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Limits high enough that only the per-user connection cap can refuse anyone.
fn generous(config: HostConfig) -> HostConfig {
    config
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "600000")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "10000")
}

/// The cap used to be a read-modify-write on key-value: 40 simultaneous connects left 22–30 open.
/// Through the embedded gateway an eviction's close is queued before the evicting OPEN returns, so
/// once every handshake is done each socket answers a PING or has its close waiting — or was
/// closed before its WELCOME (a close goes ahead of frames still queued for the client).
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_connects_leaves_exactly_the_cap_open() {
    let host = generous(HostConfig::new(app_manifest()).through_pushpin(false))
        .start()
        .unwrap();
    let token = token("alice", 3600);
    let connects: Vec<_> = (0..40)
        .map(|_| {
            let (gateway, token) = (host.gateway_url.clone(), token.clone());
            tokio::spawn(async move {
                let mut socket = open_socket(&gateway, "alice", &token).await.unwrap();
                let first = next_frame(&mut socket).await;
                (socket, first)
            })
        })
        .collect();
    // Every handshake first: a PING answered while later handshakes were still registering
    // could be evicted after its PONG.
    let mut connected = Vec::new();
    for connect in connects {
        connected.push(connect.await.unwrap());
    }
    let mut open = 0;
    for (mut socket, first) in connected {
        let fate = match first {
            Frame::Text(text) if text.contains(r#""type":"WELCOME""#) => {
                socket
                    .send(Message::text(
                        json!({"type": "PING", "timestamp": timestamp()}).to_string(),
                    ))
                    .await
                    .unwrap();
                loop {
                    match next_frame(&mut socket).await {
                        Frame::Text(text) if text.contains(r#""type":"PONG""#) => break None,
                        Frame::Text(_) => continue,
                        Frame::Closed(code, reason) => break Some((code, reason)),
                    }
                }
            }
            Frame::Text(text) => panic!("the first frame is not WELCOME: {text}"),
            Frame::Closed(code, reason) => Some((code, reason)),
        };
        match fate {
            None => open += 1,
            Some(close) => assert_eq!(close, (4002, "too many connections".to_string())),
        }
    }
    assert_eq!(open, 10);
}

enum Frame {
    Text(String),
    Closed(u16, String),
}

async fn next_frame(socket: &mut WebSocketStream<TcpStream>) -> Frame {
    loop {
        let message = tokio::time::timeout(FRAME_DEADLINE, socket.next())
            .await
            .expect("no frame within the deadline");
        match message {
            Some(Ok(Message::Text(text))) => return Frame::Text(text.to_string()),
            Some(Ok(Message::Close(Some(frame)))) => {
                return Frame::Closed(u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None => return Frame::Closed(1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("socket error: {error}"),
        }
    }
}

/// A connection id appears in its owner's WELCOME. With it and a token of their own, mallory used
/// to evict alice's socket (by filling mallory's registry behind it) and push mallory's oversized
/// catch-up into alice's socket. Now the id only ever names a connection of mallory's.
#[tokio::test(flavor = "multi_thread")]
async fn another_users_connection_id_reaches_nobody() {
    let host = generous(HostConfig::new(app_manifest())).start().unwrap();
    let mut alice = Device::connect(&host.gateway_url, "alice").await;
    let victim = alice.welcome["connectionId"].as_str().unwrap().to_string();
    // Mallory's own data, too big for one reply body, so a catch-up goes out as publishes.
    let mut writer = Device::connect(&host.gateway_url, "mallory").await;
    for n in 0..40 {
        writer
            .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
                "entry": {"id": format!("entry_{n}"), "notes": "x".repeat(2048),
                          "updatedAt": "2026-11-24T12:00:00.000Z"}}))
            .await;
        assert_eq!(writer.recv().await["message"], "Mutation applied");
    }
    let mallory = format!("/sync/ws?userId=mallory&token={}", token("mallory", 3600));
    let open = [Event::new(protocol::ws_events::EventKind::Open)];
    let opened = host.post_events(&mallory, &[("connection-id", &victim)], &open);
    assert_eq!(opened.status, 200, "{}", opened.body);
    for n in 0..10 {
        let own = format!("mallory-{n}");
        let reply = host.post_events(&mallory, &[("connection-id", &own)], &open);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let sync = [Event::text(
        json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}).to_string(),
    )];
    let synced = host.post_events(&mallory, &[("connection-id", &victim)], &sync);
    assert_eq!(synced.status, 200, "{}", synced.body);
    // Alice is still connected, and nothing of mallory's came before her PONG.
    alice.assert_nothing_pending().await;
    assert!(alice.replayed.is_empty(), "{:?}", alice.replayed);
}

/// PING and SYNC_REQUEST used to be free: 3,000 PINGs were answered in 1.1 s.
#[tokio::test(flavor = "multi_thread")]
async fn every_frame_type_counts_against_the_rate_limit() {
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "60")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "10")
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    for kind in ["PING", "SYNC_REQUEST"] {
        for _ in 0..12 {
            device
                .send(json!({"type": kind, "timestamp": timestamp(), "lastSeq": 0}))
                .await;
        }
    }
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..24 {
        let frame = device.recv().await;
        match frame["type"].as_str() {
            Some("PONG") => answered += 1,
            Some("SYNC_RESPONSE") => answered += 1,
            Some("ERROR") => {
                assert_eq!(frame["code"], "RATE_LIMITED", "{frame}");
                assert!(frame["retryAfterMs"].as_u64().unwrap() > 0);
                refused += 1;
            }
            _ => panic!("unexpected frame {frame}"),
        }
    }
    // A burst of 10, plus at most a couple refilled at 1/s while the test runs.
    assert!((10..=12).contains(&answered), "{answered} answered");
    assert_eq!(answered + refused, 24);
}

/// serde_json keeps integers exactly only within 64 bits; longer ones used to be stored as floats.
#[tokio::test(flavor = "multi_thread")]
async fn integers_are_stored_exactly_or_refused() {
    let host = generous(HostConfig::new(app_manifest())).start().unwrap();
    let mut writer = Device::connect(&host.gateway_url, "alice").await;
    let entry = |id: &str, n: &str| {
        format!(
            r#"{{"type":"ENTRY_CREATED","timestamp":"{}","entry":{{"id":"{id}","n":{n},"updatedAt":"2026-11-24T12:00:00.000Z"}}}}"#,
            timestamp()
        )
    };
    writer
        .send_raw(Message::text(entry(
            "entry_big",
            "123456789012345678901234",
        )))
        .await;
    let refused = writer.recv().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("ERROR"), Some("INVALID_FORMAT")),
        "{refused}"
    );
    writer
        .send_raw(Message::text(entry("entry_max", "18446744073709551615")))
        .await;
    assert_eq!(writer.recv().await["message"], "Mutation applied");
    let mut reader = Device::connect(&host.gateway_url, "alice").await;
    reader
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (_, frames) = reader.recv_until("SYNC_RESPONSE").await;
    let entries: Vec<_> = frames
        .iter()
        .flat_map(|f| f["entries"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(entries.len(), 1, "{frames:?}");
    assert_eq!(entries[0]["id"], "entry_max");
    assert_eq!(entries[0]["n"], json!(18446744073709551615u64));
}

/// With two `Origin` headers the last one used to be checked: an allowed one after a foreign one
/// let the foreign page in.
#[tokio::test(flavor = "multi_thread")]
async fn two_origin_headers_are_refused_in_either_order() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let token = token("alice", 3600);
    for origins in [
        [
            ("Origin", "https://evil.test"),
            ("Origin", "http://localhost:5173"),
        ],
        [
            ("Origin", "http://localhost:5173"),
            ("Origin", "https://evil.test"),
        ],
    ] {
        match Device::attempt_with_headers(&host.gateway_url, "alice", &token, &origins).await {
            Attempt::Refused(refusal) => assert_eq!(refusal.status, 403, "{refusal:?}"),
            Attempt::Connected(_) => panic!("connected with two Origin headers: {origins:?}"),
            Attempt::Failed(why) => panic!("transport failure: {why}"),
        }
    }
    let one = Device::attempt(
        &host.gateway_url,
        "alice",
        &token,
        Some("http://localhost:5173"),
    );
    assert!(matches!(one.await, Attempt::Connected(_)));
}

/// Headers only a gateway may send, forged in a client's handshake: whichever gateway is in front,
/// they must not make the app believe the connection is bob's.
#[tokio::test(flavor = "multi_thread")]
async fn forged_gateway_headers_in_a_handshake_are_not_believed() {
    let host = generous(HostConfig::new(app_manifest())).start().unwrap();
    let mut bob = Device::connect(&host.gateway_url, "bob").await;
    bob.send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
        "entry": {"id": "entry_bobs", "updatedAt": "2026-11-24T12:00:00.000Z"}}))
        .await;
    assert_eq!(bob.recv().await["message"], "Mutation applied");
    let forged = [
        ("Meta-User-Id", "bob"),
        ("Meta-User", "bob-connection"),
        ("Meta-Token-Exp", "9999999999"),
        ("Connection-Id", "bob-connection"),
        ("Grip-Sig", "forged"),
    ];
    let token = token("alice", 3600);
    let mut alice =
        match Device::attempt_with_headers(&host.gateway_url, "alice", &token, &forged).await {
            Attempt::Connected(device) => *device,
            Attempt::Refused(refusal) => panic!("refused: {refusal:?}"),
            Attempt::Failed(why) => panic!("transport failure: {why}"),
        };
    alice
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (done, frames) = alice.recv_until("SYNC_RESPONSE").await;
    assert_eq!(done["message"], "No new data to sync", "{frames:?}");
    assert_ne!(alice.welcome["connectionId"], "bob-connection");
}
