//! What a user with a valid token of their own can do to others, and to the service: name another
//! user's connection, open connections in a burst, flood cheap frames, send numbers that would be
//! rounded, or send two `Origin` headers. Each test reproduces an attack that worked before.

use e2e::device::{Attempt, Device, FRAME_DEADLINE, open_socket, timestamp, token};
use e2e::{HostConfig, app_manifest};
use futures_util::StreamExt;
use protocol::ws_events::Event;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Limits high enough that only the per-user connection cap can refuse anyone.
fn generous(config: HostConfig) -> HostConfig {
    config
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "600000")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "10000")
}

/// The cap holds at every moment, not only once each socket makes its next request: one second
/// after a burst of connects ends, no user holds more than the cap of open sockets. Nothing is sent
/// by the devices: a socket that stays silent must be closed all the same. Before, an eviction
/// published before the evicted socket's subscription existed was lost, and the socket stayed open
/// until its next request: 15 (embedded gateway), 30 (Pushpin) or 13 (Spin) of the 40 were open a
/// second later. (Before that, the cap was a read-modify-write on key-value, and 22–30 stayed open
/// for good.)
///
/// Behind Pushpin the second is not guaranteed (docs/protocol.md §5): Pushpin registers a
/// subscription asynchronously, and a close published before it has is dropped. Measured: in
/// about one burst in twenty, 1–7 silent sockets evicted in the first tens of milliseconds stay
/// open, and their first keep-alive request (20 s after the handshake) closes them. So behind
/// Pushpin the test asserts that the cap is never undershot, and exactly held within that
/// keep-alive.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_after_a_burst_of_connects_exactly_the_cap_is_open() {
    const CAP: usize = 10;
    let config = generous(HostConfig::new(app_manifest()));
    let behind_pushpin = config.through_pushpin;
    let host = config.start().unwrap();
    // 40 at once.
    let token_a = token("alice", 3600);
    let connects: Vec<_> = (0..40)
        .map(|_| {
            let (gateway, token) = (host.gateway_url.clone(), token_a.clone());
            tokio::spawn(async move { watch_socket(&gateway, "alice", &token).await })
        })
        .collect();
    let mut concurrent = Vec::new();
    for connect in connects {
        concurrent.push(connect.await.unwrap());
    }
    // 15 one after another, each once its WELCOME is in.
    let token_b = token("bob", 3600);
    let mut sequential = Vec::new();
    for _ in 0..15 {
        let socket = watch_socket(&host.gateway_url, "bob", &token_b).await;
        tokio::time::timeout(FRAME_DEADLINE, socket.welcomed.notified())
            .await
            .expect("neither WELCOME nor a close within the deadline");
        sequential.push(socket);
    }
    // The property is about a moment: one second after the last handshake of each burst.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for (user, sockets) in [("alice", &concurrent), ("bob", &sequential)] {
        let open = open_sockets(sockets).len();
        // Nobody closed beyond the cap, and, but behind Pushpin, none over it.
        assert!(
            open >= CAP,
            "{user}: {open} of {} sockets open",
            sockets.len()
        );
        if !behind_pushpin {
            assert_eq!(
                open,
                CAP,
                "{user}: {open} of {} sockets open",
                sockets.len()
            );
        }
    }
    if behind_pushpin {
        // The first keep-alive request of a socket whose close Pushpin dropped closes it.
        let keep_alive = std::time::Duration::from_secs(20 + 10);
        for (user, sockets) in [("alice", &concurrent), ("bob", &sequential)] {
            let settled = tokio::time::timeout(keep_alive, async {
                while open_sockets(sockets).len() > CAP {
                    let ends = open_sockets(sockets)
                        .into_iter()
                        .map(|s| Box::pin(s.ended()));
                    futures_util::future::select_all(ends).await;
                }
            });
            if settled.await.is_err() {
                let open = open_sockets(sockets).len();
                panic!("{user}: {open} sockets open after a keep-alive interval");
            }
        }
    }
    for (user, sockets) in [("alice", &concurrent), ("bob", &sequential)] {
        for end in sockets.iter().filter_map(WatchedSocket::end) {
            assert_eq!(end, (4002, "too many connections".to_string()), "{user}");
        }
    }
}

fn open_sockets(sockets: &[WatchedSocket]) -> Vec<&WatchedSocket> {
    sockets.iter().filter(|s| s.end().is_none()).collect()
}

/// A socket read until it ends, in the background, as a client's WebSocket stack reads it
/// (answering pings, sending nothing of its own).
struct WatchedSocket {
    ended: tokio::sync::watch::Receiver<Option<(u16, String)>>,
    welcomed: std::sync::Arc<tokio::sync::Notify>,
    _reader: tokio::task::JoinHandle<()>,
}

impl WatchedSocket {
    fn end(&self) -> Option<(u16, String)> {
        self.ended.borrow().clone()
    }

    /// Once the socket has ended.
    async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(Option::is_some).await;
    }
}

async fn watch_socket(gateway: &str, user: &str, token: &str) -> WatchedSocket {
    let mut socket = open_socket(gateway, user, token).await.unwrap();
    let (end_sender, ended) = tokio::sync::watch::channel(None);
    let welcomed = std::sync::Arc::new(tokio::sync::Notify::new());
    let welcomed_by_reader = welcomed.clone();
    let reader = tokio::spawn(async move {
        let end = loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if text.contains(r#""type":"WELCOME""#) {
                        welcomed_by_reader.notify_one();
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    break (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => break (1005, String::new()),
                Some(Ok(_)) => {}
                Some(Err(error)) => break (1006, error.to_string()),
            }
        };
        end_sender.send_replace(Some(end));
        // A close ends the wait for a WELCOME too.
        welcomed_by_reader.notify_one();
    });
    WatchedSocket {
        ended,
        welcomed,
        _reader: reader,
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
        // One a minute: nothing refills while the test runs, however slowly it runs.
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1")
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
    assert_eq!(answered, 10, "the burst");
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
