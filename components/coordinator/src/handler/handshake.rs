//! The handshake (protocol.md §1): OPEN is answered with the subscriptions, WELCOME and the replay
//! of recent changes, or refused with an HTTP status and a JSON body.

use super::connection::Connection;
use super::reply::{EventsReply, Outcome, json_reply};
use super::{Coordinator, WsRequest, query_param};
use crate::store::{self, Since};
use protocol::app_report::AppReport;
use protocol::grip::{ControlMessage, SKIP_SELF, connection_channel, user_channel};
use protocol::server_frame as frames;
use protocol::ws_events::{Event, EventKind};
use serde_json::json;

impl Coordinator<'_> {
    pub(super) fn open(&self, request: &WsRequest<'_>) -> Outcome {
        let (Some(user_id), Some(token)) = (
            query_param(request.query, "userId"),
            query_param(request.query, "token"),
        ) else {
            return json_reply(400, json!({"error": "Missing userId or token"}));
        };
        // Two `Origin` headers: which one a browser sent is unknowable, so neither is believed.
        let origins: Vec<&str> = request.headers.all("origin").collect();
        if origins.len() > 1 {
            return json_reply(403, json!({"error": "More than one Origin header"}));
        }
        if !self.config.origin_allowed(origins.first().copied()) {
            return json_reply(403, json!({"error": "Origin not allowed"}));
        }
        let identity = match self.services.verify_user(&token) {
            Ok(identity) => identity,
            Err(_) => return json_reply(401, json!({"error": "Invalid or expired token"})),
        };
        if identity.user_id != user_id {
            return json_reply(403, json!({"error": "User ID mismatch"}));
        }
        match self.rate_limit_exclusively(&format!("connect:{user_id}"), 1, false) {
            Ok(decision) if !decision.allowed => {
                let refused = AppReport {
                    rate_limited: 1,
                    ..AppReport::default()
                };
                return json_reply(
                    429,
                    json!({"error": "Rate limit exceeded", "retryAfterMs": decision.retry_after_ms}),
                )
                .with_report(&refused);
            }
            Ok(_) => {}
            Err(error) => {
                return json_reply(
                    503,
                    json!({"error": format!("Rate limiter unavailable: {error}")}),
                );
            }
        }
        let stream = match store::ensure_stream(
            self.services.db(),
            &user_id,
            &self.services.new_epoch(),
            self.config.seq_base,
        ) {
            Ok(stream) => stream,
            Err(error) => {
                return json_reply(
                    503,
                    json!({"error": format!("Storage unavailable: {error}")}),
                );
            }
        };
        let connection_id = request
            .headers
            .get("connection-id")
            .unwrap_or_else(|| self.services.new_epoch());
        let evictions = match self.register(&user_id, &connection_id) {
            Ok(evictions) => evictions,
            Err(error) => {
                return json_reply(
                    503,
                    json!({"error": format!("Storage unavailable: {error}")}),
                );
            }
        };
        let mut reply = EventsReply::new();
        reply.events.push(Event::new(EventKind::Open));
        reply.publishes.extend(evictions);
        // The `user` meta that `skip-self` compares is set before subscribing, in the event stream
        // as well as in the headers: Pushpin evaluates filters against the meta it has when the
        // subscription is made.
        reply.events.push(
            ControlMessage::SetMeta {
                name: "user".into(),
                value: connection_id.clone(),
            }
            .to_event(),
        );
        for (channel, filters) in [
            (user_channel(&user_id), vec![SKIP_SELF.to_string()]),
            (connection_channel(&user_id, &connection_id), vec![]),
        ] {
            reply
                .events
                .push(ControlMessage::Subscribe { channel, filters }.to_event());
        }
        reply.send(frames::welcome(
            &frames::Welcome {
                connection_id: &connection_id,
                epoch: &stream.epoch,
                head_seq: stream.last_seq,
                token_expires_at: identity.expires_at,
            },
            &self.timestamp(),
        ));
        // A device that dropped less than 30 s ago reconnects without SYNC_REQUEST
        // (protocol.md §8): give it, before any live relay, what was committed meanwhile.
        let since = self.services.now_ms() - self.config.replay_window_ms;
        if let Some(head) = self.replay(
            &connection_id,
            &user_id,
            Since::CommittedAt(since),
            &mut reply,
        ) {
            reply.set_meta.push(("replayed".into(), head.to_string()));
        }
        // Last, a WebSocket ping, which every client's WebSocket stack answers: its PONG is this
        // connection's first request after its subscriptions exist. An eviction committed before
        // that request is caught by it (`check_registration`), one after it by the published
        // close, so even a silent socket cannot outlive the cap.
        reply.events.push(Event::new(EventKind::Ping));
        let now = self.services.now_ms().to_string();
        reply.set_meta.extend([
            ("user".to_string(), connection_id),
            ("user-id".to_string(), user_id),
            ("token-exp".to_string(), identity.expires_at.to_string()),
            ("opened".to_string(), now),
        ]);
        let opened = Connection {
            token_expires_at: identity.expires_at,
            ..Connection::default()
        };
        let follow_up = reply.follow_up_pending(false);
        reply.keep_alive_seconds =
            Some(opened.keep_alive_seconds(self.services.now_ms() / 1000, follow_up));
        reply.into_outcome()
    }
}
