use super::*;
use serde_json::json;

const FIXTURES: &str = include_str!("../../../../tests/fixtures/client-frames.jsonl");

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
    let relay: Value = serde_json::from_str(&m.relay_frame(7, "2026-01-01T00:00:00.000Z")).unwrap();
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

// Property tests (issue 21): valid frames are built from docs/protocol.md §2's table, then broken
// on purpose (schema) or at random (text); `spec_parse` reads the table directly and says
// what every input must give.
use crate::exact_integers::first_inexact_integer;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;

const MUTATION_TYPES: [(&str, MutationKind); 10] = [
    ("ENTRY_CREATED", MutationKind::EntryCreated),
    ("ENTRY_UPDATED", MutationKind::EntryUpdated),
    ("ENTRY_DELETED", MutationKind::EntryDeleted),
    ("PIECE_ADDED", MutationKind::PieceAdded),
    ("PIECE_UPDATED", MutationKind::PieceUpdated),
    ("PIECE_REMOVED", MutationKind::PieceRemoved),
    ("PIECE_DISSOCIATED", MutationKind::PieceDissociated),
    ("PLAN_CREATED", MutationKind::PlanCreated),
    ("PLAN_UPDATED", MutationKind::PlanUpdated),
    (
        "PLAN_OCCURRENCE_COMPLETED",
        MutationKind::PlanOccurrenceCompleted,
    ),
];

/// Every key the table names; generated junk keys avoid them.
const KNOWN_KEYS: [&str; 16] = [
    "type",
    "timestamp",
    "lastSeq",
    "epoch",
    "token",
    "userId",
    "eventId",
    "entry",
    "entryId",
    "piece",
    "scoreId",
    "plan",
    "occurrences",
    "occurrence",
    "seq",
    "pad",
];

/// The schema failures' detail is free text: outcomes are compared without it.
fn outcome(result: Result<ClientFrame, FrameError>) -> Result<ClientFrame, FrameError> {
    result.map_err(|e| match e {
        FrameError::InvalidFormat(_) => FrameError::InvalidFormat(String::new()),
        other => other,
    })
}

/// docs/protocol.md §2 and §5, read directly. One function on purpose: it states the rules in the order
/// the spec gives them, so it is checked against the spec top to bottom, and it shares no helper
/// with the parser it judges.
fn spec_parse(text: &str) -> Result<ClientFrame, FrameError> {
    let bad = || FrameError::InvalidFormat(String::new());
    if text.len() > 64 * 1024 {
        return Err(FrameError::TooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::InvalidJson)?;
    if first_inexact_integer(text).is_some() {
        return Err(bad());
    }
    let frame = value.as_object().ok_or_else(bad)?;
    let get = |key: &str| frame.get(key).filter(|v| !v.is_null());
    let id = |value: Option<&Value>| -> Option<String> {
        let id = value?.as_str()?;
        (!id.trim().is_empty() && id.len() <= 256).then(|| id.to_string())
    };
    let (Some(Value::String(kind)), Some(Value::String(_))) =
        (frame.get("type"), frame.get("timestamp"))
    else {
        return Err(bad());
    };
    let optional_string = |key: &str| match get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad()),
    };
    match kind.as_str() {
        "PING" => return Ok(ClientFrame::Ping),
        "BULK_SYNC" | "REPERTOIRE_BULK_SYNC" => return Ok(ClientFrame::IgnoredBulk),
        "SYNC_REQUEST" => {
            let last_seq = match get("lastSeq") {
                None => None,
                Some(n) => Some(n.as_u64().ok_or_else(bad)?),
            };
            let epoch = optional_string("epoch")?;
            return Ok(ClientFrame::SyncRequest { last_seq, epoch });
        }
        "AUTH" => {
            return match frame.get("token") {
                Some(Value::String(token)) if !token.is_empty() => Ok(ClientFrame::Auth {
                    token: token.clone(),
                }),
                _ => Err(bad()),
            };
        }
        _ => {}
    }
    let (_, kind) = MUTATION_TYPES
        .into_iter()
        .find(|(name, _)| *name == kind.as_str())
        .ok_or_else(bad)?;
    let user_id = optional_string("userId")?;
    let event_id = optional_string("eventId")?;
    if event_id
        .as_ref()
        .is_some_and(|e| e.is_empty() || e.len() > 128)
    {
        return Err(bad());
    }
    let object = |key: &str| frame.get(key).filter(|v| v.is_object()).ok_or_else(bad);
    let live = |entity_type, data: &Value, entity_id: String| Change {
        entity_type,
        entity_id,
        data: Some(data.clone()),
    };
    let (payload_keys, changes): (&[&str], Vec<Change>) = match kind {
        MutationKind::EntryCreated | MutationKind::EntryUpdated => {
            let entry = object("entry")?;
            let entity_id = id(entry.get("id")).ok_or_else(bad)?;
            (&["entry"], vec![live(EntityType::Entry, entry, entity_id)])
        }
        MutationKind::EntryDeleted => {
            let entity_id = id(frame.get("entryId")).ok_or_else(bad)?;
            let gone = Change {
                entity_type: EntityType::Entry,
                entity_id,
                data: None,
            };
            (&["entryId"], vec![gone])
        }
        MutationKind::PieceAdded | MutationKind::PieceUpdated => {
            let piece = object("piece")?;
            let entity_id = ["scoreId", "score_id", "id"]
                .into_iter()
                .find_map(|key| id(piece.get(key)))
                .ok_or_else(bad)?;
            (&["piece"], vec![live(EntityType::Piece, piece, entity_id)])
        }
        MutationKind::PieceRemoved | MutationKind::PieceDissociated => {
            let entity_id = id(frame.get("scoreId")).ok_or_else(bad)?;
            let gone = Change {
                entity_type: EntityType::Piece,
                entity_id,
                data: None,
            };
            (&["scoreId", "piece"], vec![gone])
        }
        MutationKind::PlanCreated | MutationKind::PlanUpdated => {
            let plan = object("plan")?;
            let plan_id = id(plan.get("id")).ok_or_else(bad)?;
            let mut changes = vec![live(EntityType::Plan, plan, plan_id)];
            match get("occurrences") {
                None => {}
                Some(Value::Array(occurrences)) => {
                    for occurrence in occurrences {
                        let entity_id = occurrence
                            .is_object()
                            .then(|| id(occurrence.get("id")))
                            .flatten()
                            .ok_or_else(bad)?;
                        changes.push(live(EntityType::Occurrence, occurrence, entity_id));
                    }
                }
                Some(_) => return Err(bad()),
            }
            (&["plan", "occurrences"], changes)
        }
        MutationKind::PlanOccurrenceCompleted => {
            let occurrence = object("occurrence")?;
            id(occurrence.get("planId")).ok_or_else(bad)?;
            let entity_id = id(occurrence.get("id")).ok_or_else(bad)?;
            (
                &["occurrence"],
                vec![live(EntityType::Occurrence, occurrence, entity_id)],
            )
        }
    };
    let mut payload = Map::new();
    payload.insert("type".into(), Value::String(kind.as_str().into()));
    for key in payload_keys.iter().chain(&["userId", "eventId"]) {
        if let Some(value) = get(key) {
            payload.insert(key.to_string(), value.clone());
        }
    }
    Ok(ClientFrame::Mutation(Mutation {
        kind,
        user_id,
        event_id,
        changes,
        payload,
    }))
}

/// A valid entity id: non-blank, at most 256 bytes, any characters JSON may carry.
fn valid_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_\\-]{0,24}",
        "\\PC{1,24}",
        "[ -~\"\\\\\u{0}-\u{1f}é中😀]{1,40}",
        "x{256}",
    ]
    .prop_filter("blank", |id| !id.trim().is_empty() && id.len() <= 256)
}

/// An id the table refuses.
fn invalid_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!(" \t\n")),
        Just(json!("x".repeat(257))),
        Just(json!(7)),
        Just(json!(["id"])),
        Just(json!({"id": "x"})),
        Just(json!(true)),
    ]
}

/// Any JSON value whose numbers survive a round trip exactly (integers within 64 bits,
/// short decimals).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| json!(f64::from(n) / 100.0)),
        "\\PC{0,12}".prop_map(Value::from),
        "[0-9\"\\\\{}\\[\\]:,]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            btree_map("[a-zA-Z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with `keys` set to valid ids and other fields.
fn entity(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    (
        btree_map("[a-zA-Z_]{1,8}", json_value(), 0..4),
        vec(valid_id(), keys.len()),
    )
        .prop_map(move |(fields, ids)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            for (key, id) in keys.iter().zip(ids) {
                object.insert((*key).into(), Value::String(id));
            }
            object
        })
}

/// A piece: `scoreId`, `score_id` and `id` each absent, valid or invalid, one at least valid.
fn piece() -> impl Strategy<Value = Map<String, Value>> {
    let slot = || {
        prop_oneof![
            Just(None),
            valid_id().prop_map(|id| Some(Value::String(id))),
            invalid_id().prop_map(Some),
        ]
    };
    (entity(&[]), slot(), slot(), slot()).prop_filter_map(
        "no valid piece id",
        |(mut piece, score_id, score_id_snake, id)| {
            for (key, value) in [
                ("scoreId", score_id),
                ("score_id", score_id_snake),
                ("id", id),
            ] {
                piece.remove(key);
                if let Some(value) = value {
                    piece.insert(key.into(), value);
                }
            }
            let valid = |key: &str| {
                piece
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|s: &str| !s.trim().is_empty() && s.len() <= 256)
            };
            ["scoreId", "score_id", "id"]
                .into_iter()
                .any(valid)
                .then_some(piece)
        },
    )
}

/// Absent, null or a value.
fn optional<S: Strategy<Value = Value>>(value: S) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)]
}

/// The keys a frame of `kind` carries beyond type, timestamp, userId and eventId.
fn body(kind: MutationKind) -> BoxedStrategy<Map<String, Value>> {
    let one = |key: &'static str, value: BoxedStrategy<Value>| {
        value
            .prop_map(move |v| Map::from_iter([(key.to_string(), v)]))
            .boxed()
    };
    let id = || valid_id().prop_map(Value::String).boxed();
    let object = |s: BoxedStrategy<Map<String, Value>>| s.prop_map(Value::Object).boxed();
    match kind {
        MutationKind::EntryCreated | MutationKind::EntryUpdated => {
            one("entry", object(entity(&["id"]).boxed()))
        }
        MutationKind::EntryDeleted => one("entryId", id()),
        MutationKind::PieceAdded | MutationKind::PieceUpdated => {
            one("piece", object(piece().boxed()))
        }
        MutationKind::PieceRemoved | MutationKind::PieceDissociated => {
            (id(), optional(json_value()))
                .prop_map(|(score_id, piece)| {
                    let mut body = Map::from_iter([("scoreId".to_string(), score_id)]);
                    if let Some(piece) = piece {
                        body.insert("piece".into(), piece);
                    }
                    body
                })
                .boxed()
        }
        MutationKind::PlanCreated | MutationKind::PlanUpdated => (
            entity(&["id"]),
            optional(
                vec(entity(&["id", "planId"]).prop_map(Value::Object), 0..4).prop_map(Value::from),
            ),
        )
            .prop_map(|(plan, occurrences)| {
                let mut body = Map::from_iter([("plan".to_string(), Value::Object(plan))]);
                if let Some(occurrences) = occurrences {
                    body.insert("occurrences".into(), occurrences);
                }
                body
            })
            .boxed(),
        MutationKind::PlanOccurrenceCompleted => {
            one("occurrence", object(entity(&["id", "planId"]).boxed()))
        }
    }
}

fn timestamp() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..4_102_444_800_000).prop_map(|ms| crate::timestamp::iso8601_from_millis(ms).into()),
        "\\PC{0,8}".prop_map(Value::from),
    ]
}

/// Keys the table does not name (dropped from what is stored), and the client's `seq`.
fn junk() -> impl Strategy<Value = Map<String, Value>> {
    (
        btree_map("[a-z][a-zA-Z_]{0,8}", json_value(), 0..3),
        optional(any::<u64>().prop_map(Value::from)),
    )
        .prop_map(|(junk, seq)| {
            let mut junk: Map<String, Value> = junk
                .into_iter()
                .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
                .collect();
            if let Some(seq) = seq {
                junk.insert("seq".into(), seq);
            }
            junk
        })
}

fn with(frame_type: &str, timestamp: Value, fields: Map<String, Value>) -> Map<String, Value> {
    let mut frame = fields;
    frame.insert("type".into(), Value::String(frame_type.into()));
    frame.insert("timestamp".into(), timestamp);
    frame
}

/// A frame as the table allows it.
fn valid_frame() -> impl Strategy<Value = Map<String, Value>> {
    let mutation = (
        proptest::sample::select(MUTATION_TYPES.to_vec()),
        optional("\\PC{0,16}".prop_map(Value::from)),
        optional(
            prop_oneof!["[ -~]{1,128}", "\\PC{1,32}"]
                .prop_filter("too long", |e: &String| e.len() <= 128)
                .prop_map(Value::from),
        ),
    )
        .prop_flat_map(|((name, kind), user_id, event_id)| {
            body(kind).prop_map(move |mut body| {
                for (key, value) in [("userId", &user_id), ("eventId", &event_id)] {
                    if let Some(value) = value {
                        body.insert(key.into(), value.clone());
                    }
                }
                (name, body)
            })
        });
    let other = prop_oneof![
        Just(("PING", Map::new())),
        (
            optional(any::<u64>().prop_map(Value::from)),
            optional("\\PC{0,16}".prop_map(Value::from))
        )
            .prop_map(|(last_seq, epoch)| {
                let mut body = Map::new();
                for (key, value) in [("lastSeq", last_seq), ("epoch", epoch)] {
                    if let Some(value) = value {
                        body.insert(key.into(), value);
                    }
                }
                ("SYNC_REQUEST", body)
            }),
        (
            proptest::sample::select(vec!["BULK_SYNC", "REPERTOIRE_BULK_SYNC"]),
            json_value()
        )
            .prop_map(|(name, entries)| (name, Map::from_iter([("entries".to_string(), entries)]))),
        "\\PC{1,64}".prop_map(|token| (
            "AUTH",
            Map::from_iter([("token".to_string(), Value::from(token))])
        )),
    ];
    (prop_oneof![3 => mutation, 1 => other], timestamp(), junk()).prop_map(
        |((name, body), timestamp, junk)| {
            let mut fields = junk;
            fields.extend(body);
            with(name, timestamp, fields)
        },
    )
}

/// What the frontend would send: compact, or pretty-printed.
fn text(frame: &Map<String, Value>, pretty: bool) -> String {
    let value = Value::Object(frame.clone());
    if pretty {
        serde_json::to_string_pretty(&value).unwrap()
    } else {
        value.to_string()
    }
}

/// Ways to break a frame the table names, for the frame at hand. Long because it is a list: one
/// `try_break` a rule, in the table's order.
fn schema_breaks(frame: &Map<String, Value>, bad_id: &Value) -> Vec<(String, Map<String, Value>)> {
    let mut breaks = Vec::new();
    let mut try_break = |what: &str, change: &dyn Fn(&mut Map<String, Value>)| {
        let mut broken = frame.clone();
        change(&mut broken);
        breaks.push((what.to_string(), broken));
    };
    try_break("no timestamp", &|f| {
        f.remove("timestamp");
    });
    try_break("timestamp not a string", &|f| {
        f.insert("timestamp".into(), json!(1_728_561_600_000u64));
    });
    try_break("no type", &|f| {
        f.remove("type");
    });
    try_break("type not a string", &|f| {
        f.insert("type".into(), json!(["PING"]));
    });
    try_break("unknown type", &|f| {
        let t = f["type"].as_str().unwrap_or_default().to_lowercase();
        f.insert("type".into(), Value::String(t));
    });
    let kind = frame["type"].as_str().unwrap_or_default();
    let required: &[(&str, &str)] = match kind {
        "SYNC_REQUEST" => &[],
        "AUTH" => &[("token", "")],
        "ENTRY_CREATED" | "ENTRY_UPDATED" => &[("entry", "id")],
        "ENTRY_DELETED" => &[("entryId", "")],
        "PIECE_REMOVED" | "PIECE_DISSOCIATED" => &[("scoreId", "")],
        "PLAN_CREATED" | "PLAN_UPDATED" => &[("plan", "id")],
        "PLAN_OCCURRENCE_COMPLETED" => &[("occurrence", "id"), ("occurrence", "planId")],
        _ => &[],
    };
    for (key, inner) in required {
        try_break(&format!("no {key}"), &|f| {
            f.remove(*key);
        });
        if inner.is_empty() {
            try_break(&format!("{key} invalid"), &|f| {
                f.insert(
                    (*key).into(),
                    if *key == "token" {
                        json!("")
                    } else {
                        bad_id.clone()
                    },
                );
            });
        } else {
            try_break(&format!("{key} not an object"), &|f| {
                let wrapped = json!([f[*key].clone()]);
                f.insert((*key).into(), wrapped);
            });
            try_break(&format!("{key}.{inner} invalid"), &|f| {
                f[*key][*inner] = bad_id.clone();
            });
            try_break(&format!("{key}.{inner} missing"), &|f| {
                f[*key].as_object_mut().map(|o| o.remove(*inner));
            });
        }
    }
    if kind == "SYNC_REQUEST" {
        for bad in [json!(-1), json!(1.5), json!("5"), json!([1])] {
            try_break("lastSeq not a whole number", &|f| {
                f.insert("lastSeq".into(), bad.clone());
            });
        }
        try_break("epoch not a string", &|f| {
            f.insert("epoch".into(), json!(5));
        });
    }
    if kind == "PIECE_ADDED" || kind == "PIECE_UPDATED" {
        try_break("no piece", &|f| {
            f.remove("piece");
        });
        try_break("piece not an object", &|f| {
            f.insert("piece".into(), json!("s-1"));
        });
        try_break("no valid piece id", &|f| {
            for key in ["scoreId", "score_id", "id"] {
                f["piece"][key] = bad_id.clone();
            }
        });
    }
    if kind == "PLAN_CREATED" || kind == "PLAN_UPDATED" {
        try_break("occurrences not an array", &|f| {
            f.insert("occurrences".into(), json!({"id": "o"}));
        });
        try_break("an occurrence without an id", &|f| {
            f.insert("occurrences".into(), json!([{"id": "o1"}, {"planId": "p"}]));
        });
        try_break("an occurrence not an object", &|f| {
            f.insert("occurrences".into(), json!([{"id": "o1"}, "o2"]));
        });
    }
    if MUTATION_TYPES.iter().any(|(name, _)| *name == kind) {
        try_break("userId not a string", &|f| {
            f.insert("userId".into(), json!(42));
        });
        for bad in [json!(""), json!("e".repeat(129)), json!(7)] {
            try_break("eventId invalid", &|f| {
                f.insert("eventId".into(), bad.clone());
            });
        }
    }
    breaks
}

/// A decimal integer literal beyond 64 bits.
fn wide_integer() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u128..1_000_000).prop_map(|n| (u128::from(u64::MAX) + 1 + n).to_string()),
        (0u128..1_000_000).prop_map(|n| format!("-{}", (1u128 << 63) + 1 + n)),
        "[1-9][0-9]{20,40}",
        "-[1-9][0-9]{19,40}",
    ]
}

/// A random edit of the text: a cut, or a character inserted, removed or replaced.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Insert(Index, char),
    Remove(Index),
    Replace(Index, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![
        proptest::sample::select(r#"{}[]":,\0123456789-.eE tnfu"#.chars().collect::<Vec<_>>()),
        any::<char>(),
    ];
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), interesting.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), interesting).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    match edit {
        Edit::Truncate(i) => chars.truncate(i.index(n)),
        Edit::Insert(i, c) => chars.insert(i.index(n + 1), *c),
        Edit::Remove(i) => {
            chars.remove(i.index(n));
        }
        Edit::Replace(i, c) => chars[i.index(n)] = *c,
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every frame the table allows parses to what it means: its kind, ids, changes (the
    /// main entity first, a plan's occurrences after it) and the stored payload (the
    /// kind's keys, `userId`, `eventId`; junk and the client's `seq` dropped).
    #[test]
    fn prop_valid_frames_parse_to_their_meaning(frame in valid_frame(), pretty in any::<bool>()) {
        let text = text(&frame, pretty);
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "{:?}: {}", parsed, text);
        prop_assert_eq!(parsed, spec_parse(&text));
    }

    /// A frame of exactly 64 KiB is read; one byte more is `Message too large`, whatever
    /// it holds.
    #[test]
    fn prop_frames_up_to_64_kib_parse_and_larger_are_too_large(frame in valid_frame()) {
        let mut padded = frame.clone();
        padded.insert("pad".into(), json!(""));
        let base = text(&padded, false).len();
        prop_assume!(base <= MAX_FRAME_BYTES);
        padded.insert("pad".into(), json!("x".repeat(MAX_FRAME_BYTES - base)));
        let at_limit = text(&padded, false);
        prop_assert_eq!(at_limit.len(), MAX_FRAME_BYTES);
        prop_assert_eq!(parse(&at_limit), parse(&text(&frame, false)));
        prop_assert!(parse(&at_limit).is_ok());
        let over = format!("{at_limit} ");
        prop_assert_eq!(parse(&over), Err(FrameError::TooLarge));
        prop_assert_eq!(FrameError::TooLarge.code(), error_code::MESSAGE_TOO_LARGE);
    }

    /// Breaking any rule of the table (a missing or mistyped required key, an invalid id,
    /// an unknown type, a bad `userId`/`eventId`/`lastSeq`/`epoch`/`occurrences`) is
    /// `Invalid sync event format`.
    #[test]
    fn prop_schema_violations_are_invalid_format(
        frame in valid_frame(),
        which in any::<Index>(),
        bad_id in invalid_id(),
    ) {
        let breaks = schema_breaks(&frame, &bad_id);
        let (what, broken) = which.get(&breaks);
        let text = text(broken, false);
        let parsed = parse(&text);
        prop_assert!(
            matches!(&parsed, Err(FrameError::InvalidFormat(_))),
            "{}: {:?} for {}", what, parsed, text
        );
        prop_assert_eq!(parsed.unwrap_err().to_string(), "Invalid sync event format");
    }

    /// An integer literal beyond 64 bits anywhere outside strings is refused (it would be
    /// stored rounded); the same digits inside a string are text.
    #[test]
    fn prop_integers_beyond_64_bits_are_refused(
        frame in valid_frame(),
        literal in wide_integer(),
        inside_entity in any::<bool>(),
    ) {
        let mut marked = frame.clone();
        let target = ["entry", "piece", "plan", "occurrence"]
            .into_iter()
            .find(|k| inside_entity && marked.get(*k).is_some_and(Value::is_object));
        let slot = match target {
            Some(key) => marked[key].as_object_mut().unwrap(),
            None => &mut marked,
        };
        // Longer than any generated key or string, so it stands only where it is put.
        const MARK: &str = "__the_wide_integer_goes_here__";
        slot.insert("wide".into(), json!(MARK));
        let as_text = text(&marked, false);
        let as_number = as_text.replacen(&format!("\"{MARK}\""), &literal, 1);
        let parsed = parse(&as_number);
        prop_assert!(
            matches!(&parsed, Err(FrameError::InvalidFormat(d)) if d.contains(&literal) && d.contains("64 bits")),
            "{:?}", parsed
        );
        let as_string = as_text.replacen(&format!("\"{MARK}\""), &format!("\"{literal}\""), 1);
        prop_assert!(parse(&as_string).is_ok());
    }

    /// A valid frame edited at random (cut, a character inserted, removed or replaced) is
    /// `Invalid JSON format`, or parses to exactly what the edited text says; a cut object
    /// is never JSON.
    #[test]
    fn prop_edited_frames_parse_as_written(
        frame in valid_frame(),
        pretty in any::<bool>(),
        edit in edit(),
    ) {
        let edited = apply(&text(&frame, pretty), &edit);
        let parsed = outcome(parse(&edited));
        prop_assert_eq!(&parsed, &spec_parse(&edited));
        if matches!(edit, Edit::Truncate(_)) {
            prop_assert_eq!(parsed, Err(FrameError::InvalidJson));
        }
    }

    /// Any text of any size (up to ~400 KiB, JSON-like or not, deeply nested): never a
    /// panic, and exactly the table's answer.
    #[test]
    fn prop_arbitrary_text_parses_as_the_table_says(
        chunk in prop_oneof![
            "\\PC{0,64}",
            "[\\[\\]{}\":, 0-9a-zA-Z_.eE+\\-\\\\]{0,64}",
            valid_frame().prop_map(|f| text(&f, false)),
        ],
        repeat in prop_oneof![3 => 1usize..3, 1 => 1usize..6400],
        nesting in prop_oneof![3 => Just(0usize), 1 => 0usize..100_000],
    ) {
        let text = format!("{}{}{}", "[".repeat(nesting), chunk.repeat(repeat), "]".repeat(nesting));
        prop_assert_eq!(outcome(parse(&text)), spec_parse(&text));
    }
}
