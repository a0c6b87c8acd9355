//! Scenario `catch-up`: a new device catching up N changes — time from `SYNC_REQUEST` to the final
//! `SYNC_RESPONSE`. Baseline: reading the same rows straight from the SQLite file.

use crate::stats::{Summary, summarize};
use e2e::Host;
use e2e::device::{Device, timestamp};
use serde_json::json;
use std::time::Instant;

/// Writes `changes` entries for one user, `window` in flight at a time.
pub async fn populate(host: &Host, user: &str, changes: usize, window: usize) {
    let mut writer = Device::connect_with_retry(&host.gateway_url, user, 12)
        .await
        .0;
    let (mut sent, mut acked) = (0, 0);
    while acked < changes {
        while sent < changes && sent - acked < window {
            writer
                .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
                             "entry": {"id": format!("c{sent}"), "duration": 30, "notes": "scales, then the slow movement",
                                       "updatedAt": "2026-01-01T00:00:00.000Z"}}))
                .await;
            sent += 1;
        }
        let reply = writer.recv().await;
        if reply["type"] == "SYNC_RESPONSE" {
            acked += 1;
        }
    }
}

/// `rounds` fresh devices each catching up from 0; every round must deliver all `changes`.
pub async fn measure(
    host: &Host,
    user: &str,
    changes: usize,
    rounds: usize,
) -> anyhow::Result<Summary> {
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let mut device = Device::connect_with_retry(&host.gateway_url, user, 12)
            .await
            .0;
        let started = Instant::now();
        device
            .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
            .await;
        let (done, frames) = device.recv_until("SYNC_RESPONSE").await;
        samples.push(started.elapsed());
        let entries: usize = frames
            .iter()
            .map(|f| f["entries"].as_array().map_or(0, Vec::len))
            .sum();
        anyhow::ensure!(
            entries == changes,
            "caught up {entries} of {changes} ({done})"
        );
        device.close().await;
    }
    summarize(&mut samples).ok_or_else(|| anyhow::anyhow!("no rounds"))
}

/// entity_type, entity_id, data, deleted_at, seq — what the coordinator's catch-up reads.
type CatchUpRow = (String, String, Option<String>, Option<i64>, i64);

/// Reading the user's rows in seq order straight from the host's database file.
pub fn sqlite_baseline(host: &Host, user: &str, rounds: usize) -> anyhow::Result<Summary> {
    let db = rusqlite::Connection::open_with_flags(
        host.state_dir().join("sqlite_db.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let mut statement = db.prepare_cached(
            "SELECT entity_type, entity_id, data, deleted_at, seq FROM entities WHERE user_id = ?1 AND seq > 0 ORDER BY seq",
        )?;
        let rows: Vec<CatchUpRow> = statement
            .query_map([user], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        samples.push(started.elapsed());
        anyhow::ensure!(!rows.is_empty(), "the baseline read no rows");
    }
    summarize(&mut samples).ok_or_else(|| anyhow::anyhow!("no rounds"))
}
