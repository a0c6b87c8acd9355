//! A connection's state between requests (kept in the gateway as `Meta-*`, believed only under a
//! verified `Grip-Sig`), its keep-alive, its token's expiry and its end.

use super::registry;
use super::reply::EventsReply;
use super::request::{WsRequest, query_param};
use super::services::Services;
use crate::config::{
    EXPIRY_GRACE_SECONDS, EXPIRY_WARNING_SECONDS, KEEP_ALIVE_MAX_SECONDS, KEEP_ALIVE_MIN_SECONDS,
};
use crate::grip_sig::GripSigConfig;
use crate::sql::Sql;
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
    /// The connection's state: from `Meta-*` when `Grip-Sig` verifies, else from the token in the
    /// query (replayed on every request), verified again. The id is the gateway's; whatever it
    /// is, it only ever names a connection of the user this request is authenticated as.
    pub fn from_request(
        request: &WsRequest<'_>,
        grip: Option<&GripSigConfig>,
        services: &dyn Services,
    ) -> Option<Connection> {
        let headers = &request.headers;
        let id = headers
            .get("connection-id")
            .or_else(|| headers.get("meta-user"))?;
        let trusted =
            grip.is_some_and(|grip| grip.verify(headers.get("grip-sig").as_deref()).is_ok());
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
        let identity = services.verify_user(&token).ok()?;
        (query_param(request.query, "userId")? == identity.user_id).then(|| Connection {
            id,
            user_id: identity.user_id,
            token_expires_at: identity.expires_at,
            ..Connection::default()
        })
    }

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

    /// The connection has ended (its client left, or the gateway dropped it): its slot is free.
    pub fn ended(&self, db: &dyn Sql) {
        registry::unregister(db, &self.user_id, &self.id);
    }

    /// Ends the connection: frees its slot and closes it with `code`.
    pub fn close(&self, db: &dyn Sql, code: u16, reason: &str, reply: &mut EventsReply) {
        self.ended(db);
        reply.close(code, reason);
    }
}

/// Warns of the token's expiry once it is near, and closes the connection (4001) once it is past
/// the grace period.
pub(super) fn check_expiry(
    services: &dyn Services,
    connection: &mut Connection,
    reply: &mut EventsReply,
) {
    let now = services.now_ms() / 1000;
    if now > connection.token_expires_at + EXPIRY_GRACE_SECONDS {
        connection.close(
            services.db(),
            close::AUTHENTICATION,
            close::REASON_TOKEN_EXPIRED,
            reply,
        );
    } else if now >= connection.token_expires_at - EXPIRY_WARNING_SECONDS && !connection.warned {
        connection.warned = true;
        reply.send(frames::auth_expiring(
            connection.token_expires_at,
            &services.timestamp(),
        ));
        reply.set_meta.push(("warned".into(), "1".into()));
    }
}

/// `AUTH`: a fresh token for the same user extends the connection; anything else ends it.
pub(super) fn reauthenticate(
    services: &dyn Services,
    connection: &mut Connection,
    token: &str,
    reply: &mut EventsReply,
) {
    match services.verify_user(token) {
        Ok(identity) if identity.user_id == connection.user_id => {
            connection.token_expires_at = identity.expires_at;
            reply.send(frames::auth_ok(identity.expires_at, &services.timestamp()));
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
                &services.timestamp(),
            ));
            connection.close(
                services.db(),
                close::AUTHENTICATION,
                close::REASON_TOKEN_EXPIRED,
                reply,
            );
        }
    }
}
