//! The workload of the client-model test: random mutations of every type on the entities one
//! device created, with `updatedAt` versions from one clock shared by every device, so a later edit
//! is always the newer one.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};

use crate::client_model::iso;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// xorshift64*: small, seedable, good enough to pick actions.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// `updatedAt` for every change of the run: strictly increasing, so a later edit is newer.
pub static CLOCK: AtomicI64 = AtomicI64::new(0);

fn next_version() -> i64 {
    CLOCK.fetch_add(1, Ordering::SeqCst)
}

/// What one device has created, to pick its next edit from.
#[derive(Default)]
pub struct Owned {
    entries: Vec<(String, bool)>,
    pieces: Vec<(String, bool)>,
    plans: Vec<(String, Vec<String>)>,
    created: u64,
}

impl Owned {
    fn new_id(&mut self, device: &str, kind: &str) -> String {
        self.created += 1;
        format!("{device}-{kind}{}", self.created)
    }
}

fn entry(id: &str, version: i64) -> Value {
    json!({"id": id, "duration": version % 90, "notes": format!("v{version}"), "updatedAt": iso(version), "createdAt": iso(version)})
}

fn piece(id: &str, version: i64) -> Value {
    json!({"scoreId": id, "status": "learning", "practiceCount": version % 7, "updatedAt": version})
}

fn occurrence(id: &str, plan: &str, status: &str, version: i64) -> Value {
    json!({"id": id, "planId": plan, "status": status, "updatedAt": iso(version)})
}

/// One random mutation of a device's own entities, and whether it deletes or re-creates one. Only
/// entities `erasable` says yes to are deleted or re-created (none while offline).
pub fn mutation(
    rng: &mut Rng,
    device: &str,
    owned: &mut Owned,
    erasable: &dyn Fn(&str) -> bool,
) -> (Value, bool) {
    let version = next_version();
    let frame = |kind: &str, body: Value| {
        let mut frame = json!({"type": kind, "timestamp": iso(now_ms())});
        frame
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        frame
    };
    let pick = |rng: &mut Rng, items: &[(String, bool)], live: bool, erase: bool| {
        let candidates: Vec<usize> = (0..items.len())
            .filter(|i| items[*i].1 == live && (!erase || erasable(&items[*i].0)))
            .collect();
        candidates
            .get(rng.below(candidates.len() as u64) as usize)
            .copied()
    };
    loop {
        match rng.below(11) {
            0 => {
                let id = owned.new_id(device, "entry");
                owned.entries.push((id.clone(), true));
                return (
                    frame("ENTRY_CREATED", json!({"entry": entry(&id, version)})),
                    false,
                );
            }
            1 | 2 => {
                if let Some(index) = pick(rng, &owned.entries, true, false) {
                    let entry = entry(&owned.entries[index].0, version);
                    return (frame("ENTRY_UPDATED", json!({ "entry": entry })), false);
                }
            }
            3 => {
                if let Some(index) = pick(rng, &owned.entries, true, true) {
                    owned.entries[index].1 = false;
                    let id = &owned.entries[index].0;
                    return (frame("ENTRY_DELETED", json!({ "entryId": id })), true);
                }
            }
            4 => {
                if let Some(index) = pick(rng, &owned.entries, false, true) {
                    owned.entries[index].1 = true;
                    let entry = entry(&owned.entries[index].0, version);
                    return (frame("ENTRY_CREATED", json!({ "entry": entry })), true);
                }
            }
            5 => {
                let id = owned.new_id(device, "piece");
                owned.pieces.push((id.clone(), true));
                return (
                    frame("PIECE_ADDED", json!({"piece": piece(&id, version)})),
                    false,
                );
            }
            6 => {
                if let Some(index) = pick(rng, &owned.pieces, true, false) {
                    let piece = piece(&owned.pieces[index].0, version);
                    return (frame("PIECE_UPDATED", json!({ "piece": piece })), false);
                }
            }
            7 => {
                if let Some(index) = pick(rng, &owned.pieces, true, true) {
                    owned.pieces[index].1 = false;
                    let kind = ["PIECE_REMOVED", "PIECE_DISSOCIATED"][rng.below(2) as usize];
                    let id = &owned.pieces[index].0;
                    return (frame(kind, json!({ "scoreId": id })), true);
                }
            }
            8 => {
                let plan = owned.new_id(device, "plan");
                let occurrences: Vec<String> =
                    (0..=rng.below(2)).map(|n| format!("{plan}-o{n}")).collect();
                owned.plans.push((plan.clone(), occurrences.clone()));
                let listed: Vec<Value> = occurrences
                    .iter()
                    .map(|o| occurrence(o, &plan, "scheduled", version))
                    .collect();
                let plan = json!({"id": plan, "title": "t", "updatedAt": iso(version)});
                let body = json!({"plan": plan, "occurrences": listed});
                return (frame("PLAN_CREATED", body), false);
            }
            9 if !owned.plans.is_empty() => {
                let (plan, occurrences) =
                    &owned.plans[rng.below(owned.plans.len() as u64) as usize];
                let listed: Vec<Value> = occurrences
                    .iter()
                    .map(|o| occurrence(o, plan, "scheduled", version))
                    .collect();
                let plan =
                    json!({"id": plan, "title": format!("v{version}"), "updatedAt": iso(version)});
                let body = json!({"plan": plan, "occurrences": listed});
                return (frame("PLAN_UPDATED", body), false);
            }
            10 if !owned.plans.is_empty() => {
                let (plan, occurrences) =
                    &owned.plans[rng.below(owned.plans.len() as u64) as usize];
                let id = &occurrences[rng.below(occurrences.len() as u64) as usize];
                let body = json!({"occurrence": occurrence(id, plan, "completed", version)});
                return (frame("PLAN_OCCURRENCE_COMPLETED", body), false);
            }
            _ => {}
        }
    }
}

/// The id of the entity a mutation frame changes.
pub fn entity_id(frame: &Value) -> Option<String> {
    let ids = [
        &frame["entry"]["id"],
        &frame["entryId"],
        &frame["piece"]["scoreId"],
        &frame["scoreId"],
        &frame["plan"]["id"],
        &frame["occurrence"]["id"],
    ];
    ids.into_iter()
        .find_map(|id| id.as_str().map(str::to_string))
}

/// Forgets a delete or re-create that was not made after all.
pub fn undo(owned: &mut Owned, frame: &Value) {
    let Some(id) = entity_id(frame) else { return };
    for (known, live) in owned.entries.iter_mut().chain(owned.pieces.iter_mut()) {
        if *known == id {
            *live = !*live;
        }
    }
}
