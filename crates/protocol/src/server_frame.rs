//! Frames the server sends (docs/protocol.md §2, server → client). Each builder returns the JSON text;
//! the caller supplies the `timestamp` so this crate stays free of clocks.

use crate::entity::EntityType;
use serde_json::{Map, Value, json};

pub const WELCOME_MESSAGE: &str = "Connected to Mirubato sync";
pub const SYNC_COMPLETE: &str = "Sync complete";
pub const NO_NEW_DATA: &str = "No new data to sync";
pub const MUTATION_APPLIED: &str = "Mutation applied";
pub const RESYNC_REQUIRED: &str = "Resync required";

/// The compat `ERROR.error` strings the coordinator itself produces (frame errors carry theirs).
pub const USER_ID_MISMATCH: &str = "User ID mismatch";
pub const RATE_LIMIT_EXCEEDED: &str = "Rate limit exceeded";
pub const SYNC_WRITE_FAILED: &str = "Sync write failed";

/// *ext* field naming a change's place in the user's stream on frames that must not move the
/// Mirubato client's cursor (acks, conflicts, live relays, replays). Only catch-up replies carry
/// `seq`/`lastSeq`: they are the one place where every change up to that number is in hand.
pub const STREAM_SEQ: &str = "streamSeq";

fn frame(kind: &str, timestamp: &str, fields: Value) -> String {
    let mut object = Map::new();
    object.insert("type".into(), Value::String(kind.into()));
    if let Value::Object(fields) = fields {
        object.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    }
    object.insert("timestamp".into(), Value::String(timestamp.into()));
    Value::Object(object).to_string()
}

pub struct Welcome<'a> {
    pub connection_id: &'a str,
    pub epoch: &'a str,
    /// The stream's head, sent as `headSeq`: never as `seq` or `lastSeq`, which the Mirubato client
    /// takes as "you have everything up to here" (docs/protocol.md §8).
    pub head_seq: u64,
    /// Token `exp`, seconds since the epoch.
    pub token_expires_at: i64,
}

pub fn welcome(w: &Welcome<'_>, timestamp: &str) -> String {
    frame(
        "WELCOME",
        timestamp,
        json!({"message": WELCOME_MESSAGE, "epoch": w.epoch, "headSeq": w.head_seq,
               "connectionId": w.connection_id, "tokenExpiresAt": w.token_expires_at}),
    )
}

pub fn pong(timestamp: &str) -> String {
    frame("PONG", timestamp, json!({}))
}

/// `ERROR` with the compat `error` string and the *ext* `code` / `retryAfterMs`.
pub fn error(message: &str, code: &str, retry_after_ms: Option<u64>, timestamp: &str) -> String {
    frame(
        "ERROR",
        timestamp,
        json!({"error": message, "code": code, "retryAfterMs": retry_after_ms}),
    )
}

/// `ERROR` "Sync write failed" (the compat string for any failure to store or to check a frame),
/// with the *ext* `code` saying which.
pub fn write_failed(code: &str, timestamp: &str) -> String {
    error(SYNC_WRITE_FAILED, code, None, timestamp)
}

pub fn sync_response(message: &str, last_seq: u64, timestamp: &str) -> String {
    frame(
        "SYNC_RESPONSE",
        timestamp,
        json!({"message": message, "lastSeq": last_seq}),
    )
}

/// The epoch changed (or the cursor is ahead of the stream): the client must start over from 0.
/// It precedes the catch-up frames, so it carries the head as `headSeq` only: a `lastSeq` here
/// would move the client's cursor before the frames below it arrive.
pub fn resync_required(head_seq: u64, epoch: &str, timestamp: &str) -> String {
    frame(
        "SYNC_RESPONSE",
        timestamp,
        json!({"message": RESYNC_REQUIRED, "headSeq": head_seq, "recovered": false, "epoch": epoch}),
    )
}

/// The sender's acknowledgement of a committed mutation. The seq is *ext* `streamSeq`, not
/// `lastSeq`: other devices' changes below it may still be on their way to this one, and the
/// Mirubato client would take a `lastSeq` as having them (docs/protocol.md §8).
pub fn mutation_ack(seq: u64, event_id: Option<&str>, duplicate: bool, timestamp: &str) -> String {
    frame(
        "SYNC_RESPONSE",
        timestamp,
        json!({"message": MUTATION_APPLIED, STREAM_SEQ: seq, "eventId": event_id,
               "duplicate": if duplicate { Some(true) } else { None }}),
    )
}

pub fn conflict(
    entity_type: EntityType,
    entity_id: &str,
    current: &Value,
    seq: u64,
    timestamp: &str,
) -> String {
    frame(
        "CONFLICT_DETECTED",
        timestamp,
        json!({"entityType": entity_type.as_str(), "entityId": entity_id, "current": current, STREAM_SEQ: seq}),
    )
}

pub fn auth_expiring(expires_at: i64, timestamp: &str) -> String {
    frame("AUTH_EXPIRING", timestamp, json!({"expiresAt": expires_at}))
}

pub fn auth_ok(expires_at: i64, timestamp: &str) -> String {
    frame("AUTH_OK", timestamp, json!({"expiresAt": expires_at}))
}

#[cfg(test)]
mod tests;
