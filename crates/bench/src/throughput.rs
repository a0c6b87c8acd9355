//! Scenario `throughput`: acked mutations per second, each committed to SQLite before its ack,
//! with every device keeping a window of mutations in flight. Baseline: the same rows written by
//! raw SQLite, one transaction each, with the host's durability settings (WAL, synchronous=FULL).

use e2e::device::{Device, timestamp};
use serde_json::json;
use std::time::{Duration, Instant};

pub struct ThroughputResult {
    pub acked: usize,
    pub elapsed: Duration,
}

impl ThroughputResult {
    pub fn per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64()
    }
}

/// `users` devices (one per user), each with `window` mutations in flight, for `seconds`.
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
    let mut tasks = Vec::new();
    for (u, mut device) in devices.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let frame = |n: usize| {
                json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "eventId": format!("tp{u}-{n}"),
                       "entry": {"id": format!("e{n}"), "duration": 1, "updatedAt": "2026-01-01T00:00:00.000Z"}})
            };
            let (mut sent, mut acked) = (0, 0);
            while sent < window {
                device.send(frame(sent)).await;
                sent += 1;
            }
            while acked < sent {
                let reply = device.recv().await;
                if reply["type"] != "SYNC_RESPONSE" {
                    continue;
                }
                assert_eq!(reply["message"], "Mutation applied", "{reply}");
                acked += 1;
                if Instant::now() < stop {
                    device.send(frame(sent)).await;
                    sent += 1;
                }
            }
            acked
        }));
    }
    let mut acked = 0;
    for task in tasks {
        acked += task.await?;
    }
    Ok(ThroughputResult {
        acked,
        elapsed: started.elapsed(),
    })
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
        elapsed: started.elapsed(),
    })
}
