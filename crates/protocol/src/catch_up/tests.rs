use super::*;

const T: &str = "2026-11-24T00:00:00.000Z";

fn live(entity_type: EntityType, id: &str, seq: u64, pad: usize) -> Row {
    Row {
        entity_type,
        entity_id: id.into(),
        data: Some(json!({"id": id, "scoreId": id, "pad": "x".repeat(pad)})),
        seq,
    }
}

fn parse(frame: &CatchUpFrame) -> Value {
    serde_json::from_str(&frame.text).unwrap()
}

#[test]
fn batches_by_count_in_seq_order_across_types() {
    let mut rows: Vec<Row> = (1..=600)
        .map(|s| live(EntityType::Entry, &format!("e{s}"), s, 0))
        .collect();
    rows.push(live(EntityType::Piece, "p1", 601, 0));
    rows.push(Row {
        entity_type: EntityType::Entry,
        entity_id: "gone".into(),
        data: None,
        seq: 602,
    });
    rows.reverse(); // input order must not matter
    let frames = frames(&rows, Numbering::Cursor, T);
    let summary: Vec<(String, usize, u64)> = frames
        .iter()
        .map(|f| {
            let v = parse(f);
            let count = v
                .get("entries")
                .or(v.get("pieces"))
                .map_or(0, |a| a.as_array().unwrap().len());
            (
                v["type"].as_str().unwrap().to_string(),
                count,
                v["lastSeq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("BULK_SYNC".into(), 250, 250),
            ("BULK_SYNC".into(), 250, 500),
            ("BULK_SYNC".into(), 100, 600),
            ("REPERTOIRE_BULK_SYNC".into(), 1, 601),
            ("ENTRY_DELETED".into(), 0, 602),
        ]
    );
    assert!(frames.iter().all(|f| f.fits_reply));
}

#[test]
fn batches_by_bytes_and_flags_what_cannot_fit() {
    let rows: Vec<Row> = (1..=20)
        .map(|s| live(EntityType::Piece, &format!("p{s}"), s, 3000))
        .collect();
    let out = frames(&rows, Numbering::Cursor, T);
    assert!(out.len() >= 2, "20 × 3 KB must not fit one 32 KiB frame");
    assert!(
        out.iter()
            .all(|f| f.fits_reply && f.text.len() < MAX_REPLY_FRAME_BYTES)
    );
    let total: usize = out
        .iter()
        .map(|f| parse(f)["pieces"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 20);

    let huge = frames(
        &[live(EntityType::Entry, "big", 1, 40 * 1024)],
        Numbering::Cursor,
        T,
    );
    assert_eq!(huge.len(), 1);
    assert!(!huge[0].fits_reply);
}

#[test]
fn plans_carry_their_occurrences_and_lone_occurrences_stand_alone() {
    let rows = vec![
        Row {
            entity_type: EntityType::Occurrence,
            entity_id: "o1".into(),
            data: Some(json!({"id": "o1", "planId": "p"})),
            seq: 3,
        },
        Row {
            entity_type: EntityType::Plan,
            entity_id: "p".into(),
            data: Some(json!({"id": "p"})),
            seq: 3,
        },
        Row {
            entity_type: EntityType::Occurrence,
            entity_id: "o2".into(),
            data: Some(json!({"id": "o2", "planId": "p", "status": "completed"})),
            seq: 4,
        },
        Row {
            entity_type: EntityType::Piece,
            entity_id: "gone".into(),
            data: None,
            seq: 5,
        },
    ];
    let out: Vec<Value> = frames(&rows, Numbering::Cursor, T)
        .iter()
        .map(parse)
        .collect();
    assert_eq!(out[0]["type"], "PLAN_UPDATED");
    assert_eq!(out[0]["occurrences"], json!([{"id": "o1", "planId": "p"}]));
    assert_eq!(out[1]["type"], "PLAN_OCCURRENCE_COMPLETED");
    assert_eq!(out[1]["seq"], 4);
    assert_eq!(
        out[2],
        json!({"type": "PIECE_REMOVED", "scoreId": "gone", "seq": 5, "lastSeq": 5, "timestamp": T})
    );
}

#[test]
fn a_replay_carries_the_same_frames_without_cursor_numbers() {
    let rows = vec![
        live(EntityType::Entry, "e1", 7, 0),
        Row {
            entity_type: EntityType::Piece,
            entity_id: "gone".into(),
            data: None,
            seq: 8,
        },
    ];
    let replay: Vec<Value> = frames(&rows, Numbering::Replay, T)
        .iter()
        .map(parse)
        .collect();
    assert_eq!(
        replay,
        [
            json!({"type": "BULK_SYNC", "entries": [rows[0].data], "streamSeq": 7, "replay": true, "timestamp": T}),
            json!({"type": "PIECE_REMOVED", "scoreId": "gone", "streamSeq": 8, "replay": true, "timestamp": T}),
        ]
    );
}

/// Found by `prop_catch_up_cursor_never_runs_ahead`: a plan written with two occurrences at
/// seq 3 and rewritten alone at seq 5 leaves both occurrences at seq 3, one a frame. The first
/// must not carry 3 as a cursor: a drop right after it would leave the second unsent for good.
#[test]
fn rows_sharing_a_seq_move_the_cursor_only_with_the_last() {
    let occurrence = |id: &str| Row {
        entity_type: EntityType::Occurrence,
        entity_id: id.into(),
        data: Some(json!({"id": id, "planId": "p"})),
        seq: 3,
    };
    let rows = vec![
        occurrence("o1"),
        occurrence("o2"),
        Row {
            entity_type: EntityType::Plan,
            entity_id: "p".into(),
            data: Some(json!({"id": "p"})),
            seq: 5,
        },
    ];
    let out: Vec<Value> = frames(&rows, Numbering::Cursor, T)
        .iter()
        .map(parse)
        .collect();
    let numbers: Vec<(&Value, &Value)> = out.iter().map(|f| (&f["seq"], &f["lastSeq"])).collect();
    assert_eq!(
        numbers,
        [
            (&Value::Null, &Value::Null),
            (&json!(3), &json!(3)),
            (&json!(5), &json!(5))
        ]
    );
    assert_eq!(out[0]["occurrence"]["id"], "o1");
    // A replay carries every frame's stream position: it moves no cursor.
    let replay: Vec<Value> = frames(&rows, Numbering::Replay, T)
        .iter()
        .map(parse)
        .collect();
    assert_eq!(replay[0]["streamSeq"], 3);
}

#[test]
fn nothing_changed_is_no_frames() {
    assert!(frames(&[], Numbering::Cursor, T).is_empty());
}

// Property tests (issue 21): a user's stream of changes (docs/protocol.md §3/§4: one mutation a
// seq, a plan with its occurrences at one seq), each entity at its latest state, in any
// order; the frames are read back as the Mirubato client reads them (§8).
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;

/// One mutation of the stream.
#[derive(Debug, Clone)]
enum Write {
    Entry { pad: usize, deleted: bool },
    Piece { pad: usize, deleted: bool },
    Plan { occurrences: usize },
    Occurrence,
}

fn write() -> impl Strategy<Value = Write> {
    let pad = prop_oneof![8 => 0usize..64, 2 => 64usize..4096, 1 => 4096usize..40_000];
    prop_oneof![
        6 => (pad.clone(), prop::bool::weighted(0.1)).prop_map(|(pad, deleted)| Write::Entry { pad, deleted }),
        4 => (pad, prop::bool::weighted(0.1)).prop_map(|(pad, deleted)| Write::Piece { pad, deleted }),
        1 => (0usize..4).prop_map(|occurrences| Write::Plan { occurrences }),
        1 => Just(Write::Occurrence),
    ]
}

/// The rows a store holds after `writes` (seq 1, 2, …), each entity at its latest state:
/// later writes may rewrite earlier entities (`again` picks which).
fn stream() -> impl Strategy<Value = Vec<Row>> {
    (vec((write(), any::<Option<Index>>()), 0..400), 1u64..1_000_000).prop_map(|(writes, base)| {
        let mut latest: std::collections::BTreeMap<(EntityType, String), Row> = Default::default();
        let mut plans: Vec<String> = Vec::new();
        for (n, (write, again)) in writes.into_iter().enumerate() {
            let seq = base + n as u64;
            let mut put = |entity_type, id: String, data: Option<Value>| {
                latest.insert((entity_type, id.clone()), Row { entity_type, entity_id: id, data, seq });
            };
            let pick = |prefix: &str| match again {
                Some(i) if n > 0 => format!("{prefix}{}", i.index(n)),
                _ => format!("{prefix}{n}"),
            };
            match write {
                Write::Entry { pad, deleted } => {
                    let id = pick("e");
                    let data = json!({"id": id, "notes": "n".repeat(pad), "seq": seq});
                    put(EntityType::Entry, id, (!deleted).then_some(data));
                }
                Write::Piece { pad, deleted } => {
                    let id = pick("p");
                    let data = json!({"scoreId": id, "status": "é\"".repeat(pad / 2), "seq": seq});
                    put(EntityType::Piece, id, (!deleted).then_some(data));
                }
                Write::Plan { occurrences } => {
                    let id = pick("plan");
                    plans.push(id.clone());
                    put(EntityType::Plan, id.clone(), Some(json!({"id": id, "seq": seq})));
                    for k in 0..occurrences {
                        let occurrence = format!("{id}-o{k}");
                        put(EntityType::Occurrence, occurrence.clone(), Some(json!({"id": occurrence, "planId": id, "seq": seq})));
                    }
                }
                Write::Occurrence => {
                    let plan = plans.last().cloned().unwrap_or_else(|| "plan-none".into());
                    let occurrence = format!("{plan}-o0");
                    put(EntityType::Occurrence, occurrence.clone(), Some(json!({"id": occurrence, "planId": plan, "status": "completed", "seq": seq})));
                }
            }
        }
        latest.into_values().collect()
    })
}

/// Entities as delivered: (type, id, data or `None` for a tombstone).
type Delivered = Vec<(EntityType, String, Option<Value>)>;

/// What the frames deliver, read as the client reads them, and the frames as parsed.
fn read(frames: &[CatchUpFrame]) -> (Delivered, Vec<Value>) {
    let mut delivered = Vec::new();
    let mut parsed = Vec::new();
    for frame in frames {
        let value: Value = serde_json::from_str(&frame.text).unwrap();
        let items = |key: &str| value[key].as_array().cloned().unwrap_or_default();
        match value["type"].as_str().unwrap() {
            "BULK_SYNC" => delivered.extend(items("entries").into_iter().map(|e| {
                (
                    EntityType::Entry,
                    e["id"].as_str().unwrap().to_string(),
                    Some(e),
                )
            })),
            "REPERTOIRE_BULK_SYNC" => delivered.extend(items("pieces").into_iter().map(|p| {
                (
                    EntityType::Piece,
                    p["scoreId"].as_str().unwrap().to_string(),
                    Some(p),
                )
            })),
            "ENTRY_DELETED" => delivered.push((
                EntityType::Entry,
                value["entryId"].as_str().unwrap().to_string(),
                None,
            )),
            "PIECE_REMOVED" => delivered.push((
                EntityType::Piece,
                value["scoreId"].as_str().unwrap().to_string(),
                None,
            )),
            "PLAN_UPDATED" => {
                let plan = value["plan"].clone();
                delivered.push((
                    EntityType::Plan,
                    plan["id"].as_str().unwrap().to_string(),
                    Some(plan),
                ));
                delivered.extend(items("occurrences").into_iter().map(|o| {
                    (
                        EntityType::Occurrence,
                        o["id"].as_str().unwrap().to_string(),
                        Some(o),
                    )
                }));
            }
            "PLAN_OCCURRENCE_COMPLETED" => {
                let occurrence = value["occurrence"].clone();
                delivered.push((
                    EntityType::Occurrence,
                    occurrence["id"].as_str().unwrap().to_string(),
                    Some(occurrence),
                ));
            }
            other => panic!("unexpected frame type {other}"),
        }
        parsed.push(value);
    }
    (delivered, parsed)
}

fn timestamp() -> impl Strategy<Value = String> {
    (0i64..253_402_300_799_999).prop_map(crate::timestamp::iso8601_from_millis)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every row is delivered exactly once, at its state, in seq order (deleted plans and
    /// occurrences aside: no frame deletes them), whatever order the rows come in.
    #[test]
    fn prop_catch_up_delivers_every_change_once_in_seq_order(
        mut rows in stream(),
        shuffle in any::<u64>(),
        replay in any::<bool>(),
        timestamp in timestamp(),
    ) {
        let numbering = if replay { Numbering::Replay } else { Numbering::Cursor };
        let mut expected: Vec<(u64, EntityType, String, Option<Value>)> = rows
            .iter()
            .filter(|r| r.data.is_some() || matches!(r.entity_type, EntityType::Entry | EntityType::Piece))
            .map(|r| (r.seq, r.entity_type, r.entity_id.clone(), r.data.clone()))
            .collect();
        expected.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        // Any input order: a cheap deterministic shuffle.
        let len = rows.len();
        for i in (1..len).rev() {
            let j = (shuffle.wrapping_mul(i as u64 + 1).rotate_left(17) % (i as u64 + 1)) as usize;
            rows.swap(i, j);
        }
        let frames = frames(&rows, numbering, &timestamp);
        let (delivered, _) = read(&frames);
        let seq_of = |t: EntityType, id: &str| rows.iter().find(|r| r.entity_type == t && r.entity_id == id).map(|r| r.seq).unwrap();
        let mut got: Vec<(u64, EntityType, String, Option<Value>)> = delivered
            .into_iter()
            .map(|(t, id, data)| (seq_of(t, &id), t, id, data))
            .collect();
        let order: Vec<u64> = got.iter().map(|g| g.0).collect();
        prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "out of seq order: {:?}", order);
        got.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        prop_assert_eq!(got, expected);
    }

    /// Every frame under 32 KiB is marked as fitting a reply, and only a frame of a single
    /// oversized entity does not; batches hold at most 250 of one type; every frame carries
    /// the timestamp and its numbers: a cursor reply `lastSeq` (and `seq` on single
    /// frames), a replay only `streamSeq` and `replay: true`.
    #[test]
    fn prop_catch_up_frames_fit_their_limits(
        rows in stream(),
        replay in any::<bool>(),
        timestamp in timestamp(),
    ) {
        let numbering = if replay { Numbering::Replay } else { Numbering::Cursor };
        let frames = frames(&rows, numbering, &timestamp);
        let (_, parsed) = read(&frames);
        for (frame, value) in frames.iter().zip(&parsed) {
            prop_assert_eq!(frame.fits_reply, frame.text.len() < MAX_REPLY_FRAME_BYTES);
            let batch = value.get("entries").or(value.get("pieces")).and_then(Value::as_array);
            if let Some(batch) = batch {
                prop_assert!(!batch.is_empty() && batch.len() <= MAX_BATCH_ENTITIES);
                prop_assert!(frame.fits_reply || batch.len() == 1, "{} entities in {} bytes", batch.len(), frame.text.len());
            } else if !frame.fits_reply {
                prop_assert!(value["type"] == "PLAN_UPDATED" || value["type"] == "PLAN_OCCURRENCE_COMPLETED");
            }
            prop_assert_eq!(value["timestamp"].as_str(), Some(timestamp.as_str()));
            let has = |key: &str| value.get(key).is_some();
            if replay {
                prop_assert!(value["streamSeq"].is_u64() && value["replay"] == true);
                prop_assert!(!has("seq") && !has("lastSeq"));
            } else {
                // Cursor numbers wait for the last row of a seq (see the cursor property).
                prop_assert!(!has("streamSeq") && !has("replay"));
                if has("lastSeq") {
                    prop_assert!(value["lastSeq"].is_u64());
                    prop_assert_eq!(has("seq"), batch.is_none());
                } else {
                    prop_assert!(!has("seq"));
                }
            }
        }
    }

    /// The cursor rule (docs/protocol.md §8): after any frame of a cursor reply, every change at
    /// or below the highest `seq`/`lastSeq` seen so far is on the device; after the last,
    /// the cursor is the highest seq sent.
    #[test]
    fn prop_catch_up_cursor_never_runs_ahead(rows in stream(), timestamp in timestamp()) {
        let frames = frames(&rows, Numbering::Cursor, &timestamp);
        let (_, parsed) = read(&frames);
        let mut on_device = BTreeSet::new();
        let mut cursor = 0;
        for (i, value) in parsed.iter().enumerate() {
            let (delivered, _) = read(&frames[i..=i]);
            on_device.extend(delivered.into_iter().map(|(t, id, _)| (t, id)));
            let numbers = [&value["seq"], &value["lastSeq"]].into_iter().filter_map(Value::as_u64);
            cursor = numbers.fold(cursor, u64::max);
            for row in rows.iter().filter(|r| r.seq <= cursor) {
                let skipped = row.data.is_none() && matches!(row.entity_type, EntityType::Plan | EntityType::Occurrence);
                prop_assert!(
                    skipped || on_device.contains(&(row.entity_type, row.entity_id.clone())),
                    "cursor {} after frame {} but {:?} {} (seq {}) not sent", cursor, i, row.entity_type, row.entity_id, row.seq
                );
            }
        }
        let sent = rows.iter().filter(|r| goes_out(r)).map(|r| r.seq).max();
        prop_assert_eq!(cursor, sent.unwrap_or(0));
    }

    /// Arbitrary rows (any ids, any data, any seqs, duplicates of a seq, tombstones of any
    /// type): never a panic, every live entry and piece and every entry and piece tombstone
    /// delivered.
    #[test]
    fn prop_catch_up_of_arbitrary_rows_never_panics(
        rows in vec(
            (
                proptest::sample::select(vec![EntityType::Entry, EntityType::Piece, EntityType::Plan, EntityType::Occurrence]),
                "\\PC{0,8}",
                proptest::option::of(prop_oneof![
                    Just(Value::Null),
                    "\\PC{0,8}".prop_map(Value::from),
                    any::<i64>().prop_map(Value::from),
                    ("\\PC{0,8}", 0usize..3000).prop_map(|(id, pad)| json!({"id": id, "scoreId": id, "pad": "x".repeat(pad)})),
                ]),
                prop_oneof![0u64..8, any::<u64>()],
            ).prop_map(|(entity_type, entity_id, data, seq)| Row { entity_type, entity_id, data, seq }),
            0..300,
        ),
        replay in any::<bool>(),
    ) {
        let numbering = if replay { Numbering::Replay } else { Numbering::Cursor };
        let frames = frames(&rows, numbering, "2026-11-24T00:00:00.000Z");
        let mut count = 0;
        for frame in &frames {
            let value: Value = serde_json::from_str(&frame.text).unwrap();
            count += match value["type"].as_str().unwrap() {
                "BULK_SYNC" => value["entries"].as_array().unwrap().len(),
                "REPERTOIRE_BULK_SYNC" => value["pieces"].as_array().unwrap().len(),
                "ENTRY_DELETED" | "PIECE_REMOVED" => 1,
                _ => 0,
            };
        }
        let expected = rows.iter().filter(|r| matches!(r.entity_type, EntityType::Entry | EntityType::Piece)).count();
        prop_assert_eq!(count, expected);
    }
}
