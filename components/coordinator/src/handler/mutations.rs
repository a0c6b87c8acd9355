//! Mutations: the sender's answer (ack, duplicate, conflict or error) and the relay to the user's
//! other devices, published only after the commit.

use super::batch::Batch;
use super::connection::Connection;
use super::gate;
use super::reply::EventsReply;
use super::services::Services;
use crate::config::EVENT_RETENTION_MS;
use crate::store::{self, Applied, StoreError};
use protocol::client_frame::Mutation;
use protocol::error_code;
use protocol::grip::{PublishItem, user_channel};
use protocol::server_frame as frames;

/// A client's mutation (already charged against its rate at the gate), in the request's batch
/// when one is open.
pub(super) fn mutation(
    services: &dyn Services,
    seq_base: u64,
    connection: &mut Connection,
    mutation: &Mutation,
    batch: Option<&mut Batch>,
    reply: &mut EventsReply,
) {
    if mutation
        .user_id
        .as_ref()
        .is_some_and(|u| *u != connection.user_id)
    {
        reply.send(frames::error(
            frames::USER_ID_MISMATCH,
            error_code::USER_ID_MISMATCH,
            None,
            &services.timestamp(),
        ));
        return gate::count_violation(services.db(), connection, reply);
    }
    let (user_id, sender) = (&connection.user_id, Some(connection.id.as_str()));
    let relay = apply(services, seq_base, user_id, sender, mutation, batch, reply);
    reply.publishes.extend(relay);
}

/// Applies one mutation (in `batch` when one is open); queues the sender's answer on `reply` and
/// returns the relay to the user's other devices, if it was written.
pub(super) fn apply(
    services: &dyn Services,
    seq_base: u64,
    user_id: &str,
    sender: Option<&str>,
    mutation: &Mutation,
    batch: Option<&mut Batch>,
    reply: &mut EventsReply,
) -> Option<PublishItem> {
    let timestamp = services.timestamp();
    let now = services.now_ms();
    let applied = write(services, seq_base, user_id, mutation, batch.is_some(), now);
    let event_id = mutation.event_id.as_deref();
    let (answer, relay) = match applied {
        Ok(Applied::Committed { seq }) => {
            if seq % 1000 == 0 {
                let _ = store::prune_applied_events(services.db(), now - EVENT_RETENTION_MS);
            }
            let relay = mutation.relay_frame(seq, &timestamp);
            (
                frames::mutation_ack(seq, event_id, false, &timestamp),
                Some(PublishItem::relay(
                    user_channel(user_id),
                    seq,
                    sender,
                    relay,
                )),
            )
        }
        Ok(Applied::Duplicate { seq }) => {
            (frames::mutation_ack(seq, event_id, true, &timestamp), None)
        }
        Ok(Applied::Conflict {
            entity_type,
            entity_id,
            current,
            seq,
        }) => (
            frames::conflict(entity_type, &entity_id, &current, seq, &timestamp),
            None,
        ),
        Err(_) => (
            frames::write_failed(error_code::WRITE_FAILED, &timestamp),
            None,
        ),
    };
    reply.send(answer);
    if let Some(batch) = batch {
        batch.answered_mutation(reply);
    }
    relay
}

/// Writes `mutation`: in a savepoint of the batch when one is open, else in its own transaction.
fn write(
    services: &dyn Services,
    seq_base: u64,
    user_id: &str,
    mutation: &Mutation,
    in_batch: bool,
    now: i64,
) -> Result<Applied, StoreError> {
    let apply = if in_batch {
        store::apply_in_batch
    } else {
        store::apply
    };
    let new_epoch = services.new_epoch();
    apply(services.db(), user_id, mutation, &new_epoch, seq_base, now)
}
