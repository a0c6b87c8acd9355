//! Who the app trusts: `Meta-*` headers count only under a `Grip-Sig` the gateway made. A client
//! must not be able to speak WebSocket-over-HTTP through the embedded gateway's port, smuggle
//! gateway headers through it, or sign its own requests to the HTTP trigger port with the key in
//! spin.toml. Embedded-gateway specific (Pushpin's own rules are Pushpin's).

use e2e::device::{Device, timestamp};
use e2e::{Host, HostConfig, MANIFEST_GRIP_KEY, Reply, app_manifest, forged_ws_events};
use protocol::ws_events::{self, Event, EventKind};
use serde_json::json;

const SECRET_ENTRY: &str = "alice-private-entry";
const EVENTS: &str = ws_events::CONTENT_TYPE;

fn host() -> Host {
    HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap()
}

/// Stores an entry for alice through a real device, which stays connected.
async fn alice_with_a_secret(host: &Host) -> Device {
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    device
        .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": SECRET_ENTRY}}))
        .await;
    let (ack, _) = device.recv_until("SYNC_RESPONSE").await;
    assert_eq!(ack["message"], "Mutation applied", "{ack}");
    device
}

fn sync_request() -> Event {
    Event::text(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}).to_string())
}

fn gateway_http(host: &Host) -> String {
    host.gateway_url.replacen("ws://", "http://", 1)
}

/// Whether an events reply carries nothing for the client but, at most, a close for want of
/// credentials (what the app answers a request it does not trust).
fn nothing_but_an_authentication_close(reply: &Reply) -> bool {
    let Ok(events) = ws_events::decode(reply.body.as_bytes()) else {
        return false;
    };
    events.iter().all(|event| {
        event.kind == EventKind::Close
            && event.close_code().map(|(code, _)| code) == Some(protocol::close::AUTHENTICATION)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refuses_client_originated_websocket_events() {
    let host = host();
    let mut alice = alice_with_a_secret(&host).await;
    let base = gateway_http(&host);
    let path = "/sync/ws?userId=alice";
    let stolen = forged_ws_events(
        &base,
        path,
        EVENTS,
        MANIFEST_GRIP_KEY,
        "alice",
        &[sync_request()],
    );
    assert_eq!(stolen.status, 403, "{stolen:?}");
    assert_eq!(stolen.content_type.as_deref(), Some("application/json"));
    assert!(stolen.json()["error"].is_string(), "{stolen:?}");
    assert!(!stolen.body.contains(SECRET_ENTRY), "{stolen:?}");
    // A parameter on the media type changes nothing.
    let with_charset = format!("{EVENTS}; charset=utf-8");
    let forged = Event::text(
        json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": "forged-entry"}})
            .to_string(),
    );
    let write = forged_ws_events(
        &base,
        path,
        &with_charset,
        MANIFEST_GRIP_KEY,
        "alice",
        &[forged],
    );
    assert_eq!(write.status, 403, "{write:?}");
    // Nothing was relayed to alice's device (a PING's PONG is the very next frame) or stored.
    alice.assert_nothing_pending().await;
    alice
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (done, chunks) = alice.recv_until("SYNC_RESPONSE").await;
    let everything = format!("{done} {chunks:?}");
    assert!(everything.contains(SECRET_ENTRY), "{everything}");
    assert!(!everything.contains("forged-entry"), "{everything}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_requests_reach_the_app_without_gateway_headers() {
    let host = host();
    let _alice = alice_with_a_secret(&host).await;
    // Not labelled websocket-events, so forwarded: the app must not see the forged Grip-Sig,
    // Meta-* or Connection-Id, so it cannot trust them.
    let reply = forged_ws_events(
        &gateway_http(&host),
        "/sync/ws?userId=alice",
        "text/plain",
        MANIFEST_GRIP_KEY,
        "alice",
        &[sync_request()],
    );
    assert!(!reply.body.contains(SECRET_ENTRY), "{reply:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_port_trusts_only_the_key_the_gateway_signs_with() {
    // Default settings: the gateway signs with a key of its own, not spin.toml's.
    let host = host();
    let _alice = alice_with_a_secret(&host).await;
    let path = "/sync/ws?userId=alice";
    let forged = forged_ws_events(
        &host.url,
        path,
        EVENTS,
        MANIFEST_GRIP_KEY,
        "alice",
        &[sync_request()],
    );
    assert!(!forged.body.contains(SECRET_ENTRY), "{forged:?}");
    assert!(nothing_but_an_authentication_close(&forged), "{forged:?}");
    drop(host);

    // A configured key still wins: requests signed with it are trusted (as Pushpin's are).
    let configured = "a-configured-grip-key-0123456789abcdef";
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_GRIP_KEY", configured)
        .start()
        .unwrap();
    let _alice = alice_with_a_secret(&host).await;
    let trusted = forged_ws_events(
        &host.url,
        path,
        EVENTS,
        configured,
        "alice",
        &[sync_request()],
    );
    assert_eq!(trusted.status, 200, "{trusted:?}");
    assert!(trusted.body.contains(SECRET_ENTRY), "{trusted:?}");
}
