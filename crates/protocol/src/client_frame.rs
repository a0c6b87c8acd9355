//! Frames from a client (protocol.md §2), parsed and validated into typed values. Errors carry the
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
    /// move its cursor past them (protocol.md §8).
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
    let epoch = match frame.get("epoch") {
        None | Some(Value::Null) => None,
        Some(Value::String(epoch)) => Some(epoch.clone()),
        Some(_) => return Err(invalid("`epoch` must be a string")),
    };
    Ok(ClientFrame::SyncRequest { last_seq, epoch })
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
    let user_id = match frame.get("userId") {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) => Some(user.clone()),
        Some(_) => return Err(invalid("`userId` must be a string")),
    };
    let event_id = match frame.get("eventId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES => {
            Some(id.clone())
        }
        Some(_) => {
            return Err(invalid(format!(
                "`eventId` must be a string of 1 to {MAX_EVENT_ID_BYTES} bytes"
            )));
        }
    };
    let live = |entity_type, value: &Value, id: &str| Change {
        entity_type,
        entity_id: id.to_string(),
        data: Some(value.clone()),
    };
    let deleted = |entity_type, id: &str| Change {
        entity_type,
        entity_id: id.to_string(),
        data: None,
    };
    let changes = match kind {
        MutationKind::EntryCreated | MutationKind::EntryUpdated => {
            let entry = object(frame, "entry")?;
            vec![live(
                EntityType::Entry,
                entry,
                id_of(entry, "id", "`entry`")?,
            )]
        }
        MutationKind::EntryDeleted => {
            let id = valid_id(frame.get("entryId"))
                .ok_or_else(|| invalid("`entryId` must be a non-empty string"))?;
            vec![deleted(EntityType::Entry, id)]
        }
        MutationKind::PieceAdded | MutationKind::PieceUpdated => {
            let piece = object(frame, "piece")?;
            let id = piece_id(piece)
                .ok_or_else(|| invalid("`piece` needs `scoreId`, `score_id` or `id`"))?;
            vec![live(EntityType::Piece, piece, id)]
        }
        MutationKind::PieceRemoved | MutationKind::PieceDissociated => {
            let id = valid_id(frame.get("scoreId"))
                .ok_or_else(|| invalid("`scoreId` must be a non-empty string"))?;
            vec![deleted(EntityType::Piece, id)]
        }
        MutationKind::PlanCreated | MutationKind::PlanUpdated => {
            let plan = object(frame, "plan")?;
            let plan_id = id_of(plan, "id", "`plan`")?;
            let mut changes = vec![live(EntityType::Plan, plan, plan_id)];
            match frame.get("occurrences") {
                None | Some(Value::Null) => {}
                Some(Value::Array(occurrences)) => {
                    for occurrence in occurrences {
                        if !occurrence.is_object() {
                            return Err(invalid("`occurrences` must hold objects"));
                        }
                        changes.push(live(
                            EntityType::Occurrence,
                            occurrence,
                            id_of(occurrence, "id", "an occurrence")?,
                        ));
                    }
                }
                Some(_) => return Err(invalid("`occurrences` must be an array")),
            }
            changes
        }
        MutationKind::PlanOccurrenceCompleted => {
            let occurrence = object(frame, "occurrence")?;
            id_of(occurrence, "planId", "`occurrence`")?;
            vec![live(
                EntityType::Occurrence,
                occurrence,
                id_of(occurrence, "id", "`occurrence`")?,
            )]
        }
    };
    let mut payload = Map::new();
    payload.insert("type".into(), Value::String(kind.as_str().into()));
    for key in kind.payload_keys().iter().chain(&["userId", "eventId"]) {
        if let Some(value) = frame.get(*key).filter(|v| !v.is_null()) {
            payload.insert((*key).to_string(), value.clone());
        }
    }
    Ok(Mutation {
        kind,
        user_id,
        event_id,
        changes,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURES: &str = include_str!("../../../tests/fixtures/client-frames.jsonl");

    #[test]
    fn every_frame_the_frontend_sends_parses() {
        let frames: Vec<ClientFrame> = FIXTURES
            .lines()
            .map(|line| parse(line).unwrap_or_else(|e| panic!("{e:?}: {line}")))
            .collect();
        assert_eq!(frames[0], ClientFrame::Ping);
        assert_eq!(
            frames[1],
            ClientFrame::SyncRequest {
                last_seq: Some(0),
                epoch: None
            }
        );
        let kinds: Vec<&str> = frames
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Mutation(m) => Some(m.kind.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "ENTRY_CREATED",
                "ENTRY_UPDATED",
                "ENTRY_DELETED",
                "PIECE_ADDED",
                "PIECE_UPDATED",
                "PIECE_REMOVED",
                "PLAN_CREATED",
                "PLAN_OCCURRENCE_COMPLETED"
            ]
        );
        assert_eq!(frames.last(), Some(&ClientFrame::IgnoredBulk));
    }

    fn mutation(text: &str) -> Mutation {
        match parse(text).unwrap() {
            ClientFrame::Mutation(m) => m,
            other => panic!("not a mutation: {other:?}"),
        }
    }

    #[test]
    fn entity_ids_and_deletions() {
        let lines: Vec<&str> = FIXTURES.lines().collect();
        let created = mutation(lines[2]);
        assert_eq!(created.changes.len(), 1);
        assert_eq!(
            (
                created.changes[0].entity_type,
                created.changes[0].entity_id.as_str()
            ),
            (EntityType::Entry, "entry_1728561600000_a1b2c3")
        );
        let deleted = mutation(lines[4]);
        assert_eq!(deleted.changes[0].data, None);
        let piece = mutation(lines[5]);
        assert_eq!(piece.changes[0].entity_id, "clair de lune-debussy");
        let plan = mutation(lines[8]);
        let ids: Vec<(EntityType, &str)> = plan
            .changes
            .iter()
            .map(|c| (c.entity_type, c.entity_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                (EntityType::Plan, "plan_01"),
                (EntityType::Occurrence, "occ_01")
            ]
        );
    }

    #[test]
    fn relay_keeps_payload_and_drops_client_seq_and_unknown_keys() {
        let m = mutation(
            r#"{"type":"ENTRY_DELETED","timestamp":"t","entryId":"e1","seq":99,"userId":"u1","eventId":"ev1","junk":1}"#,
        );
        assert_eq!(
            (m.user_id.as_deref(), m.event_id.as_deref()),
            (Some("u1"), Some("ev1"))
        );
        let relay: Value =
            serde_json::from_str(&m.relay_frame(7, "2026-01-01T00:00:00.000Z")).unwrap();
        assert_eq!(
            relay,
            json!({"type": "ENTRY_DELETED", "entryId": "e1", "userId": "u1", "eventId": "ev1", "streamSeq": 7, "timestamp": "2026-01-01T00:00:00.000Z"})
        );
    }

    #[test]
    fn compat_errors() {
        assert_eq!(parse("{not json"), Err(FrameError::InvalidJson));
        assert!(matches!(
            parse(r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":{"id":"entry_1","n":123456789012345678901234}}"#),
            Err(FrameError::InvalidFormat(detail)) if detail.contains("64 bits")
        ));
        assert_eq!(FrameError::InvalidJson.to_string(), "Invalid JSON format");
        let big = format!(
            r#"{{"type":"PING","timestamp":"t","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(parse(&big), Err(FrameError::TooLarge));
        assert_eq!(FrameError::TooLarge.to_string(), "Message too large");
        for bad in [
            r#"[1,2]"#,
            r#"{"timestamp":"t"}"#,
            r#"{"type":"PING"}"#,
            r#"{"type":7,"timestamp":"t"}"#,
            r#"{"type":"TELEPORT","timestamp":"t"}"#,
            r#"{"type":"SYNC_REQUEST","timestamp":"t","lastSeq":-1}"#,
            r#"{"type":"SYNC_REQUEST","timestamp":"t","lastSeq":"5"}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t"}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":{"id":""}}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":{"id":5}}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":"e1"}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":{"id":"e"},"userId":5}"#,
            r#"{"type":"ENTRY_CREATED","timestamp":"t","entry":{"id":"e"},"eventId":""}"#,
            r#"{"type":"ENTRY_DELETED","timestamp":"t"}"#,
            r#"{"type":"PIECE_ADDED","timestamp":"t","piece":{"status":"x"}}"#,
            r#"{"type":"PIECE_REMOVED","timestamp":"t","scoreId":null}"#,
            r#"{"type":"PLAN_CREATED","timestamp":"t","plan":{"id":"p"},"occurrences":{}}"#,
            r#"{"type":"PLAN_CREATED","timestamp":"t","plan":{"id":"p"},"occurrences":[{"planId":"p"}]}"#,
            r#"{"type":"PLAN_OCCURRENCE_COMPLETED","timestamp":"t","occurrence":{"id":"o"}}"#,
            r#"{"type":"AUTH","timestamp":"t","token":""}"#,
        ] {
            let error = parse(bad).unwrap_err();
            assert!(
                matches!(error, FrameError::InvalidFormat(_)),
                "{bad}: {error:?}"
            );
            assert_eq!(error.to_string(), "Invalid sync event format");
        }
    }

    #[test]
    fn auth_and_epoch() {
        assert_eq!(
            parse(r#"{"type":"AUTH","timestamp":"t","token":"abc"}"#),
            Ok(ClientFrame::Auth {
                token: "abc".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"SYNC_REQUEST","timestamp":"t","lastSeq":12,"epoch":"ep"}"#),
            Ok(ClientFrame::SyncRequest {
                last_seq: Some(12),
                epoch: Some("ep".into())
            })
        );
    }
}
