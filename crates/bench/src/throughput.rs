//! Scenario `throughput`: acked mutations per second, each committed to SQLite before its ack,
//! with every device keeping a window of mutations in flight. Baseline: the same rows written by
//! raw SQLite, one transaction each, with the host's durability settings (WAL, synchronous=FULL).

use crate::hosts::{Delta, Snapshot, Target};
use crate::stats::ratio;
use e2e::device::{Device, timestamp};
use serde_json::json;
use std::time::{Duration, Instant};

pub struct ThroughputResult {
    pub acked: usize,
    /// Mutations answered with anything but "Mutation applied" (an `ERROR` such as "Sync write
    /// failed"): not counted in `acked`.
    pub not_applied: usize,
    /// Mutations with no reply [`DRAIN`] after the sending stopped, or whose connection ended.
    pub unanswered: usize,
    /// Devices whose connection ended before all their replies came, and the first one's reason.
    pub ended: usize,
    pub first_end: Option<String>,
    pub elapsed: Duration,
}

impl ThroughputResult {
    pub fn per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }

    /// `; 3 connections ended early (first: …)`, or nothing.
    pub fn ends(&self) -> String {
        match &self.first_end {
            Some(why) => format!(
                "; {} connection(s) ended before their replies (first: {why})",
                self.ended
            ),
            None => String::new(),
        }
    }
}

/// How long devices wait for their last replies once the sending has stopped.
const DRAIN: Duration = Duration::from_secs(15);

/// `users` devices (one per user), each with `window` mutations in flight, for `seconds` (then
/// at most [`DRAIN`] for the replies still due).
pub async fn run(
    gateway: &str,
    users: usize,
    window: usize,
    seconds: f64,
) -> anyhow::Result<ThroughputResult> {
    let mut devices = Vec::new();
    for u in 0..users {
        devices.push(
            Device::connect_with_retry(gateway, &format!("tp{u}"), 12)
                .await
                .0,
        );
    }
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(seconds);
    let give_up = stop + DRAIN;
    let mut tasks = Vec::new();
    for (u, device) in devices.into_iter().enumerate() {
        tasks.push(tokio::spawn(keep_window_full(
            device, u, window, stop, give_up,
        )));
    }
    let (mut acked, mut not_applied, mut unanswered) = (0, 0, 0);
    let (mut ended, mut first_end) = (0, None);
    for task in tasks {
        let (done, failed, silent, end) = task.await?;
        acked += done;
        not_applied += failed;
        unanswered += silent;
        if let Some(why) = end {
            ended += 1;
            first_end.get_or_insert(why);
        }
    }
    Ok(ThroughputResult {
        acked,
        not_applied,
        unanswered,
        ended,
        first_end,
        elapsed: started.elapsed(),
    })
}

/// One device keeping `window` mutations in flight until `stop`, then awaiting the rest until
/// `give_up`. Returns the acked, the not applied and the unanswered mutations, and why the
/// connection ended, if it did.
async fn keep_window_full(
    mut device: Device,
    user: usize,
    window: usize,
    stop: Instant,
    give_up: Instant,
) -> (usize, usize, usize, Option<String>) {
    let frame = |n: usize| {
        json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "eventId": format!("tp{user}-{n}"),
               "entry": {"id": format!("e{n}"), "duration": 1, "updatedAt": "2026-01-01T00:00:00.000Z"}})
    };
    let (mut sent, mut acked, mut not_applied) = (0, 0, 0);
    let mut ended = None;
    while sent < window && ended.is_none() {
        ended = device.send_or_end(frame(sent)).await.err();
        sent += 1;
    }
    while acked + not_applied < sent && ended.is_none() {
        let left = give_up.saturating_duration_since(Instant::now());
        // Nothing within the time left (the rest is unanswered), or the connection ended.
        let reply = match device.try_recv_any_within(left).await {
            Ok(reply) => reply,
            Err(_) if Instant::now() >= give_up => break,
            Err(why) => {
                ended = Some(why);
                break;
            }
        };
        match reply["type"].as_str() {
            _ if reply["replay"] == true => continue,
            Some("SYNC_RESPONSE") if reply["message"] == "Mutation applied" => acked += 1,
            Some("SYNC_RESPONSE" | "ERROR") => not_applied += 1,
            _ => continue,
        }
        if Instant::now() < stop {
            ended = device.send_or_end(frame(sent)).await.err();
            sent += 1;
        }
    }
    (acked, not_applied, sent - acked - not_applied, ended)
}

/// [`run`] on a fresh host of `target`, printed beside the baseline's rate; returns it with what
/// the host used.
pub async fn on(
    target: Target,
    users: usize,
    window: usize,
    seconds: f64,
    baseline_per_second: f64,
) -> anyhow::Result<(ThroughputResult, Delta)> {
    let name = target.label();
    let host = target.start()?;
    let before = Snapshot::take(&host);
    let ours = run(&host.gateway_url, users, window, seconds).await?;
    let used = Snapshot::take(&host).since(&before, &host);
    println!(
        "{name}: {users} user(s): {:.0}/s ({} acked, {} not applied, {} unanswered, in {:.1} s) — ×{:.2} of baseline raw SQLite {baseline_per_second:.0}/s{}",
        ours.per_second(),
        ours.acked,
        ours.not_applied,
        ours.unanswered,
        ours.elapsed.as_secs_f64(),
        ratio(ours.per_second(), baseline_per_second),
        ours.ends(),
    );
    println!(
        "{name}: CPU over the run ({:.1} s, connects included): host {:.2} cores ({:.2} ms per acked mutation), Pushpin {:.2} cores, load generator {:.2} cores",
        used.wall.as_secs_f64(),
        used.cores(used.host_cpu),
        used.host_ms_per(ours.acked),
        used.cores(used.pushpin_cpu),
        used.cores(used.bench_cpu)
    );
    println!("{name}: {}", used.facts(ours.acked + ours.not_applied));
    Ok((ours, used))
}

/// Raw SQLite: the coordinator's write per mutation (stream seq, entity upsert, idempotency key),
/// one transaction each, single writer, for `seconds`.
pub fn sqlite_baseline(users: usize, seconds: f64) -> anyhow::Result<ThroughputResult> {
    let dir = tempfile::tempdir()?;
    let db = rusqlite::Connection::open(dir.path().join("baseline.db"))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(
        "CREATE TABLE streams (user_id TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL);
         CREATE TABLE entities (user_id TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
             data TEXT, updated_at INTEGER, deleted_at INTEGER, seq INTEGER NOT NULL,
             PRIMARY KEY (user_id, entity_type, entity_id));
         CREATE INDEX entities_by_seq ON entities (user_id, seq);
         CREATE TABLE applied_events (user_id TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL,
             applied_at INTEGER NOT NULL, PRIMARY KEY (user_id, event_id));",
    )?;
    let started = Instant::now();
    let stop = started + Duration::from_secs_f64(seconds);
    let mut n = 0usize;
    while Instant::now() < stop {
        let user = format!("tp{}", n % users);
        let data =
            json!({"id": format!("e{n}"), "duration": 1, "updatedAt": "2026-01-01T00:00:00.000Z"})
                .to_string();
        let tx = db.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO streams VALUES (?1, 'e', 0) ON CONFLICT (user_id) DO NOTHING",
            [&user],
        )?;
        let seq: i64 = tx.query_row(
            "UPDATE streams SET last_seq = last_seq + 1 WHERE user_id = ?1 RETURNING last_seq",
            [&user],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO entities VALUES (?1, 'entry', ?2, ?3, 0, NULL, ?4)
             ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET data = excluded.data, seq = excluded.seq",
            rusqlite::params![user, format!("e{n}"), data, seq],
        )?;
        tx.execute(
            "INSERT INTO applied_events VALUES (?1, ?2, ?3, 0)",
            rusqlite::params![user, format!("tp-{n}"), seq],
        )?;
        tx.commit()?;
        n += 1;
    }
    Ok(ThroughputResult {
        acked: n,
        not_applied: 0,
        unanswered: 0,
        ended: 0,
        first_end: None,
        elapsed: started.elapsed(),
    })
}
