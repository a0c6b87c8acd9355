//! Frames the gateway itself refuses — over its 256 KiB limit, or text that is not UTF-8 — end
//! with a close code and reason that say why (1009, 1007), as Pushpin ends them, not an abrupt
//! 1006 the client would retry blindly; the gateway sends no frame of the app's (it speaks none).
//! A frame that breaks the protocol ends with 1002; and the app forgets the connection, so its
//! user connects again as usual.

use e2e::HostConfig;
use e2e::app_manifest;
use e2e::device::Device;
use protocol::close;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The close the device gets for `message`, which must be the very next thing it receives.
async fn refused(device: &mut Device, message: Message) -> (u16, String) {
    device.send_raw(message).await;
    device.next_is_close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_frame_gets_close_1009() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let huge = Message::text("x".repeat(300 * 1024));
    assert_eq!(
        refused(&mut device, huge).await,
        (
            close::MESSAGE_TOO_BIG,
            close::REASON_MESSAGE_TOO_BIG.to_string()
        )
    );
    let mut again = Device::connect(&host.gateway_url, "alice").await;
    again.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_frame_that_is_not_utf8_gets_close_1007() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    assert_eq!(
        refused(&mut device, Message::Frame(bad)).await,
        (
            close::INVALID_PAYLOAD,
            close::REASON_INVALID_PAYLOAD.to_string()
        )
    );
    let mut again = Device::connect(&host.gateway_url, "alice").await;
    again.assert_nothing_pending().await;
}

/// A frame no WebSocket peer may send (a reserved opcode) used to end with a bare 1006.
#[tokio::test(flavor = "multi_thread")]
async fn a_frame_that_breaks_the_protocol_gets_close_1002() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let reserved = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Reserved(3)), true);
    assert_eq!(
        refused(&mut device, Message::Frame(reserved)).await,
        (
            close::PROTOCOL_ERROR,
            close::REASON_PROTOCOL_ERROR.to_string()
        )
    );
    let mut again = Device::connect(&host.gateway_url, "alice").await;
    again.assert_nothing_pending().await;
}
