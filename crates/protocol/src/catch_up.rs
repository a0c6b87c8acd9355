//! Catch-up (docs/protocol.md §4): the changed entities of one user, in seq order, turned into frames.
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
    /// because frames are in seq order, each entity comes at its latest state, and a frame carries
    /// numbers only when no row of its seq is left to send, so after any frame every entity whose
    /// latest change is at or below its number is on the device.
    Cursor,
    /// A replay the client did not ask for (docs/protocol.md §8, reconnect without `SYNC_REQUEST`):
    /// only *ext* `streamSeq` and `"replay": true`, so the cursor stays where the client's own
    /// catch-ups left it.
    Replay,
}

impl Numbering {
    /// Adds the numbers for a frame whose highest seq is `seq`. `seq_complete` says whether the
    /// frame holds the last row of that seq to go out: before then, a cursor number would tell
    /// the client it has every row of that seq while some are still to come (the occurrences a
    /// plan wrote go one a frame once the plan itself has moved on to a later seq).
    fn stamp(self, frame: &mut Value, seq: u64, with_seq: bool, seq_complete: bool) {
        let Value::Object(object) = frame else { return };
        match self {
            Numbering::Cursor if !seq_complete => {}
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
    /// Whether the last item is the last row of its seq to go out.
    seq_complete: bool,
}

/// Frame overhead around a batch's items: type, key, lastSeq, timestamp, brackets.
const BATCH_OVERHEAD: usize = 128;

fn batch_frame(batch: &Batch, numbering: Numbering, timestamp: &str) -> CatchUpFrame {
    let (kind, key) = match batch.entity_type {
        EntityType::Entry => ("BULK_SYNC", "entries"),
        _ => ("REPERTOIRE_BULK_SYNC", "pieces"),
    };
    let mut frame = json!({"type": kind, key: batch.items, "timestamp": timestamp});
    numbering.stamp(&mut frame, batch.last_seq, false, batch.seq_complete);
    let text = frame.to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

fn single(mut value: Value, numbering: Numbering, seq: u64, seq_complete: bool) -> CatchUpFrame {
    numbering.stamp(&mut value, seq, true, seq_complete);
    let text = value.to_string();
    CatchUpFrame {
        fits_reply: text.len() < MAX_REPLY_FRAME_BYTES,
        text,
    }
}

/// Whether a row goes out in some frame: no frame of the protocol deletes a plan or an occurrence.
fn goes_out(row: &Row) -> bool {
    row.data.is_some() || matches!(row.entity_type, EntityType::Entry | EntityType::Piece)
}

/// Turns `rows` (any order; sorted here by seq) into catch-up frames, without the final
/// `SYNC_RESPONSE`, which the caller adds with the stream's head.
pub fn frames(rows: &[Row], numbering: Numbering, timestamp: &str) -> Vec<CatchUpFrame> {
    let mut framer = Framer::new(rows, numbering, timestamp);
    let mut index = 0;
    while index < framer.rows.len() {
        let row = framer.rows[index];
        index += 1;
        let frame = match (&row.data, row.entity_type) {
            (Some(data), EntityType::Entry | EntityType::Piece) => {
                framer.add_to_batch(row, data, index);
                continue;
            }
            (None, EntityType::Entry) => {
                json!({"type": "ENTRY_DELETED", "entryId": row.entity_id, "timestamp": timestamp})
            }
            (None, EntityType::Piece) => {
                json!({"type": "PIECE_REMOVED", "scoreId": row.entity_id, "timestamp": timestamp})
            }
            (Some(plan), EntityType::Plan) => {
                let occurrences = framer.occurrences_written_with(row, &mut index);
                json!({"type": "PLAN_UPDATED", "plan": plan, "occurrences": occurrences, "timestamp": timestamp})
            }
            (Some(occurrence), EntityType::Occurrence) => {
                json!({"type": "PLAN_OCCURRENCE_COMPLETED", "occurrence": occurrence, "timestamp": timestamp})
            }
            // Plans and occurrences are never deleted by any frame of the protocol.
            (None, EntityType::Plan | EntityType::Occurrence) => continue,
        };
        framer.add_single(frame, row.seq, index);
    }
    framer.finish()
}

/// The frames of one catch-up under construction: the rows in order, the batch being filled and
/// the frames done.
struct Framer<'a> {
    rows: Vec<&'a Row>,
    numbering: Numbering,
    timestamp: &'a str,
    batch: Option<Batch>,
    out: Vec<CatchUpFrame>,
}

impl<'a> Framer<'a> {
    fn new(rows: &'a [Row], numbering: Numbering, timestamp: &'a str) -> Self {
        let mut rows: Vec<&Row> = rows.iter().collect();
        // Within one seq (a plan and its occurrences), the plan comes first.
        rows.sort_by_key(|r| (r.seq, r.entity_type));
        Framer {
            rows,
            numbering,
            timestamp,
            batch: None,
            out: Vec::new(),
        }
    }

    /// Whether the next row to go out after `rows[..index]` has another seq than `seq`.
    fn seq_complete(&self, index: usize, seq: u64) -> bool {
        self.rows[index..]
            .iter()
            .find(|next| goes_out(next))
            .is_none_or(|next| next.seq != seq)
    }

    fn flush(&mut self) {
        if let Some(done) = self.batch.take() {
            self.out
                .push(batch_frame(&done, self.numbering, self.timestamp));
        }
    }

    /// Adds a live entry or piece (`rows[index - 1]`) to the batch, starting a new one when it
    /// does not fit.
    fn add_to_batch(&mut self, row: &Row, data: &Value, index: usize) {
        let item_bytes = data.to_string().len() + 1;
        let fits = self.batch.as_ref().is_some_and(|b| {
            b.entity_type == row.entity_type
                && b.items.len() < MAX_BATCH_ENTITIES
                && BATCH_OVERHEAD + b.bytes + item_bytes < MAX_REPLY_FRAME_BYTES
        });
        if !fits {
            self.flush();
        }
        let seq_complete = self.seq_complete(index, row.seq);
        let current = self.batch.get_or_insert_with(|| Batch {
            entity_type: row.entity_type,
            items: Vec::new(),
            bytes: 0,
            last_seq: 0,
            seq_complete: true,
        });
        current.items.push(data.clone());
        current.bytes += item_bytes;
        current.last_seq = row.seq;
        current.seq_complete = seq_complete;
    }

    /// The live occurrences `plan` was written with (they follow it), taken from the rows.
    fn occurrences_written_with(&self, plan: &Row, index: &mut usize) -> Vec<Value> {
        let mut occurrences = Vec::new();
        while let Some(next) = self.rows.get(*index).filter(|n| {
            n.seq == plan.seq && n.entity_type == EntityType::Occurrence && n.data.is_some()
        }) {
            occurrences.push(next.data.clone().expect("filtered"));
            *index += 1;
        }
        occurrences
    }

    /// Adds a frame of its own for the row at `seq`, after the batch so far.
    fn add_single(&mut self, frame: Value, seq: u64, index: usize) {
        self.flush();
        let seq_complete = self.seq_complete(index, seq);
        self.out
            .push(single(frame, self.numbering, seq, seq_complete));
    }

    fn finish(mut self) -> Vec<CatchUpFrame> {
        self.flush();
        self.out
    }
}

#[cfg(test)]
mod tests;
