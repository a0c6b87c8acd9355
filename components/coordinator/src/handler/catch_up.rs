//! Reads of a user's changes: the SYNC_REQUEST reply (the only frames that move the Mirubato
//! client's cursor) and the replays after OPEN that carry no cursor (docs/delivery.md).

use super::connection::Connection;
use super::gate;
use super::reply::EventsReply;
use super::services::Services;
use crate::config::{CATCH_UP_ROWS_PER_COST, Config, SUBSCRIPTION_SETTLE_MS};
use crate::store::{self, Since};
use protocol::catch_up::{self, Numbering};
use protocol::error_code;
use protocol::server_frame as frames;

/// SYNC_REQUEST, after the request's batch has committed (a catch-up reads what came before it).
/// The request paid one message at the gate; a large catch-up pays for its size before it is sent
/// (one more per [`CATCH_UP_ROWS_PER_COST`] rows), so repeated full catch-ups are limited like any
/// other flood.
pub(super) fn catch_up(
    services: &dyn Services,
    config: &Config,
    connection: &mut Connection,
    last_seq: Option<u64>,
    epoch: Option<&str>,
    reply: &mut EventsReply,
) {
    let timestamp = services.timestamp();
    let db = services.db();
    let storage_failed = |reply: &mut EventsReply| {
        reply.send(frames::write_failed(
            error_code::STORAGE_UNAVAILABLE,
            &timestamp,
        ))
    };
    let new_epoch = services.new_epoch();
    let Ok(stream) = store::ensure_stream(db, &connection.user_id, &new_epoch, config.seq_base)
    else {
        return storage_failed(reply);
    };
    let cursor = last_seq.unwrap_or(0);
    let resync = epoch.is_some_and(|e| e != stream.epoch) || cursor > stream.last_seq;
    let from = if resync { 0 } else { cursor };
    let Ok((head, rows)) = store::changes_since(db, &connection.user_id, Since::Seq(from)) else {
        return storage_failed(reply);
    };
    // At most what a full bucket has left after the request's own unit, so any catch-up can
    // pass once the user's rate allows it.
    let burst = config.rate_limit_burst;
    let size_cost = (rows.len() / CATCH_UP_ROWS_PER_COST).min(burst.saturating_sub(1) as usize);
    if size_cost > 0 && !gate::charge(services, burst, connection, size_cost as u32, false, reply) {
        return;
    }
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
    reply.report.catch_ups.push(rows.len() as u64);
    reply.send_all((&connection.user_id, &connection.id), frames_out, all_fit);
}

/// Sends `user`'s changes `since` as a replay: the catch-up's frames without the numbers that
/// move the Mirubato client's cursor (docs/delivery.md). Returns the stream head as read, or
/// `None` when storage failed (the device then relies on its own catch-ups).
pub(super) fn replay(
    services: &dyn Services,
    user_id: &str,
    connection_id: &str,
    since: Since,
    reply: &mut EventsReply,
) -> Option<u64> {
    let (head, rows) = match store::changes_since(services.db(), user_id, since) {
        Ok(read) => read,
        Err(error) => {
            eprintln!("coordinator: replay read failed: {error}");
            return None;
        }
    };
    let chunks = catch_up::frames(&rows, Numbering::Replay, &services.timestamp());
    let all_fit = chunks.iter().all(|chunk| chunk.fits_reply);
    let texts = chunks.into_iter().map(|chunk| chunk.text).collect();
    reply.send_all((user_id, connection_id), texts, all_fit);
    Some(head.map_or(0, |stream| stream.last_seq))
}

/// Behind Pushpin the OPEN reply's subscriptions become active a moment after the reply, so a
/// relay published in between never reaches the device. Until [`SUBSCRIPTION_SETTLE_MS`] after
/// OPEN, each request also replays what was committed since the last replay (`head`); the first
/// request after it (a client frame or the gateway's keep-alive) does so a last time. The read
/// follows this request's own writes (so it never shows the device an entity it has just deleted
/// as live), and its frames go first in the reply, before anything the events produced.
pub(super) fn follow_up_replay(
    services: &dyn Services,
    connection: &Connection,
    head: u64,
    reply: &mut EventsReply,
) {
    let mut replayed = EventsReply::new();
    let (user_id, id) = (&connection.user_id, &connection.id);
    let Some(new_head) = replay(services, user_id, id, Since::Seq(head), &mut replayed) else {
        return;
    };
    reply.events.splice(0..0, replayed.events);
    reply.publishes.splice(0..0, replayed.publishes);
    let settled = services.now_ms() - connection.opened_at >= SUBSCRIPTION_SETTLE_MS;
    let meta = if settled {
        String::new()
    } else {
        new_head.to_string()
    };
    reply.set_meta.push(("replayed".into(), meta));
}
