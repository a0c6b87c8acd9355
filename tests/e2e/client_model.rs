//! The unmodified Mirubato client against the real host: a model of its rules
//! (`e2e::client_model`, docs/protocol.md §8) run as several devices of several users, with random
//! mutations of every type and random drops of random length — shorter than the client's
//! "synced recently" threshold (it then reconnects without `SYNC_REQUEST`) and longer, some while
//! acks, relays and catch-ups are in flight — while the other devices keep writing. At the end every
//! device's local state must equal the server's state for its user, with no reconnect forced.
//!
//! The threshold (30 s in the real client) and the server's replay window are shrunk together, so
//! a run takes seconds. The seed is printed; `E2E_SEED=<n>` replays a run. The same test runs
//! through Pushpin in the suite's Pushpin pass (`E2E_GATEWAY=pushpin`).
//!
//! Scope of the workload: each device edits the entities it created (concurrent edits of one entity
//! are last-writer-wins, a separate matter), and makes only creates and updates while offline: the
//! real client applies the server's state over an unsent offline delete or re-create (it sends its
//! queue after its `SYNC_REQUEST`), which no server can repair (docs/delivery.md).

use e2e::client_model::{ClientModel, LocalState, apply, iso};
use e2e::device;
use e2e::workload::{CLOCK, Owned, Rng, entity_id, mutation, now_ms, undo};
use e2e::{HostConfig, app_manifest};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The client's 30-s rule, scaled down; its heartbeat (30 s in the real client) scales with it.
const THRESHOLD_MS: i64 = 1_500;
/// The server's replay window for this run: the threshold plus a margin, as the default is.
const REPLAY_WINDOW_SECONDS: u64 = 5;
const USERS: usize = 3;
const ACTIONS_PER_DEVICE: usize = 40;

type Socket = WebSocketStream<TcpStream>;

/// Counters a run reports, and checks it exercised what it is for.
#[derive(Default)]
struct Stats {
    short_drops: AtomicU64,
    long_drops: AtomicU64,
    sent: AtomicU64,
    /// Reconnects on which the client skipped `SYNC_REQUEST` (the case the original lost data in).
    skipped_sync_requests: AtomicU64,
    /// Devices done with their actions, their dropped sockets closed by the server.
    finished: AtomicU64,
}

/// One device: the client model and the socket it drives.
struct DeviceRun {
    user: String,
    name: String,
    gateway: String,
    token: String,
    model: ClientModel,
    socket: Option<Socket>,
    owned: Owned,
    rng: Rng,
    stats: Arc<Stats>,
    /// Drops in progress: each ends when the server closes the dropped socket.
    drains: Vec<tokio::task::JoinHandle<()>>,
    snapshots: Arc<Mutex<HashMap<String, LocalState>>>,
    changed: Arc<tokio::sync::Notify>,
    next_heartbeat: tokio::time::Instant,
    /// Mutations sent on this socket and not yet answered (ack, conflict or error).
    unanswered: u32,
    /// PONGs received, to await one.
    pongs: u64,
    /// Connections made so far, and on which one each entity was last changed.
    generation: u64,
    touched: HashMap<String, u64>,
}

impl DeviceRun {
    async fn send(&mut self, frame: Value) {
        if let Some(socket) = &mut self.socket {
            if frame["type"].as_str().is_some_and(is_mutation) {
                self.stats.sent.fetch_add(1, Ordering::SeqCst);
                self.unanswered += 1;
            }
            trace(&self.name, "out", &frame);
            if socket.send(Message::text(frame.to_string())).await.is_err() {
                self.lost_connection();
            }
        }
    }

    /// Connects (retrying a refused or failed attempt), then does what the client does on open.
    async fn connect(&mut self) {
        for _ in 0..100 {
            match device::open_socket(&self.gateway, &self.user, &self.token).await {
                Ok(socket) => {
                    self.socket = Some(socket);
                    self.unanswered = 0;
                    self.generation += 1;
                    for frame in self.model.on_open(now_ms()) {
                        self.send(frame).await;
                    }
                    self.next_heartbeat = tokio::time::Instant::now() + heartbeat();
                    return;
                }
                Err((Some(status), why)) if !matches!(status, 429 | 502 | 503) => {
                    panic!("{}: connect refused with {status}: {why}", self.name)
                }
                Err(_) => {
                    let wait = self.rng.between(20, 200);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        panic!("{}: could not connect", self.name);
    }

    /// The network goes away: nothing more arrives (frames in flight are lost), what was sent
    /// before has reached the server (FIN after the last frame), and the server sees the socket end.
    fn drop_connection(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            self.model.on_close();
            self.drains.push(tokio::spawn(async move {
                let _ = socket.get_mut().shutdown().await;
                let _ = tokio::time::timeout(Duration::from_secs(30), async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            }));
        }
    }

    /// The server ended the connection (e.g. 4002): the client reconnects, as on any code but 1000.
    fn lost_connection(&mut self) {
        self.socket = None;
        self.model.on_close();
    }

    /// Handles frames (and the heartbeat) for `duration`; reconnects when the server closed.
    async fn pump(&mut self, duration: Duration) {
        let until = tokio::time::Instant::now() + duration;
        loop {
            if self.socket.is_none() {
                self.connect().await;
            }
            let socket = self.socket.as_mut().expect("connected above");
            let wake = until.min(self.next_heartbeat);
            match tokio::time::timeout_at(wake, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    trace(&self.name, "in", &frame);
                    if frame["message"] == "Mutation applied"
                        || frame["type"] == "CONFLICT_DETECTED"
                        || frame["type"] == "ERROR"
                    {
                        self.unanswered = self.unanswered.saturating_sub(1);
                    }
                    if frame["type"] == "PONG" {
                        self.pongs += 1;
                    }
                    self.model.on_frame(&frame, now_ms());
                    self.publish_state();
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => self.lost_connection(),
                Err(_) if tokio::time::Instant::now() >= until => return,
                Err(_) => {
                    self.next_heartbeat = tokio::time::Instant::now() + heartbeat();
                    self.send(json!({"type": "PING", "timestamp": iso(now_ms())}))
                        .await;
                }
            }
        }
    }

    fn publish_state(&self) {
        self.snapshots
            .lock()
            .unwrap()
            .insert(self.name.clone(), self.model.state.clone());
        self.changed.notify_waiters();
    }

    /// One edit by the device's user. A delete or re-create is made only on an entity last changed
    /// on this connection, only once the server has closed the device's dropped connections (so
    /// every frame sent on them is processed), and only once a PING's PONG shows nothing the server
    /// sent earlier is still on its way: the client applies any server frame over its own newer
    /// local delete (a catch-up or replay read before it, a late relay of its previous connection's
    /// write), which the server cannot undo — the race is the client's (module comment).
    async fn change(&mut self, offline: bool) {
        let generation = self.generation;
        let touched = std::mem::take(&mut self.touched);
        let erasable = |id: &str| !offline && touched.get(id) == Some(&generation);
        let (frame, erases) = mutation(&mut self.rng, &self.name, &mut self.owned, &erasable);
        self.touched = touched;
        if let Some(id) = entity_id(&frame) {
            self.touched.insert(id, generation);
        }
        if erases && !self.quiet().await {
            // The connection ended while waiting: the user does not make this edit after all.
            undo(&mut self.owned, &frame);
            return;
        }
        if let Some(frame) = self.model.local_change(frame) {
            self.send(frame).await;
        }
        self.publish_state();
    }

    /// Waits for the dropped connections to end, then sends a PING and handles frames until its
    /// PONG; false when the connection ended first.
    async fn quiet(&mut self) -> bool {
        for drain in std::mem::take(&mut self.drains) {
            let _ = drain.await;
        }
        let (pongs, generation) = (self.pongs, self.generation);
        self.send(json!({"type": "PING", "timestamp": iso(now_ms())}))
            .await;
        let deadline = tokio::time::Instant::now() + device::FRAME_DEADLINE;
        while self.pongs == pongs
            && self.generation == generation
            && tokio::time::Instant::now() < deadline
        {
            self.pump(Duration::from_millis(10)).await;
        }
        self.pongs > pongs && self.generation == generation && self.socket.is_some()
    }

    /// The device's life: random edits, random drops of random length, then it stays online.
    async fn run(mut self, actions: usize, settle: Arc<tokio::sync::Notify>) {
        self.connect().await;
        for _ in 0..actions {
            let pause = self.rng.between(0, 40);
            self.pump(Duration::from_millis(pause)).await;
            if self.rng.below(6) > 0 {
                self.change(false).await;
                continue;
            }
            // A drop: often right after a send, so acks, relays and catch-ups are in flight. Pushpin
            // discards a client's frames still queued behind its request in flight when the client
            // goes away (measured: about 1 in 40 sent right before a drop never reached the app);
            // the unmodified client cannot know, so through Pushpin a device drops only once its
            // own mutations are answered — a limit of that client with that gateway, not the server's.
            if e2e::pushpin::enabled() || self.rng.below(2) == 0 {
                let deadline = tokio::time::Instant::now() + device::FRAME_DEADLINE;
                while self.unanswered > 0 && tokio::time::Instant::now() < deadline {
                    self.pump(Duration::from_millis(10)).await;
                }
            }
            self.drop_connection();
            let offline_ms = match self.rng.below(10) {
                0..=4 => {
                    self.stats.short_drops.fetch_add(1, Ordering::SeqCst);
                    self.rng.between(50, THRESHOLD_MS as u64 * 3 / 4)
                }
                5..=8 => {
                    self.stats.long_drops.fetch_add(1, Ordering::SeqCst);
                    self.rng
                        .between(THRESHOLD_MS as u64 + 300, 2 * THRESHOLD_MS as u64)
                }
                _ => {
                    self.stats.long_drops.fetch_add(1, Ordering::SeqCst);
                    self.rng.between(
                        REPLAY_WINDOW_SECONDS * 1000 + 500,
                        REPLAY_WINDOW_SECONDS * 1000 + 1500,
                    )
                }
            };
            let back = tokio::time::Instant::now() + Duration::from_millis(offline_ms);
            for _ in 0..self.rng.below(3) {
                self.change(true).await;
            }
            tokio::time::sleep_until(back).await;
            self.connect().await;
        }
        for drain in self.drains.drain(..) {
            let _ = drain.await;
        }
        self.stats.skipped_sync_requests.fetch_add(
            u64::from(self.model.skipped_sync_requests),
            Ordering::SeqCst,
        );
        self.stats.finished.fetch_add(1, Ordering::SeqCst);
        self.publish_state();
        // Online until the checker is done: live relays and the server's replays still arrive.
        let done = settle.notified();
        tokio::pin!(done);
        loop {
            tokio::select! {
                () = &mut done => return,
                () = self.pump(Duration::from_millis(100)) => {}
            }
        }
    }
}

/// Every frame in and out, for the failure message (lines naming a mismatched entity).
static TRACE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn trace(device: &str, direction: &str, frame: &Value) {
    let line = format!("{} {device} {direction} {frame}", now_ms());
    TRACE.lock().unwrap().push(line);
}

fn heartbeat() -> Duration {
    Duration::from_millis(THRESHOLD_MS as u64)
}

fn is_mutation(kind: &str) -> bool {
    kind.starts_with("ENTRY_") || kind.starts_with("PIECE_") || kind.starts_with("PLAN_")
}

/// The server's state for `user` and its head: a fresh device's full catch-up (cursor 0).
async fn server_state(gateway: &str, user: &str) -> (LocalState, u64) {
    let mut socket = device::open_socket(gateway, user, &device::token(user, 3600))
        .await
        .unwrap_or_else(|e| panic!("observer refused: {e:?}"));
    let request = json!({"type": "SYNC_REQUEST", "timestamp": iso(now_ms())});
    socket
        .send(Message::text(request.to_string()))
        .await
        .unwrap();
    let mut state = LocalState::new();
    loop {
        let message = tokio::time::timeout(device::FRAME_DEADLINE, socket.next())
            .await
            .expect("catch-up within the deadline")
            .expect("observer connection open")
            .expect("observer socket");
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        // Only the catch-up reply: it is the frames that carry `seq`/`lastSeq`.
        if frame.get("lastSeq").is_none() && frame.get("seq").is_none() {
            continue;
        }
        if frame["type"] == "SYNC_RESPONSE" {
            let _ = socket.close(None).await;
            return (state, frame["lastSeq"].as_u64().unwrap());
        }
        apply(&mut state, &frame);
    }
}

/// The first few differences of each mismatched device, for the failure message.
fn differences(
    devices: &[(String, String)],
    snapshots: &HashMap<String, LocalState>,
    servers: &HashMap<String, LocalState>,
) -> String {
    let empty = LocalState::new();
    let mut out = String::new();
    for (user, name) in devices {
        let (local, server) = (snapshots.get(name).unwrap_or(&empty), &servers[user]);
        let keys: std::collections::BTreeSet<_> = local.keys().chain(server.keys()).collect();
        for key in keys
            .into_iter()
            .filter(|k| local.get(*k) != server.get(*k))
            .take(5)
        {
            let quoted = format!("\"{}\"", key.1);
            for line in TRACE.lock().unwrap().iter().filter(|l| l.contains(&quoted)) {
                out += &format!("    {line}\n");
            }
            out += &format!(
                "  {name} {key:?}: device {:?}, server {:?}\n",
                local.get(key).map(Value::to_string),
                server.get(key).map(Value::to_string)
            );
        }
    }
    out
}

fn seed() -> u64 {
    std::env::var("E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() as u64 | 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_device_ends_with_the_servers_state_under_random_drops() {
    let seed = seed();
    eprintln!("client_model seed={seed} (E2E_SEED={seed} replays this run)");
    let host = HostConfig::new(app_manifest())
        .env(
            "SPIN_VARIABLE_REPLAY_WINDOW_SECONDS",
            &REPLAY_WINDOW_SECONDS.to_string(),
        )
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "100000")
        .start()
        .unwrap();
    CLOCK.store(now_ms(), Ordering::SeqCst);
    let mut rng = Rng(seed);
    let stats = Arc::new(Stats::default());
    let snapshots = Arc::new(Mutex::new(HashMap::new()));
    let changed = Arc::new(tokio::sync::Notify::new());
    let settle = Arc::new(tokio::sync::Notify::new());
    let mut devices: Vec<(String, String)> = Vec::new();
    let mut tasks = Vec::new();
    for u in 0..USERS {
        let user = format!("user{u}");
        for d in 0..3 + u.min(1) {
            let name = format!("u{u}d{d}");
            devices.push((user.clone(), name.clone()));
            let run = DeviceRun {
                token: device::token(&user, 3600),
                user: user.clone(),
                name,
                gateway: host.gateway_url.clone(),
                model: ClientModel::new(THRESHOLD_MS),
                socket: None,
                owned: Owned::default(),
                rng: Rng(rng.next_u64() | 1),
                stats: stats.clone(),
                drains: Vec::new(),
                snapshots: snapshots.clone(),
                changed: changed.clone(),
                next_heartbeat: tokio::time::Instant::now(),
                unanswered: 0,
                pongs: 0,
                generation: 0,
                touched: HashMap::new(),
            };
            tasks.push(tokio::spawn(run.run(ACTIONS_PER_DEVICE, settle.clone())));
        }
    }
    // Every mutation sent takes exactly one seq; the writers are done when the heads add up.
    let users: Vec<String> = (0..USERS).map(|u| format!("user{u}")).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut states: HashMap<String, LocalState>;
    let mut mismatched: Vec<String>;
    loop {
        let waiting = changed.notified();
        let mut heads = 0;
        states = HashMap::new();
        for user in &users {
            let (state, head) = server_state(&host.gateway_url, user).await;
            heads += head;
            states.insert(user.clone(), state);
        }
        let all_done = stats.finished.load(Ordering::SeqCst) == devices.len() as u64;
        let snapshot = snapshots.lock().unwrap().clone();
        mismatched = devices
            .iter()
            .filter(|(user, name)| snapshot.get(name) != states.get(user))
            .map(|(_, name)| name.clone())
            .collect();
        if all_done && heads == stats.sent.load(Ordering::SeqCst) && mismatched.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: devices {mismatched:?} differ from the server (heads {heads}, sent {}):\n{}",
            stats.sent.load(Ordering::SeqCst),
            differences(&devices, &snapshot, &states)
        );
        // A device's state changed, or a moment passed for the writers: look again.
        let _ = tokio::time::timeout(Duration::from_millis(500), waiting).await;
    }
    settle.notify_waiters();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let (short, long, skipped) = (
        stats.short_drops.load(Ordering::SeqCst),
        stats.long_drops.load(Ordering::SeqCst),
        stats.skipped_sync_requests.load(Ordering::SeqCst),
    );
    eprintln!(
        "seed {seed}: {} mutations, {short} short and {long} long drops, {skipped} reconnects \
         without SYNC_REQUEST, {} entities per user on average",
        stats.sent.load(Ordering::SeqCst),
        states.values().map(|s| s.len()).sum::<usize>() / USERS,
    );
    assert!(short > 0 && long > 0, "the run must drop devices both ways");
    assert!(
        skipped > 0,
        "the run must exercise reconnects without SYNC_REQUEST"
    );
}

// --- the model's own rules, checked without a server ---

const T0: i64 = 1_800_000_000_000;

#[test]
fn the_cursor_takes_the_highest_number_of_any_frame_and_never_decreases() {
    let mut client = ClientModel::new(30_000);
    client.on_frame(&json!({"type": "WELCOME", "lastSeq": 41}), T0);
    assert_eq!(client.cursor, 41);
    client.on_frame(
        &json!({"type": "ENTRY_CREATED", "seq": 7, "entry": {"id": "e"}}),
        T0,
    );
    assert_eq!(client.cursor, 41);
    client.on_frame(&json!({"type": "X", "seq": 50, "lastSeq": 45}), T0);
    assert_eq!(client.cursor, 50);
    client.on_frame(&json!({"type": "X", "headSeq": 90, "streamSeq": 90}), T0);
    assert_eq!(client.cursor, 50);
}

#[test]
fn sync_request_only_after_the_threshold_or_with_a_queue() {
    let mut client = ClientModel::new(30_000);
    // Never synced: asks, without a cursor of 0.
    let first = client.on_open(T0);
    assert_eq!(
        first,
        [json!({"type": "SYNC_REQUEST", "timestamp": iso(T0)})]
    );
    client.on_frame(
        &json!({"type": "BULK_SYNC", "entries": [], "lastSeq": 3, "timestamp": iso(T0)}),
        T0,
    );
    client.on_close();
    // Back within the threshold: nothing is sent.
    assert!(client.on_open(T0 + 29_000).is_empty());
    assert_eq!(client.skipped_sync_requests, 1);
    client.on_close();
    // Later than the threshold: asks from the cursor.
    let late = client.on_open(T0 + 31_000);
    assert_eq!(late[0]["lastSeq"], 3);
    client.on_close();
    // Within it, but with queued changes: asks, then flushes them in order.
    client
        .local_change(json!({"type": "ENTRY_CREATED", "timestamp": iso(T0), "entry": {"id": "a"}}));
    client
        .local_change(json!({"type": "ENTRY_CREATED", "timestamp": iso(T0), "entry": {"id": "b"}}));
    let flushed = client.on_open(T0 + 31_000);
    let kinds: Vec<&str> = flushed
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["SYNC_REQUEST", "ENTRY_CREATED", "ENTRY_CREATED"]);
}

#[test]
fn a_data_frame_from_the_future_counts_as_now() {
    let mut client = ClientModel::new(30_000);
    client.on_frame(
        &json!({"type": "ENTRY_DELETED", "entryId": "e", "timestamp": iso(T0 + 60_000)}),
        T0,
    );
    assert!(client.on_open(T0 + 1_000).is_empty());
}

#[test]
fn stores_keep_the_newer_version_and_deletes_always_apply() {
    let mut state = LocalState::new();
    let entry = |n: i64| json!({"id": "e", "updatedAt": iso(T0 + n)});
    apply(
        &mut state,
        &json!({"type": "ENTRY_CREATED", "entry": entry(2)}),
    );
    apply(
        &mut state,
        &json!({"type": "BULK_SYNC", "entries": [entry(1)]}),
    );
    assert_eq!(state[&("entry".into(), "e".into())], entry(2));
    apply(
        &mut state,
        &json!({"type": "ENTRY_DELETED", "entryId": "e"}),
    );
    assert!(state.is_empty());
    let piece = json!({"scoreId": "p", "updatedAt": T0});
    apply(
        &mut state,
        &json!({"type": "REPERTOIRE_BULK_SYNC", "pieces": [piece]}),
    );
    apply(
        &mut state,
        &json!({"type": "PIECE_REMOVED", "scoreId": "p"}),
    );
    assert!(state.is_empty());
}

#[test]
fn the_offline_queue_keeps_the_newest_change_per_type_and_entity() {
    let mut client = ClientModel::new(30_000);
    let update = |n: i64| json!({"type": "ENTRY_UPDATED", "timestamp": iso(T0), "entry": {"id": "e", "updatedAt": iso(T0 + n)}});
    assert_eq!(client.local_change(update(1)), None);
    client.local_change(update(2));
    assert_eq!(client.queued(), 1);
    let sent = client.on_open(T0);
    assert_eq!(sent[1], update(2));
}
