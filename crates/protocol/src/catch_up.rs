//! Catch-up (protocol.md §4): the changed entities of one user, in seq order, turned into frames.
//! Live entries and pieces are batched (≤ 250 a chunk, and every frame under 32 KiB because Pushpin
//! 1.36 never delivers a larger frame sent in a response); deletions are tombstones; a plan goes
//! out as `PLAN_UPDATED` with the occurrences written by the same mutation; an occurrence changed on
//! its own as `PLAN_OCCURRENCE_COMPLETED`.

use crate::entity::EntityType;
use serde_json::{Value, json};

pub const MAX_BATCH_ENTITIES: usize = 250;
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

fn batch_frame(batch: &Batch, timestamp: &str) -> CatchUpFrame {
    let (kind, key) = match batch.entity_type {
        EntityType::Entry => ("BULK_SYNC", "entries"),
        _ => ("REPERTOIRE_BULK_SYNC", "pieces"),
    };
    let text =
        json!({"type": kind, key: batch.items, "lastSeq": batch.last_seq, "timestamp": timestamp})
            .to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

fn single(value: Value) -> CatchUpFrame {
    let text = value.to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

/// Turns `rows` (any order; sorted here by seq) into catch-up frames, without the final
/// `SYNC_RESPONSE`, which the caller adds with the stream's head.
pub fn frames(rows: &[Row], timestamp: &str) -> Vec<CatchUpFrame> {
    let mut rows: Vec<&Row> = rows.iter().collect();
    // Within one seq (a plan and its occurrences), the plan comes first.
    rows.sort_by_key(|r| (r.seq, r.entity_type));
    let mut out = Vec::new();
    let mut batch: Option<Batch> = None;
    let flush = |batch: &mut Option<Batch>, out: &mut Vec<CatchUpFrame>| {
        if let Some(done) = batch.take() {
            out.push(batch_frame(&done, timestamp));
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
                out.push(single(json!({"type": "ENTRY_DELETED", "entryId": row.entity_id, "seq": row.seq, "lastSeq": row.seq, "timestamp": timestamp})));
            }
            (None, EntityType::Piece) => {
                flush(&mut batch, &mut out);
                out.push(single(json!({"type": "PIECE_REMOVED", "scoreId": row.entity_id, "seq": row.seq, "lastSeq": row.seq, "timestamp": timestamp})));
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
                out.push(single(json!({"type": "PLAN_UPDATED", "plan": plan, "occurrences": occurrences, "seq": row.seq, "lastSeq": row.seq, "timestamp": timestamp})));
            }
            (Some(occurrence), EntityType::Occurrence) => {
                flush(&mut batch, &mut out);
                out.push(single(json!({"type": "PLAN_OCCURRENCE_COMPLETED", "occurrence": occurrence, "seq": row.seq, "lastSeq": row.seq, "timestamp": timestamp})));
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
        let frames = frames(&rows, T);
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
        let out = frames(&rows, T);
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

        let huge = frames(&[live(EntityType::Entry, "big", 1, 40 * 1024)], T);
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
        let out: Vec<Value> = frames(&rows, T).iter().map(parse).collect();
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
    fn nothing_changed_is_no_frames() {
        assert!(frames(&[], T).is_empty());
    }
}
