//! Spin-safe storage, through the real host opening SQLite as Spin does (`--sqlite-mode spin`: a
//! new connection per request, the file's own journal mode): against a database file created in
//! rollback-journal mode, concurrent writers of many users all get their mutations acknowledged
//! with dense seqs, because the coordinator's migration switches the file to WAL and retries
//! writes that meet a lock.
//!
//! How often the plain load hits a lock SQLite's busy handler gives up on depends on the machine
//! (on Spin 4.0.2, 5–6 of 1,000 writes in 2 of 6 runs). A reader holding a read transaction makes
//! it certain: with a rollback journal no write can commit until the reader ends, so every write
//! waits out the busy timeout and fails; in WAL mode the writers never wait for it.

use e2e::device::{Device, timestamp};
use e2e::{HostConfig, app_manifest};
use serde_json::json;
use std::collections::BTreeSet;

/// 50 users × 5 devices × 4 writes sent without waiting for acks: 20 in flight per user.
const LOAD: Load = Load {
    users: 50,
    devices_per_user: 5,
    writes_per_device: 4,
};

#[derive(Clone, Copy)]
struct Load {
    users: usize,
    devices_per_user: usize,
    writes_per_device: usize,
}

/// A database file as Spin creates its default one: rollback journal (`journal_mode=delete`).
fn rollback_journal_database(state_dir: &std::path::Path) {
    let db = rusqlite::Connection::open(state_dir.join("sqlite_db.db")).unwrap();
    let mode: String = db
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

/// Sends every write of one user from its devices at once; returns the acked seqs, panicking on
/// any other answer (an `ERROR "Sync write failed"` above all).
async fn write_all(gateway: String, user: String, load: Load) -> Vec<u64> {
    let mut devices = Vec::new();
    for _ in 0..load.devices_per_user {
        devices.push(Device::connect_with_retry(&gateway, &user, 5).await.0);
    }
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(d, mut device)| {
            let user = user.clone();
            tokio::spawn(async move {
                for n in 0..load.writes_per_device {
                    let entry = json!({"id": format!("{user}-d{d}-{n}"), "duration": 30, "updatedAt": "2026-01-01T00:00:00Z"});
                    device
                        .send(json!({"type": "ENTRY_UPDATED", "timestamp": timestamp(), "entry": entry}))
                        .await;
                }
                let mut seqs = Vec::new();
                while seqs.len() < load.writes_per_device {
                    let frame = device.recv().await;
                    match frame["type"].as_str() {
                        Some("SYNC_RESPONSE") => seqs.push(frame["streamSeq"].as_u64().unwrap()),
                        Some("ENTRY_UPDATED") => {} // the other device's writes, relayed
                        _ => panic!("{user} d{d}: {frame}"),
                    }
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs
}

fn spin_like_host(state_dir: &std::path::Path) -> e2e::Host {
    HostConfig::new(app_manifest())
        .state_dir(state_dir)
        .through_pushpin(false)
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "100000")
        .start_with_args(&["--sqlite-mode", "spin"])
        .unwrap()
}

/// Runs `load` against `host`: every write of every user must be acked once, with seqs 1..=n.
async fn run_load(host: &e2e::Host, load: Load) {
    let tasks: Vec<_> = (0..load.users)
        .map(|u| {
            tokio::spawn(write_all(
                host.gateway_url.clone(),
                format!("user{u}"),
                load,
            ))
        })
        .collect();
    let per_user = (load.devices_per_user * load.writes_per_device) as u64;
    for (u, task) in tasks.into_iter().enumerate() {
        let seqs: BTreeSet<u64> = task.await.unwrap().into_iter().collect();
        assert_eq!(
            seqs,
            (1..=per_user).collect::<BTreeSet<u64>>(),
            "user{u}: every write acked once, seqs dense"
        );
    }
}

fn journal_mode(state_dir: &std::path::Path) -> String {
    rusqlite::Connection::open(state_dir.join("sqlite_db.db"))
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_on_a_rollback_journal_database_all_get_acked_with_dense_seqs() {
    let state = tempfile::tempdir().unwrap();
    rollback_journal_database(state.path());
    let host = spin_like_host(state.path());
    run_load(&host, LOAD).await;
    assert_eq!(
        journal_mode(state.path()),
        "wal",
        "the coordinator's migration switched the file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writers_do_not_wait_for_a_long_reader_once_the_migration_has_run() {
    let state = tempfile::tempdir().unwrap();
    rollback_journal_database(state.path());
    let host = spin_like_host(state.path());
    // The first request runs the migration.
    Device::connect(&host.gateway_url, "first")
        .await
        .close()
        .await;
    // A reader in the middle of a read transaction (a long catch-up, a backup, an operator's
    // shell) for as long as the writes take.
    let reader = rusqlite::Connection::open(state.path().join("sqlite_db.db")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let streams: i64 = reader
        .query_row("SELECT count(*) FROM streams", [], |r| r.get(0))
        .unwrap();
    assert_eq!(streams, 1);
    run_load(
        &host,
        Load {
            users: 10,
            devices_per_user: 2,
            writes_per_device: 5,
        },
    )
    .await;
    reader.execute_batch("COMMIT").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_logs_its_reason_without_request_data() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let db = rusqlite::Connection::open(host.state_dir().join("sqlite_db.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute_batch("CREATE TRIGGER poison BEFORE INSERT ON entities WHEN NEW.entity_id = 'secret-entry' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;").unwrap();
    device
        .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": "secret-entry", "notes": "private notes"}}))
        .await;
    let error = device.recv().await;
    assert_eq!(error["error"], "Sync write failed");
    let logs = host.wait_for_log("coordinator: sync write failed");
    let line = logs
        .lines()
        .find(|l| l.contains("coordinator: sync write failed"))
        .unwrap();
    assert!(line.contains("injected failure"), "{line}");
    for private in ["secret-entry", "private notes", "alice"] {
        assert!(
            !logs.contains(private),
            "{private} reached the log:\n{logs}"
        );
    }
}
