//! Embedded-gateway behaviour that the app relies on (gateway-specific: `docs/gateways.md` says
//! where Pushpin differs): the publish endpoint, ordering, no subscription race, reaping dead peers.

use e2e::device::Device;
use e2e::{Host, HostConfig, app_manifest};
use serde_json::{Value, json};

fn publish(host: &Host, items: Value) -> (u16, String) {
    let mut reply = Host::agent()
        .post(&host.publish_url)
        .send(json!({ "items": items }).to_string())
        .unwrap();
    (
        reply.status().as_u16(),
        reply.body_mut().read_to_string().unwrap(),
    )
}

fn item(channel: &str, id: u64, content: &str) -> Value {
    json!({"channel": channel, "id": id.to_string(), "prev-id": (id - 1).to_string(), "formats": {"ws-message": {"content": content}}})
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_endpoint_orders_items_by_prev_id() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let channel = "user:alice";
    assert_eq!(
        publish(&host, json!([item(channel, 1, r#"{"n":1}"#)])),
        (200, "Published\n".to_string())
    );
    // 3 arrives before 2: held until 2 comes, then both, in order.
    publish(&host, json!([item(channel, 3, r#"{"n":3}"#)]));
    publish(&host, json!([item(channel, 2, r#"{"n":2}"#)]));
    let order: Vec<u64> = [
        device.recv().await,
        device.recv().await,
        device.recv().await,
    ]
    .iter()
    .map(|f| f["n"].as_u64().unwrap())
    .collect();
    assert_eq!(order, [1, 2, 3]);
    let (status, _) = publish(&host, json!("not a list"));
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_right_after_connecting_is_never_lost() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    for n in 0..100 {
        let user = format!("racer{n}");
        let mut device = Device::connect(&host.gateway_url, &user).await;
        let content = json!({"type": "PING_FROM_SERVER", "n": n}).to_string();
        publish(
            &host,
            json!([{"channel": format!("user:{user}"), "formats": {"ws-message": {"content": content}}}]),
        );
        assert_eq!(device.recv().await["n"], n);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_close_action_closes_the_connection_with_its_code() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let connection = device.welcome["connectionId"].as_str().unwrap().to_string();
    publish(
        &host,
        json!([{"channel": protocol::grip::connection_channel("alice", &connection), "formats": {"ws-message": {"action": "close", "code": 4009, "reason": "kicked"}}}]),
    );
    assert_eq!(device.closed().await, (4009, "kicked".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let host = HostConfig::new(app_manifest())
        .start_with_args(&["--gateway-ping-seconds", "1"])
        .unwrap();
    let silent = Device::connect(&host.gateway_url, "alice").await;
    // Never read again: the client library answers pings only while it is polled.
    let logs = host.wait_for_log("stopped answering pings");
    assert!(logs.contains("POST /sync/ws 200"), "{logs}");
    drop(silent);
}
