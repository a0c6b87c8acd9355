//! A connection's state between requests (kept in the gateway as `Meta-*`, believed only under a
//! verified `Grip-Sig`), and the rules every request applies to it: token expiry, the rate-limit
//! gate and the violation count.

use super::reply::EventsReply;
use super::{Coordinator, RateDecision, WsRequest, query_param};
use crate::config::{
    EXPIRY_GRACE_SECONDS, EXPIRY_WARNING_SECONDS, KEEP_ALIVE_MAX_SECONDS, KEEP_ALIVE_MIN_SECONDS,
    MAX_VIOLATIONS,
};
use crate::store;
use protocol::client_frame::FrameError;
use protocol::close;
use protocol::error_code;
use protocol::server_frame as frames;

/// Connection state kept in the gateway as `Meta-*`.
#[derive(Debug, Default)]
pub(super) struct Connection {
    pub id: String,
    pub user_id: String,
    pub token_expires_at: i64,
    pub warned: bool,
    pub violations: u32,
    /// The stream head when the last replay was read, until the follow-up replays are done.
    pub replayed_through: Option<u64>,
    /// When the connection opened (ms); 0 when unknown.
    pub opened_at: i64,
}

impl Connection {
    /// Seconds until the gateway's next keep-alive request: the next moment the connection needs
    /// the app without a frame from its client (the token's expiry warning, then the close after
    /// the grace period), within the interval a gateway honours. An idle connection with a
    /// long-lived token costs one app request per [`KEEP_ALIVE_MAX_SECONDS`]. While the follow-up
    /// replay after OPEN is still to come (`docs/delivery.md`), the shortest interval, so a device
    /// that sends nothing gets it within seconds rather than minutes.
    pub fn keep_alive_seconds(&self, now_s: i64, follow_up_pending: bool) -> u64 {
        if follow_up_pending {
            return KEEP_ALIVE_MIN_SECONDS;
        }
        let next = if self.warned {
            self.token_expires_at + EXPIRY_GRACE_SECONDS + 1
        } else {
            self.token_expires_at - EXPIRY_WARNING_SECONDS
        };
        let bounds = (KEEP_ALIVE_MIN_SECONDS as i64, KEEP_ALIVE_MAX_SECONDS as i64);
        (next - now_s).clamp(bounds.0, bounds.1) as u64
    }
}

impl Coordinator<'_> {
    /// The connection's state: from `Meta-*` when `Grip-Sig` verifies, else from the token in the
    /// query (replayed on every request), verified again. The id is the gateway's; whatever it
    /// is, it only ever names a connection of the user this request is authenticated as.
    pub(super) fn connection(&self, request: &WsRequest<'_>) -> Option<Connection> {
        let headers = &request.headers;
        let id = headers
            .get("connection-id")
            .or_else(|| headers.get("meta-user"))?;
        let trusted = self
            .grip
            .is_some_and(|grip| grip.verify(headers.get("grip-sig").as_deref()).is_ok());
        if trusted
            && let (Some(user_id), Some(exp)) =
                (headers.get("meta-user-id"), headers.get("meta-token-exp"))
        {
            return Some(Connection {
                id,
                user_id,
                token_expires_at: exp.parse().unwrap_or(0),
                warned: headers.get("meta-warned").is_some_and(|w| w == "1"),
                violations: headers.parsed("meta-violations").unwrap_or(0),
                replayed_through: headers.parsed("meta-replayed"),
                opened_at: headers.parsed("meta-opened").unwrap_or(0),
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

    pub(super) fn check_expiry(&self, connection: &mut Connection, reply: &mut EventsReply) {
        let now = self.services.now_ms() / 1000;
        if now > connection.token_expires_at + EXPIRY_GRACE_SECONDS {
            self.unregister(connection);
            reply.close(close::AUTHENTICATION, close::REASON_TOKEN_EXPIRED);
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

    /// `AUTH`: a fresh token for the same user extends the connection; anything else ends it.
    pub(super) fn reauthenticate(
        &self,
        connection: &mut Connection,
        token: &str,
        reply: &mut EventsReply,
    ) {
        match self.services.verify_user(token) {
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
                    error_code::AUTH_FAILED,
                    None,
                    &self.timestamp(),
                ));
                self.unregister(connection);
                reply.close(close::AUTHENTICATION, close::REASON_TOKEN_EXPIRED);
            }
        }
    }

    /// Charges `cost` messages against the user's rate (at most the burst, so any request can
    /// pass once the bucket is full). False when refused: the client got `ERROR` and the refusal
    /// counts as a violation. A limiter that cannot answer refuses too.
    pub(super) fn charge(
        &self,
        connection: &mut Connection,
        cost: u32,
        reply: &mut EventsReply,
    ) -> bool {
        let cost = cost.clamp(1, self.config.rate_limit_burst);
        let key = format!("messages:{}", connection.user_id);
        match self.rate_limit_exclusively(&key, cost, reply.batch.is_some()) {
            Ok(decision) if decision.allowed => true,
            Ok(decision) => {
                reply.report.rate_limited += 1;
                reply.send(frames::error(
                    frames::RATE_LIMIT_EXCEEDED,
                    error_code::RATE_LIMITED,
                    Some(decision.retry_after_ms),
                    &self.timestamp(),
                ));
                self.count_violation(connection, reply);
                false
            }
            Err(_) => {
                reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    error_code::RATE_LIMITER_UNAVAILABLE,
                    None,
                    &self.timestamp(),
                ));
                false
            }
        }
    }

    /// Checks a rate while holding the database's write lock (taking it unless `in_batch` holds
    /// it already). The limiter reads a key's state and writes it back, and the key-value store
    /// offers nothing atomic: two checks of one key at once (two devices of a user, on one
    /// instance or on several sharing a Redis store) would both read the old state, one update
    /// would be lost and more than the limit would pass. Every instance shares the database, so
    /// its write lock puts all checks in one order and the limit holds exactly. The transaction
    /// writes nothing; its `COMMIT` only releases the lock.
    pub(super) fn rate_limit_exclusively(
        &self,
        key: &str,
        cost: u32,
        in_batch: bool,
    ) -> Result<RateDecision, String> {
        if in_batch {
            return self.services.rate_limit(key, cost);
        }
        let db = self.services.db();
        store::begin_batch(db).map_err(|e| format!("cannot order the rate check: {e}"))?;
        let decision = self.services.rate_limit(key, cost);
        // Nothing to lose if it fails: `commit_batch` then rolls back, which releases it too.
        let _ = store::commit_batch(db);
        decision
    }

    pub(super) fn violation(
        &self,
        connection: &mut Connection,
        error: &FrameError,
        reply: &mut EventsReply,
    ) {
        reply.send(frames::error(
            &error.to_string(),
            error.code(),
            None,
            &self.timestamp(),
        ));
        if *error == FrameError::TooLarge {
            self.unregister(connection);
            reply.close(close::MESSAGE_TOO_BIG, close::REASON_MESSAGE_TOO_BIG);
            return;
        }
        self.count_violation(connection, reply);
    }

    /// A TEXT frame that is not UTF-8 ends the connection (RFC 6455 §8.1), after saying why.
    pub(super) fn invalid_utf8(&self, connection: &Connection, reply: &mut EventsReply) {
        let error = FrameError::InvalidUtf8;
        reply.send(frames::error(
            &error.to_string(),
            error.code(),
            None,
            &self.timestamp(),
        ));
        self.unregister(connection);
        reply.close(close::INVALID_PAYLOAD, close::REASON_INVALID_PAYLOAD);
    }

    pub(super) fn count_violation(&self, connection: &mut Connection, reply: &mut EventsReply) {
        connection.violations += 1;
        if connection.violations > MAX_VIOLATIONS {
            self.unregister(connection);
            reply.close(close::POLICY_VIOLATION, close::REASON_POLICY_VIOLATION);
        }
    }
}
