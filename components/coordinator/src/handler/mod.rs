//! The coordinator's request logic (docs/protocol.md §1–§6) over a [`Services`] trait, so the component
//! stays a thin adapter and this code runs natively against fakes. Each call returns the reply and
//! the GRIP items to publish; the component publishes them before answering.
//!
//! [`Coordinator`]'s methods here are the entry points, and the only place that decides what runs
//! next; each concern is a module of functions that take what they use:
//!
//! - `handshake`: OPEN — checks, registration, subscriptions, WELCOME and the replay.
//! - `connection`: the state a connection keeps in the gateway's `Meta-*`, its expiry and its end.
//! - `gate`: the rate limit every client frame passes, and the violation count.
//! - `batch`: one transaction for all the mutations of a request.
//! - `mutations`: writing a change and answering it.
//! - `catch_up`: SYNC_REQUEST replies and the replays that carry no cursor.
//! - `registry`: the per-user connection cap.
//! - `broadcast`: `POST /broadcast`.
//! - `reply`: building replies; `request` and `services`: what a request and the host provide.

mod batch;
mod broadcast;
mod catch_up;
mod connection;
mod gate;
mod handshake;
mod mutations;
mod registry;
mod reply;
mod request;
mod services;
#[cfg(test)]
mod tests;

pub use reply::{Outcome, Reply, json_reply};
pub use request::{Headers, WsRequest};
pub use services::{Identity, RateDecision, RateVerdict, Services};

use crate::config::Config;
use crate::grip_sig::GripSigConfig;
use crate::store::{self, StoreError};
use batch::Batch;
use connection::Connection;
use protocol::client_frame::{self, ClientFrame, FrameError};
use protocol::close;
use protocol::server_frame as frames;
use protocol::ws_events::{self, Event, EventKind};
use reply::{EventsReply, storage_unavailable};
use serde_json::json;

pub struct Coordinator<'a> {
    pub services: &'a dyn Services,
    pub config: &'a Config,
    pub grip: Option<&'a GripSigConfig>,
}

/// A request of an open connection being answered: its state, the reply so far, and the
/// transaction its frames share while one is open.
struct Exchange {
    connection: Connection,
    reply: EventsReply,
    batch: Option<Batch>,
}

impl Coordinator<'_> {
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
        let migrated = store::migrate(self.services.db(), self.services.now_ms());
        if events.first().is_some_and(|e| e.kind == EventKind::Open) {
            return match migrated {
                Ok(()) => handshake::open(self.services, self.config, request),
                Err(error) => storage_unavailable(&error),
            };
        }
        // A live connection's request is answered even when the database is out of reach (the
        // migration logged why): a request that fails makes the gateway drop the socket, so each
        // frame gets its own `ERROR` below instead, and the device keeps its connection.
        let Some(connection) = Connection::from_request(request, self.grip, self.services) else {
            // Neither a trusted gateway nor a valid token: end the connection.
            let mut reply = EventsReply::new();
            reply.close(close::AUTHENTICATION, close::REASON_AUTHENTICATION_REQUIRED);
            return reply.into_outcome();
        };
        let mut exchange = Exchange {
            connection,
            reply: EventsReply::new(),
            batch: None,
        };
        self.admit(&events, &mut exchange);
        for event in events {
            if exchange.reply.closed {
                break;
            }
            self.event(event, &mut exchange);
        }
        self.finish(exchange)
    }

    /// `POST /broadcast` (docs/protocol.md §6).
    pub fn handle_broadcast(&self, headers: &Headers<'_>, body: &[u8]) -> Outcome {
        broadcast::handle(self.services, self.config, headers, body)
    }

    /// The user's registered connection ids, oldest first (for tests and diagnostics).
    pub fn connections(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        store::connections::list(self.services.db(), user_id)
    }

    /// Before the events: the connection must still hold its slot (unless it is only leaving) and
    /// its token must still be valid; then its frames share one transaction.
    fn admit(&self, events: &[Event], exchange: &mut Exchange) {
        let Exchange {
            connection, reply, ..
        } = exchange;
        let only_leaving = !events.is_empty()
            && events
                .iter()
                .all(|e| matches!(e.kind, EventKind::Close | EventKind::Disconnect));
        if !only_leaving {
            registry::check_registration(self.services, &connection.user_id, &connection.id, reply);
        }
        if !reply.closed {
            connection::check_expiry(self.services, connection, reply);
        }
        if !reply.closed {
            let frames = events.iter().filter(|e| e.kind == EventKind::Text).count();
            exchange.batch = Batch::begin(self.services, frames, reply);
        }
    }

    /// One event of the connection.
    fn event(&self, event: Event, exchange: &mut Exchange) {
        let Exchange {
            connection, reply, ..
        } = exchange;
        match event.kind {
            EventKind::Text => match event.as_text() {
                Some(text) => self.text(text, exchange),
                None => gate::invalid_utf8(self.services, connection, reply),
            },
            EventKind::Binary => {
                let error = FrameError::InvalidFormat("binary frame".into());
                gate::violation(self.services, connection, &error, reply);
            }
            EventKind::Ping => reply.events.push(Event {
                kind: EventKind::Pong,
                content: event.content,
            }),
            EventKind::Pong | EventKind::Open => {}
            EventKind::Close => {
                connection.ended(self.services.db());
                let (code, _) = event.close_code().unwrap_or((close::NORMAL, String::new()));
                reply.events.push(Event::close(code, ""));
                reply.closed = true;
            }
            EventKind::Disconnect => {
                connection.ended(self.services.db());
                reply.closed = true;
            }
        }
    }

    /// One client frame: parsed, charged against the user's message rate, then acted on.
    fn text(&self, text: &str, exchange: &mut Exchange) {
        let services = self.services;
        let Exchange {
            connection,
            reply,
            batch,
        } = exchange;
        let frame = match client_frame::parse(text) {
            Ok(frame) => frame,
            Err(error) => return gate::violation(services, connection, &error, reply),
        };
        let burst = self.config.rate_limit_burst;
        if !gate::charge(services, burst, connection, 1, batch.is_some(), reply) {
            return;
        }
        match frame {
            ClientFrame::Ping => reply.send(frames::pong(&services.timestamp())),
            ClientFrame::IgnoredBulk => {}
            ClientFrame::SyncRequest { last_seq, epoch } => {
                // A catch-up reads in its own transaction, after what came before it committed.
                if let Some(batch) = batch.take() {
                    batch.commit(services, reply);
                }
                let epoch = epoch.as_deref();
                catch_up::catch_up(services, self.config, connection, last_seq, epoch, reply)
            }
            ClientFrame::Mutation(mutation) => {
                let seq_base = self.config.seq_base;
                let batch = batch.as_mut();
                mutations::mutation(services, seq_base, connection, &mutation, batch, reply)
            }
            ClientFrame::Auth { token } => {
                connection::reauthenticate(services, connection, &token, reply)
            }
        }
    }

    /// After the events: the batch commits, a pending follow-up replay goes first in the reply,
    /// and the connection's state and next keep-alive go to the gateway.
    fn finish(&self, exchange: Exchange) -> Outcome {
        let Exchange {
            connection,
            mut reply,
            batch,
        } = exchange;
        if let Some(batch) = batch {
            batch.commit(self.services, &mut reply);
        }
        if let Some(head) = connection.replayed_through
            && !reply.closed
        {
            catch_up::follow_up_replay(self.services, &connection, head, &mut reply);
        }
        reply
            .set_meta
            .push(("violations".into(), connection.violations.to_string()));
        let follow_up = reply.follow_up_pending(connection.replayed_through.is_some());
        let now_s = self.services.now_ms() / 1000;
        reply.keep_alive_seconds = Some(connection.keep_alive_seconds(now_s, follow_up));
        reply.into_outcome()
    }
}
