//! The per-user connection cap (docs/protocol.md §5): every open connection is registered in SQLite;
//! registering beyond [`MAX_CONNECTIONS_PER_USER`] closes the oldest with 4002. A gateway makes a
//! request for every open connection at least once per [`KEEP_ALIVE_MAX_SECONDS`]; entries not seen
//! for three such intervals (a crashed gateway's) no longer hold a slot.

use super::gate::{self, ChargeError};
use super::reply::EventsReply;
use super::services::{RateDecision, Services};
use crate::config::{KEEP_ALIVE_MAX_SECONDS, KEEP_ALIVE_MIN_SECONDS, MAX_CONNECTIONS_PER_USER};
use crate::sql::Sql;
use crate::store::connections::{self, Registration};
use crate::store::{self, StoreError};
use protocol::close;
use protocol::grip::{PublishItem, connection_channel};

/// How long an entry may go unseen before it no longer holds a slot.
pub const STALE_AFTER_MS: i64 = 3 * KEEP_ALIVE_MAX_SECONDS as i64 * 1000;
/// How often a live entry's `seen_at` is refreshed (a write), at most.
const TOUCH_EVERY_MS: i64 = 3 * KEEP_ALIVE_MIN_SECONDS as i64 * 1000;

/// What a connect's admission did.
#[derive(Debug)]
pub(super) enum Admission {
    /// Registered; the closes for the connections it evicted.
    Admitted(Vec<PublishItem>),
    /// The user's connect rate had no room: nothing was registered.
    RateLimited(RateDecision),
    /// The rate limiter could not decide: nothing was registered.
    LimiterUnavailable(String),
}

/// Charges the user's connect rate and, when it has room, registers the new connection: one
/// transaction, so the charge costs no commit of its own and a refused connect writes nothing.
pub(super) fn admit(
    services: &dyn Services,
    user_id: &str,
    connection_id: &str,
) -> Result<Admission, StoreError> {
    let key = format!("connect:{user_id}");
    store::write_transaction(services.db(), "admitting a connection", || {
        match gate::charge_rate(services, &key, 1) {
            Ok(decision) if !decision.allowed => return Ok(Admission::RateLimited(decision)),
            Ok(_) => {}
            Err(ChargeError::Storage(error)) => return Err(error),
            Err(ChargeError::Limiter(why)) => return Ok(Admission::LimiterUnavailable(why)),
        }
        register_within(services, user_id, connection_id).map(Admission::Admitted)
    })
}

/// Registers a connection inside the caller's write transaction; returns the closes for the
/// connections it evicts.
fn register_within(
    services: &dyn Services,
    user_id: &str,
    connection_id: &str,
) -> Result<Vec<PublishItem>, StoreError> {
    let now = services.now_ms();
    let stale_before = now - STALE_AFTER_MS;
    let evicted = connections::register(
        services.db(),
        user_id,
        connection_id,
        now,
        stale_before,
        MAX_CONNECTIONS_PER_USER,
    )?;
    Ok(evicted
        .iter()
        .map(|id| {
            PublishItem::close(
                connection_channel(user_id, id),
                close::TOO_MANY_CONNECTIONS,
                close::REASON_TOO_MANY_CONNECTIONS,
            )
        })
        .collect())
}

/// On every request of an open connection. An evicted one is closed now: the close published
/// when it was evicted misses a connection whose own handshake was still in flight. An unknown
/// one (expired while its gateway could not reach us) takes a slot again, like a new one. A
/// live one is refreshed at most once a minute, so it never looks like a crashed gateway's
/// leftover. A registry that cannot be read closes nobody.
pub(super) fn check_registration(
    services: &dyn Services,
    user_id: &str,
    connection_id: &str,
    reply: &mut EventsReply,
) {
    let db = services.db();
    let now = services.now_ms();
    let outcome = match connections::registration(db, user_id, connection_id) {
        Ok(Registration::Evicted) => {
            reply.close(
                close::TOO_MANY_CONNECTIONS,
                close::REASON_TOO_MANY_CONNECTIONS,
            );
            Ok(())
        }
        Ok(Registration::Unknown) => {
            store::write_transaction(db, "registering a connection again", || {
                register_within(services, user_id, connection_id)
            })
            .map(|evictions| reply.publishes.extend(evictions))
        }
        Ok(Registration::Live { seen_at }) if now - seen_at >= TOUCH_EVERY_MS => {
            connections::touch(db, user_id, connection_id, now)
        }
        Ok(Registration::Live { .. }) => Ok(()),
        Err(error) => Err(error),
    };
    if let Err(error) = outcome {
        eprintln!("coordinator: connection registry: {error}");
    }
}

/// A failed removal leaves an entry that expires as stale.
pub(super) fn unregister(db: &dyn Sql, user_id: &str, connection_id: &str) {
    if let Err(error) = connections::unregister(db, user_id, connection_id) {
        eprintln!("coordinator: unregistering a connection failed: {error}");
    }
}
