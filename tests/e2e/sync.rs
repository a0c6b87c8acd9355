//! The sync service end to end: the real host with the coordinator component, real WebSocket
//! clients, real SQLite files (docs/protocol.md §1–§6). Runs through the embedded gateway, and again
//! through real Pushpin with `E2E_GATEWAY=pushpin` (scripts/test runs both); nothing here depends
//! on which gateway it is.

use e2e::device::{Device, timestamp, token};
use e2e::{Host, HostConfig, app_manifest, workspace_root};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A host whose rate limits do not get in the way of load-shaped tests.
fn unlimited() -> Host {
    HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "100000")
        .start()
        .unwrap()
}

fn entry(id: &str, updated_at: &str) -> Value {
    json!({"type": "ENTRY_UPDATED", "timestamp": timestamp(), "entry": {"id": id, "duration": 30, "updatedAt": updated_at}})
}

fn fixture_frames() -> Vec<Value> {
    std::fs::read_to_string(workspace_root().join("tests/fixtures/client-frames.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn handshake_refusals_are_http_statuses_with_json() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let gateway = &host.gateway_url;
    let good = token("alice", 3600);
    let cases = [
        (
            Device::try_connect(gateway, "", &good, None).await,
            400,
            json!({"error": "Missing userId or token"}),
        ),
        (
            Device::try_connect(gateway, "alice", "not-a-token", None).await,
            401,
            json!({"error": "Invalid or expired token"}),
        ),
        (
            Device::try_connect(gateway, "alice", &token("alice", -3600), None).await,
            401,
            json!({"error": "Invalid or expired token"}),
        ),
        (
            Device::try_connect(gateway, "mallory", &good, None).await,
            403,
            json!({"error": "User ID mismatch"}),
        ),
        (
            Device::try_connect(gateway, "alice", &good, Some("https://evil.example")).await,
            403,
            json!({"error": "Origin not allowed"}),
        ),
    ];
    for (index, (outcome, status, body)) in cases.into_iter().enumerate() {
        let refusal = outcome
            .err()
            .unwrap_or_else(|| panic!("case {index} connected"));
        assert_eq!(
            (refusal.status, refusal.body),
            (status, body),
            "case {index}"
        );
    }
    // An allowed browser origin connects.
    let device = Device::try_connect(gateway, "alice", &good, Some("http://localhost:3000")).await;
    assert!(device.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn welcome_carries_the_stream_position() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    assert_eq!(a.welcome["message"], "Connected to Mirubato sync");
    assert_eq!(a.welcome["headSeq"], 0);
    let epoch = a.welcome["epoch"].as_str().unwrap().to_string();
    assert!(!epoch.is_empty());
    a.send(entry("e1", "2026-01-01T00:00:00Z")).await;
    assert_eq!(a.recv().await["streamSeq"], 1);
    let b = Device::connect(&host.gateway_url, "alice").await;
    assert_eq!(
        (b.welcome["headSeq"].as_u64(), b.welcome["epoch"].as_str()),
        (Some(1), Some(epoch.as_str()))
    );
    assert!(b.welcome["tokenExpiresAt"].as_i64().unwrap() > auth::matrix::now());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutation_is_acked_to_the_sender_and_relayed_to_the_other_device() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    let mutations: Vec<Value> = fixture_frames()
        .into_iter()
        .filter(|f| f["type"] != "PING" && f["type"] != "SYNC_REQUEST" && f["type"] != "BULK_SYNC")
        .collect();
    assert_eq!(mutations.len(), 8);
    for (index, frame) in mutations.iter().enumerate() {
        let seq = index as u64 + 1;
        a.send(frame.clone()).await;
        let ack = a.recv().await;
        assert_eq!(
            (
                ack["type"].as_str(),
                ack["message"].as_str(),
                ack["streamSeq"].as_u64()
            ),
            (Some("SYNC_RESPONSE"), Some("Mutation applied"), Some(seq)),
            "{frame}"
        );
        let relay = b.recv().await;
        assert_eq!(
            (relay["type"].as_str(), relay["streamSeq"].as_u64()),
            (frame["type"].as_str(), Some(seq)),
            "{relay}"
        );
        for key in [
            "entry",
            "entryId",
            "piece",
            "scoreId",
            "plan",
            "occurrences",
            "occurrence",
        ] {
            assert_eq!(relay.get(key), frame.get(key), "{key} in {relay}");
        }
        a.assert_nothing_pending().await; // the sender never gets its own relay
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_isolated_under_concurrent_traffic() {
    let host = unlimited();
    let gateway = host.gateway_url.clone();
    let mut users = Vec::new();
    for u in 0..20 {
        let user = format!("user{u}");
        let mut devices = Vec::new();
        for _ in 0..3 {
            devices.push(Device::connect(&gateway, &user).await);
        }
        users.push((user, devices));
    }
    let tasks: Vec<_> = users
        .into_iter()
        .map(|(user, mut devices)| {
            tokio::spawn(async move {
                // Each device sends one entry; every device must see exactly the other two.
                for (d, device) in devices.iter_mut().enumerate() {
                    device
                        .send(entry(&format!("{user}-d{d}"), "2026-01-01T00:00:00Z"))
                        .await;
                }
                for (d, device) in devices.iter_mut().enumerate() {
                    let mut relayed = BTreeSet::new();
                    let mut acks = 0;
                    while acks < 1 || relayed.len() < 2 {
                        let frame = device.recv().await;
                        match frame["type"].as_str() {
                            Some("SYNC_RESPONSE") => acks += 1,
                            Some("ENTRY_UPDATED") => {
                                relayed.insert(frame["entry"]["id"].as_str().unwrap().to_string());
                            }
                            other => panic!("{user} d{d}: unexpected {other:?}"),
                        }
                    }
                    let expected: BTreeSet<String> = (0..3)
                        .filter(|o| *o != d)
                        .map(|o| format!("{user}-d{o}"))
                        .collect();
                    assert_eq!(relayed, expected, "{user} d{d}");
                    device.assert_nothing_pending().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seqs_are_dense_under_concurrent_writers_of_one_user() {
    let host = unlimited();
    let mut tasks = Vec::new();
    for d in 0..4 {
        let gateway = host.gateway_url.clone();
        tasks.push(tokio::spawn(async move {
            let mut device = Device::connect(&gateway, "alice").await;
            let mut seqs = Vec::new();
            for n in 0..200 {
                device
                    .send(entry(&format!("d{d}-{n}"), "2026-01-01T00:00:00Z"))
                    .await;
                let (ack, _) = device.recv_until("SYNC_RESPONSE").await;
                seqs.push(ack["streamSeq"].as_u64().unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a device's acks went backwards"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=800).collect::<Vec<u64>>());
    let mut late = Device::connect(&host.gateway_url, "alice").await;
    late.send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (done, chunks) = late.recv_until("SYNC_RESPONSE").await;
    assert_eq!(done["lastSeq"], 800);
    let caught_up: usize = chunks
        .iter()
        .map(|c| c["entries"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(caught_up, 800);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_event_is_written_once_even_across_a_reconnect() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    let frame = json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "eventId": "ev-42", "entry": {"id": "e42"}});
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    a.send(frame.clone()).await;
    let first = a.recv().await;
    a.send(frame.clone()).await;
    let second = a.recv().await;
    a.close().await;
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    a.send(frame.clone()).await;
    let third = a.recv().await;
    let seq = first["streamSeq"].as_u64().unwrap();
    assert_eq!(first.get("duplicate"), None);
    for retry in [&second, &third] {
        assert_eq!(
            (
                retry["streamSeq"].as_u64(),
                retry["duplicate"].as_bool(),
                retry["eventId"].as_str()
            ),
            (Some(seq), Some(true), Some("ev-42"))
        );
    }
    let relay = b.recv().await;
    assert_eq!(relay["streamSeq"].as_u64(), Some(seq));
    b.assert_nothing_pending().await; // exactly one relay
    assert_eq!(
        a.welcome["headSeq"].as_u64(),
        Some(seq),
        "a duplicate took a seq"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_update_is_a_conflict_and_is_not_relayed() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    a.send(entry("e1", "2026-01-01T12:00:00.000Z")).await;
    a.recv().await;
    b.recv().await;
    b.send(entry("e1", "2026-01-01T11:00:00.000Z")).await;
    let conflict = b.recv().await;
    assert_eq!(
        (
            conflict["type"].as_str(),
            conflict["entityType"].as_str(),
            conflict["entityId"].as_str()
        ),
        (Some("CONFLICT_DETECTED"), Some("entry"), Some("e1"))
    );
    assert_eq!(conflict["current"]["updatedAt"], "2026-01-01T12:00:00.000Z");
    a.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_is_reported_not_acked_not_relayed_and_leaves_nothing() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    // A real failure inside the real database file: a trigger that aborts one entity's write.
    let db = rusqlite::Connection::open(host.state_dir().join("sqlite_db.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute_batch("CREATE TRIGGER poison BEFORE INSERT ON entities WHEN NEW.entity_id = 'poison' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;").unwrap();
    a.send(json!({"type": "PLAN_CREATED", "timestamp": timestamp(), "plan": {"id": "p1"}, "occurrences": [{"id": "poison", "planId": "p1"}]})).await;
    let error = a.recv().await;
    assert_eq!(
        (error["type"].as_str(), error["error"].as_str()),
        (Some("ERROR"), Some("Sync write failed"))
    );
    b.assert_nothing_pending().await;
    let rows: i64 = db
        .query_row("SELECT count(*) FROM entities", [], |r| r.get(0))
        .unwrap();
    let head: i64 = db
        .query_row("SELECT coalesce(max(last_seq), 0) FROM streams", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!((rows, head), (0, 0), "a partial write was stored");
    // The next good write takes seq 1: nothing was skipped or consumed.
    a.send(entry("e1", "2026-01-01T00:00:00Z")).await;
    assert_eq!(a.recv().await["streamSeq"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_its_error_and_changes_nothing() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    let cases: Vec<(tokio_tungstenite::tungstenite::Message, &str)> = vec![
        (tokio_tungstenite::tungstenite::Message::text("{not json"), "Invalid JSON format"),
        (tokio_tungstenite::tungstenite::Message::text(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": 5}}).to_string()), "Invalid sync event format"),
        (tokio_tungstenite::tungstenite::Message::text(json!({"type": "TELEPORT", "timestamp": timestamp()}).to_string()), "Invalid sync event format"),
        (tokio_tungstenite::tungstenite::Message::binary(vec![1u8, 2, 3]), "Invalid sync event format"),
        (tokio_tungstenite::tungstenite::Message::text(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "userId": "mallory", "entry": {"id": "e1"}}).to_string()), "User ID mismatch"),
    ];
    for (message, expected) in cases {
        a.send_raw(message).await;
        let error = a.recv().await;
        assert_eq!(
            (error["type"].as_str(), error["error"].as_str()),
            (Some("ERROR"), Some(expected))
        );
    }
    a.assert_nothing_pending().await;
    b.assert_nothing_pending().await;
    let late = Device::connect(&host.gateway_url, "alice").await;
    assert_eq!(late.welcome["headSeq"], 0, "bad input was stored");
    // Oversized: the error, then close 1009.
    a.send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": "big", "notes": "x".repeat(70 * 1024)}})).await;
    let error = a.recv().await;
    assert_eq!(error["error"], "Message too large");
    assert_eq!(a.closed().await.0, 1009);
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_up_after_being_offline() {
    let host = unlimited();
    let gateway = host.gateway_url.clone();
    let mut offline = Device::connect(&gateway, "alice").await;
    offline
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (synced, _) = offline.recv_until("SYNC_RESPONSE").await;
    let cursor = synced["lastSeq"].as_u64().unwrap();
    offline.close().await;

    let mut a = Device::connect(&gateway, "alice").await;
    let mut expected_entries = BTreeMap::new();
    let mut expected_pieces = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for n in 0..450u32 {
        let id = format!("e{}", n % 150);
        let frame = if n % 10 == 9 {
            expected_entries.remove(&id);
            deleted.insert(id.clone());
            json!({"type": "ENTRY_DELETED", "timestamp": timestamp(), "entryId": id})
        } else {
            deleted.remove(&id);
            let body = json!({"id": id, "n": n, "updatedAt": format!("2026-01-01T00:{:02}:{:02}.000Z", n / 60, n % 60)});
            expected_entries.insert(id.clone(), body.clone());
            json!({"type": "ENTRY_UPDATED", "timestamp": timestamp(), "entry": body})
        };
        a.send(frame).await;
        a.recv_until("SYNC_RESPONSE").await;
    }
    for n in 0..140u32 {
        let id = format!("s{}", n % 70);
        let body = json!({"scoreId": id, "n": n, "updatedAt": 1_800_000_000_000i64 + i64::from(n)});
        expected_pieces.insert(id, body.clone());
        a.send(json!({"type": "PIECE_UPDATED", "timestamp": timestamp(), "piece": body}))
            .await;
        a.recv_until("SYNC_RESPONSE").await;
    }
    // Plans arrive by /broadcast from the API.
    let broadcast = auth::matrix::sign_hs256(
        e2e::TEST_JWT_SECRET,
        &json!({"typ": "broadcast", "exp": auth::matrix::now() + 120}),
    );
    for p in 0..10 {
        let body = json!({"userId": "alice", "events": [{"type": "PLAN_UPDATED", "plan": {"id": format!("p{p}")}}]});
        let reply = Host::agent()
            .post(format!("{}/broadcast", host.url))
            .header("authorization", format!("Bearer {broadcast}"))
            .send(body.to_string())
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
    }
    let head = cursor + 600;

    let mut back = Device::connect(&gateway, "alice").await;
    back.send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": cursor}))
        .await;
    let (done, frames) = back.recv_until("SYNC_RESPONSE").await;
    assert_eq!(done["lastSeq"].as_u64(), Some(head));
    let (mut entries, mut pieces, mut tombstones, mut plans) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for frame in &frames {
        assert!(
            frame.to_string().len() < 32 * 1024,
            "a frame of 32 KiB or more"
        );
        match frame["type"].as_str().unwrap() {
            "BULK_SYNC" => {
                for e in frame["entries"].as_array().unwrap() {
                    assert!(
                        entries
                            .insert(e["id"].as_str().unwrap().to_string(), e.clone())
                            .is_none(),
                        "entry sent twice"
                    );
                }
            }
            "REPERTOIRE_BULK_SYNC" => {
                for p in frame["pieces"].as_array().unwrap() {
                    assert!(
                        pieces
                            .insert(p["scoreId"].as_str().unwrap().to_string(), p.clone())
                            .is_none(),
                        "piece sent twice"
                    );
                }
            }
            "ENTRY_DELETED" => {
                assert!(tombstones.insert(frame["entryId"].as_str().unwrap().to_string()))
            }
            "PLAN_UPDATED" => {
                assert!(plans.insert(frame["plan"]["id"].as_str().unwrap().to_string()))
            }
            other => panic!("unexpected catch-up frame {other}"),
        }
    }
    assert_eq!(entries, expected_entries);
    assert_eq!(pieces, expected_pieces);
    assert_eq!(tombstones, deleted);
    assert_eq!(plans.len(), 10);
    // From zero: the whole state again, and nothing when already current.
    back.send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    let (full, _) = back.recv_until("SYNC_RESPONSE").await;
    assert_eq!(full["message"], "Sync complete");
    back.send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": head}))
        .await;
    let current = back.recv().await;
    assert_eq!(
        (current["message"].as_str(), current["lastSeq"].as_u64()),
        (Some("No new data to sync"), Some(head))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_epoch_or_future_cursor_requires_a_resync() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    a.send(entry("e1", "2026-01-01T00:00:00Z")).await;
    a.recv().await;
    for request in [
        json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 1, "epoch": "another-store"}),
        json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 99}),
    ] {
        a.send(request).await;
        let first = a.recv().await;
        assert_eq!(
            (first["message"].as_str(), first["recovered"].as_bool()),
            (Some("Resync required"), Some(false))
        );
        let (done, chunks) = a.recv_until("SYNC_RESPONSE").await;
        assert_eq!(done["lastSeq"], 1);
        assert_eq!(
            chunks[0]["entries"][0]["id"], "e1",
            "the stream is sent again from 0"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mirubato_client_sequence_works_unchanged() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut other = Device::connect(&host.gateway_url, "alice").await;
    let mut client = Device::connect(&host.gateway_url, "alice").await;
    // What the frontend does on connect: PING, SYNC_REQUEST, then its queued mutations.
    let mut relayed = 0;
    for frame in fixture_frames() {
        let kind = frame["type"].as_str().unwrap().to_string();
        client.send(frame).await;
        match kind.as_str() {
            "PING" => assert_eq!(client.recv().await["type"], "PONG"),
            "SYNC_REQUEST" => assert_eq!(client.recv().await["message"], "No new data to sync"),
            "BULK_SYNC" => client.assert_nothing_pending().await,
            _ => {
                assert_eq!(client.recv().await["message"], "Mutation applied");
                assert_eq!(other.recv().await["type"], kind.as_str());
                relayed += 1;
            }
        }
    }
    assert_eq!(relayed, 8);
    // And it receives other devices' changes as the frames it knows.
    other
        .send(entry("from-other", "2026-02-01T00:00:00Z"))
        .await;
    other.recv().await;
    let relay = client.recv().await;
    assert_eq!(
        (relay["type"].as_str(), relay["entry"]["id"].as_str()),
        (Some("ENTRY_UPDATED"), Some("from-other"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_band_auth_refreshes_the_token_and_a_bad_one_closes_4001() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::try_connect(&host.gateway_url, "alice", &token("alice", 30), None)
        .await
        .unwrap();
    // Within a minute of expiry: the next frame brings AUTH_EXPIRING.
    a.send(json!({"type": "PING", "timestamp": timestamp()}))
        .await;
    assert_eq!(a.recv().await["type"], "AUTH_EXPIRING");
    assert_eq!(a.recv().await["type"], "PONG");
    a.send(json!({"type": "AUTH", "timestamp": timestamp(), "token": token("alice", 7200)}))
        .await;
    let ok = a.recv().await;
    assert_eq!(ok["type"], "AUTH_OK");
    assert!(ok["expiresAt"].as_i64().unwrap() > auth::matrix::now() + 7000);
    a.assert_nothing_pending().await;
    a.send(json!({"type": "AUTH", "timestamp": timestamp(), "token": token("mallory", 7200)}))
        .await;
    assert_eq!(a.recv().await["type"], "ERROR");
    assert_eq!(a.closed().await.0, 4001);
}

/// The connections holding a slot in the registry, oldest first, as the coordinator stored them in
/// the SQLite database.
fn registry(host: &Host, user: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(host.state_dir().join("sqlite_db.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let mut statement = db
        .prepare(
            "SELECT connection_id FROM connections WHERE user_id = ?1 AND evicted_at IS NULL
             ORDER BY opened_at, rowid",
        )
        .unwrap();
    statement
        .query_map([user], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits (bounded) until the registry satisfies `done`: the gateway reports a vanished client
/// asynchronously, so this awaits that event.
async fn await_registry(host: &Host, user: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..500 {
        let entries = registry(host, user);
        if done(&entries) {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "the registry never reached the expected state: {:?}",
        registry(host, user)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_follows_connections_and_drops_vanished_clients() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let a = Device::connect(&host.gateway_url, "alice").await;
    let b = Device::connect(&host.gateway_url, "alice").await;
    let ids = |d: &Device| d.welcome["connectionId"].as_str().unwrap().to_string();
    let (a_id, b_id) = (ids(&a), ids(&b));
    assert_eq!(registry(&host, "alice"), vec![a_id.clone(), b_id.clone()]);
    a.close().await;
    assert_eq!(
        await_registry(&host, "alice", |e| e.len() == 1).await,
        vec![b_id]
    );
    b.abort(); // TCP gone without a close: the gateway sends DISCONNECT
    await_registry(&host, "alice", |e| e.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eleventh_connection_closes_the_oldest_with_4002() {
    let host = unlimited();
    let mut devices = Vec::new();
    for _ in 0..10 {
        devices.push(Device::connect(&host.gateway_url, "alice").await);
    }
    let newest = Device::connect(&host.gateway_url, "alice").await;
    let (code, _) = devices[0].closed().await;
    assert_eq!(code, 4002);
    let entries = registry(&host, "alice");
    assert_eq!(entries.len(), 10);
    assert!(entries.contains(&newest.welcome["connectionId"].as_str().unwrap().to_string()));
    devices[1].assert_nothing_pending().await;
}

fn post_broadcast(host: &Host, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut request = Host::agent().post(format!("{}/broadcast", host.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut reply = request.send(body.to_string()).unwrap();
    let status = reply.status().as_u16();
    (
        status,
        serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn broadcast_needs_a_broadcast_token_and_reaches_every_device() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    let body = json!({"userId": "alice", "events": [{"type": "PLAN_CREATED", "plan": {"id": "p1", "title": "Scales"}}]});
    let broadcast = auth::matrix::sign_hs256(
        e2e::TEST_JWT_SECRET,
        &json!({"typ": "broadcast", "exp": auth::matrix::now() + 120}),
    );
    let user_token = token("alice", 3600);
    for (headers, status) in [
        (vec![], 401),
        (vec![("authorization", format!("Bearer {user_token}"))], 401),
        (
            vec![("x-worker-auth", e2e::TEST_JWT_SECRET.to_string())],
            401,
        ), // legacy auth is off by default
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(post_broadcast(&host, &headers, &body).0, status);
    }
    let (status, reply) = post_broadcast(
        &host,
        &[("authorization", &format!("Bearer {broadcast}"))],
        &body,
    );
    assert_eq!(
        (status, reply),
        (200, json!({"success": true, "delivered": 1}))
    );
    for device in [&mut a, &mut b] {
        let frame = device.recv().await;
        assert_eq!(
            (
                frame["type"].as_str(),
                frame["plan"]["id"].as_str(),
                frame["streamSeq"].as_u64()
            ),
            (Some("PLAN_CREATED"), Some("p1"), Some(1))
        );
    }
    let (status, _) = post_broadcast(
        &host,
        &[("authorization", &format!("Bearer {broadcast}"))],
        &json!({"userId": "alice", "events": [{"type": "ENTRY_DELETED", "entryId": "e"}]}),
    );
    assert_eq!(status, 400, "only PLAN_* events are broadcast");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_broadcast_auth_only_when_enabled() {
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_ALLOW_LEGACY_BROADCAST_AUTH", "true")
        .start()
        .unwrap();
    let body =
        json!({"userId": "alice", "events": [{"type": "PLAN_UPDATED", "plan": {"id": "p1"}}]});
    assert_eq!(
        post_broadcast(&host, &[("x-worker-auth", e2e::TEST_JWT_SECRET)], &body).0,
        200
    );
    assert_eq!(
        post_broadcast(&host, &[("x-worker-auth", "wrong-secret")], &body).0,
        401
    );
}

/// A request that did not come through the gateway (no valid Grip-Sig) cannot borrow another
/// user's identity through forged `Meta-*` headers: the token in the query decides.
#[tokio::test(flavor = "multi_thread")]
async fn meta_headers_are_trusted_only_with_a_valid_grip_sig() {
    let grip_key = "mirubato-local-grip-key-change-me";
    // Configured, so the embedded gateway signs with it too (it makes up its own otherwise).
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_GRIP_KEY", grip_key)
        .start()
        .unwrap();
    let alice_token = token("alice", 3600);
    let text =
        json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": "forged"}})
            .to_string();
    let body = format!("TEXT {:x}\r\n{text}\r\n", text.len());
    let sig = |key: &str, iss: &str, exp_in: i64| {
        auth::matrix::sign_hs256(
            key,
            &json!({"iss": iss, "exp": auth::matrix::now() + exp_in}),
        )
    };
    let post = |grip_sig: Option<String>, connection: &str| {
        let mut request = Host::agent()
            .post(format!(
                "{}/sync/ws?userId=alice&token={alice_token}",
                host.url
            ))
            .header("content-type", "application/websocket-events")
            .header("connection-id", connection)
            .header("meta-user-id", "bob")
            .header("meta-token-exp", "9999999999");
        if let Some(sig) = grip_sig {
            request = request.header("grip-sig", sig);
        }
        let mut reply = request.send(body.clone()).unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        let reply_body = reply.body_mut().read_to_string().unwrap();
        assert!(reply_body.contains("Mutation applied"), "{reply_body}");
    };
    let untrusted = [
        ("missing", None),
        (
            "wrongly signed",
            Some(sig("not-the-grip-key", "mirubato-gateway", 600)),
        ),
        ("expired", Some(sig(grip_key, "mirubato-gateway", -600))),
        ("wrong iss", Some(sig(grip_key, "someone-else", 600))),
    ];
    for (index, (_why, grip_sig)) in untrusted.into_iter().enumerate() {
        // Meta-* ignored: the write lands in the token's user (alice), not in bob's stream.
        post(grip_sig, &format!("direct-{index}"));
    }
    let bob = Device::connect(&host.gateway_url, "bob").await;
    assert_eq!(
        bob.welcome["headSeq"], 0,
        "a Meta-User-Id without a valid Grip-Sig wrote into bob's stream"
    );
    let alice = Device::connect(&host.gateway_url, "alice").await;
    assert_eq!(alice.welcome["headSeq"], 4);
    // The control: the same request with a valid Grip-Sig is the gateway speaking, and trusted.
    post(Some(sig(grip_key, "mirubato-gateway", 600)), "direct-valid");
    let bob = Device::connect(&host.gateway_url, "bob").await;
    assert_eq!(bob.welcome["headSeq"], 1);
    // Without a usable token either, the request is refused with close 4001.
    let reply = Host::agent()
        .post(format!("{}/sync/ws?userId=alice&token=garbage", host.url))
        .header("content-type", "application/websocket-events")
        .header("connection-id", "direct-garbage")
        .header("meta-user-id", "alice")
        .send(body)
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert!(
        reply.starts_with(b"CLOSE"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_over_the_message_rate_is_refused_then_closed_1008() {
    let host = HostConfig::new(app_manifest())
        // One a minute: nothing refills while the test runs, however slowly it runs.
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "5")
        .start()
        .unwrap();
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut refused = 0;
    let mut applied = 0;
    loop {
        a.send(entry(
            &format!("e{}", applied + refused),
            "2026-01-01T00:00:00Z",
        ))
        .await;
        let frame = a.recv().await;
        match frame["type"].as_str() {
            Some("SYNC_RESPONSE") => applied += 1,
            Some("ERROR") => {
                assert_eq!(frame["error"], "Rate limit exceeded");
                assert!(frame["retryAfterMs"].as_u64().unwrap() > 0);
                refused += 1;
                if refused > 20 {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(applied, 5, "the burst");
    assert_eq!(a.closed().await.0, 1008);
}

/// Slow by nature: the close comes at the first keep-alive after `exp` + 60 s of grace.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_warned_then_closed_4001() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let mut a = Device::try_connect(&host.gateway_url, "alice", &token("alice", 2), None)
        .await
        .unwrap();
    a.send(json!({"type": "PING", "timestamp": timestamp()}))
        .await;
    assert_eq!(a.recv().await["type"], "AUTH_EXPIRING");
    let (code, reason) = a.closed_within(std::time::Duration::from_secs(120)).await;
    assert_eq!((code, reason.as_str()), (4001, "token expired"));
}

#[tokio::test(flavor = "multi_thread")]
async fn connecting_too_fast_is_refused_with_429_and_retry_after() {
    let host = HostConfig::new(app_manifest())
        // One a minute: three connects through Pushpin can take longer than a 1-s refill.
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "3")
        .start()
        .unwrap();
    let good = token("alice", 3600);
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(
            Device::try_connect(&host.gateway_url, "alice", &good, None)
                .await
                .expect("within the burst"),
        );
    }
    let refusal = Device::try_connect(&host.gateway_url, "alice", &good, None)
        .await
        .err()
        .expect("over the burst");
    assert_eq!(
        (refusal.status, refusal.body["error"].as_str()),
        (429, Some("Rate limit exceeded"))
    );
    assert!(refusal.body["retryAfterMs"].as_u64().unwrap() > 0);
    // Another user is not affected.
    assert!(
        Device::try_connect(&host.gateway_url, "bob", &token("bob", 3600), None)
            .await
            .is_ok()
    );
}
