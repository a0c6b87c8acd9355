//! All the mutations of one request in one transaction (`store::begin_batch`): one commit, and with
//! the host's group commit one disk flush, for a whole batch of frames (Pushpin hands the app every
//! frame that arrived while the previous request was in flight). Answers and relays are queued as
//! each mutation is applied and leave only after the commit; if the commit fails they are replaced
//! by one `ERROR` per mutation, and nothing the batch wrote is kept.

use super::reply::EventsReply;
use super::services::Services;
use crate::store;
use protocol::error_code;
use protocol::server_frame as frames;
use protocol::ws_events::EventKind;

/// An open batch: where the reply stood when it began, and the mutations applied in it.
#[derive(Debug)]
pub(super) struct Batch {
    events_before: usize,
    publishes_before: usize,
    mutations: usize,
}

impl Batch {
    /// Opens a batch when the request carries a frame: its rate check (which must hold the write
    /// lock: `gate::rate_limit_exclusively`) and its mutations then share one transaction. A batch
    /// that cannot start (the lock stayed busy) leaves each check and mutation to its own.
    pub fn begin(services: &dyn Services, frames: usize, reply: &EventsReply) -> Option<Batch> {
        if frames == 0 || store::begin_batch(services.db()).is_err() {
            return None;
        }
        Some(Batch {
            events_before: reply.events.len(),
            publishes_before: reply.publishes.len(),
            mutations: 0,
        })
    }

    /// Counts a mutation applied in the batch: its answer depends on the commit.
    pub fn count_mutation(&mut self) {
        self.mutations += 1;
    }

    /// Commits the batch. If that fails, what it queued on `reply` reported uncommitted writes (or
    /// read them): none of it goes, and each of its mutations is answered with an `ERROR`.
    pub fn commit(self, services: &dyn Services, reply: &mut EventsReply) {
        let Err(error) = store::commit_batch(services.db()) else {
            return;
        };
        eprintln!("coordinator: committing a batch failed: {error}");
        let timestamp = services.timestamp();
        let closes: Vec<_> = reply
            .events
            .drain(self.events_before..)
            .filter(|event| event.kind == EventKind::Close)
            .collect();
        reply.publishes.truncate(self.publishes_before);
        for _ in 0..self.mutations {
            reply.send(frames::write_failed(error_code::WRITE_FAILED, &timestamp));
        }
        reply.events.extend(closes);
    }
}
