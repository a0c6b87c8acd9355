//! Replies: a JSON HTTP reply (handshake refusals, `/broadcast`), or the events reply of a
//! WebSocket-over-HTTP request with its `Set-Meta-*` headers and the items to publish.

use crate::store::StoreError;
use protocol::app_metrics::{self, AppReport};
use protocol::grip::{PublishItem, connection_channel, message_event};
use protocol::ws_events::{self, Event};
use serde_json::{Value, json};

/// An HTTP reply.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub reply: Reply,
    pub publishes: Vec<PublishItem>,
}

impl Outcome {
    /// Adds `report` to the reply as its metrics header, for the host.
    pub fn with_report(mut self, report: &AppReport) -> Self {
        if !report.is_empty() {
            self.reply
                .headers
                .push((app_metrics::HEADER.to_string(), report.encode()));
        }
        self
    }
}

pub fn json_reply(status: u16, body: Value) -> Outcome {
    Outcome {
        reply: Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        },
        publishes: Vec::new(),
    }
}

/// The 503 of a request the database could not serve.
pub fn storage_unavailable(error: &StoreError) -> Outcome {
    json_reply(
        503,
        json!({"error": format!("Storage unavailable: {error}")}),
    )
}

/// Builds the events reply of a WebSocket-over-HTTP request.
pub struct EventsReply {
    pub events: Vec<Event>,
    pub set_meta: Vec<(String, String)>,
    pub publishes: Vec<PublishItem>,
    pub closed: bool,
    /// `Keep-Alive-Interval` for the gateway, when set.
    pub keep_alive_seconds: Option<u64>,
    /// Rate-limit refusals and catch-up sizes, for the host's metrics (closes are added from the
    /// events and publishes at the end).
    pub report: AppReport,
}

impl EventsReply {
    pub fn new() -> Self {
        Self {
            events: Vec::new(),
            set_meta: Vec::new(),
            publishes: Vec::new(),
            closed: false,
            keep_alive_seconds: None,
            report: AppReport::default(),
        }
    }

    pub fn send(&mut self, frame: String) {
        self.events.push(message_event(&frame));
    }

    pub fn close(&mut self, code: u16, reason: &str) {
        self.events.push(Event::close(code, reason));
        self.closed = true;
    }

    /// Queues `frames` in the reply, or — when one is too big for a reply body behind Pushpin
    /// 1.36 — publishes them all to the connection's own channel, in one ordered publish, so their
    /// order holds.
    pub fn send_all(&mut self, channel: (&str, &str), frames: Vec<String>, all_fit: bool) {
        if all_fit {
            for frame in frames {
                self.send(frame);
            }
        } else {
            let (user_id, connection_id) = channel;
            let channel = connection_channel(user_id, connection_id);
            self.publishes.extend(
                frames
                    .into_iter()
                    .map(|frame| PublishItem::direct(channel.clone(), frame)),
            );
        }
    }

    /// Whether the last `replayed` meta this reply sets leaves a follow-up replay to come.
    pub fn follow_up_pending(&self, before: bool) -> bool {
        self.set_meta
            .iter()
            .rev()
            .find(|(name, _)| name == "replayed")
            .map_or(before, |(_, head)| !head.is_empty())
    }

    pub fn into_outcome(mut self) -> Outcome {
        let own = self.events.iter().filter_map(|e| e.close_code());
        let others = self.publishes.iter().filter_map(|p| {
            let message = p.formats.ws_message.as_ref()?;
            message.is_close().then_some(message.code?)
        });
        let closes: Vec<u16> = own.map(|(code, _)| code).chain(others).collect();
        self.report.closes.extend(closes);
        let mut headers = vec![
            (
                "content-type".to_string(),
                ws_events::CONTENT_TYPE.to_string(),
            ),
            ("sec-websocket-extensions".to_string(), "grip".to_string()),
        ];
        if let Some(seconds) = self.keep_alive_seconds {
            headers.push(("keep-alive-interval".to_string(), seconds.to_string()));
        }
        headers.extend(
            self.set_meta
                .into_iter()
                .map(|(name, value)| (format!("set-meta-{name}"), value)),
        );
        Outcome {
            reply: Reply {
                status: 200,
                headers,
                body: ws_events::encode(&self.events),
            },
            publishes: self.publishes,
        }
        .with_report(&self.report)
    }
}
