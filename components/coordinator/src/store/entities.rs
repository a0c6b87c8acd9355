//! Entities at their latest state (a deletion is a tombstone), each stamped with the seq and the
//! time of its latest change; and the reads of what changed since a seq or a moment.

use super::transaction::run;
use super::{Applied, Result, Since, Stream, busy, streams};
use crate::sql::{Rows, Sql, SqlValue};
use protocol::catch_up::Row;
use protocol::client_frame::{Change, Mutation};
use protocol::entity::{EntityType, updated_at_millis};
use serde_json::Value;

/// The conflict `mutation` meets, if any: a change whose `updatedAt` is older than the stored
/// live entity's (the stored state wins, and is sent back).
pub(super) fn conflict(db: &dyn Sql, user: &str, mutation: &Mutation) -> Result<Option<Applied>> {
    for change in &mutation.changes {
        let Some(incoming) = change.data.as_ref().and_then(updated_at_millis) else {
            continue;
        };
        let rows = run(
            db,
            "SELECT data, updated_at, seq FROM entities
             WHERE user_id = ? AND entity_type = ? AND entity_id = ? AND deleted_at IS NULL",
            &[
                user.into(),
                change.entity_type.as_str().into(),
                change.entity_id.as_str().into(),
            ],
        )?;
        let Some(stored) = rows.first() else { continue };
        if stored[1]
            .as_i64()
            .is_some_and(|stored_at| incoming < stored_at)
        {
            let current = stored[0]
                .as_str()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            return Ok(Some(Applied::Conflict {
                entity_type: change.entity_type,
                entity_id: change.entity_id.clone(),
                current,
                seq: stored[2].as_i64().unwrap_or_default() as u64,
            }));
        }
    }
    Ok(None)
}

/// Stores `change` as the entity's latest state (a tombstone for a deletion), changed at `seq`.
pub(super) fn store(
    db: &dyn Sql,
    user: &str,
    change: &Change,
    seq: i64,
    now_ms: i64,
) -> Result<()> {
    let (data, updated_at, deleted_at) = match &change.data {
        Some(data) => (
            SqlValue::Text(data.to_string()),
            updated_at_millis(data).into(),
            SqlValue::Null,
        ),
        None => (SqlValue::Null, SqlValue::Null, now_ms.into()),
    };
    run(
        db,
        "INSERT INTO entities (user_id, entity_type, entity_id, data, updated_at, deleted_at, seq, changed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET
             data = excluded.data, updated_at = excluded.updated_at,
             deleted_at = excluded.deleted_at, seq = excluded.seq, changed_at = excluded.changed_at",
        &[user.into(), change.entity_type.as_str().into(), change.entity_id.as_str().into(), data, updated_at, deleted_at, seq.into(), now_ms.into()],
    )
    .map(drop)
}

/// Every entity of `user` changed since `since`, at its latest state, with the stream head,
/// read in one transaction so the head and the rows agree.
pub fn changes_since(db: &dyn Sql, user: &str, since: Since) -> Result<(Option<Stream>, Vec<Row>)> {
    busy::retry("catch-up read", busy::BUDGET, || {
        changes_since_once(db, user, since)
    })
}

fn changes_since_once(
    db: &dyn Sql,
    user: &str,
    since: Since,
) -> Result<(Option<Stream>, Vec<Row>)> {
    run(db, "BEGIN", &[])?;
    let read = || -> Result<(Option<Stream>, Vec<Row>)> {
        let head = streams::stream(db, user)?;
        let (condition, bound) = match since {
            Since::Seq(seq) => ("seq > ?", seq as i64),
            Since::CommittedAt(ms) => ("changed_at >= ?", ms),
        };
        let rows = run(
            db,
            &format!(
                "SELECT entity_type, entity_id, data, deleted_at, seq FROM entities
                 WHERE user_id = ? AND {condition} ORDER BY seq"
            ),
            &[user.into(), bound.into()],
        )?;
        Ok((head, catch_up_rows(rows)))
    };
    let result = read();
    let _ = db.execute("COMMIT", &[]);
    result
}

/// The rows of `SELECT entity_type, entity_id, data, deleted_at, seq`, as catch-up reads them
/// (a row it cannot read is left out).
fn catch_up_rows(rows: Rows) -> Vec<Row> {
    rows.into_iter()
        .filter_map(|row| {
            let entity_type = EntityType::parse(row[0].as_str()?)?;
            let data = match row[3] {
                SqlValue::Null => row[2].as_str().and_then(|d| serde_json::from_str(d).ok()),
                _ => None,
            };
            Some(Row {
                entity_type,
                entity_id: row[1].as_str()?.to_string(),
                data,
                seq: row[4].as_i64()? as u64,
            })
        })
        .collect()
}
