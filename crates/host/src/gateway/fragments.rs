//! Long text messages go to the client as a fragmented message (RFC 6455 §5.4), every fragment
//! at most [`FRAGMENT_BYTES`]. tungstenite formats each frame into one output buffer per socket
//! whose capacity it never gives back, so a socket that once carried a large frame (a catch-up
//! chunk, a big entity) would hold that much memory for the rest of its life; with fragments no
//! socket's buffer outgrows one fragment. Clients reassemble fragments in their WebSocket layer.

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The largest frame payload the gateway writes.
pub const FRAGMENT_BYTES: usize = 4096;

/// `message` as the frames to write: itself, or a text message longer than [`FRAGMENT_BYTES`] as
/// fragments split on character boundaries (every fragment is valid UTF-8 on its own).
pub fn fragments(message: Message) -> Vec<Message> {
    let text = match &message {
        Message::Text(text) if text.len() > FRAGMENT_BYTES => text.as_str(),
        _ => return vec![message],
    };
    let mut parts = Vec::with_capacity(text.len() / FRAGMENT_BYTES + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + FRAGMENT_BYTES).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let opcode = if start == 0 {
            Data::Text
        } else {
            Data::Continue
        };
        let payload = text.as_bytes()[start..end].to_vec();
        parts.push(Message::Frame(Frame::message(
            payload,
            OpCode::Data(opcode),
            end == text.len(),
        )));
        start = end;
    }
    parts
}

#[cfg(test)]
mod tests;
