//! Mutations: the sender's answer (ack, duplicate, conflict or error) and the relay to the user's
//! other devices, published only after the commit.

use super::Coordinator;
use super::connection::Connection;
use super::reply::EventsReply;
use crate::config::EVENT_RETENTION_MS;
use crate::store::{self, Applied};
use protocol::client_frame::Mutation;
use protocol::error_code;
use protocol::grip::{PublishItem, user_channel};
use protocol::server_frame as frames;

impl Coordinator<'_> {
    /// A client's mutation (already charged against its rate at the gate).
    pub(super) fn mutation(
        &self,
        connection: &mut Connection,
        mutation: &Mutation,
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
                &self.timestamp(),
            ));
            return self.count_violation(connection, reply);
        }
        let relay = self.apply(&connection.user_id, Some(&connection.id), mutation, reply);
        reply.publishes.extend(relay);
    }

    /// Applies one mutation; queues the sender's answer on `reply` (if any) and returns the relay.
    pub(super) fn apply(
        &self,
        user_id: &str,
        sender: Option<&str>,
        mutation: &Mutation,
        reply: &mut EventsReply,
    ) -> Option<PublishItem> {
        let timestamp = self.timestamp();
        let now = self.services.now_ms();
        let apply = match &mut reply.batch {
            Some(batch) => {
                batch.mutations += 1;
                store::apply_in_batch
            }
            None => store::apply,
        };
        match apply(
            self.services.db(),
            user_id,
            mutation,
            &self.services.new_epoch(),
            self.config.seq_base,
            now,
        ) {
            Ok(Applied::Committed { seq }) => {
                reply.send(frames::mutation_ack(
                    seq,
                    mutation.event_id.as_deref(),
                    false,
                    &timestamp,
                ));
                if seq % 1000 == 0 {
                    let _ =
                        store::prune_applied_events(self.services.db(), now - EVENT_RETENTION_MS);
                }
                Some(PublishItem::relay(
                    user_channel(user_id),
                    seq,
                    sender,
                    mutation.relay_frame(seq, &timestamp),
                ))
            }
            Ok(Applied::Duplicate { seq }) => {
                reply.send(frames::mutation_ack(
                    seq,
                    mutation.event_id.as_deref(),
                    true,
                    &timestamp,
                ));
                None
            }
            Ok(Applied::Conflict {
                entity_type,
                entity_id,
                current,
                seq,
            }) => {
                reply.send(frames::conflict(
                    entity_type,
                    &entity_id,
                    &current,
                    seq,
                    &timestamp,
                ));
                None
            }
            Err(_) => {
                reply.send(frames::error(
                    frames::SYNC_WRITE_FAILED,
                    error_code::WRITE_FAILED,
                    None,
                    &timestamp,
                ));
                None
            }
        }
    }
}
