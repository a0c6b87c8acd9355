//! Delivery paths where gateways differ (docs/gateways.md): frames too big for a Pushpin reply
//! body, connect bursts, and the publish request itself. Runs through the embedded gateway, and
//! through real Pushpin with `E2E_GATEWAY=pushpin` (scripts/test runs both).

use e2e::device::{Device, timestamp};
use e2e::{Host, HostConfig, app_manifest};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};

/// Sends `SYNC_REQUEST` from `last_seq` and returns the frames before the final `SYNC_RESPONSE`,
/// and that response.
async fn catch_up(device: &mut Device, last_seq: u64) -> (Vec<Value>, Value) {
    device
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": last_seq}))
        .await;
    let (done, frames) = device.recv_until("SYNC_RESPONSE").await;
    (frames, done)
}

/// Pushpin never delivers a reply-body frame of 32 KiB or more; a 40 KiB entity must still reach
/// the other device live (a publish) and a new device by catch-up (published to its connection).
#[tokio::test(flavor = "multi_thread")]
async fn a_40_kib_entity_reaches_other_devices_live_and_by_catch_up() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let notes = "♪".repeat(40 * 1024 / 3 + 1); // 3 bytes each: just over 40 KiB of UTF-8
    let big =
        json!({"id": "big", "duration": 30, "notes": notes, "updatedAt": "2026-01-01T00:00:00Z"});
    let small = json!({"id": "small", "duration": 5, "updatedAt": "2026-01-01T00:00:00Z"});
    let mut writer = Device::connect(&host.gateway_url, "alice").await;
    let mut live = Device::connect(&host.gateway_url, "alice").await;
    for entry in [&small, &big] {
        writer
            .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": entry}))
            .await;
        let (ack, _) = writer.recv_until("SYNC_RESPONSE").await;
        assert_eq!(ack["message"], "Mutation applied", "{ack}");
    }
    let relays = [live.recv().await, live.recv().await];
    assert_eq!(relays[0]["entry"], small);
    assert_eq!(relays[1]["type"], "ENTRY_CREATED");
    assert_eq!(relays[1]["entry"], big, "the 40 KiB relay arrived altered");
    assert!(relays[1].to_string().len() > 40 * 1024);

    let mut late = Device::connect(&host.gateway_url, "alice").await;
    let (frames, done) = catch_up(&mut late, 0).await;
    assert_eq!(done["lastSeq"], 2);
    let caught: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "BULK_SYNC")
        .flat_map(|f| f["entries"].as_array().unwrap())
        .collect();
    assert_eq!(caught.len(), 2, "{frames:?}");
    assert!(
        caught.contains(&&big),
        "the 40 KiB entity was not caught up"
    );
    assert!(caught.contains(&&small));
    late.assert_nothing_pending().await;
}

/// A catch-up that must be published (one entity's frame is too big for a reply body) used to go
/// out in one publish body: past the embedded gateway's 1,000,000-byte limit it was refused (413)
/// and the device never got it. It is now split into ordered publishes. Embedded gateway only:
/// Pushpin drops what a burst puts beyond one connection's 64 KiB buffer (`docs/gateways.md`).
#[tokio::test(flavor = "multi_thread")]
async fn a_catch_up_of_more_than_a_megabyte_arrives_whole() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let notes = "n".repeat(40 * 1024);
    let mut writer = Device::connect(&host.gateway_url, "alice").await;
    for n in 0..30 {
        writer
            .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
                "entry": {"id": format!("entry_{n}"), "notes": notes, "updatedAt": "2026-01-01T00:00:00Z"}}))
            .await;
        let (ack, _) = writer.recv_until("SYNC_RESPONSE").await;
        assert_eq!(ack["message"], "Mutation applied", "{ack}");
    }
    let mut late = Device::connect(&host.gateway_url, "alice").await;
    let (frames, done) = catch_up(&mut late, 0).await;
    assert_eq!(done["lastSeq"], 30);
    let caught = frames
        .iter()
        .filter(|f| f["type"] == "BULK_SYNC")
        .flat_map(|f| f["entries"].as_array().unwrap())
        .count();
    assert_eq!(caught, 30);
}

/// Connects (retrying refusals) and catches up from 0. A connection that ends before its catch-up
/// completes is opened again, as the Mirubato client does after any close but 1000 (docs/protocol.md
/// §8): under a burst Pushpin drops an open connection whose next frame it cannot hand on
/// (`docs/gateways.md`). Returns the device, the catch-up's frames and reply, and the attempts.
async fn connect_and_catch_up(gateway: &str, user: &str) -> (Device, Vec<Value>, Value, u32) {
    const MAX_ATTEMPTS: u32 = 12;
    let mut attempts = 0;
    loop {
        let (mut device, tries) = Device::connect_with_retry(gateway, user, MAX_ATTEMPTS).await;
        attempts += tries;
        // Pushpin may drop the connection at any point, even before the request goes out.
        let sync = json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0});
        let ended = match device.send_or_end(sync).await {
            Err(ended) => ended,
            Ok(()) => match device.try_recv_until("SYNC_RESPONSE").await {
                Ok((done, frames)) => return (device, frames, done, attempts),
                Err(ended) => ended,
            },
        };
        assert!(
            attempts < MAX_ATTEMPTS,
            "{user}: no complete catch-up in {attempts} attempts; last: {ended}"
        );
        eprintln!("{user}: the connection ended before its catch-up ({ended}); reconnecting");
    }
}

/// 200 clients connect at once (Pushpin answers some of a burst with 502, and may drop a connection
/// it has opened); each retries with jittered backoff as the Mirubato client does, and every one
/// connects and catches up fully.
#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_clients_connecting_at_once_all_connect_and_catch_up() {
    const USERS: usize = 40;
    const DEVICES: usize = 5;
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let broadcast = auth::matrix::sign_hs256(
        e2e::TEST_JWT_SECRET,
        &json!({"typ": "broadcast", "exp": auth::matrix::now() + 120}),
    );
    for user in 0..USERS {
        let events: Vec<Value> = (0..3)
            .map(|p| json!({"type": "PLAN_UPDATED", "plan": {"id": format!("u{user}-p{p}")}}))
            .collect();
        let reply = Host::agent()
            .post(format!("{}/broadcast", host.url))
            .header("authorization", format!("Bearer {broadcast}"))
            .send(json!({"userId": format!("user{user}"), "events": events}).to_string())
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(USERS * DEVICES));
    let mut tasks = Vec::new();
    for client in 0..USERS * DEVICES {
        let (gateway, start) = (host.gateway_url.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("user{}", client % USERS);
            start.wait().await;
            let (device, frames, done, attempts) = connect_and_catch_up(&gateway, &user).await;
            let plans: Vec<String> = frames
                .iter()
                .filter(|f| f["type"] == "PLAN_UPDATED")
                .map(|f| f["plan"]["id"].as_str().unwrap().to_string())
                .collect();
            (user, done["lastSeq"].clone(), plans, attempts, device)
        }));
    }
    let mut retried = 0;
    let mut devices = Vec::new();
    for task in tasks {
        let (user, last_seq, plans, attempts, device) = task.await.unwrap();
        let n = &user["user".len()..];
        assert_eq!(last_seq, 3, "{user}");
        assert_eq!(plans, [0, 1, 2].map(|p| format!("u{n}-p{p}")), "{user}");
        retried += usize::from(attempts > 1);
        devices.push(device);
    }
    eprintln!(
        "{} clients connected; {retried} needed a retry",
        devices.len()
    );
}

/// With `grip_publish_token` set (Fanout's API token), every publish carries it as a bearer token.
/// The publish endpoint here is a loopback listener that records what it is sent.
#[test]
fn publishes_carry_the_configured_publish_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let publish_url = format!("http://{}", listener.local_addr().unwrap());
    let recorder = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let length: usize = head
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("publish has a Content-Length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        std::io::Write::write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nPublished\n",
        )
        .unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_GRIP_PUBLISH_URL", &publish_url)
        .env("SPIN_VARIABLE_GRIP_PUBLISH_TOKEN", "fanout-api-token")
        .start_with_args(&["--no-gateway"])
        .unwrap();
    let broadcast = auth::matrix::sign_hs256(
        e2e::TEST_JWT_SECRET,
        &json!({"typ": "broadcast", "exp": auth::matrix::now() + 120}),
    );
    let reply = Host::agent()
        .post(format!("{}/broadcast", host.url))
        .header("authorization", format!("Bearer {broadcast}"))
        .send(
            json!({"userId": "alice", "events": [{"type": "PLAN_UPDATED", "plan": {"id": "p1"}}]})
                .to_string(),
        )
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let (head, body) = recorder.join().unwrap();
    assert_eq!(head[0], "POST /publish/ HTTP/1.1");
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: Bearer fanout-api-token")),
        "{head:?}"
    );
    let items: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(items["items"][0]["channel"], "user:alice");
}
