//! The gate every client frame passes: the user's message rate, and the count of violations
//! (frame errors, refusals) that ends a connection.

use super::connection::Connection;
use super::reply::EventsReply;
use super::services::{RateDecision, Services};
use crate::config::MAX_VIOLATIONS;
use crate::sql::Sql;
use crate::store::{self, StoreError};
use protocol::client_frame::FrameError;
use protocol::close;
use protocol::error_code;
use protocol::server_frame as frames;

/// Charges `cost` messages against the user's rate (at most `burst`, so any request can pass once
/// the bucket is full). False when refused: the client got `ERROR` and the refusal counts as a
/// violation. A limiter that cannot answer refuses too. `in_batch`: the request's batch holds the
/// database's write lock already.
pub(super) fn charge(
    services: &dyn Services,
    burst: u32,
    connection: &mut Connection,
    cost: u32,
    in_batch: bool,
    reply: &mut EventsReply,
) -> bool {
    let cost = cost.clamp(1, burst);
    let key = format!("messages:{}", connection.user_id);
    match rate_limit_exclusively(services, &key, cost, in_batch) {
        Ok(decision) if decision.allowed => true,
        Ok(decision) => {
            reply.report.rate_limited += 1;
            reply.send(frames::error(
                frames::RATE_LIMIT_EXCEEDED,
                error_code::RATE_LIMITED,
                Some(decision.retry_after_ms),
                &services.timestamp(),
            ));
            count_violation(services.db(), connection, reply);
            false
        }
        Err(_) => {
            reply.send(frames::write_failed(
                error_code::RATE_LIMITER_UNAVAILABLE,
                &services.timestamp(),
            ));
            false
        }
    }
}

/// Charges a rate while holding the database's write lock (taking it unless `in_batch` holds it
/// already). In a batch the charge commits with the request's mutations, one commit for both.
pub(super) fn rate_limit_exclusively(
    services: &dyn Services,
    key: &str,
    cost: u32,
    in_batch: bool,
) -> Result<RateDecision, String> {
    if in_batch {
        return charge_rate(services, key, cost).map_err(|e| e.to_string());
    }
    let db = services.db();
    store::begin_batch(db).map_err(|e| format!("cannot order the rate check: {e}"))?;
    let decision = charge_rate(services, key, cost).map_err(|e| e.to_string());
    // A failed commit rolls back, which releases the lock too.
    store::commit_batch(db).map_err(|e| format!("cannot record the rate: {e}"))?;
    decision
}

/// Why a charge was not decided.
#[derive(Debug, thiserror::Error)]
pub(super) enum ChargeError {
    /// The key's state could not be read or written (a lock is worth retrying).
    #[error("the rate's state: {0}")]
    Storage(#[from] StoreError),
    /// The `rate-limit` component could not decide (misconfigured, say).
    #[error("the rate limiter: {0}")]
    Limiter(String),
}

/// Reads `key`'s state, decides, and writes the new state when the charge is allowed; the caller
/// holds the write lock. The state is a row of the database (`store::rate_limits`): every instance
/// shares the database, so its write lock puts all charges of a key in one order and the limit
/// holds exactly across instances.
pub(super) fn charge_rate(
    services: &dyn Services,
    key: &str,
    cost: u32,
) -> Result<RateDecision, ChargeError> {
    let db = services.db();
    let stored = store::rate_limits::tat(db, key)?;
    let verdict = services
        .rate_limit(key, stored, cost)
        .map_err(ChargeError::Limiter)?;
    if let Some(tat) = verdict.new_tat_us {
        store::rate_limits::set_tat(db, key, tat)?;
    }
    Ok(verdict.decision)
}

/// A frame that breaks the protocol: the client is told why; a frame too large ends the
/// connection (1009), any other counts as a violation.
pub(super) fn violation(
    services: &dyn Services,
    connection: &mut Connection,
    error: &FrameError,
    reply: &mut EventsReply,
) {
    send_frame_error(services, error, reply);
    if *error == FrameError::TooLarge {
        connection.close(
            services.db(),
            close::MESSAGE_TOO_BIG,
            close::REASON_MESSAGE_TOO_BIG,
            reply,
        );
        return;
    }
    count_violation(services.db(), connection, reply);
}

/// A TEXT frame that is not UTF-8 ends the connection (RFC 6455 §8.1), after saying why.
pub(super) fn invalid_utf8(
    services: &dyn Services,
    connection: &Connection,
    reply: &mut EventsReply,
) {
    send_frame_error(services, &FrameError::InvalidUtf8, reply);
    connection.close(
        services.db(),
        close::INVALID_PAYLOAD,
        close::REASON_INVALID_PAYLOAD,
        reply,
    );
}

/// One more violation; beyond [`MAX_VIOLATIONS`] the connection is closed (1008).
pub(super) fn count_violation(db: &dyn Sql, connection: &mut Connection, reply: &mut EventsReply) {
    connection.violations += 1;
    if connection.violations > MAX_VIOLATIONS {
        connection.close(
            db,
            close::POLICY_VIOLATION,
            close::REASON_POLICY_VIOLATION,
            reply,
        );
    }
}

fn send_frame_error(services: &dyn Services, error: &FrameError, reply: &mut EventsReply) {
    reply.send(frames::error(
        &error.to_string(),
        error.code(),
        None,
        &services.timestamp(),
    ));
}
