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
