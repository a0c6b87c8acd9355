//! The coordinator's request logic (protocol.md §1–§6) over a [`Services`] trait, so the component
//! stays a thin adapter and this file can run natively against fakes. Each call returns the reply
//! and the GRIP items to publish; the component publishes them before answering.

use crate::config::{
    Config, EVENT_RETENTION_MS, EXPIRY_GRACE_SECONDS, EXPIRY_WARNING_SECONDS, KEEP_ALIVE_SECONDS,
    MAX_CONNECTIONS_PER_USER, MAX_VIOLATIONS, SUBSCRIPTION_SETTLE_MS,
};
use crate::grip_sig::GripSigConfig;
use crate::sql::Sql;
use crate::store::{self, Applied, Since};
use protocol::catch_up::{self, Numbering};
use protocol::client_frame::{self, ClientFrame, FrameError, Mutation};
use protocol::grip::{
    ControlMessage, PublishItem, SKIP_SELF, connection_channel, message_event, user_channel,
};
use protocol::server_frame as frames;
use protocol::timestamp::iso8601_from_millis;
use protocol::ws_events::{self, Event, EventKind};
use serde_json::{Value, json};

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
    fn kv_get(&self, key: &str) -> Option<Vec<u8>>;
    fn kv_set(&self, key: &str, value: &[u8]);
    fn now_ms(&self) -> i64;
    /// A fresh, unique epoch name for a new stream.
    fn new_epoch(&self) -> String;
}

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

fn json_reply(status: u16, body: Value) -> Outcome {
    Outcome {
        reply: Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        },
        publishes: Vec::new(),
    }
}

/// What a WebSocket-over-HTTP request carries.
pub struct WsRequest<'a> {
    pub query: &'a str,
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// Connection state kept in the gateway as `Meta-*`.
#[derive(Debug, Default)]
struct Connection {
    id: String,
    user_id: String,
    token_expires_at: i64,
    warned: bool,
    violations: u32,
    /// When the registry last heard of this connection (ms); 0 when unknown.
    seen_at: i64,
    /// The stream head when the last replay was read, until the follow-up replays are done.
    replayed_through: Option<u64>,
    /// When the connection opened (ms); 0 when unknown.
    opened_at: i64,
}

/// Builds the events reply of a WebSocket-over-HTTP request.
struct EventsReply {
    events: Vec<Event>,
    set_meta: Vec<(String, String)>,
    publishes: Vec<PublishItem>,
    closed: bool,
}

impl EventsReply {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            set_meta: Vec::new(),
            publishes: Vec::new(),
            closed: false,
        }
    }

    fn send(&mut self, frame: String) {
        self.events.push(message_event(&frame));
    }

    fn close(&mut self, code: u16, reason: &str) {
        self.events.push(Event::close(code, reason));
        self.closed = true;
    }

    fn into_outcome(self) -> Outcome {
        let mut headers = vec![
            (
                "content-type".to_string(),
                ws_events::CONTENT_TYPE.to_string(),
            ),
            ("sec-websocket-extensions".to_string(), "grip".to_string()),
        ];
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
    }
}

pub struct Coordinator<'a> {
    pub services: &'a dyn Services,
    pub config: &'a Config,
    pub grip: Option<&'a GripSigConfig>,
}

const REGISTRY_PREFIX: &str = "connections:";

impl Coordinator<'_> {
    fn timestamp(&self) -> String {
        iso8601_from_millis(self.services.now_ms())
    }

    fn now_seconds(&self) -> i64 {
        self.services.now_ms() / 1000
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
            reply.close(4001, "authentication required");
            return reply.into_outcome();
        };
        let mut reply = EventsReply::new();
        // Refresh the registry entry at most once a keep-alive interval, busy or idle, so a live
        // connection is never mistaken for a crashed gateway's leftover.
        let now = self.services.now_ms();
        if now - connection.seen_at >= KEEP_ALIVE_SECONDS as i64 * 1000 {
            self.touch_registry(&connection);
            reply.set_meta.push(("seen".into(), now.to_string()));
        }
        self.check_expiry(&mut connection, &mut reply);
        for event in events {
            if reply.closed {
                break;
            }
            match event.kind {
                EventKind::Text => match event.as_text() {
                    Some(text) => self.text(&mut connection, text, &mut reply),
                    None => self.violation(&mut connection, &FrameError::InvalidJson, &mut reply),
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
                    let (code, _) = event.close_code().unwrap_or((1000, String::new()));
                    reply.events.push(Event::close(code, ""));
                    reply.closed = true;
                }
                EventKind::Disconnect => {
                    self.unregister(&connection);
                    reply.closed = true;
                }
            }
        }
        if let Some(head) = connection.replayed_through
            && !reply.closed
        {
            self.follow_up_replay(&connection, head, &mut reply);
        }
        reply
            .set_meta
            .push(("violations".into(), connection.violations.to_string()));
        reply.into_outcome()
    }

    /// Behind Pushpin the OPEN reply's subscriptions become active a moment after the reply, so a
    /// relay published in between never reaches the device. Until [`SUBSCRIPTION_SETTLE_MS`] after
    /// OPEN, each request also replays what was committed since the last replay; the first request
    /// after it (a client frame or the gateway's keep-alive) does so a last time. The read follows
    /// this request's own writes (so it never shows the device an entity it has just deleted as
    /// live), and its frames go first in the reply, before anything the events produced.
    fn follow_up_replay(&self, connection: &Connection, head: u64, reply: &mut EventsReply) {
        let mut replayed = EventsReply::new();
        let Some(new_head) = self.replay(
            &connection.id,
            &connection.user_id,
            Since::Seq(head),
            &mut replayed,
        ) else {
            return;
        };
        reply.events.splice(0..0, replayed.events);
        reply.publishes.splice(0..0, replayed.publishes);
        let settled = self.services.now_ms() - connection.opened_at >= SUBSCRIPTION_SETTLE_MS;
        let meta = if settled {
            String::new()
        } else {
            new_head.to_string()
        };
        reply.set_meta.push(("replayed".into(), meta));
    }

    /// The handshake (protocol.md §1): every refusal is an HTTP status with a JSON body.
    fn open(&self, request: &WsRequest<'_>) -> Outcome {
        let (Some(user_id), Some(token)) = (
            query_param(request.query, "userId"),
            query_param(request.query, "token"),
        ) else {
            return json_reply(400, json!({"error": "Missing userId or token"}));
        };
        if !self
            .config
            .origin_allowed((request.header)("origin").as_deref())
        {
            return json_reply(403, json!({"error": "Origin not allowed"}));
        }
        let identity = match self.services.verify_user(&token) {
            Ok(identity) => identity,
            Err(_) => return json_reply(401, json!({"error": "Invalid or expired token"})),
        };
        if identity.user_id != user_id {
            return json_reply(403, json!({"error": "User ID mismatch"}));
        }
        match self.services.rate_limit(&format!("connect:{user_id}"), 1) {
            Ok(decision) if !decision.allowed => {
                return json_reply(
                    429,
                    json!({"error": "Rate limit exceeded", "retryAfterMs": decision.retry_after_ms}),
                );
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
        let connection_id =
            (request.header)("connection-id").unwrap_or_else(|| self.services.new_epoch());
        let mut reply = EventsReply::new();
        reply.events.push(Event::new(EventKind::Open));
        reply
            .publishes
            .extend(self.register(&user_id, &connection_id));
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
            (connection_channel(&connection_id), vec![]),
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
        reply.set_meta.extend([
            ("user".to_string(), connection_id),
            ("user-id".to_string(), user_id),
            ("token-exp".to_string(), identity.expires_at.to_string()),
            ("seen".to_string(), self.services.now_ms().to_string()),
            ("opened".to_string(), self.services.now_ms().to_string()),
        ]);
        let mut outcome = reply.into_outcome();
        outcome
            .reply
            .headers
            .push(("keep-alive-interval".into(), KEEP_ALIVE_SECONDS.to_string()));
        outcome
    }

    /// The connection's state: from `Meta-*` when `Grip-Sig` verifies, else from the token in the
    /// query (replayed on every request), verified again.
    fn connection(&self, request: &WsRequest<'_>) -> Option<Connection> {
        let header = request.header;
        let id = header("connection-id").or_else(|| header("meta-user"))?;
        let trusted = self
            .grip
            .is_some_and(|grip| grip.verify(header("grip-sig").as_deref()).is_ok());
        if trusted
            && let (Some(user_id), Some(exp)) = (header("meta-user-id"), header("meta-token-exp"))
        {
            return Some(Connection {
                id,
                user_id,
                token_expires_at: exp.parse().unwrap_or(0),
                warned: header("meta-warned").is_some_and(|w| w == "1"),
                violations: header("meta-violations")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                seen_at: header("meta-seen")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                replayed_through: header("meta-replayed").and_then(|v| v.parse().ok()),
                opened_at: header("meta-opened")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            });
        }
        let token = query_param(request.query, "token")?;
        let identity = self.services.verify_user(&token).ok()?;
        (query_param(request.query, "userId")? == identity.user_id).then(|| Connection {
            id,
            user_id: identity.user_id,
            token_expires_at: identity.expires_at,
            ..Connection::default()
        })
    }

    fn check_expiry(&self, connection: &mut Connection, reply: &mut EventsReply) {
        let now = self.now_seconds();
        if now > connection.token_expires_at + EXPIRY_GRACE_SECONDS {
            self.unregister(connection);
            reply.close(4001, "token expired");
        } else if now >= connection.token_expires_at - EXPIRY_WARNING_SECONDS && !connection.warned
        {
            connection.warned = true;
            reply.send(frames::auth_expiring(
                connection.token_expires_at,
                &self.timestamp(),
            ));
            reply.set_meta.push(("warned".into(), "1".into()));
        }
    }

    fn violation(&self, connection: &mut Connection, error: &FrameError, reply: &mut EventsReply) {
        reply.send(frames::error(
            &error.to_string(),
            error.code(),
            None,
            &self.timestamp(),
        ));
        if *error == FrameError::TooLarge {
            reply.close(1009, "message too large");
            return;
        }
        self.count_violation(connection, reply);
    }

    fn count_violation(&self, connection: &mut Connection, reply: &mut EventsReply) {
        connection.violations += 1;
        if connection.violations > MAX_VIOLATIONS {
            self.unregister(connection);
            reply.close(1008, "policy violation");
        }
    }

    fn text(&self, connection: &mut Connection, text: &str, reply: &mut EventsReply) {
        let frame = match client_frame::parse(text) {
            Ok(frame) => frame,
            Err(error) => return self.violation(connection, &error, reply),
        };
        match frame {
            ClientFrame::Ping => reply.send(frames::pong(&self.timestamp())),
            ClientFrame::IgnoredBulk => {}
            ClientFrame::SyncRequest { last_seq, epoch } => {
                self.catch_up(connection, last_seq, epoch.as_deref(), reply)
            }
            ClientFrame::Mutation(mutation) => self.mutation(connection, &mutation, reply),
            ClientFrame::Auth { token } => match self.services.verify_user(&token) {
                Ok(identity) if identity.user_id == connection.user_id => {
                    connection.token_expires_at = identity.expires_at;
                    reply.send(frames::auth_ok(identity.expires_at, &self.timestamp()));
                    reply.set_meta.extend([
                        ("token-exp".into(), identity.expires_at.to_string()),
                        ("warned".into(), String::new()),
                    ]);
                }
                _ => {
                    reply.send(frames::error(
                        "Invalid or expired token",
                        "AUTH_FAILED",
                        None,
                        &self.timestamp(),
                    ));
                    self.unregister(connection);
                    reply.close(4001, "token expired");
                }
            },
        }
    }

    fn catch_up(
        &self,
        connection: &Connection,
        last_seq: Option<u64>,
        epoch: Option<&str>,
        reply: &mut EventsReply,
    ) {
        let timestamp = self.timestamp();
        let db = self.services.db();
        let stream = match store::ensure_stream(
            db,
            &connection.user_id,
            &self.services.new_epoch(),
            self.config.seq_base,
        ) {
            Ok(stream) => stream,
            Err(_) => {
                return reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    "STORAGE_UNAVAILABLE",
                    None,
                    &timestamp,
                ));
            }
        };
        let cursor = last_seq.unwrap_or(0);
        let resync = epoch.is_some_and(|e| e != stream.epoch) || cursor > stream.last_seq;
        let from = if resync { 0 } else { cursor };
        let (head, rows) = match store::changes_since(db, &connection.user_id, Since::Seq(from)) {
            Ok(read) => read,
            Err(_) => {
                return reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    "STORAGE_UNAVAILABLE",
                    None,
                    &timestamp,
                ));
            }
        };
        let head = head.map_or(stream.last_seq, |h| h.last_seq);
        let mut frames_out = Vec::new();
        if resync {
            frames_out.push(frames::resync_required(head, &stream.epoch, &timestamp));
        }
        let chunks = catch_up::frames(&rows, Numbering::Cursor, &timestamp);
        let all_fit = chunks.iter().all(|chunk| chunk.fits_reply);
        frames_out.extend(chunks.into_iter().map(|chunk| chunk.text));
        let message = if rows.is_empty() {
            frames::NO_NEW_DATA
        } else {
            frames::SYNC_COMPLETE
        };
        frames_out.push(frames::sync_response(message, head, &timestamp));
        send_frames(&connection.id, frames_out, all_fit, reply);
    }

    /// Sends `user`'s changes `since` as a replay: the catch-up's frames without the numbers that
    /// move the Mirubato client's cursor (docs/delivery.md). Returns the stream head as read, or
    /// `None` when storage failed (the device then relies on its own catch-ups).
    fn replay(
        &self,
        connection_id: &str,
        user_id: &str,
        since: Since,
        reply: &mut EventsReply,
    ) -> Option<u64> {
        let (head, rows) = match store::changes_since(self.services.db(), user_id, since) {
            Ok(read) => read,
            Err(error) => {
                eprintln!("coordinator: replay read failed: {error}");
                return None;
            }
        };
        let chunks = catch_up::frames(&rows, Numbering::Replay, &self.timestamp());
        let all_fit = chunks.iter().all(|chunk| chunk.fits_reply);
        let texts = chunks.into_iter().map(|chunk| chunk.text).collect();
        send_frames(connection_id, texts, all_fit, reply);
        Some(head.map_or(0, |stream| stream.last_seq))
    }

    fn mutation(&self, connection: &mut Connection, mutation: &Mutation, reply: &mut EventsReply) {
        let timestamp = self.timestamp();
        if mutation
            .user_id
            .as_ref()
            .is_some_and(|u| *u != connection.user_id)
        {
            reply.send(frames::error(
                frames::USER_ID_MISMATCH,
                "USER_ID_MISMATCH",
                None,
                &timestamp,
            ));
            return self.count_violation(connection, reply);
        }
        match self
            .services
            .rate_limit(&format!("messages:{}", connection.user_id), 1)
        {
            Ok(decision) if !decision.allowed => {
                reply.send(frames::error(
                    frames::RATE_LIMIT_EXCEEDED,
                    "RATE_LIMITED",
                    Some(decision.retry_after_ms),
                    &timestamp,
                ));
                return self.count_violation(connection, reply);
            }
            Ok(_) => {}
            Err(_) => {
                return reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    "RATE_LIMITER_UNAVAILABLE",
                    None,
                    &timestamp,
                ));
            }
        }
        let relay = self.apply(&connection.user_id, Some(&connection.id), mutation, reply);
        reply.publishes.extend(relay);
    }

    /// Applies one mutation; queues the sender's answer on `reply` (if any) and returns the relay.
    fn apply(
        &self,
        user_id: &str,
        sender: Option<&str>,
        mutation: &Mutation,
        reply: &mut EventsReply,
    ) -> Option<PublishItem> {
        let timestamp = self.timestamp();
        let now = self.services.now_ms();
        match store::apply(
            self.services.db(),
            user_id,
            mutation,
            &self.services.new_epoch(),
            self.config.seq_base,
            now,
        ) {
            Ok(Applied::Committed { seq }) => {
                reply.send(frames::mutation_ack(
                    seq,
                    mutation.event_id.as_deref(),
                    false,
                    &timestamp,
                ));
                if seq % 1000 == 0 {
                    let _ =
                        store::prune_applied_events(self.services.db(), now - EVENT_RETENTION_MS);
                }
                Some(PublishItem::relay(
                    user_channel(user_id),
                    seq,
                    sender,
                    mutation.relay_frame(seq, &timestamp),
                ))
            }
            Ok(Applied::Duplicate { seq }) => {
                reply.send(frames::mutation_ack(
                    seq,
                    mutation.event_id.as_deref(),
                    true,
                    &timestamp,
                ));
                None
            }
            Ok(Applied::Conflict {
                entity_type,
                entity_id,
                current,
                seq,
            }) => {
                reply.send(frames::conflict(
                    entity_type,
                    &entity_id,
                    &current,
                    seq,
                    &timestamp,
                ));
                None
            }
            Err(_) => {
                reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    "WRITE_FAILED",
                    None,
                    &timestamp,
                ));
                None
            }
        }
    }

    // --- connection registry (key-value) ---

    fn registry(&self, user_id: &str) -> Vec<(String, i64)> {
        self.services
            .kv_get(&format!("{REGISTRY_PREFIX}{user_id}"))
            .and_then(|bytes| serde_json::from_slice::<Vec<(String, i64)>>(&bytes).ok())
            .unwrap_or_default()
    }

    fn save_registry(&self, user_id: &str, entries: &[(String, i64)]) {
        let bytes = serde_json::to_vec(entries).unwrap_or_default();
        self.services
            .kv_set(&format!("{REGISTRY_PREFIX}{user_id}"), &bytes);
    }

    /// Adds a connection, forgetting entries not seen for three keep-alive intervals (a crashed
    /// gateway's) and closing the oldest beyond the per-user limit.
    fn register(&self, user_id: &str, connection_id: &str) -> Vec<PublishItem> {
        let now = self.services.now_ms();
        let stale_before = now - 3 * KEEP_ALIVE_SECONDS as i64 * 1000;
        let mut entries: Vec<(String, i64)> = self
            .registry(user_id)
            .into_iter()
            .filter(|(_, seen)| *seen >= stale_before)
            .collect();
        entries.retain(|(id, _)| id != connection_id);
        entries.push((connection_id.to_string(), now));
        let mut closes = Vec::new();
        while entries.len() > MAX_CONNECTIONS_PER_USER {
            let (oldest, _) = entries.remove(0);
            closes.push(PublishItem::close(
                connection_channel(&oldest),
                4002,
                "too many connections",
            ));
        }
        self.save_registry(user_id, &entries);
        closes
    }

    fn touch_registry(&self, connection: &Connection) {
        let mut entries = self.registry(&connection.user_id);
        let now = self.services.now_ms();
        match entries.iter_mut().find(|(id, _)| *id == connection.id) {
            Some(entry) => entry.1 = now,
            None => entries.push((connection.id.clone(), now)),
        }
        self.save_registry(&connection.user_id, &entries);
    }

    fn unregister(&self, connection: &Connection) {
        let mut entries = self.registry(&connection.user_id);
        let before = entries.len();
        entries.retain(|(id, _)| *id != connection.id);
        if entries.len() != before {
            self.save_registry(&connection.user_id, &entries);
        }
    }

    /// The user's registered connection ids (for tests and diagnostics).
    pub fn connections(&self, user_id: &str) -> Vec<String> {
        self.registry(user_id)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    // --- /broadcast ---

    /// `POST /broadcast` (protocol.md §6).
    pub fn handle_broadcast(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Outcome {
        let bearer = header("authorization")
            .and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
        let authorized = match bearer {
            Some(token) => self.services.verify_broadcast(&token).is_ok(),
            None => {
                self.config.allow_legacy_broadcast_auth
                    && !self.config.jwt_secret.is_empty()
                    && header("x-worker-auth").is_some_and(|given| {
                        constant_time_eq(given.as_bytes(), self.config.jwt_secret.as_bytes())
                    })
            }
        };
        if !authorized {
            return json_reply(401, json!({"error": "Unauthorized"}));
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return json_reply(400, json!({"error": "Invalid JSON format"}));
        };
        let (Some(user_id), Some(events)) = (
            request.get("userId").and_then(Value::as_str),
            request.get("events").and_then(Value::as_array),
        ) else {
            return json_reply(400, json!({"error": "Body needs userId and events[]"}));
        };
        if let Err(error) = store::migrate(self.services.db(), self.services.now_ms()) {
            return json_reply(
                503,
                json!({"error": format!("Storage unavailable: {error}")}),
            );
        }
        let mut mutations = Vec::new();
        for event in events {
            let mut event = event.clone();
            if let Some(object) = event.as_object_mut() {
                object
                    .entry("timestamp")
                    .or_insert_with(|| Value::String(self.timestamp()));
            }
            match client_frame::parse(&event.to_string()) {
                Ok(ClientFrame::Mutation(m)) if m.kind.as_str().starts_with("PLAN_") => {
                    mutations.push(m)
                }
                _ => return json_reply(400, json!({"error": "events must be PLAN_* frames"})),
            }
        }
        let mut scratch = EventsReply::new();
        let mut publishes = Vec::new();
        for mutation in &mutations {
            publishes.extend(self.apply(user_id, None, mutation, &mut scratch));
        }
        if scratch.events.iter().any(|e| {
            e.as_text()
                .is_some_and(|t| t.contains(frames::SYNC_WRITE_FAILED))
        }) {
            let mut outcome = json_reply(500, json!({"error": frames::SYNC_WRITE_FAILED}));
            outcome.publishes = publishes;
            return outcome;
        }
        let mut outcome = json_reply(200, json!({"success": true, "delivered": publishes.len()}));
        outcome.publishes = publishes;
        outcome
    }
}

/// Queues `frames` in the reply, or — when one is too big for a reply body behind Pushpin 1.36 —
/// publishes them all to the connection's own channel, in one ordered publish, so their order holds.
fn send_frames(connection_id: &str, frames: Vec<String>, all_fit: bool, reply: &mut EventsReply) {
    if all_fit {
        for frame in frames {
            reply.send(frame);
        }
    } else {
        let channel = connection_channel(connection_id);
        reply.publishes.extend(
            frames
                .into_iter()
                .map(|frame| PublishItem::direct(channel.clone(), frame)),
        );
    }
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(index % b.len().max(1)).copied().unwrap_or(0));
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_db::Db;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// Services with a clock the test moves, an in-memory key-value store, and tokens of the
    /// form `user:<id>` that never expire.
    struct Fake {
        db: Db,
        kv: RefCell<HashMap<String, Vec<u8>>>,
        now: Cell<i64>,
        epochs: Cell<u64>,
    }

    impl Fake {
        fn new(dir: &std::path::Path) -> Self {
            Fake {
                db: Db::open(&dir.join("sync.db")),
                kv: RefCell::default(),
                now: Cell::new(1_000_000_000),
                epochs: Cell::new(0),
            }
        }
    }

    impl Services for Fake {
        fn db(&self) -> &dyn Sql {
            &self.db
        }
        fn verify_user(&self, token: &str) -> Result<Identity, String> {
            let user = token.strip_prefix("user:").ok_or("bad token")?;
            Ok(Identity {
                user_id: user.to_string(),
                expires_at: i64::MAX / 2,
            })
        }
        fn verify_broadcast(&self, _: &str) -> Result<(), String> {
            Err("not in this test".into())
        }
        fn rate_limit(&self, _: &str, _: u32) -> Result<RateDecision, String> {
            Ok(RateDecision {
                allowed: true,
                retry_after_ms: 0,
            })
        }
        fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
            self.kv.borrow().get(key).cloned()
        }
        fn kv_set(&self, key: &str, value: &[u8]) {
            self.kv.borrow_mut().insert(key.to_string(), value.to_vec());
        }
        fn now_ms(&self) -> i64 {
            self.now.get()
        }
        fn new_epoch(&self) -> String {
            self.epochs.set(self.epochs.get() + 1);
            format!("epoch-{}", self.epochs.get())
        }
    }

    fn open(coordinator: &Coordinator<'_>, connection_id: &str) -> Outcome {
        let header = |name: &str| (name == "connection-id").then(|| connection_id.to_string());
        coordinator.handle_ws(&WsRequest {
            query: "userId=alice&token=user:alice",
            header: &header,
            body: b"OPEN\r\n",
        })
    }

    fn closes(outcome: &Outcome) -> Vec<String> {
        outcome
            .publishes
            .iter()
            .filter(|p| p.formats.ws_message.as_ref().is_some_and(|m| m.is_close()))
            .map(|p| p.channel.clone())
            .collect()
    }

    #[test]
    fn a_crashed_gateways_connections_expire_from_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(dir.path());
        let config = Config::from_variables(|_| None).unwrap();
        let coordinator = Coordinator {
            services: &fake,
            config: &config,
            grip: None,
        };
        for n in 0..MAX_CONNECTIONS_PER_USER {
            assert_eq!(open(&coordinator, &format!("c{n}")).reply.status, 200);
        }
        // Still fresh: one more closes the oldest with 4002.
        fake.now.set(fake.now.get() + 10_000);
        assert_eq!(closes(&open(&coordinator, "c10")), ["connection:c0"]);
        assert_eq!(
            coordinator.connections("alice").len(),
            MAX_CONNECTIONS_PER_USER
        );
        // Nothing heard from any of them for three keep-alive intervals (their gateway died):
        // they no longer hold slots, and a new connection closes nobody.
        fake.now
            .set(fake.now.get() + 3 * KEEP_ALIVE_SECONDS as i64 * 1000 + 1);
        assert!(closes(&open(&coordinator, "fresh")).is_empty());
        assert_eq!(coordinator.connections("alice"), ["fresh"]);
    }

    #[test]
    fn an_open_without_a_user_or_token_is_a_400_and_registers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(dir.path());
        let config = Config::from_variables(|_| None).unwrap();
        let coordinator = Coordinator {
            services: &fake,
            config: &config,
            grip: None,
        };
        let header = |_: &str| None;
        let outcome = coordinator.handle_ws(&WsRequest {
            query: "userId=alice",
            header: &header,
            body: b"OPEN\r\n",
        });
        assert_eq!(outcome.reply.status, 400);
        assert_eq!(
            String::from_utf8(outcome.reply.body).unwrap(),
            r#"{"error":"Missing userId or token"}"#
        );
        assert!(coordinator.connections("alice").is_empty());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret-value", b"secret-value"));
        assert!(!constant_time_eq(b"secret-valuf", b"secret-value"));
        assert!(!constant_time_eq(b"secret", b"secret-value"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("userId=u%201&token=a.b.c", "userId").as_deref(),
            Some("u 1")
        );
        assert_eq!(query_param("userId=&token=t", "userId"), None);
        assert_eq!(query_param("token=t", "userId"), None);
    }
}
