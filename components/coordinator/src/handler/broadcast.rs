//! `POST /broadcast` (protocol.md §6): the Mirubato API pushes plan changes, authenticated with a
//! broadcast token (or, for compatibility only, the shared secret in `X-Worker-Auth`).

use super::reply::{EventsReply, Outcome, json_reply};
use super::{Coordinator, Headers};
use crate::store;
use protocol::client_frame::{self, ClientFrame};
use protocol::exact_integers::first_inexact_integer;
use protocol::server_frame as frames;
use serde_json::{Value, json};

impl Coordinator<'_> {
    /// `POST /broadcast` (protocol.md §6).
    pub fn handle_broadcast(&self, headers: &Headers<'_>, body: &[u8]) -> Outcome {
        let bearer = headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
        let authorized = match bearer {
            Some(token) => self.services.verify_broadcast(&token).is_ok(),
            None => {
                self.config.allow_legacy_broadcast_auth
                    && !self.config.jwt_secret.is_empty()
                    && headers.get("x-worker-auth").is_some_and(|given| {
                        constant_time_eq(given.as_bytes(), self.config.jwt_secret.as_bytes())
                    })
            }
        };
        if !authorized {
            return json_reply(401, json!({"error": "Unauthorized"}));
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return json_reply(400, json!({"error": "Invalid JSON format"}));
        };
        // Checked on the body as sent: parsing has already rounded such a number.
        if let Some(literal) = std::str::from_utf8(body)
            .ok()
            .and_then(first_inexact_integer)
        {
            return json_reply(
                400,
                json!({"error": format!("integer {literal} does not fit in 64 bits")}),
            );
        }
        let (Some(user_id), Some(events)) = (
            request.get("userId").and_then(Value::as_str),
            request.get("events").and_then(Value::as_array),
        ) else {
            return json_reply(400, json!({"error": "Body needs userId and events[]"}));
        };
        if let Err(error) = store::migrate(self.services.db(), self.services.now_ms()) {
            return json_reply(
                503,
                json!({"error": format!("Storage unavailable: {error}")}),
            );
        }
        let mut mutations = Vec::new();
        for event in events {
            let mut event = event.clone();
            if let Some(object) = event.as_object_mut() {
                object
                    .entry("timestamp")
                    .or_insert_with(|| Value::String(self.timestamp()));
            }
            match client_frame::parse(&event.to_string()) {
                Ok(ClientFrame::Mutation(m)) if m.kind.as_str().starts_with("PLAN_") => {
                    mutations.push(m)
                }
                _ => return json_reply(400, json!({"error": "events must be PLAN_* frames"})),
            }
        }
        let mut scratch = EventsReply::new();
        let mut publishes = Vec::new();
        for mutation in &mutations {
            publishes.extend(self.apply(user_id, None, mutation, &mut scratch));
        }
        if scratch.events.iter().any(|e| {
            e.as_text()
                .is_some_and(|t| t.contains(frames::SYNC_WRITE_FAILED))
        }) {
            let mut outcome = json_reply(500, json!({"error": frames::SYNC_WRITE_FAILED}));
            outcome.publishes = publishes;
            return outcome;
        }
        let mut outcome = json_reply(200, json!({"success": true, "delivered": publishes.len()}));
        outcome.publishes = publishes;
        outcome
    }
}
/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(index % b.len().max(1)).copied().unwrap_or(0));
    }
    difference == 0
}
