//! GRIP over WebSocket, as Pushpin and Fastly Fanout speak it (docs/protocol.md §7), knowing no
//! application: the WebSocket-over-HTTP event codec ([`ws_events`]), control messages an app sends
//! in `c:`-prefixed TEXT events, `m:`-prefixed frames for the client, and the items an app
//! publishes to a gateway's `POST /publish/`. Both sides use these types: the coordinator writes
//! them, sync-host's embedded gateway reads them.

pub mod ws_events;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ws_events::{Event, EventKind};

pub const CONTROL_PREFIX: &str = "c:";
pub const MESSAGE_PREFIX: &str = "m:";
/// The filter that keeps a publish from reaching the connection whose `User` meta is `meta.sender`.
pub const SKIP_SELF: &str = "skip-self";

/// The channel every connection of one user subscribes to.
pub fn user_channel(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The channel only one connection subscribes to, for closing it from the app side. It names the
/// user too, so a connection id can only ever reach that user's own connection: a request that
/// names another user's connection id (its own token, someone else's id) reaches nobody. The
/// user's length comes first, so no user id and connection id can spell another pair's channel.
pub fn connection_channel(user_id: &str, connection_id: &str) -> String {
    format!("connection:{}:{user_id}:{connection_id}", user_id.len())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ControlMessage {
    Subscribe {
        channel: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        filters: Vec<String>,
    },
    Unsubscribe {
        channel: String,
    },
    /// The gateway sends `content` to the client after `timeout` idle seconds.
    KeepAlive {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(
            default,
            rename = "message-type",
            skip_serializing_if = "Option::is_none"
        )]
        message_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
    },
    SetMeta {
        name: String,
        value: String,
    },
    Detach,
}

impl ControlMessage {
    /// As the TEXT event a response carries.
    pub fn to_event(&self) -> Event {
        let json = serde_json::to_string(self).expect("control messages serialize");
        Event::text(format!("{CONTROL_PREFIX}{json}"))
    }
}

/// A frame for the client, as the TEXT event a response carries.
pub fn message_event(frame: &str) -> Event {
    Event::text(format!("{MESSAGE_PREFIX}{frame}"))
}

/// What a TEXT or BINARY event from the app means to a gateway with GRIP on.
#[derive(Debug, PartialEq, Eq)]
pub enum AppEvent<'a> {
    Control(ControlMessage),
    /// A message for the client, prefix removed.
    Message {
        binary: bool,
        content: &'a [u8],
    },
    /// Neither prefix: Pushpin drops these, and so must every gateway.
    Unprefixed,
    /// `c:` followed by JSON that is not a control message we know.
    BadControl(String),
}

pub fn classify(event: &Event) -> AppEvent<'_> {
    let binary = event.kind == EventKind::Binary;
    if let Some(content) = event.content.strip_prefix(MESSAGE_PREFIX.as_bytes()) {
        return AppEvent::Message { binary, content };
    }
    if !binary && let Some(json) = event.content.strip_prefix(CONTROL_PREFIX.as_bytes()) {
        return match serde_json::from_slice(json) {
            Ok(control) => AppEvent::Control(control),
            Err(error) => AppEvent::BadControl(error.to_string()),
        };
    }
    AppEvent::Unprefixed
}

/// `POST /publish/` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishRequest {
    pub items: Vec<PublishItem>,
}

/// Most bytes one publish body should carry: the embedded gateway takes up to 1,000,000, and a
/// catch-up published to one connection can be several MB.
pub const MAX_PUBLISH_BODY: usize = 512 * 1024;

impl PublishRequest {
    /// `items` as the bodies of consecutive publishes, in order, each at most `max_bytes` unless a
    /// single item is larger. Sent one after another, they keep the items' order.
    pub fn bodies(items: Vec<PublishItem>, max_bytes: usize) -> Vec<Vec<u8>> {
        // `{"items":[` + `]}` and a comma per item.
        const ENVELOPE: usize = 12;
        let mut bodies = Vec::new();
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut size = ENVELOPE;
        let mut flush = |batch: &mut Vec<Vec<u8>>| {
            if !batch.is_empty() {
                let mut body = br#"{"items":["#.to_vec();
                body.extend(batch.join(&b","[..]));
                body.extend(b"]}");
                bodies.push(body);
                batch.clear();
            }
        };
        for item in items {
            let encoded = serde_json::to_vec(&item).unwrap_or_default();
            if !batch.is_empty() && size + encoded.len() + 1 > max_bytes {
                flush(&mut batch);
                size = ENVELOPE;
            }
            size += encoded.len() + 1;
            batch.push(encoded);
        }
        flush(&mut batch);
        bodies
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishItem {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, rename = "prev-id", skip_serializing_if = "Option::is_none")]
    pub prev_id: Option<String>,
    /// Compared by filters: `skip-self` drops the item for the connection whose `User` meta equals
    /// `meta.sender`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    pub formats: Formats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Formats {
    #[serde(
        default,
        rename = "ws-message",
        skip_serializing_if = "Option::is_none"
    )]
    pub ws_message: Option<WsMessage>,
}

/// The `ws-message` format: a text or binary message, or an instruction to close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WsMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Base64 binary content.
    #[serde(
        default,
        rename = "content-bin",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_bin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PublishItem {
    /// A frame for every connection on `channel` but the sender's; `seq` orders the channel.
    pub fn relay(channel: String, seq: u64, sender: Option<&str>, frame: String) -> Self {
        Self {
            id: Some(seq.to_string()),
            prev_id: seq.checked_sub(1).filter(|p| *p > 0).map(|p| p.to_string()),
            meta: sender
                .map(|s| BTreeMap::from([("sender".to_string(), s.to_string())]))
                .unwrap_or_default(),
            ..Self::direct(channel, frame)
        }
    }

    /// A frame for every connection on `channel`, outside any sequence (e.g. one connection's own
    /// oversized catch-up chunk).
    pub fn direct(channel: String, frame: String) -> Self {
        Self::unsequenced(
            channel,
            WsMessage {
                content: Some(frame),
                ..WsMessage::default()
            },
        )
    }

    /// Closes every connection on `channel` with `code` and `reason`.
    pub fn close(channel: String, code: u16, reason: &str) -> Self {
        Self::unsequenced(
            channel,
            WsMessage {
                action: Some("close".into()),
                code: Some(code),
                reason: Some(reason.into()),
                ..WsMessage::default()
            },
        )
    }

    fn unsequenced(channel: String, message: WsMessage) -> Self {
        Self {
            channel,
            id: None,
            prev_id: None,
            meta: BTreeMap::new(),
            formats: Formats {
                ws_message: Some(message),
            },
        }
    }
}

impl WsMessage {
    pub fn is_close(&self) -> bool {
        self.action.as_deref() == Some("close")
    }
}

#[cfg(test)]
mod tests;
