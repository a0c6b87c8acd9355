//! All the mutations of one request in one transaction (`store::begin_batch`): one commit, and with
//! the host's group commit one disk flush, for a whole batch of frames (Pushpin hands the app every
//! frame that arrived while the previous request was in flight). Answers and relays are queued as
//! each mutation is applied and leave only after the commit; if the commit fails they are replaced
//! by one `ERROR` per mutation, and nothing the batch wrote is kept.

use super::Coordinator;
use super::reply::EventsReply;
use crate::store;
use protocol::error_code;
use protocol::server_frame as frames;
use protocol::ws_events::EventKind;

/// An open batch: where the reply stood when it began, and the mutations applied in it.
#[derive(Debug)]
pub struct Batch {
    events_before: usize,
    publishes_before: usize,
    pub mutations: usize,
}

impl Coordinator<'_> {
    /// Opens a batch when the request carries a frame: its rate check (which must hold the write
    /// lock: `rate_limit_exclusively`) and its mutations then share one transaction. A batch that
    /// cannot start (the lock stayed busy) leaves each check and mutation to its own.
    pub(super) fn begin_batch(&self, frames: usize, reply: &mut EventsReply) {
        if frames > 0 && store::begin_batch(self.services.db()).is_ok() {
            reply.batch = Some(Batch {
                events_before: reply.events.len(),
                publishes_before: reply.publishes.len(),
                mutations: 0,
            });
        }
    }

    /// Commits the open batch, if any.
    pub(super) fn end_batch(&self, reply: &mut EventsReply) {
        let Some(batch) = reply.batch.take() else {
            return;
        };
        if let Err(error) = store::commit_batch(self.services.db()) {
            eprintln!("coordinator: committing a batch failed: {error}");
            let timestamp = self.timestamp();
            // What the batch queued reported uncommitted writes (or read them): none of it goes.
            let closes: Vec<_> = reply
                .events
                .drain(batch.events_before..)
                .filter(|event| event.kind == EventKind::Close)
                .collect();
            reply.publishes.truncate(batch.publishes_before);
            for _ in 0..batch.mutations {
                reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    error_code::WRITE_FAILED,
                    None,
                    &timestamp,
                ));
            }
            reply.events.extend(closes);
        }
    }
}
