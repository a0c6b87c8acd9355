//! Scenario `catch-up`: a new device catching up N changes — time from `SYNC_REQUEST` to the final
//! `SYNC_RESPONSE`. Baseline: reading the same rows straight from the SQLite file.

use crate::hosts::{Snapshot, Target};
use crate::stats::{Summary, print_summary, summarize};
use e2e::Host;
use e2e::device::{Device, timestamp};
use serde_json::json;
use std::time::Instant;

/// Writes `changes` entries for one user, `window` in flight at a time; returns how many were
/// answered with an `ERROR` (not written) instead of an ack.
pub async fn populate(host: &Host, user: &str, changes: usize, window: usize) -> usize {
    let mut writer = Device::connect_with_retry(&host.gateway_url, user, 12)
        .await
        .0;
    let (mut sent, mut acked, mut errors) = (0, 0, 0);
    while acked + errors < changes {
        while sent < changes && sent - acked - errors < window {
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
        } else if reply["type"] == "ERROR" {
            errors += 1;
        }
    }
    errors
}

/// `rounds` fresh devices each catching up from 0; every round must deliver all `changes` (those
/// written).
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

/// What [`on`] measured: catch-up times and the SQLite read of the same rows.
pub struct CatchUpRun {
    pub ours: Summary,
    pub baseline: Summary,
    /// Host CPU per catch-up.
    pub host_cpu_ms: f64,
}

/// A fresh host of `target`: `changes` written (64 in flight), then `rounds` catch-ups, printed
/// beside reading the same rows straight from its SQLite file.
pub async fn on(target: Target, changes: usize, rounds: usize) -> anyhow::Result<CatchUpRun> {
    let name = target.label();
    let host = target.start()?;
    let started = Instant::now();
    let errors = populate(&host, "catcher", changes, 64).await;
    let populating = started.elapsed();
    let before = Snapshot::take(&host);
    let ours = measure(&host, "catcher", changes - errors, rounds).await?;
    let used = Snapshot::take(&host).since(&before, &host);
    let baseline = sqlite_baseline(&host, "catcher", rounds)?;
    print_summary(
        &format!("{name}: SYNC_REQUEST → final SYNC_RESPONSE"),
        &ours,
        &baseline,
    );
    let host_cpu_ms = used.host_ms_per(rounds);
    println!(
        "{name}: writing the {changes} changes first took {:.1} s ({:.0}/s, 64 in flight, {errors} ERROR replies); host CPU per catch-up {host_cpu_ms:.1} ms; during the catch-ups: {}",
        populating.as_secs_f64(),
        changes as f64 / populating.as_secs_f64(),
        used.facts(0)
    );
    Ok(CatchUpRun {
        ours,
        baseline,
        host_cpu_ms,
    })
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
