//! The coordinator's request logic (protocol.md §1–§6) over a [`Services`] trait, so the component
//! stays a thin adapter and this code runs natively against fakes. Each call returns the reply and
//! the GRIP items to publish; the component publishes them before answering.
//!
//! - `handshake`: OPEN — checks, registration, subscriptions, WELCOME and the replay.
//! - `connection`: the state a connection keeps in the gateway's `Meta-*`, expiry, violations and
//!   the rate-limit gate every client frame passes.
//! - `catch_up`: SYNC_REQUEST replies and the replays that carry no cursor.
//! - `mutations`: writing a change and answering it.
//! - `registry`: the per-user connection cap.
//! - `broadcast`: `POST /broadcast`.
//! - `reply`: building replies.

mod batch;
mod broadcast;
mod catch_up;
mod connection;
mod handshake;
mod mutations;
mod registry;
mod reply;
#[cfg(test)]
mod tests;

pub use reply::{Outcome, Reply};

use crate::config::Config;
use crate::grip_sig::GripSigConfig;
use crate::sql::Sql;
use crate::store;
use connection::Connection;
use protocol::client_frame::{self, ClientFrame, FrameError};
use protocol::close;
use protocol::server_frame as frames;
use protocol::timestamp::iso8601_from_millis;
use protocol::ws_events::{self, Event, EventKind};
use reply::{EventsReply, json_reply};
use serde_json::json;

/// A verified user token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub retry_after_ms: u64,
}

/// Everything the coordinator needs from its host.
pub trait Services {
    fn db(&self) -> &dyn Sql;
    fn verify_user(&self, token: &str) -> Result<Identity, String>;
    fn verify_broadcast(&self, token: &str) -> Result<(), String>;
    fn rate_limit(&self, key: &str, cost: u32) -> Result<RateDecision, String>;
    fn now_ms(&self) -> i64;
    /// A fresh, unguessable name (a new stream's epoch, a connection id when the gateway gave
    /// none).
    fn new_epoch(&self) -> String;
}

/// An HTTP request's headers as they arrived: lowercase names, repeats kept in order.
pub struct Headers<'a>(pub &'a [(String, String)]);

impl Headers<'_> {
    /// The first value of `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<String> {
        self.all(name).next().map(str::to_string)
    }

    /// The first value of `name` (lowercase), parsed; `None` when absent or unparsable.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.all(name).next()?.parse().ok()
    }

    /// Every value of `name` (lowercase), in order.
    pub fn all<'b>(&'b self, name: &'b str) -> impl Iterator<Item = &'b str> + 'b {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a WebSocket-over-HTTP request carries.
pub struct WsRequest<'a> {
    pub query: &'a str,
    pub headers: Headers<'a>,
    pub body: &'a [u8],
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub struct Coordinator<'a> {
    pub services: &'a dyn Services,
    pub config: &'a Config,
    pub grip: Option<&'a GripSigConfig>,
}

impl Coordinator<'_> {
    fn timestamp(&self) -> String {
        iso8601_from_millis(self.services.now_ms())
    }

    /// `/sync/ws`: one WebSocket-over-HTTP request.
    pub fn handle_ws(&self, request: &WsRequest<'_>) -> Outcome {
        let events = match ws_events::decode(request.body) {
            Ok(events) => events,
            Err(error) => {
                return json_reply(
                    400,
                    json!({"error": format!("Invalid websocket-events body: {error}")}),
                );
            }
        };
        if let Err(error) = store::migrate(self.services.db(), self.services.now_ms()) {
            return json_reply(
                503,
                json!({"error": format!("Storage unavailable: {error}")}),
            );
        }
        if events.first().is_some_and(|e| e.kind == EventKind::Open) {
            return self.open(request);
        }
        let Some(mut connection) = self.connection(request) else {
            // Neither a trusted gateway nor a valid token: end the connection.
            let mut reply = EventsReply::new();
            reply.close(close::AUTHENTICATION, close::REASON_AUTHENTICATION_REQUIRED);
            return reply.into_outcome();
        };
        let mut reply = EventsReply::new();
        let only_leaving = !events.is_empty()
            && events
                .iter()
                .all(|e| matches!(e.kind, EventKind::Close | EventKind::Disconnect));
        if !only_leaving {
            self.check_registration(&connection, &mut reply);
        }
        if !reply.closed {
            self.check_expiry(&mut connection, &mut reply);
        }
        if !reply.closed {
            let frames = events.iter().filter(|e| e.kind == EventKind::Text).count();
            self.begin_batch(frames, &mut reply);
        }
        for event in events {
            if reply.closed {
                break;
            }
            match event.kind {
                EventKind::Text => match event.as_text() {
                    Some(text) => self.text(&mut connection, text, &mut reply),
                    None => self.invalid_utf8(&connection, &mut reply),
                },
                EventKind::Binary => self.violation(
                    &mut connection,
                    &FrameError::InvalidFormat("binary frame".into()),
                    &mut reply,
                ),
                EventKind::Ping => reply.events.push(Event {
                    kind: EventKind::Pong,
                    content: event.content,
                }),
                EventKind::Pong | EventKind::Open => {}
                EventKind::Close => {
                    self.unregister(&connection);
                    let (code, _) = event.close_code().unwrap_or((close::NORMAL, String::new()));
                    reply.events.push(Event::close(code, ""));
                    reply.closed = true;
                }
                EventKind::Disconnect => {
                    self.unregister(&connection);
                    reply.closed = true;
                }
            }
        }
        self.end_batch(&mut reply);
        if let Some(head) = connection.replayed_through
            && !reply.closed
        {
            self.follow_up_replay(&connection, head, &mut reply);
        }
        reply
            .set_meta
            .push(("violations".into(), connection.violations.to_string()));
        let follow_up = reply.follow_up_pending(connection.replayed_through.is_some());
        reply.keep_alive_seconds =
            Some(connection.keep_alive_seconds(self.services.now_ms() / 1000, follow_up));
        reply.into_outcome()
    }

    /// One client frame: parsed, charged against the user's message rate, then acted on.
    fn text(&self, connection: &mut Connection, text: &str, reply: &mut EventsReply) {
        let frame = match client_frame::parse(text) {
            Ok(frame) => frame,
            Err(error) => return self.violation(connection, &error, reply),
        };
        if !self.charge(connection, 1, reply) {
            return;
        }
        match frame {
            ClientFrame::Ping => reply.send(frames::pong(&self.timestamp())),
            ClientFrame::IgnoredBulk => {}
            ClientFrame::SyncRequest { last_seq, epoch } => {
                // A catch-up reads in its own transaction, after what came before it committed.
                self.end_batch(reply);
                self.catch_up(connection, last_seq, epoch.as_deref(), reply)
            }
            ClientFrame::Mutation(mutation) => self.mutation(connection, &mutation, reply),
            ClientFrame::Auth { token } => self.reauthenticate(connection, &token, reply),
        }
    }
}
