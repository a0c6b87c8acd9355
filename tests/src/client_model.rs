//! A model of the unmodified Mirubato frontend client (`webSocketSync.ts` and the stores that apply
//! its events), following the rules in `docs/protocol.md` §8, so tests hold the server to what the
//! real client does rather than to our own reading of the protocol:
//!
//! - **Cursor**: on every frame, `max(seq, lastSeq)` (numbers only) if higher; it never decreases.
//! - **Catch-up**: on open, `SYNC_REQUEST{lastSeq: cursor}` only when the last data frame is older
//!   than the threshold (30 s in the real client; a parameter here), unknown or in the future, or
//!   the offline queue is non-empty; then the queue is flushed, in order.
//! - **Offline queue**: mutations made while disconnected, deduplicated per type and entity (the
//!   newest kept, in first-queued order).
//! - **Stores**: an entity is upserted only when absent or when the incoming `updatedAt` is newer;
//!   deletes remove unconditionally.
//!
//! Pure: no sockets and no clocks (times are passed in), so the driver decides what is connected.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The frame types after which the client records its "last sync time".
const DATA_FRAMES: &[&str] = &[
    "ENTRY_CREATED",
    "ENTRY_UPDATED",
    "ENTRY_DELETED",
    "BULK_SYNC",
    "PIECE_ADDED",
    "PIECE_UPDATED",
    "PIECE_REMOVED",
    "PIECE_DISSOCIATED",
    "REPERTOIRE_BULK_SYNC",
    "PLAN_CREATED",
    "PLAN_UPDATED",
    "PLAN_OCCURRENCE_COMPLETED",
];

/// A device's local entities: (kind, id) → the stored object.
pub type LocalState = BTreeMap<(String, String), Value>;

pub struct ClientModel {
    /// The `mirubato:lastSeq` cursor.
    pub cursor: u64,
    /// `mirubato:lastSyncTime`, ms: the last data frame's timestamp, never later than its arrival.
    last_sync_ms: Option<i64>,
    queue: Vec<Value>,
    connected: bool,
    threshold_ms: i64,
    pub state: LocalState,
    /// How often the open rule skipped `SYNC_REQUEST` (a test checks the run exercised it).
    pub skipped_sync_requests: u32,
}

impl ClientModel {
    pub fn new(threshold_ms: i64) -> Self {
        Self {
            cursor: 0,
            last_sync_ms: None,
            queue: Vec::new(),
            connected: false,
            threshold_ms,
            state: LocalState::new(),
            skipped_sync_requests: 0,
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The socket opened: the frames the client sends at once.
    pub fn on_open(&mut self, now_ms: i64) -> Vec<Value> {
        self.connected = true;
        let since = self.last_sync_ms.map(|at| now_ms - at);
        let mut out = Vec::new();
        if since.is_none_or(|s| s < 0 || s > self.threshold_ms) || !self.queue.is_empty() {
            let mut request = json!({"type": "SYNC_REQUEST", "timestamp": iso(now_ms)});
            if let Some(at) = self.last_sync_ms {
                request["lastSyncTime"] = json!(iso(at));
            }
            if self.cursor > 0 {
                request["lastSeq"] = json!(self.cursor);
            }
            out.push(request);
        } else {
            self.skipped_sync_requests += 1;
        }
        out.append(&mut self.queue);
        out
    }

    pub fn on_close(&mut self) {
        self.connected = false;
    }

    /// The app changed something: applied locally at once, and sent now (returned) or queued.
    pub fn local_change(&mut self, frame: Value) -> Option<Value> {
        apply(&mut self.state, &frame);
        if self.connected {
            return Some(frame);
        }
        let key = queue_key(&frame);
        match self
            .queue
            .iter_mut()
            .find(|queued| queue_key(queued) == key)
        {
            Some(existing) => *existing = frame,
            None => self.queue.push(frame),
        }
        None
    }

    /// A frame from the server.
    pub fn on_frame(&mut self, frame: &Value, now_ms: i64) {
        let highest = ["seq", "lastSeq"]
            .iter()
            .filter_map(|key| frame.get(*key).and_then(Value::as_f64))
            .filter(|n| n.is_finite() && *n >= 0.0)
            .fold(None, |max: Option<f64>, n| {
                Some(max.map_or(n, |m| m.max(n)))
            });
        if let Some(highest) = highest
            && highest as u64 > self.cursor
        {
            self.cursor = highest as u64;
        }
        let kind = frame["type"].as_str().unwrap_or_default();
        if DATA_FRAMES.contains(&kind) {
            let sent = frame["timestamp"]
                .as_str()
                .and_then(protocol::timestamp::parse_iso8601_millis);
            self.last_sync_ms = Some(sent.filter(|at| *at <= now_ms).unwrap_or(now_ms));
        }
        apply(&mut self.state, frame);
    }
}

/// An ISO-8601 timestamp, as the client writes them.
pub fn iso(ms: i64) -> String {
    protocol::timestamp::iso8601_from_millis(ms)
}

/// The offline queue's dedupe key: type and entity id.
fn queue_key(frame: &Value) -> (String, String) {
    let id = match frame["type"].as_str().unwrap_or_default() {
        "ENTRY_CREATED" | "ENTRY_UPDATED" => &frame["entry"]["id"],
        "ENTRY_DELETED" => &frame["entryId"],
        "PIECE_ADDED" | "PIECE_UPDATED" => &frame["piece"]["scoreId"],
        "PIECE_REMOVED" | "PIECE_DISSOCIATED" => &frame["scoreId"],
        "PLAN_CREATED" | "PLAN_UPDATED" => &frame["plan"]["id"],
        _ => &frame["occurrence"]["id"],
    };
    (
        frame["type"].as_str().unwrap_or_default().to_string(),
        id.as_str().unwrap_or_default().to_string(),
    )
}

/// `updatedAt` in ms: an ISO string (entries, plans, occurrences) or epoch ms (pieces).
fn updated_ms(entity: &Value) -> Option<i64> {
    match &entity["updatedAt"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => protocol::timestamp::parse_iso8601_millis(s),
        _ => None,
    }
}

fn upsert_if_newer(state: &mut LocalState, kind: &str, id: Option<&str>, entity: &Value) {
    let Some(id) = id else { return };
    let key = (kind.to_string(), id.to_string());
    let newer = match state.get(&key) {
        None => true,
        Some(existing) => updated_ms(entity) > updated_ms(existing),
    };
    if newer {
        state.insert(key, entity.clone());
    }
}

fn remove(state: &mut LocalState, kind: &str, id: Option<&str>) {
    if let Some(id) = id {
        state.remove(&(kind.to_string(), id.to_string()));
    }
}

/// Applies a frame the way the frontend's stores handle the events they subscribe to.
pub fn apply(state: &mut LocalState, frame: &Value) {
    let entry =
        |state: &mut LocalState, e: &Value| upsert_if_newer(state, "entry", e["id"].as_str(), e);
    let piece = |state: &mut LocalState, p: &Value| {
        upsert_if_newer(state, "piece", p["scoreId"].as_str(), p)
    };
    let occurrence = |state: &mut LocalState, o: &Value| {
        upsert_if_newer(state, "occurrence", o["id"].as_str(), o)
    };
    let each = |key: &str| frame[key].as_array().cloned().unwrap_or_default();
    match frame["type"].as_str().unwrap_or_default() {
        "ENTRY_CREATED" | "ENTRY_UPDATED" => entry(state, &frame["entry"]),
        "ENTRY_DELETED" => remove(state, "entry", frame["entryId"].as_str()),
        "BULK_SYNC" => each("entries").iter().for_each(|e| entry(state, e)),
        "PIECE_ADDED" | "PIECE_UPDATED" => piece(state, &frame["piece"]),
        "PIECE_REMOVED" | "PIECE_DISSOCIATED" => remove(state, "piece", frame["scoreId"].as_str()),
        "REPERTOIRE_BULK_SYNC" => each("pieces").iter().for_each(|p| piece(state, p)),
        "PLAN_CREATED" | "PLAN_UPDATED" => {
            let plan = &frame["plan"];
            upsert_if_newer(state, "plan", plan["id"].as_str(), plan);
            each("occurrences")
                .iter()
                .for_each(|o| occurrence(state, o));
        }
        "PLAN_OCCURRENCE_COMPLETED" => occurrence(state, &frame["occurrence"]),
        _ => {}
    }
}
