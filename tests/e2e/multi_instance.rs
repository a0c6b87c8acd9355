//! Several `sync-host --no-gateway` instances sharing one Redis key-value store and one database
//! (a runtime config) — a SQLite file, or in the `…_over_libsql` tests a real libSQL server
//! (`sqld`), which instances that share no disk use — behind real Pushpin: relays cross instances, seqs stay dense and in commit
//! order, the rate limit and the connection cap are shared, and a killed instance loses no
//! acknowledged mutation while its devices carry on through the others.
//!
//! Pushpin tries a route's targets in order (the first that accepts a connection serves it) and
//! keeps a connection on its target, so the tests choose where a device lands by the Pushpin it
//! uses: with two Pushpins listing the instances in opposite orders, a device on each is served by
//! a different instance.

use e2e::cluster::{Cluster, Stop, Storage};
use e2e::device::{Device, timestamp};
use e2e::shared_database::SharedDatabase;
use e2e::steady_writers::UNLIMITED;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn entry_frame(id: &str) -> Value {
    json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "eventId": format!("evt-{id}"),
        "entry": {"id": id, "duration": 1, "updatedAt": "2026-01-01T00:00:00Z"}})
}

/// A device that hears nothing for this long takes its connection for dead and reconnects.
const DEAD_PEER: Duration = Duration::from_secs(10);

/// Sends `ids` in one window and reads their acks; relays from other devices are skipped.
/// Returns (id, seq) per ack, or why the connection ended (or went silent).
async fn write_window(device: &mut Device, ids: &[String]) -> Result<Vec<(String, u64)>, String> {
    for id in ids {
        device.send_or_end(entry_frame(id)).await?;
    }
    let mut acks = Vec::new();
    while acks.len() < ids.len() {
        let frame = device.try_recv_any_within(DEAD_PEER).await?;
        match frame["type"].as_str() {
            Some("SYNC_RESPONSE") => {
                let seq = frame["streamSeq"].as_u64().expect("an ack has its seq");
                acks.push((ids[acks.len()].clone(), seq));
            }
            Some("ERROR") => panic!("{frame}"),
            _ => {}
        }
    }
    Ok(acks)
}

/// Every seq of `user` in the shared database, in commit (row) order.
fn stored_seqs(cluster: &Cluster, user: &str) -> Vec<u64> {
    (cluster.database)
        .integers(
            "SELECT seq FROM applied_events WHERE user_id = ?1 ORDER BY rowid",
            &[user],
        )
        .into_iter()
        .map(|seq| seq as u64)
        .collect()
}

fn stored_seq_of(cluster: &Cluster, user: &str, id: &str) -> Option<u64> {
    let seqs = cluster.database.integers(
        "SELECT seq FROM applied_events WHERE user_id = ?1 AND event_id = ?2",
        &[user, &format!("evt-{id}")],
    );
    seqs.first().map(|&seq| seq as u64)
}

/// Reads until the relay of entry `id` arrives; returns its seq.
async fn relay_of(device: &mut Device, id: &str) -> u64 {
    loop {
        let frame = device.recv_any().await;
        if frame["entry"]["id"] == id {
            return frame["streamSeq"]
                .as_u64()
                .unwrap_or_else(|| panic!("{frame}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn relays_cross_instances_and_pushpins_and_seqs_stay_dense_in_commit_order() {
    relays_cross(Storage::File).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn relays_cross_instances_and_pushpins_and_seqs_stay_dense_in_commit_order_over_libsql() {
    relays_cross(Storage::Libsql).await;
}

async fn relays_cross(storage: Storage) {
    // Pushpin 0 serves from instance 0 (then 1); Pushpin 1 from instance 1 (then 0). Each
    // instance publishes to both Pushpins.
    let cluster = Cluster::start_on(storage, 2, &[&[0, 1], &[1, 0]], &UNLIMITED);
    if storage == Storage::Libsql {
        // Apart: each instance, and the database with Redis, at an address of its own, none of
        // them loopback.
        let SharedDatabase::Libsql(sqld) = &cluster.database else {
            unreachable!()
        };
        let urls = [
            &cluster.host(0).url,
            &cluster.host(1).url,
            &cluster.redis.url,
            &sqld.url,
        ];
        let addresses: BTreeSet<&str> = (urls.iter())
            .map(|url| url.split("//").nth(1).unwrap().split(':').next().unwrap())
            .collect();
        assert!(
            !addresses.iter().any(|a| a.starts_with("127.")),
            "{addresses:?}"
        );
        assert_eq!(addresses.len(), 3, "{addresses:?}");
    }
    let mut on_first = Device::connect(&cluster.gateways[0], "alice").await;
    let mut on_second = Device::connect(&cluster.gateways[1], "alice").await;
    let served = |n| cluster.ws_requests(n);
    let before = (served(0), served(1));

    let acks = write_window(&mut on_first, &["from-first".into()])
        .await
        .unwrap();
    assert_eq!(relay_of(&mut on_second, "from-first").await, acks[0].1);
    let acks = write_window(&mut on_second, &["from-second".into()])
        .await
        .unwrap();
    assert_eq!(relay_of(&mut on_first, "from-second").await, acks[0].1);
    assert!(served(0) > before.0, "instance 0 served the first device");
    assert!(served(1) > before.1, "instance 1 served the second device");

    // Four devices, two on each Pushpin, write at once: every seq is taken once, the user's
    // seqs are dense, and seq order is commit order.
    let mut writers = Vec::new();
    for n in 0..4 {
        let gateway = cluster.gateways[n % 2].clone();
        writers.push(tokio::spawn(async move {
            let mut device = Device::connect(&gateway, "alice").await;
            let mut acks = Vec::new();
            for window in 0..5 {
                let ids: Vec<String> = (0..5).map(|k| format!("d{n}-{window}-{k}")).collect();
                acks.extend(write_window(&mut device, &ids).await.unwrap());
            }
            acks
        }));
    }
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    let seqs: BTreeSet<u64> = acked.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs.len(), acked.len(), "a seq was acked twice");
    let stored = stored_seqs(&cluster, "alice");
    let dense: Vec<u64> = (1..=stored.len() as u64).collect();
    assert_eq!(stored, dense, "seqs dense and in commit order");
    assert_eq!(stored.len(), acked.len() + 2);
    for (id, seq) in &acked {
        assert_eq!(stored_seq_of(&cluster, "alice", id), Some(*seq), "{id}");
    }
    assert!(
        served(0) > 0.0 && served(1) > 0.0,
        "both instances took the load"
    );
}

/// One Pushpin lists both instances; its devices are served by the first. That instance is
/// killed while they write: no acknowledged mutation is lost, seqs stay dense, and the devices
/// carry on through the other instance — reconnecting as the Mirubato client does after 1006
/// when their request was in flight, or without noticing when Pushpin's next request simply
/// went to the other target (which once made this test wait forever for a reconnect).
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_killed_under_load_loses_no_acked_mutation_and_devices_carry_on() {
    killed(Storage::File).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_killed_under_load_loses_no_acked_mutation_and_devices_carry_on_over_libsql() {
    killed(Storage::Libsql).await;
}

async fn killed(storage: Storage) {
    const DEVICES: usize = 4;
    const ACKS_BEFORE_KILL: usize = 120;
    const ACKS_AFTER_KILL: usize = 20;
    let mut cluster = Cluster::start_on(storage, 2, &[&[0, 1]], &UNLIMITED);
    let gateway = cluster.gateways[0].clone();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let enough = std::sync::Arc::new(tokio::sync::Notify::new());
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for n in 0..DEVICES {
        let user = format!("user{}", n % 2);
        let (gateway, acked, enough, killed) = (
            gateway.clone(),
            acked.clone(),
            enough.clone(),
            killed.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut device = Device::connect(&gateway, &user).await;
            let mut acks: Vec<(String, u64)> = Vec::new();
            let mut reconnects = 0;
            let mut after_kill = 0;
            let mut window = 0;
            let mut unacked: Vec<String> = Vec::new();
            while after_kill < ACKS_AFTER_KILL {
                // Acks of a window sent once the instance was dead show the device carried on.
                let sent_after_kill = killed.load(std::sync::atomic::Ordering::SeqCst);
                if unacked.is_empty() {
                    unacked = (0..4)
                        .map(|k| format!("{user}-d{n}-{window}-{k}"))
                        .collect();
                    window += 1;
                }
                match write_window(&mut device, &unacked).await {
                    Ok(window_acks) => {
                        if sent_after_kill {
                            after_kill += window_acks.len();
                        }
                        let total =
                            acked.fetch_add(window_acks.len(), std::sync::atomic::Ordering::SeqCst);
                        if total < ACKS_BEFORE_KILL && total + window_acks.len() >= ACKS_BEFORE_KILL
                        {
                            enough.notify_one();
                        }
                        acks.extend(window_acks);
                        unacked.clear();
                    }
                    Err(_) => {
                        // The connection ended with mutations unanswered: reconnect and send them
                        // again with the same event ids (a mutation that did commit is answered
                        // with its original seq).
                        reconnects += 1;
                        assert!(
                            reconnects <= 3,
                            "{user}-d{n}: reconnected {reconnects} times"
                        );
                        device = Device::connect_with_retry(&gateway, &user, 40).await.0;
                    }
                }
            }
            (user, acks, reconnects)
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("the writers never reached their acks");
    let served_before = cluster.ws_requests(1);
    cluster.kill(0);
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed_at = Instant::now();
    let mut reconnected = 0;
    let mut by_user: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for writer in writers {
        let (user, acks, reconnects) = tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("a device did not carry on after the kill")
            .unwrap();
        reconnected += usize::from(reconnects > 0);
        by_user.entry(user).or_default().extend(acks);
    }
    eprintln!(
        "devices carried on {:?} after the kill ({reconnected} of {DEVICES} reconnected)",
        killed_at.elapsed()
    );
    // Each writes without pause, so some request is always in flight: the kill breaks at least
    // that connection.
    assert!(reconnected >= 1, "the kill broke no device's connection");
    assert!(
        cluster.ws_requests(1) > served_before,
        "the surviving instance served the reconnected devices"
    );
    for (user, acks) in &by_user {
        let stored = stored_seqs(&cluster, user);
        let dense: Vec<u64> = (1..=stored.len() as u64).collect();
        assert_eq!(stored, dense, "{user}: seqs dense and in commit order");
        for (id, seq) in acks {
            assert_eq!(
                stored_seq_of(&cluster, user, id),
                Some(*seq),
                "{user}: acked {id}"
            );
        }
    }
}

/// The limits live in shared state, so they hold across instances. The rate limit is exact: every
/// check holds the shared database's write lock, so checks of one user's key never interleave and
/// at most `burst` frames pass at once, plus one per `60 s / rate_limit_per_minute` since. The cap
/// is exact too: registering is one transaction on the shared file, so however the opens
/// interleave, exactly the connections over [`CAP`] are closed with 4002.
#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_and_the_connection_cap_hold_across_instances() {
    limits(Storage::File).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_and_the_connection_cap_hold_across_instances_over_libsql() {
    limits(Storage::Libsql).await;
}

async fn limits(storage: Storage) {
    const BURST: usize = 14;
    const CAP: usize = 10;
    let cluster = Cluster::start_on(
        storage,
        2,
        &[&[0, 1], &[1, 0]],
        &[
            ("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1"),
            ("SPIN_VARIABLE_RATE_LIMIT_BURST", &BURST.to_string()),
        ],
    );
    // Four devices, two per instance, send 10 PINGs each at once: 40 frames against a burst of 14.
    let mut devices = Vec::new();
    for n in 0..4 {
        devices.push(Device::connect(&cluster.gateways[n % 2], "limited").await);
    }
    let started = Instant::now();
    let mut senders = Vec::new();
    for mut device in devices {
        senders.push(tokio::spawn(async move {
            for _ in 0..10 {
                device
                    .send(json!({"type": "PING", "timestamp": timestamp()}))
                    .await;
            }
            let (mut pongs, mut refused) = (0, 0);
            while pongs + refused < 10 {
                let frame = device.recv_any().await;
                match (frame["type"].as_str(), frame["code"].as_str()) {
                    (Some("PONG"), _) => pongs += 1,
                    (Some("ERROR"), Some("RATE_LIMITED")) => refused += 1,
                    _ => {}
                }
            }
            pongs
        }));
    }
    let mut passed = 0;
    for sender in senders {
        passed += sender.await.unwrap();
    }
    let refills = started.elapsed().as_secs() as usize / 60 + 1;
    assert!(
        (BURST..BURST + refills).contains(&passed),
        "{passed} PINGs passed; the bound is {BURST} (+{} refilled)",
        refills - 1
    );
    // sync-host's metrics count each instance's refusals too; Spin has no metrics endpoint.
    for n in (0..2).filter(|_| !e2e::spin::enabled()) {
        let refusals = e2e::metrics::sample(
            &cluster.metrics(n),
            "sync_host_app_counter_total",
            &[
                ("component", "coordinator"),
                ("name", "rate_limit_refusals"),
            ],
        );
        assert!(refusals > 0.0, "instance {n} counted its refusals");
    }

    // 13 connections of one user open at once through both instances: exactly 3 are closed.
    let opens: Vec<_> = (0..CAP + 3)
        .map(|n| {
            let gateway = cluster.gateways[n % 2].clone();
            tokio::spawn(async move { Device::connect_with_retry(&gateway, "capped", 10).await.0 })
        })
        .collect();
    let mut devices = Vec::new();
    for open in opens {
        devices.push(open.await.unwrap());
    }
    // Each device asks once: an evicted one is closed (by the published close, or at the latest
    // by its next request), a live one answers.
    let mut outcomes = Vec::new();
    for mut device in devices {
        outcomes.push(tokio::spawn(async move {
            device.ping_or_close().await.map_or(0, |(code, _)| code)
        }));
    }
    let mut codes = BTreeMap::new();
    for outcome in outcomes {
        *codes.entry(outcome.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        codes,
        BTreeMap::from([(0, CAP), (protocol::close::TOO_MANY_CONNECTIONS, 3)]),
        "0 = still open"
    );
}

/// A rolling restart (docs/operations.md, "Deploys"): two instances behind one Pushpin, each
/// stopped with SIGTERM and started again on its port in turn, while 200 devices of 50 users write
/// without pause. Pushpin holds the sockets and keeps each on its instance; a request that cannot
/// connect is tried again there after 1–2 s, by when the instance serves again. Pushpin does not
/// send a request again once its body went out, so a request lost by a stopping instance costs its
/// socket: sync-host finishes what it has read and hands its keep-alive connections back
/// (`server::handover`); Spin aborts what is in flight, so on Spin each instance is restarted
/// behind a `sync-host front`, as the procedure says. No socket closes, no acked mutation is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_behind_pushpin_closes_no_socket_and_loses_no_acked_mutation() {
    let cluster = match e2e::spin::enabled() {
        true => Cluster::start_fronted(2, &[&[0, 1]], &UNLIMITED),
        false => Cluster::start(2, &[&[0, 1]], &UNLIMITED),
    };
    rolling_restart(cluster, Stop::Term).await;
}

/// The same with each instance killed outright (SIGKILL: nothing of its shutdown runs), each
/// behind a `sync-host front`, which holds the requests while it is restarted.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_of_killed_instances_behind_fronts_closes_no_socket() {
    let cluster = Cluster::start_fronted(2, &[&[0, 1]], &UNLIMITED);
    rolling_restart(cluster, Stop::Kill).await;
}

/// Restarts each instance of `cluster` in turn under steady writers; asserts that no socket
/// closed and no acked mutation is lost, and reports the longest stall.
async fn rolling_restart(mut cluster: Cluster, stop: Stop) {
    use e2e::steady_writers::{SteadyWriters, longest_gap_since, lost_acks};
    let writers = SteadyWriters::start(&cluster.gateways[0], 50, 4).await;
    writers.await_more_acks(1000).await;
    let rolling = Instant::now();
    let mut restarts = Vec::new();
    for n in 0..2 {
        let restarting = Instant::now();
        tokio::task::block_in_place(|| cluster.restart(n, stop));
        restarts.push(format!(
            "instance {n} from {:?} to {:?}",
            restarting - rolling,
            rolling.elapsed()
        ));
        writers.await_more_acks(1000).await;
    }
    let reports = writers.stop().await;
    let closed: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            let (how, at) = r.ended.as_ref()?;
            let when = at.checked_duration_since(rolling).unwrap_or_default();
            Some(format!("{} at {when:?} ({how})", r.user))
        })
        .collect();
    eprintln!(
        "rolling restart on {} ({stop:?}; {}): {} acks, {} mutations refused as busy and sent \
         again; {} of {} sockets closed {closed:?}; the longest any device went without an ack: \
         {:?}",
        cluster.host(0).name,
        restarts.join(", "),
        reports.iter().map(|r| r.acked.len()).sum::<usize>(),
        reports.iter().map(|r| r.refused).sum::<usize>(),
        closed.len(),
        reports.len(),
        longest_gap_since(&reports, rolling)
    );
    assert_eq!(lost_acks(&cluster.database, &reports), Vec::<String>::new());
    assert_eq!(closed, Vec::<String>::new(), "no client socket closed");
}
