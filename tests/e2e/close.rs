//! Close handshakes as the client sees them: the Mirubato client's `disconnect()` closes with 1000
//! and reconnects on any other code (1006 included), so every close must complete with a close frame
//! carrying the right code. The app's own codes (4001, 4002, 1008, 1009) are read in `sync.rs`.

use e2e::device::Device;
use e2e::{Host, HostConfig, app_manifest};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_close_is_answered_with_its_own_code() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    for code in [1000, 4000] {
        let mut device = Device::connect(&host.gateway_url, "alice").await;
        device
            .send_raw(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "Client disconnecting".into(),
            })))
            .await;
        assert_eq!(device.closed().await.0, code);
    }
}

/// A close the app publishes must not queue behind frames the client has not read yet.
#[tokio::test(flavor = "multi_thread")]
async fn a_close_reaches_a_client_whose_frame_queue_is_full() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let channel = protocol::grip::connection_channel(
        "alice",
        device.welcome["connectionId"].as_str().unwrap(),
    );
    let mut items: Vec<_> = (0..1000)
        .map(|n| json!({"channel": channel, "formats": {"ws-message": {"content": json!({"n": n}).to_string()}}}))
        .collect();
    items.push(json!({"channel": channel, "formats": {"ws-message": {"action": "close", "code": 4002, "reason": "too many connections"}}}));
    let reply = Host::agent()
        .post(&host.publish_url)
        .send(json!({ "items": items }).to_string())
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(
        device.closed().await,
        (4002, "too many connections".to_string())
    );
}
