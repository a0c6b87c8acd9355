//! Frames from a client (docs/protocol.md §2), parsed and validated into typed values. Errors carry the
//! exact compat strings the Mirubato frontend knows (§5).

use crate::entity::{EntityType, piece_id, valid_id};
use crate::error_code;
use serde_json::{Map, Value};

/// Largest frame accepted (§5); larger ones are refused with `Message too large` and close 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest `eventId` accepted.
pub const MAX_EVENT_ID_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("Message too large")]
    TooLarge,
    #[error("Invalid JSON format")]
    InvalidJson,
    /// A text frame whose bytes are not UTF-8 (the compat string is the JSON one).
    #[error("Invalid JSON format")]
    InvalidUtf8,
    /// The detail says what is wrong; the compat string is the same for every schema failure.
    #[error("Invalid sync event format")]
    InvalidFormat(String),
}

impl FrameError {
    /// The *ext* `ERROR.code` that tells our own clients which rule failed.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge => error_code::MESSAGE_TOO_LARGE,
            FrameError::InvalidJson => error_code::INVALID_JSON,
            FrameError::InvalidUtf8 => error_code::INVALID_UTF8,
            FrameError::InvalidFormat(_) => error_code::INVALID_FORMAT,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Ping,
    SyncRequest {
        last_seq: Option<u64>,
        epoch: Option<String>,
    },
    Mutation(Mutation),
    /// A client's own `BULK_SYNC` / `REPERTOIRE_BULK_SYNC`: accepted and ignored (compat).
    IgnoredBulk,
    /// *ext*: a fresh token for this connection.
    Auth {
        token: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationKind {
    EntryCreated,
    EntryUpdated,
    EntryDeleted,
    PieceAdded,
    PieceUpdated,
    PieceRemoved,
    PieceDissociated,
    PlanCreated,
    PlanUpdated,
    PlanOccurrenceCompleted,
}

impl MutationKind {
    const ALL: [MutationKind; 10] = [
        MutationKind::EntryCreated,
        MutationKind::EntryUpdated,
        MutationKind::EntryDeleted,
        MutationKind::PieceAdded,
        MutationKind::PieceUpdated,
        MutationKind::PieceRemoved,
        MutationKind::PieceDissociated,
        MutationKind::PlanCreated,
        MutationKind::PlanUpdated,
        MutationKind::PlanOccurrenceCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::EntryCreated => "ENTRY_CREATED",
            MutationKind::EntryUpdated => "ENTRY_UPDATED",
            MutationKind::EntryDeleted => "ENTRY_DELETED",
            MutationKind::PieceAdded => "PIECE_ADDED",
            MutationKind::PieceUpdated => "PIECE_UPDATED",
            MutationKind::PieceRemoved => "PIECE_REMOVED",
            MutationKind::PieceDissociated => "PIECE_DISSOCIATED",
            MutationKind::PlanCreated => "PLAN_CREATED",
            MutationKind::PlanUpdated => "PLAN_UPDATED",
            MutationKind::PlanOccurrenceCompleted => "PLAN_OCCURRENCE_COMPLETED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The payload keys a frame of this kind carries (and the only ones stored and relayed).
    fn payload_keys(self) -> &'static [&'static str] {
        match self {
            MutationKind::EntryCreated | MutationKind::EntryUpdated => &["entry"],
            MutationKind::EntryDeleted => &["entryId"],
            MutationKind::PieceAdded | MutationKind::PieceUpdated => &["piece"],
            MutationKind::PieceRemoved | MutationKind::PieceDissociated => &["scoreId", "piece"],
            MutationKind::PlanCreated | MutationKind::PlanUpdated => &["plan", "occurrences"],
            MutationKind::PlanOccurrenceCompleted => &["occurrence"],
        }
    }
}

/// One entity a mutation writes: its latest state, or `None` for a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub entity_type: EntityType,
    pub entity_id: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub kind: MutationKind,
    /// `userId` as the client sent it; the coordinator checks it against the connection's user.
    pub user_id: Option<String>,
    /// *ext* idempotency key.
    pub event_id: Option<String>,
    /// What it writes, the main entity first (a plan's occurrences follow the plan).
    pub changes: Vec<Change>,
    /// The frame as stored and relayed: `type`, the kind's payload keys, `userId`, `eventId`.
    /// Other top-level keys (the client's `seq`, `timestamp`, anything unknown) are dropped.
    pub payload: Map<String, Value>,
}

impl Mutation {
    /// The relayed form: the stored payload with the server's `timestamp` and the mutation's seq
    /// as *ext* `streamSeq`. Never `seq`: a live relay can reach a device before changes below it
    /// (its own catch-up, another device's relay still in flight), and the Mirubato client would
    /// move its cursor past them (docs/protocol.md §8).
    pub fn relay_frame(&self, seq: u64, timestamp: &str) -> String {
        let mut frame = self.payload.clone();
        frame.insert("timestamp".into(), Value::String(timestamp.into()));
        frame.insert(crate::server_frame::STREAM_SEQ.into(), Value::from(seq));
        Value::Object(frame).to_string()
    }
}

fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::InvalidFormat(detail.into())
}

/// Parses one TEXT frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::InvalidJson)?;
    if let Some(literal) = crate::exact_integers::first_inexact_integer(text) {
        return Err(invalid(format!(
            "integer {literal} does not fit in 64 bits and would not be stored exactly"
        )));
    }
    let Value::Object(frame) = value else {
        return Err(invalid("a frame is a JSON object"));
    };
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`type` must be a string"))?;
    if !frame.get("timestamp").is_some_and(Value::is_string) {
        return Err(invalid("`timestamp` must be a string"));
    }
    match kind {
        "PING" => Ok(ClientFrame::Ping),
        "SYNC_REQUEST" => parse_sync_request(&frame),
        "BULK_SYNC" | "REPERTOIRE_BULK_SYNC" => Ok(ClientFrame::IgnoredBulk),
        "AUTH" => match valid_token(frame.get("token")) {
            Some(token) => Ok(ClientFrame::Auth {
                token: token.to_string(),
            }),
            None => Err(invalid("`token` must be a non-empty string")),
        },
        other => match MutationKind::parse(other) {
            Some(kind) => parse_mutation(kind, &frame).map(ClientFrame::Mutation),
            None => Err(invalid(format!("unknown type `{other}`"))),
        },
    }
}

fn valid_token(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|t| !t.is_empty())
}

fn parse_sync_request(frame: &Map<String, Value>) -> Result<ClientFrame, FrameError> {
    let last_seq = match frame.get("lastSeq") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .ok_or_else(|| invalid("`lastSeq` must be a whole number ≥ 0"))?,
        ),
    };
    let epoch = optional_string(frame, "epoch")?;
    Ok(ClientFrame::SyncRequest { last_seq, epoch })
}

/// `key`'s string, `None` when absent or null.
fn optional_string(frame: &Map<String, Value>, key: &str) -> Result<Option<String>, FrameError> {
    match frame.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be a string"))),
    }
}

fn object<'a>(frame: &'a Map<String, Value>, key: &str) -> Result<&'a Value, FrameError> {
    frame
        .get(key)
        .filter(|v| v.is_object())
        .ok_or_else(|| invalid(format!("`{key}` must be an object")))
}

fn id_of<'a>(value: &'a Value, key: &str, what: &str) -> Result<&'a str, FrameError> {
    valid_id(value.get(key))
        .ok_or_else(|| invalid(format!("{what} needs a non-empty string `{key}`")))
}

fn parse_mutation(kind: MutationKind, frame: &Map<String, Value>) -> Result<Mutation, FrameError> {
    Ok(Mutation {
        kind,
        user_id: optional_string(frame, "userId")?,
        event_id: event_id(frame)?,
        changes: changes(kind, frame)?,
        payload: payload(kind, frame),
    })
}

/// The *ext* idempotency key: 1 to [`MAX_EVENT_ID_BYTES`] bytes, or absent.
fn event_id(frame: &Map<String, Value>) -> Result<Option<String>, FrameError> {
    match frame.get("eventId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES => {
            Ok(Some(id.clone()))
        }
        Some(_) => Err(invalid(format!(
            "`eventId` must be a string of 1 to {MAX_EVENT_ID_BYTES} bytes"
        ))),
    }
}

impl Change {
    fn live(entity_type: EntityType, value: &Value, id: &str) -> Self {
        Change {
            entity_type,
            entity_id: id.to_string(),
            data: Some(value.clone()),
        }
    }

    fn deleted(entity_type: EntityType, id: &str) -> Self {
        Change {
            entity_type,
            entity_id: id.to_string(),
            data: None,
        }
    }
}

/// What a mutation of `kind` writes, the main entity first.
fn changes(kind: MutationKind, frame: &Map<String, Value>) -> Result<Vec<Change>, FrameError> {
    let change = match kind {
        MutationKind::EntryCreated | MutationKind::EntryUpdated => {
            let entry = object(frame, "entry")?;
            Change::live(EntityType::Entry, entry, id_of(entry, "id", "`entry`")?)
        }
        MutationKind::EntryDeleted => {
            let id = valid_id(frame.get("entryId"))
                .ok_or_else(|| invalid("`entryId` must be a non-empty string"))?;
            Change::deleted(EntityType::Entry, id)
        }
        MutationKind::PieceAdded | MutationKind::PieceUpdated => {
            let piece = object(frame, "piece")?;
            let id = piece_id(piece)
                .ok_or_else(|| invalid("`piece` needs `scoreId`, `score_id` or `id`"))?;
            Change::live(EntityType::Piece, piece, id)
        }
        MutationKind::PieceRemoved | MutationKind::PieceDissociated => {
            let id = valid_id(frame.get("scoreId"))
                .ok_or_else(|| invalid("`scoreId` must be a non-empty string"))?;
            Change::deleted(EntityType::Piece, id)
        }
        MutationKind::PlanCreated | MutationKind::PlanUpdated => return plan_changes(frame),
        MutationKind::PlanOccurrenceCompleted => {
            let occurrence = object(frame, "occurrence")?;
            id_of(occurrence, "planId", "`occurrence`")?;
            let id = id_of(occurrence, "id", "`occurrence`")?;
            Change::live(EntityType::Occurrence, occurrence, id)
        }
    };
    Ok(vec![change])
}

/// A plan, then the occurrences the frame carries with it.
fn plan_changes(frame: &Map<String, Value>) -> Result<Vec<Change>, FrameError> {
    let plan = object(frame, "plan")?;
    let mut changes = vec![Change::live(
        EntityType::Plan,
        plan,
        id_of(plan, "id", "`plan`")?,
    )];
    let occurrences = match frame.get("occurrences") {
        None | Some(Value::Null) => return Ok(changes),
        Some(Value::Array(occurrences)) => occurrences,
        Some(_) => return Err(invalid("`occurrences` must be an array")),
    };
    for occurrence in occurrences {
        if !occurrence.is_object() {
            return Err(invalid("`occurrences` must hold objects"));
        }
        let id = id_of(occurrence, "id", "an occurrence")?;
        changes.push(Change::live(EntityType::Occurrence, occurrence, id));
    }
    Ok(changes)
}

/// The frame as stored and relayed: `type`, the kind's payload keys, `userId` and `eventId`.
fn payload(kind: MutationKind, frame: &Map<String, Value>) -> Map<String, Value> {
    let mut payload = Map::new();
    payload.insert("type".into(), Value::String(kind.as_str().into()));
    for key in kind.payload_keys().iter().chain(&["userId", "eventId"]) {
        if let Some(value) = frame.get(*key).filter(|v| !v.is_null()) {
            payload.insert((*key).to_string(), value.clone());
        }
    }
    payload
}

#[cfg(test)]
mod tests;
