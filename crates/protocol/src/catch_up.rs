//! Catch-up (protocol.md §4): the changed entities of one user, in seq order, turned into frames.
//! Live entries and pieces are batched (≤ 250 a chunk, and every frame under 32 KiB because Pushpin
//! 1.36 never delivers a larger frame sent in a response); deletions are tombstones; a plan goes
//! out as `PLAN_UPDATED` with the occurrences written by the same mutation; an occurrence changed on
//! its own as `PLAN_OCCURRENCE_COMPLETED`.

use crate::entity::EntityType;
use serde_json::{Value, json};

pub const MAX_BATCH_ENTITIES: usize = 250;

/// Which numbers the frames carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// A reply to `SYNC_REQUEST`: `seq`/`lastSeq`, which move the Mirubato client's cursor. Safe
    /// because frames are in seq order and each entity comes at its latest state, so after any
    /// frame every entity whose latest change is at or below its number is on the device.
    Cursor,
    /// A replay the client did not ask for (protocol.md §8, reconnect without `SYNC_REQUEST`):
    /// only *ext* `streamSeq` and `"replay": true`, so the cursor stays where the client's own
    /// catch-ups left it.
    Replay,
}

impl Numbering {
    /// Adds the numbers for a frame whose highest seq is `seq`.
    fn stamp(self, frame: &mut Value, seq: u64, with_seq: bool) {
        let Value::Object(object) = frame else { return };
        match self {
            Numbering::Cursor => {
                if with_seq {
                    object.insert("seq".into(), seq.into());
                }
                object.insert("lastSeq".into(), seq.into());
            }
            Numbering::Replay => {
                object.insert(crate::server_frame::STREAM_SEQ.into(), seq.into());
                object.insert("replay".into(), true.into());
            }
        }
    }
}
/// Every frame is smaller than this; a single entity too big for it is flagged instead.
pub const MAX_REPLY_FRAME_BYTES: usize = 32 * 1024;

/// One stored entity, at its latest state.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub entity_type: EntityType,
    pub entity_id: String,
    /// `None` for a tombstone.
    pub data: Option<Value>,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatchUpFrame {
    pub text: String,
    /// False when the frame (a single oversized entity) is 32 KiB or more: send it by publishing,
    /// not in a response body.
    pub fits_reply: bool,
}

/// A batch under construction: entries or pieces.
struct Batch {
    entity_type: EntityType,
    items: Vec<Value>,
    /// Bytes of the items, commas included.
    bytes: usize,
    last_seq: u64,
}

/// Frame overhead around a batch's items: type, key, lastSeq, timestamp, brackets.
const BATCH_OVERHEAD: usize = 128;

fn batch_frame(batch: &Batch, numbering: Numbering, timestamp: &str) -> CatchUpFrame {
    let (kind, key) = match batch.entity_type {
        EntityType::Entry => ("BULK_SYNC", "entries"),
        _ => ("REPERTOIRE_BULK_SYNC", "pieces"),
    };
    let mut frame = json!({"type": kind, key: batch.items, "timestamp": timestamp});
    numbering.stamp(&mut frame, batch.last_seq, false);
    let text = frame.to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

fn single(mut value: Value, numbering: Numbering, seq: u64) -> CatchUpFrame {
    numbering.stamp(&mut value, seq, true);
    let text = value.to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

/// Turns `rows` (any order; sorted here by seq) into catch-up frames, without the final
/// `SYNC_RESPONSE`, which the caller adds with the stream's head.
pub fn frames(rows: &[Row], numbering: Numbering, timestamp: &str) -> Vec<CatchUpFrame> {
    let mut rows: Vec<&Row> = rows.iter().collect();
    // Within one seq (a plan and its occurrences), the plan comes first.
    rows.sort_by_key(|r| (r.seq, r.entity_type));
    let mut out = Vec::new();
    let mut batch: Option<Batch> = None;
    let flush = |batch: &mut Option<Batch>, out: &mut Vec<CatchUpFrame>| {
        if let Some(done) = batch.take() {
            out.push(batch_frame(&done, numbering, timestamp));
        }
    };
    let mut index = 0;
    while index < rows.len() {
        let row = rows[index];
        index += 1;
        match (&row.data, row.entity_type) {
            (Some(data), EntityType::Entry | EntityType::Piece) => {
                let item_bytes = data.to_string().len() + 1;
                let fits = batch.as_ref().is_some_and(|b| {
                    b.entity_type == row.entity_type
                        && b.items.len() < MAX_BATCH_ENTITIES
                        && BATCH_OVERHEAD + b.bytes + item_bytes < MAX_REPLY_FRAME_BYTES
                });
                if !fits {
                    flush(&mut batch, &mut out);
                    batch = Some(Batch {
                        entity_type: row.entity_type,
                        items: Vec::new(),
                        bytes: 0,
                        last_seq: 0,
                    });
                }
                let current = batch.as_mut().expect("started above");
                current.items.push(data.clone());
                current.bytes += item_bytes;
                current.last_seq = row.seq;
            }
            (None, EntityType::Entry) => {
                flush(&mut batch, &mut out);
                out.push(single(
                    json!({"type": "ENTRY_DELETED", "entryId": row.entity_id, "timestamp": timestamp}),
                    numbering,
                    row.seq,
                ));
            }
            (None, EntityType::Piece) => {
                flush(&mut batch, &mut out);
                out.push(single(
                    json!({"type": "PIECE_REMOVED", "scoreId": row.entity_id, "timestamp": timestamp}),
                    numbering,
                    row.seq,
                ));
            }
            (Some(plan), EntityType::Plan) => {
                flush(&mut batch, &mut out);
                let mut occurrences = Vec::new();
                while let Some(next) = rows.get(index).filter(|n| {
                    n.seq == row.seq && n.entity_type == EntityType::Occurrence && n.data.is_some()
                }) {
                    occurrences.push(next.data.clone().expect("filtered"));
                    index += 1;
                }
                out.push(single(
                    json!({"type": "PLAN_UPDATED", "plan": plan, "occurrences": occurrences, "timestamp": timestamp}),
                    numbering,
                    row.seq,
                ));
            }
            (Some(occurrence), EntityType::Occurrence) => {
                flush(&mut batch, &mut out);
                out.push(single(
                    json!({"type": "PLAN_OCCURRENCE_COMPLETED", "occurrence": occurrence, "timestamp": timestamp}),
                    numbering,
                    row.seq,
                ));
            }
            // Plans and occurrences are never deleted by any frame of the protocol.
            (None, EntityType::Plan | EntityType::Occurrence) => {}
        }
    }
    flush(&mut batch, &mut out);
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn nothing_changed_is_no_frames() {
        assert!(frames(&[], Numbering::Cursor, T).is_empty());
    }
}
