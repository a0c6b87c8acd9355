//! The handshake (docs/protocol.md §1): OPEN is answered with the subscriptions, WELCOME and the replay
//! of recent changes, or refused with an HTTP status and a JSON body.

use super::catch_up;
use super::connection::Connection;
use super::registry::{self, Admission};
use super::reply::{EventsReply, Outcome, json_reply, storage_unavailable};
use super::request::{WsRequest, query_param};
use super::services::{Identity, Services};
use crate::config::Config;
use crate::store::{self, Since};
use protocol::app_metrics::AppReport;
use protocol::grip::{ControlMessage, SKIP_SELF, connection_channel, user_channel};
use protocol::server_frame as frames;
use protocol::ws_events::{Event, EventKind};
use serde_json::json;

/// OPEN: the connection is admitted, registered and subscribed, then welcomed with what it
/// missed.
pub(super) fn open(services: &dyn Services, config: &Config, request: &WsRequest<'_>) -> Outcome {
    let identity = match identify(services, config, request) {
        Ok(identity) => identity,
        Err(refusal) => return refusal,
    };
    let user_id = identity.user_id.as_str();
    let new_epoch = services.new_epoch();
    let stream = match store::ensure_stream(services.db(), user_id, &new_epoch, config.seq_base) {
        Ok(stream) => stream,
        Err(error) => return storage_unavailable(&error),
    };
    let connection_id = request
        .headers
        .get("connection-id")
        .unwrap_or_else(|| services.new_epoch());
    let evictions = match registry::admit(services, user_id, &connection_id) {
        Ok(Admission::Admitted(evictions)) => evictions,
        Ok(Admission::RateLimited(decision)) => {
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
        Ok(Admission::LimiterUnavailable(why)) => {
            return json_reply(
                503,
                json!({"error": format!("Rate limiter unavailable: {why}")}),
            );
        }
        Err(error) => return storage_unavailable(&error),
    };
    let mut reply = EventsReply::new();
    reply.events.push(Event::new(EventKind::Open));
    reply.publishes.extend(evictions);
    subscribe(user_id, &connection_id, &mut reply);
    reply.send(frames::welcome(
        &frames::Welcome {
            connection_id: &connection_id,
            epoch: &stream.epoch,
            head_seq: stream.last_seq,
            token_expires_at: identity.expires_at,
        },
        &services.timestamp(),
    ));
    // A device that dropped less than 30 s ago reconnects without SYNC_REQUEST
    // (docs/protocol.md §8): give it, before any live relay, what was committed meanwhile.
    let since = Since::CommittedAt(services.now_ms() - config.replay_window_ms);
    if let Some(head) = catch_up::replay(services, user_id, &connection_id, since, &mut reply) {
        reply.set_meta.push(("replayed".into(), head.to_string()));
    }
    // Last, a WebSocket ping, which every client's WebSocket stack answers: its PONG is this
    // connection's first request after its subscriptions exist. An eviction committed before
    // that request is caught by it (`registry::check_registration`), one after it by the
    // published close, so even a silent socket cannot outlive the cap.
    reply.events.push(Event::new(EventKind::Ping));
    reply.set_meta.extend([
        ("user".to_string(), connection_id),
        ("user-id".to_string(), identity.user_id.clone()),
        ("token-exp".to_string(), identity.expires_at.to_string()),
        ("opened".to_string(), services.now_ms().to_string()),
    ]);
    let opened = Connection {
        token_expires_at: identity.expires_at,
        ..Connection::default()
    };
    let follow_up = reply.follow_up_pending(false);
    reply.keep_alive_seconds = Some(opened.keep_alive_seconds(services.now_ms() / 1000, follow_up));
    reply.into_outcome()
}

/// The checks before anything is stored: the query names the user and carries its valid token,
/// and the origin is allowed. A refusal is the reply. (The connect rate is charged with the
/// registration: `registry::admit`.)
fn identify(
    services: &dyn Services,
    config: &Config,
    request: &WsRequest<'_>,
) -> Result<Identity, Outcome> {
    let (Some(user_id), Some(token)) = (
        query_param(request.query, "userId"),
        query_param(request.query, "token"),
    ) else {
        return Err(json_reply(400, json!({"error": "Missing userId or token"})));
    };
    // Two `Origin` headers: which one a browser sent is unknowable, so neither is believed.
    let origins: Vec<&str> = request.headers.all("origin").collect();
    if origins.len() > 1 {
        return Err(json_reply(
            403,
            json!({"error": "More than one Origin header"}),
        ));
    }
    if !config.origin_allowed(origins.first().copied()) {
        return Err(json_reply(403, json!({"error": "Origin not allowed"})));
    }
    let Ok(identity) = services.verify_user(&token) else {
        return Err(json_reply(
            401,
            json!({"error": "Invalid or expired token"}),
        ));
    };
    if identity.user_id != user_id {
        return Err(json_reply(403, json!({"error": "User ID mismatch"})));
    }
    Ok(identity)
}

/// Sets the `user` meta that `skip-self` compares, then subscribes to the user's channel (without
/// the connection's own relays) and to the connection's own. The meta goes in the event stream as
/// well as in the headers: Pushpin evaluates filters against the meta it has when the
/// subscription is made.
fn subscribe(user_id: &str, connection_id: &str, reply: &mut EventsReply) {
    reply.events.push(
        ControlMessage::SetMeta {
            name: "user".into(),
            value: connection_id.to_string(),
        }
        .to_event(),
    );
    for (channel, filters) in [
        (user_channel(user_id), vec![SKIP_SELF.to_string()]),
        (connection_channel(user_id, connection_id), vec![]),
    ] {
        reply
            .events
            .push(ControlMessage::Subscribe { channel, filters }.to_event());
    }
}
