//! `POST /broadcast` (docs/protocol.md §6): the Mirubato API pushes plan changes, authenticated with a
//! broadcast token (or, for compatibility only, the shared secret in `X-Worker-Auth`).

use super::mutations;
use super::reply::{EventsReply, Outcome, json_reply, storage_unavailable};
use super::request::Headers;
use super::services::Services;
use crate::config::Config;
use crate::store;
use protocol::client_frame::{self, ClientFrame, Mutation};
use protocol::exact_integers::first_inexact_integer;
use protocol::server_frame as frames;
use serde_json::{Value, json};

/// `POST /broadcast`: the body's `PLAN_*` events applied for its user and relayed to every
/// device of that user.
pub(super) fn handle(
    services: &dyn Services,
    config: &Config,
    headers: &Headers<'_>,
    body: &[u8],
) -> Outcome {
    if !authorized(services, config, headers) {
        return json_reply(401, json!({"error": "Unauthorized"}));
    }
    let (user_id, events) = match read_body(body) {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    if let Err(error) = store::migrate(services.db(), services.now_ms()) {
        return storage_unavailable(&error);
    }
    let mutations = match plan_mutations(services, &events) {
        Ok(mutations) => mutations,
        Err(refusal) => return refusal,
    };
    let mut scratch = EventsReply::new();
    let mut publishes = Vec::new();
    for mutation in &mutations {
        publishes.extend(mutations::apply(
            services,
            config.seq_base,
            &user_id,
            None,
            mutation,
            None,
            &mut scratch,
        ));
    }
    let failed = scratch.events.iter().any(|e| {
        e.as_text()
            .is_some_and(|t| t.contains(frames::SYNC_WRITE_FAILED))
    });
    let mut outcome = if failed {
        json_reply(500, json!({"error": frames::SYNC_WRITE_FAILED}))
    } else {
        json_reply(200, json!({"success": true, "delivered": publishes.len()}))
    };
    outcome.publishes = publishes;
    outcome
}

/// A broadcast token, or (only where allowed) the shared secret in `X-Worker-Auth`.
fn authorized(services: &dyn Services, config: &Config, headers: &Headers<'_>) -> bool {
    let bearer = headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    match bearer {
        Some(token) => services.verify_broadcast(&token).is_ok(),
        None => {
            config.allow_legacy_broadcast_auth
                && !config.jwt_secret.is_empty()
                && headers.get("x-worker-auth").is_some_and(|given| {
                    constant_time_eq(given.as_bytes(), config.jwt_secret.as_bytes())
                })
        }
    }
}

/// The body's `userId` and `events`; a body that is not such JSON is refused (400).
fn read_body(body: &[u8]) -> Result<(String, Vec<Value>), Outcome> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Err(json_reply(400, json!({"error": "Invalid JSON format"})));
    };
    // Checked on the body as sent: parsing has already rounded such a number.
    if let Some(literal) = std::str::from_utf8(body)
        .ok()
        .and_then(first_inexact_integer)
    {
        return Err(json_reply(
            400,
            json!({"error": format!("integer {literal} does not fit in 64 bits")}),
        ));
    }
    match (
        request.get("userId").and_then(Value::as_str),
        request.get("events").and_then(Value::as_array),
    ) {
        (Some(user_id), Some(events)) => Ok((user_id.to_string(), events.clone())),
        _ => Err(json_reply(
            400,
            json!({"error": "Body needs userId and events[]"}),
        )),
    }
}

/// Each event as a client's frame (stamped now when it carries no `timestamp`), which must be a
/// `PLAN_*` mutation; any other refuses the whole body (400).
fn plan_mutations(services: &dyn Services, events: &[Value]) -> Result<Vec<Mutation>, Outcome> {
    let mut mutations = Vec::new();
    for event in events {
        let mut event = event.clone();
        if let Some(object) = event.as_object_mut() {
            object
                .entry("timestamp")
                .or_insert_with(|| Value::String(services.timestamp()));
        }
        match client_frame::parse(&event.to_string()) {
            Ok(ClientFrame::Mutation(m)) if m.kind.as_str().starts_with("PLAN_") => {
                mutations.push(m)
            }
            _ => {
                return Err(json_reply(
                    400,
                    json!({"error": "events must be PLAN_* frames"}),
                ));
            }
        }
    }
    Ok(mutations)
}

/// Compares secrets in time that does not depend on where they differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}
