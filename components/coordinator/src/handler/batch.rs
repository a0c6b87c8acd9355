//! All the mutations of one request in one transaction (`store::begin_batch`): one commit, and with
//! the host's group commit one disk flush, for a whole batch of frames (Pushpin hands the app every
//! frame that arrived while the previous request was in flight). Relays are queued as each mutation
//! is applied and leave only after the commit; if the commit fails, nothing the batch wrote is
//! kept, no relay leaves, and each mutation's answer is replaced by an `ERROR`. Every other answer
//! (a refused rate charge, a pong, a close) stands: each frame is still answered once.

use super::reply::EventsReply;
use super::services::Services;
use crate::store;
use protocol::error_code;
use protocol::grip::message_event;
use protocol::server_frame as frames;

/// An open batch: where the reply's relays stood when it began, and where in the reply the
/// answers of the mutations applied in it are.
#[derive(Debug)]
pub(super) struct Batch {
    publishes_before: usize,
    mutation_answers: Vec<usize>,
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
            publishes_before: reply.publishes.len(),
            mutation_answers: Vec::new(),
        })
    }

    /// Notes that the reply's last event answers a mutation applied in the batch: it holds only
    /// if the commit does.
    pub fn answered_mutation(&mut self, reply: &EventsReply) {
        self.mutation_answers
            .extend(reply.events.len().checked_sub(1));
    }

    /// Commits the batch. If that fails, its relays are dropped and each of its mutations' answers
    /// (an ack, a conflict read from uncommitted rows) becomes an `ERROR`.
    pub fn commit(self, services: &dyn Services, reply: &mut EventsReply) {
        let Err(error) = store::commit_batch(services.db()) else {
            return;
        };
        eprintln!("coordinator: committing a batch failed: {error}");
        reply.publishes.truncate(self.publishes_before);
        let failed = frames::write_failed(error_code::WRITE_FAILED, &services.timestamp());
        for index in self.mutation_answers {
            reply.events[index] = message_event(&failed);
        }
    }
}
