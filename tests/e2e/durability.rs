//! An ack means the mutation is stored: a host killed with SIGKILL while devices write in windows
//! (so commits are batched and share flushes) keeps every mutation it acknowledged, with each
//! user's seqs dense from 1, and serves them after a restart.

use e2e::device::{Device, timestamp};
use e2e::{HostConfig, app_manifest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const USERS: usize = 4;
const DEVICES_PER_USER: usize = 2;
/// Frames a device sends before reading their answers.
const WINDOW: usize = 8;
/// Acks seen before the host is killed.
const ACKS_BEFORE_KILL: usize = 400;

/// Writes windows of mutations until the connection ends; returns (entry id, seq) of every ack.
async fn write_until_killed(
    mut device: Device,
    name: String,
    acked: Arc<AtomicUsize>,
    enough: Arc<tokio::sync::Notify>,
) -> Vec<(String, u64)> {
    let mut acks = Vec::new();
    for round in 0.. {
        let mut ids = Vec::new();
        for n in 0..WINDOW {
            let id = format!("{name}-{round}-{n}");
            let entry = json!({"id": id, "duration": 1, "updatedAt": "2026-01-01T00:00:00Z"});
            let frame = json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
                "eventId": format!("evt-{id}"), "entry": entry});
            device.send_or_end(frame).await.ok();
            ids.push(id);
        }
        for id in ids {
            let ack = loop {
                match device.try_recv_any().await {
                    Ok(frame) if frame["type"] == "SYNC_RESPONSE" => break frame,
                    Ok(frame) if frame["type"] == "ERROR" => panic!("{name}: {frame}"),
                    Ok(_) => continue, // the other device's relays
                    Err(_) => return acks,
                }
            };
            acks.push((id, ack["streamSeq"].as_u64().expect("an ack has its seq")));
            if acked.fetch_add(1, Ordering::SeqCst) + 1 == ACKS_BEFORE_KILL {
                enough.notify_one();
            }
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_mid_write_keeps_every_acked_mutation_with_dense_seqs() {
    let state = tempfile::tempdir().unwrap();
    // Lifted limits: this is about storage, not the rate limit.
    let config = || {
        HostConfig::new(app_manifest())
            .state_dir(state.path())
            .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "100000")
    };
    let host = config().start().unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut writers = Vec::new();
    for user in 0..USERS {
        for device in 0..DEVICES_PER_USER {
            let user = format!("user{user}");
            let connected = Device::connect(&host.gateway_url, &user).await;
            writers.push((
                user.clone(),
                tokio::spawn(write_until_killed(
                    connected,
                    format!("{user}-d{device}"),
                    acked.clone(),
                    enough.clone(),
                )),
            ));
        }
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), enough.notified())
        .await
        .expect("the writers never reached their acks (a writer failed?)");
    host.kill();
    let mut acks: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (user, writer) in writers {
        acks.entry(user).or_default().extend(writer.await.unwrap());
    }
    let total: usize = acks.values().map(Vec::len).sum();
    assert!(total >= ACKS_BEFORE_KILL);

    // Straight from the file, as the host left it: dense seqs, every acked write in place.
    let db = rusqlite::Connection::open(state.path().join("sqlite_db.db")).unwrap();
    for (user, user_acks) in &acks {
        let seqs: Vec<u64> = db
            .prepare("SELECT seq FROM applied_events WHERE user_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([user], |row| row.get::<_, i64>(0).map(|seq| seq as u64))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let dense: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, dense, "{user}: seqs are not dense");
        for (id, seq) in user_acks {
            let stored: u64 = db
                .query_row(
                    "SELECT seq FROM applied_events WHERE user_id = ?1 AND event_id = ?2",
                    [user, &format!("evt-{id}")],
                    |row| row.get::<_, i64>(0).map(|seq| seq as u64),
                )
                .unwrap_or_else(|e| panic!("{user}: acked {id} at seq {seq} is gone: {e}"));
            assert_eq!(stored, *seq, "{id}");
        }
    }
    drop(db);

    // And a restarted host serves them all.
    let host = config().start().unwrap();
    for (user, user_acks) in &acks {
        let mut device = Device::connect(&host.gateway_url, user).await;
        device
            .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
            .await;
        let (done, frames) = device.recv_until("SYNC_RESPONSE").await;
        let caught: Vec<&Value> = frames
            .iter()
            .filter(|f| f["type"] == "BULK_SYNC")
            .flat_map(|f| f["entries"].as_array().unwrap())
            .collect();
        for (id, _) in user_acks {
            assert!(
                caught.iter().any(|e| e["id"] == id.as_str()),
                "{user}: {id} not served"
            );
        }
        let head = user_acks.iter().map(|(_, seq)| *seq).max().unwrap();
        assert!(done["lastSeq"].as_u64().unwrap() >= head, "{done}");
    }
}
