//! Scenario `soak`: a long, steady load on one fresh sync-host (embedded gateway, rate limits
//! lifted) watched for growth. U users × D devices; every device sends its share of a fixed
//! mutation rate; a share of the sockets closes, stays away a moment and reconnects each minute
//! (spread over the minute), each catching up from its cursor after `WELCOME` (and getting the
//! host's replay); a few more devices catch up without reconnecting. Reported per window and over
//! the run: ack and relay latency; over the run: the per-hour slope of the host's RSS, open files
//! and WAL size (least squares over per-minute samples), acks lost (every mutation must be acked
//! exactly once), relays lost (live relays due on a connection open throughout), and whether every
//! acked mutation reached every other device of its user by relay, replay or catch-up.
//!
//! Bounded: the sending stops after `--minutes`; every device then waits at most [`ACK_TIMEOUT`]
//! for its acks, catches up once more from its cursor and stops at [`FINISH`] after the sending,
//! whatever is still missing counting as lost. Loopback only.

use crate::hosts::{Snapshot, Target};
use crate::procfs;
use crate::relay::{UNBOUNDED_WAIT, connect_users};
use crate::stats::{Summary, ms, ratio, slope, summarize};
use e2e::Host;
use e2e::device::{Attempt, Device, timestamp, token};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct SoakOptions {
    pub minutes: u64,
    pub users: usize,
    pub devices: usize,
    /// Mutations per second over all devices.
    pub rate: f64,
    /// Share of the sockets that close and reconnect each minute, in percent.
    pub reconnect_percent: f64,
    /// Catch-ups per minute on top of the reconnects' (devices that stay connected).
    pub extra_catch_ups: f64,
    /// How long a planned reconnect stays away between close and connect (what other devices
    /// commit meanwhile must come by the replay after `WELCOME` or the catch-up).
    pub offline: Duration,
    pub window_minutes: u64,
}

impl SoakOptions {
    fn sockets(&self) -> usize {
        self.users * self.devices
    }
}

/// A mutation unacked this long means a dead connection: the device reconnects and resends it
/// with the same `eventId` (the host acks a retry once, without applying it again).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// A catch-up whose final `SYNC_RESPONSE` has not come within this counts as unanswered.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// After the sending stops: when every device catches up a last time (once its own acks are in).
const SETTLE: Duration = Duration::from_secs(5);
/// The last catch-ups are spread over this, not one burst of every device at once.
const FINAL_SPREAD: Duration = Duration::from_secs(5);
/// After the sending stops: when every device stops, whatever it still lacks counting as lost.
const FINISH: Duration = Duration::from_secs(20);
/// A relay is expected live on a connection that was open from before the mutation was sent
/// until this long after its ack.
const LIVE_GRACE: Duration = Duration::from_secs(5);
/// A reconnect gives up after this many attempts (a failure is reported, not a panic).
const CONNECT_ATTEMPTS: u32 = 8;
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How an entity reached a device (bits of [`DeviceReport::seen`]).
const LIVE: u8 = 1;
const REPLAY: u8 = 2;
const CATCH_UP: u8 = 4;
const FINAL_CATCH_UP: u8 = 8;

/// What happened in one window of the run, by the time it happened.
#[derive(Default, Clone)]
struct Window {
    ack: Vec<Duration>,
    relay: Vec<Duration>,
    catch_up: Vec<Duration>,
    /// The last catch-ups, after the sending (not in the windows' catch-up figure).
    final_catch_up: Vec<Duration>,
    /// Connect → `WELCOME` of a reconnect (its retries included, the time away not).
    reconnect: Vec<Duration>,
    sent: usize,
    reconnects: usize,
    drops: usize,
}

/// The run's clock and the windows every device records into.
struct Shared {
    /// Zero of the `sentNs` carried in every mutation (relay latency across tasks).
    epoch: Instant,
    start: Instant,
    send_stop: Instant,
    finish: Instant,
    window: Duration,
    windows: Mutex<Vec<Window>>,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut Window)) {
        let index = Instant::now()
            .saturating_duration_since(self.start)
            .as_nanos()
            / self.window.as_nanos();
        let mut windows = self.windows.lock().unwrap();
        let last = windows.len() - 1;
        f(&mut windows[(index as usize).min(last)]);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    Reconnect,
    CatchUp,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CatchUpKind {
    /// After a reconnect.
    Reconnect,
    /// A device that stays connected.
    Extra,
    /// The last one, after the sending stopped.
    Final,
}

/// One device's part of the load.
struct Plan {
    user: usize,
    slot: usize,
    first_send: Instant,
    send_every: Duration,
    /// When it catches up a last time (the devices spread over [`FINAL_SPREAD`]).
    final_at: Instant,
    /// In time order.
    events: Vec<(Instant, Event)>,
}

/// Spreads `n` indices apart: consecutive `k` land on devices of different users (a step near
/// n × 0.618, coprime with n, so every index comes once in n steps).
fn scatter(k: usize, n: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let step = (((n as f64) * 0.618) as usize..)
        .find(|&s| s > 0 && gcd(s, n) == 1)
        .unwrap_or(1);
    (k * step) % n
}

fn plans(options: &SoakOptions, start: Instant) -> Vec<Plan> {
    let n = options.sockets();
    let run = Duration::from_secs(options.minutes * 60);
    // Every device sends every n/rate seconds, the devices staggered evenly over one interval.
    let send_every = Duration::from_secs_f64(n as f64 / options.rate);
    let mut plans: Vec<Plan> = (0..n)
        .map(|d| Plan {
            user: d / options.devices,
            slot: d % options.devices,
            first_send: start,
            send_every,
            final_at: start,
            events: Vec::new(),
        })
        .collect();
    let final_at = start + run + SETTLE;
    for k in 0..n {
        let plan = &mut plans[scatter(k, n)];
        plan.first_send = start + send_every.mul_f64(k as f64 / n as f64);
        plan.final_at = final_at + FINAL_SPREAD.mul_f64(k as f64 / n as f64);
    }
    // Events evenly spaced over the run, each on the next device in scattered order.
    let mut spread = |per_minute: f64, event: Event, shift: usize| {
        if per_minute <= 0.0 {
            return;
        }
        let every = Duration::from_secs_f64(60.0 / per_minute);
        let count = (run.as_secs_f64() / every.as_secs_f64()).floor() as usize;
        for k in 0..count {
            let at = start + every.mul_f64(k as f64 + 0.5);
            plans[scatter(k + shift, n)].events.push((at, event));
        }
    };
    spread(
        n as f64 * options.reconnect_percent / 100.0,
        Event::Reconnect,
        0,
    );
    spread(options.extra_catch_ups, Event::CatchUp, n / 2);
    for plan in &mut plans {
        plan.events.sort_by_key(|e| e.0);
    }
    plans
}

/// One mutation a device sent.
struct Sent {
    first_sent: Instant,
    sent_ns: u64,
    acked_at: Option<Instant>,
    acks: u32,
    resends: u32,
}

impl DeviceReport {
    fn new(plan: &Plan, devices: usize) -> Self {
        Self {
            user: plan.user,
            slot: plan.slot,
            sent: Vec::new(),
            intervals: Vec::new(),
            seen: vec![Vec::new(); devices],
            live_duplicates: 0,
            replayed: 0,
            planned_reconnects: 0,
            stalled_reconnects: 0,
            drops: 0,
            skipped_reconnects: 0,
            failed_reconnect: None,
            connect_retries: 0,
            catch_ups: 0,
            catch_ups_unanswered: 0,
            final_catch_up_done: false,
            duplicate_flags: 0,
            unknown_acks: 0,
            errors: BTreeMap::new(),
        }
    }
}

/// What one device did and saw.
struct DeviceReport {
    user: usize,
    slot: usize,
    sent: Vec<Sent>,
    /// Its connections, open (WELCOME) → closed.
    intervals: Vec<(Instant, Instant)>,
    /// By origin slot and mutation number: how the other devices' entities reached it.
    seen: Vec<Vec<u8>>,
    live_duplicates: usize,
    /// Entries that came in replay frames after a `WELCOME` (its own included).
    replayed: usize,
    planned_reconnects: usize,
    /// Reconnects because an ack was overdue ([`ACK_TIMEOUT`]).
    stalled_reconnects: usize,
    /// Connections the host ended.
    drops: usize,
    /// Planned reconnects not done because the sending stopped first (in-flight mutations).
    skipped_reconnects: usize,
    failed_reconnect: Option<String>,
    connect_retries: u32,
    catch_ups: usize,
    catch_ups_unanswered: usize,
    final_catch_up_done: bool,
    /// Acks carrying `duplicate: true` (a resent mutation the host had already applied).
    duplicate_flags: usize,
    /// Acks whose `eventId` this device never sent.
    unknown_acks: usize,
    errors: BTreeMap<String, usize>,
}

fn mutation(slot: usize, n: usize, sent_ns: u64) -> Value {
    let id = format!("d{slot}-{n}");
    json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "eventId": id,
           "entry": {"id": id, "duration": 1, "sentNs": sent_ns,
                     "updatedAt": "2026-01-01T00:00:00.000Z"}})
}

/// `d{slot}-{n}` → (slot, n).
fn parse_id(id: &Value) -> Option<(usize, usize)> {
    let (slot, n) = id.as_str()?.strip_prefix('d')?.split_once('-')?;
    Some((slot.parse().ok()?, n.parse().ok()?))
}

/// A reconnect: like [`Device::connect_with_retry`], but a failure is returned, not a panic —
/// mid-soak it is a result to report.
async fn connect(gateway: &str, user: &str) -> Result<(Device, u32), String> {
    let token = token(user, 3600);
    let mut backoff = Duration::from_millis(50);
    let mut last = String::new();
    for attempt in 1..=CONNECT_ATTEMPTS {
        match Device::attempt(gateway, user, &token, None).await {
            Attempt::Connected(device) => return Ok((*device, attempt)),
            Attempt::Refused(refusal) if matches!(refusal.status, 429 | 502 | 503) => {
                last = format!("{refusal:?}");
            }
            Attempt::Refused(refusal) => return Err(format!("refused: {refusal:?}")),
            Attempt::Failed(why) => last = why,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    Err(format!(
        "not connected after {CONNECT_ATTEMPTS} attempts; last: {last}"
    ))
}

struct Runner {
    plan: Plan,
    shared: Arc<Shared>,
    gateway: String,
    user_name: String,
    offline: Duration,
    device: Option<Device>,
    opened: Instant,
    /// Mutation numbers sent and not yet acked, with when they were last sent.
    in_flight: Vec<(usize, Instant)>,
    pending: Option<(Instant, CatchUpKind)>,
    /// The cursor: the `lastSeq` of the last catch-up reply (the only frames that carry one).
    cursor: u64,
    final_sent: bool,
    report: DeviceReport,
}

impl Runner {
    // Long: one loop over a device's schedule (sends, reconnects, catch-ups, acks overdue);
    // its arms share the device's state, and each calls a method for the work.
    async fn run(mut self) -> DeviceReport {
        let shared = self.shared.clone();
        let mut ticks = tokio::time::interval_at(self.plan.first_send.into(), self.plan.send_every);
        let mut next_event = 0;
        let mut reconnect_due = false;
        loop {
            let now = Instant::now();
            if now >= shared.finish || self.device.is_none() {
                break;
            }
            while let Some(&(at, event)) = self.plan.events.get(next_event)
                && at <= now
            {
                next_event += 1;
                match event {
                    Event::Reconnect => reconnect_due = true,
                    Event::CatchUp if self.pending.is_none() => {
                        self.catch_up(CatchUpKind::Extra).await;
                    }
                    // One is under way already.
                    Event::CatchUp => {}
                }
            }
            if let Some((asked, _)) = self.pending
                && now - asked >= CATCH_UP_TIMEOUT
            {
                self.report.catch_ups_unanswered += 1;
                self.pending = None;
            }
            let oldest = self.in_flight.iter().map(|f| f.1).min();
            if oldest.is_some_and(|at| now - at >= ACK_TIMEOUT) {
                self.report.stalled_reconnects += 1;
                self.reconnect(Duration::ZERO).await;
                continue;
            }
            if reconnect_due && now >= shared.send_stop {
                reconnect_due = false;
                self.report.skipped_reconnects += 1;
            }
            if reconnect_due && self.in_flight.is_empty() && self.pending.is_none() {
                reconnect_due = false;
                self.report.planned_reconnects += 1;
                self.reconnect(self.offline).await;
                continue;
            }
            if !self.final_sent
                && now >= self.plan.final_at
                && self.in_flight.is_empty()
                && self.pending.is_none()
            {
                self.final_sent = true;
                self.catch_up(CatchUpKind::Final).await;
                continue;
            }
            // The next moment something is due without a frame arriving.
            let mut wake = shared.finish;
            if let Some(&(at, _)) = self.plan.events.get(next_event) {
                wake = wake.min(at);
            }
            if !self.final_sent && now < self.plan.final_at {
                wake = wake.min(self.plan.final_at);
            }
            if let Some(at) = oldest {
                wake = wake.min(at + ACK_TIMEOUT);
            }
            if let Some((asked, _)) = self.pending {
                wake = wake.min(asked + CATCH_UP_TIMEOUT);
            }
            let Some(device) = self.device.as_mut() else {
                break;
            };
            tokio::select! {
                _ = ticks.tick(), if !reconnect_due && now < shared.send_stop => {
                    if Instant::now() < shared.send_stop {
                        self.send_new().await;
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
                frame = device.try_recv_any_within(UNBOUNDED_WAIT) => match frame {
                    Ok(frame) => self.on_frame(frame).await,
                    Err(_) => {
                        self.report.drops += 1;
                        self.shared.record(|w| w.drops += 1);
                        self.reconnect(Duration::ZERO).await;
                    }
                },
            }
        }
        if let Some(device) = self.device.take() {
            self.report.intervals.push((self.opened, Instant::now()));
            let _ = tokio::time::timeout(CLOSE_WAIT, device.close()).await;
        }
        self.report
    }

    async fn send(&mut self, frame: Value) {
        if let Some(device) = self.device.as_mut() {
            // A failed send shows as the connection's end on the next read: reconnect and resend.
            let _ = device.send_or_end(frame).await;
        }
    }

    async fn send_new(&mut self) {
        let n = self.report.sent.len();
        let now = Instant::now();
        let sent_ns = self.shared.epoch.elapsed().as_nanos() as u64;
        self.report.sent.push(Sent {
            first_sent: now,
            sent_ns,
            acked_at: None,
            acks: 0,
            resends: 0,
        });
        self.in_flight.push((n, now));
        self.shared.record(|w| w.sent += 1);
        self.send(mutation(self.plan.slot, n, sent_ns)).await;
    }

    async fn resend(&mut self, n: usize) {
        let sent = &mut self.report.sent[n];
        sent.resends += 1;
        let frame = mutation(self.plan.slot, n, sent.sent_ns);
        if let Some(entry) = self.in_flight.iter_mut().find(|f| f.0 == n) {
            entry.1 = Instant::now();
        }
        self.send(frame).await;
    }

    async fn catch_up(&mut self, kind: CatchUpKind) {
        self.report.catch_ups += 1;
        self.pending = Some((Instant::now(), kind));
        let frame =
            json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": self.cursor});
        self.send(frame).await;
    }

    /// Close, stay away for `offline`, connect again, resend what was in flight (same `eventId`),
    /// catch up from the cursor. Mutations due meanwhile go out after (an offline queue).
    async fn reconnect(&mut self, offline: Duration) {
        if let Some(old) = self.device.take() {
            self.report.intervals.push((self.opened, Instant::now()));
            let _ = tokio::time::timeout(CLOSE_WAIT, old.close()).await;
        }
        tokio::time::sleep(offline).await;
        let connecting = Instant::now();
        match connect(&self.gateway, &self.user_name).await {
            Ok((device, attempts)) => {
                self.device = Some(device);
                self.opened = Instant::now();
                self.report.connect_retries += attempts - 1;
                let took = connecting.elapsed();
                self.shared.record(|w| {
                    w.reconnect.push(took);
                    w.reconnects += 1;
                });
                let unacked: Vec<usize> = self.in_flight.iter().map(|f| f.0).collect();
                for n in unacked {
                    self.resend(n).await;
                }
                // A catch-up cut short by the close is replaced by this one.
                let kind = match self.pending {
                    Some((_, CatchUpKind::Final)) => CatchUpKind::Final,
                    _ => CatchUpKind::Reconnect,
                };
                self.catch_up(kind).await;
            }
            Err(why) => self.report.failed_reconnect = Some(why),
        }
    }

    fn saw(&mut self, id: &Value, how: u8) {
        let Some((slot, n)) = parse_id(id) else {
            return;
        };
        if slot == self.plan.slot || slot >= self.report.seen.len() {
            return;
        }
        let flags = &mut self.report.seen[slot];
        if flags.len() <= n {
            flags.resize(n + 1, 0);
        }
        if how == LIVE && flags[n] & LIVE != 0 {
            self.report.live_duplicates += 1;
        }
        flags[n] |= how;
    }

    // Long: one `match` over the frame types a device can receive, each arm what that frame
    // means for the report.
    async fn on_frame(&mut self, frame: Value) {
        let now = Instant::now();
        let replay = frame["replay"] == true;
        match frame["type"].as_str().unwrap_or_default() {
            "SYNC_RESPONSE" if frame["message"] == "Mutation applied" => {
                if frame["duplicate"] == true {
                    self.report.duplicate_flags += 1;
                }
                let Some((_, n)) = parse_id(&frame["eventId"])
                    .filter(|&(slot, n)| slot == self.plan.slot && n < self.report.sent.len())
                else {
                    self.report.unknown_acks += 1;
                    return;
                };
                let sent = &mut self.report.sent[n];
                sent.acks += 1;
                if let Some(at) = self.in_flight.iter().position(|f| f.0 == n) {
                    self.in_flight.swap_remove(at);
                    if sent.acked_at.is_none() {
                        sent.acked_at = Some(now);
                        let took = now - sent.first_sent;
                        self.shared.record(|w| w.ack.push(took));
                    }
                }
            }
            // The end of a catch-up reply: the only frame that moves the cursor here.
            "SYNC_RESPONSE" if frame["lastSeq"].is_u64() => {
                self.cursor = self.cursor.max(frame["lastSeq"].as_u64().unwrap_or(0));
                if let Some((asked, kind)) = self.pending.take() {
                    let took = now - asked;
                    if kind == CatchUpKind::Final {
                        self.report.final_catch_up_done = true;
                        self.shared.record(|w| w.final_catch_up.push(took));
                    } else {
                        self.shared.record(|w| w.catch_up.push(took));
                    }
                }
            }
            "BULK_SYNC" => {
                let how = match (replay, self.pending) {
                    (true, _) => REPLAY,
                    (false, Some((_, CatchUpKind::Final))) => FINAL_CATCH_UP,
                    (false, _) => CATCH_UP,
                };
                for entry in frame["entries"].as_array().into_iter().flatten() {
                    self.report.replayed += usize::from(replay);
                    self.saw(&entry["id"], how);
                }
            }
            "ENTRY_CREATED" if !replay => {
                let entry = &frame["entry"];
                let first = parse_id(&entry["id"]).is_none_or(|(slot, n)| {
                    self.report
                        .seen
                        .get(slot)
                        .and_then(|s| s.get(n))
                        .is_none_or(|f| f & LIVE == 0)
                });
                self.saw(&entry["id"], LIVE);
                if first && let Some(sent_ns) = entry["sentNs"].as_u64() {
                    let took = self
                        .shared
                        .epoch
                        .elapsed()
                        .saturating_sub(Duration::from_nanos(sent_ns));
                    self.shared.record(|w| w.relay.push(took));
                }
            }
            "ERROR" => {
                let error = frame["error"].as_str().unwrap_or("?").to_string();
                // Not applied: resend the oldest in flight (ERROR names no eventId; a wrong guess
                // costs a duplicate ack, counted apart).
                if error == "Sync write failed"
                    && let Some(&(n, _)) = self.in_flight.iter().min_by_key(|f| f.1)
                    && self.report.sent[n].resends < 3
                {
                    self.resend(n).await;
                }
                *self.report.errors.entry(error).or_default() += 1;
            }
            // Runs longer than the token: renew it as the client SDK does.
            "AUTH_EXPIRING" => {
                let token = token(&self.user_name, 3600);
                self.send(json!({"type": "AUTH", "timestamp": timestamp(), "token": token}))
                    .await;
            }
            _ => {}
        }
    }
}

/// The host as sampled once a minute.
#[derive(Clone, Copy)]
struct Sample {
    minute: f64,
    rss_kib: u64,
    rss_anon_kib: u64,
    rss_file_kib: u64,
    fds: procfs::Fds,
    threads: u64,
    wal_bytes: u64,
    db_bytes: u64,
    instances: Option<u64>,
}

impl Sample {
    fn take(host: &Host, minute: f64) -> Sample {
        let size =
            |name: &str| std::fs::metadata(host.state_dir().join(name)).map_or(0, |m| m.len());
        let pid = host.pid();
        Sample {
            minute,
            rss_kib: procfs::rss_kib(pid),
            rss_anon_kib: procfs::status_kib(pid, "RssAnon"),
            rss_file_kib: procfs::status_kib(pid, "RssFile"),
            fds: procfs::open_fds(pid),
            threads: procfs::threads(pid),
            wal_bytes: size("sqlite_db.db-wal"),
            db_bytes: size("sqlite_db.db"),
            // The host logs them on SIGUSR1; the harness waits for the line (blocking).
            instances: tokio::task::block_in_place(|| host.instances_alive()),
        }
    }

    fn line(&self) -> String {
        format!(
            "host RSS {:.1} MiB (anonymous {:.1}, mapped files {:.1}), open fds {} ({} sockets, {} files, {} other), threads {}, WAL {:.0} KiB, database {:.1} MiB, component instances alive {}",
            self.rss_kib as f64 / 1024.0,
            self.rss_anon_kib as f64 / 1024.0,
            self.rss_file_kib as f64 / 1024.0,
            self.fds.total,
            self.fds.sockets,
            self.fds.files,
            self.fds.other,
            self.threads,
            self.wal_bytes as f64 / 1024.0,
            self.db_bytes as f64 / 1024.0 / 1024.0,
            self.instances.map_or("?".into(), |n| n.to_string()),
        )
    }
}

fn latencies(summary: Option<Summary>) -> String {
    summary.map_or("none".into(), |s| {
        format!(
            "p50 {} p99 {} max {} (n={})",
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            s.count
        )
    })
}

/// p99 beside the first window's p99 (the same run's baseline for drift).
fn p99_versus(summary: Option<Summary>, first: Option<Summary>) -> String {
    let text = latencies(summary);
    match (summary, first) {
        (Some(s), Some(f)) => format!(
            "{text}, p99 ×{:.2} of the first window's",
            ratio(s.p99.as_secs_f64(), f.p99.as_secs_f64())
        ),
        _ => text,
    }
}

/// (ack, relay, catch-up, reconnect) summaries of a window.
type Summaries = [Option<Summary>; 4];

fn summarize_window(window: &Window) -> Summaries {
    [
        summarize(&mut window.ack.clone()),
        summarize(&mut window.relay.clone()),
        summarize(&mut window.catch_up.clone()),
        summarize(&mut window.reconnect.clone()),
    ]
}

fn print_window(
    index: usize,
    options: &SoakOptions,
    window: &Window,
    first: &Summaries,
) -> Summaries {
    let ours = summarize_window(window);
    let from = index as u64 * options.window_minutes;
    let to = (from + options.window_minutes).min(options.minutes);
    let tail = if to == options.minutes {
        " + the drain"
    } else {
        ""
    };
    println!(
        "window {from}–{to} min{tail}: ack {} | relay {} | catch-up (SYNC_REQUEST → final SYNC_RESPONSE) {} | reconnect (connect → WELCOME) {} | sent {}, reconnects {}, connections the host ended {}",
        p99_versus(ours[0], first[0]),
        p99_versus(ours[1], first[1]),
        latencies(ours[2]),
        latencies(ours[3]),
        window.sent,
        window.reconnects,
        window.drops,
    );
    ours
}

/// Growth per hour of one figure, least squares over the samples (all, and the second half).
fn growth(label: &str, unit: &str, samples: &[Sample], value: impl Fn(&Sample) -> f64) -> String {
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.minute, value(s))).collect();
    let per_hour = |points: &[(f64, f64)]| {
        slope(points).map_or("n/a".into(), |per_minute| {
            format!("{:+.2} {unit}/h", per_minute * 60.0)
        })
    };
    let values = points.iter().map(|p| p.1);
    let max = values.clone().fold(f64::MIN, f64::max);
    format!(
        "{label} {} (second half {}; first {:.1}, last {:.1}, max {:.1} {unit})",
        per_hour(&points),
        per_hour(&points[points.len() / 2..]),
        points.first().map_or(0.0, |p| p.1),
        points.last().map_or(0.0, |p| p.1),
        max,
    )
}

/// Every mutation's fate, over all devices.
#[derive(Default)]
struct Delivery {
    sent: usize,
    acked: usize,
    acked_more_than_once: usize,
    resent: usize,
    /// (receiver, acked mutation of another device of its user) pairs.
    pairs: usize,
    live: usize,
    replay_not_live: usize,
    catch_up_only: usize,
    final_only: usize,
    missed: usize,
    /// Pairs whose receiver ended without its final catch-up (a failed reconnect): not judged.
    unjudged: usize,
    live_expected: usize,
    relays_lost: usize,
}

fn delivery(reports: &[DeviceReport], devices: usize) -> Delivery {
    let mut d = Delivery::default();
    for report in reports {
        d.sent += report.sent.len();
        for sent in &report.sent {
            d.acked += usize::from(sent.acked_at.is_some());
            d.acked_more_than_once += usize::from(sent.acks > 1);
            d.resent += sent.resends as usize;
        }
    }
    for user in reports.chunks(devices) {
        debug_assert!(user.iter().all(|r| r.user == user[0].user));
        for receiver in user {
            for origin in user.iter().filter(|o| o.slot != receiver.slot) {
                for (n, sent) in origin.sent.iter().enumerate() {
                    let Some(acked) = sent.acked_at else { continue };
                    let flags = receiver.seen[origin.slot].get(n).copied().unwrap_or(0);
                    d.pairs += 1;
                    if !receiver.final_catch_up_done {
                        d.unjudged += 1;
                    } else if flags == 0 {
                        d.missed += 1;
                    } else if flags & LIVE != 0 {
                        d.live += 1;
                    } else if flags & REPLAY != 0 {
                        d.replay_not_live += 1;
                    } else if flags & CATCH_UP != 0 {
                        d.catch_up_only += 1;
                    } else {
                        d.final_only += 1;
                    }
                    let covered = receiver.intervals.iter().any(|&(open, close)| {
                        open <= sent.first_sent && close >= acked + LIVE_GRACE
                    });
                    if covered {
                        d.live_expected += 1;
                        d.relays_lost += usize::from(flags & LIVE == 0);
                    }
                }
            }
        }
    }
    d
}

pub async fn run(options: SoakOptions) -> anyhow::Result<()> {
    check(&options)?;
    let sockets = options.sockets();
    let limit = procfs::raise_fd_limit(sockets);
    println!(
        "## soak: {} users × {} devices ({sockets} sockets) on the embedded gateway, {} mutations/s, {}% of the sockets reconnecting per minute ({:.1} s away, then catching up from their cursor), {} more catch-ups per minute, for {} min, reported per {} min (open-file limit {limit})",
        options.users,
        options.devices,
        options.rate,
        options.reconnect_percent,
        options.offline.as_secs_f64(),
        options.extra_catch_ups,
        options.minutes,
        options.window_minutes,
    );
    let host = Target::SyncHost {
        through_pushpin: false,
    }
    .start()?;
    let connecting = Instant::now();
    let (users, connect_retries) =
        connect_users(&host.gateway_url, "soak", options.users, options.devices).await?;
    let connected = Instant::now();
    println!(
        "connected {sockets} sockets in {:.1} s ({connect_retries} connect retries)",
        (connected - connecting).as_secs_f64()
    );
    let start = connected + Duration::from_secs(1);
    let send_stop = start + Duration::from_secs(options.minutes * 60);
    let windows = options.minutes.div_ceil(options.window_minutes) as usize;
    let shared = Arc::new(Shared {
        epoch: connecting,
        start,
        send_stop,
        finish: send_stop + FINISH,
        window: Duration::from_secs(options.window_minutes * 60),
        windows: Mutex::new(vec![Window::default(); windows]),
    });
    let tasks = spawn_runners(&options, users, &shared, &host.gateway_url, connected);
    let before = Snapshot::take(&host);
    let (samples, mut first, printed) = sample_each_minute(&host, &options, &shared).await;
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(task.await?);
    }
    let used = Snapshot::take(&host).since(&before, &host);
    // Once the closes have been handled.
    tokio::time::sleep(CLOSE_WAIT).await;
    let after = Sample::take(&host, (Instant::now() - start).as_secs_f64() / 60.0);
    println!(
        "after the drain, every device closed {} s ago: {}",
        CLOSE_WAIT.as_secs(),
        after.line()
    );
    let windows = shared.windows.lock().unwrap().clone();
    for (index, window) in windows.iter().enumerate().skip(printed) {
        let ours = print_window(index, &options, window, &first);
        if index == 0 {
            first = ours;
        }
    }
    print_latencies(&options, &windows);
    let d = delivery(&reports, options.devices);
    print_delivery(&options, &reports, &d);
    print_growth(&samples);
    println!(
        "host: CPU {:.2} cores over {:.0} s ({:.2} ms per mutation sent), load generator {:.2} cores; {}",
        used.cores(used.host_cpu),
        used.wall.as_secs_f64(),
        used.host_ms_per(d.sent),
        used.cores(used.bench_cpu),
        used.facts(d.sent),
    );
    Ok(())
}

fn check(options: &SoakOptions) -> anyhow::Result<()> {
    anyhow::ensure!(options.minutes >= 1, "--minutes must be at least 1");
    anyhow::ensure!(options.devices >= 2, "--devices must be at least 2");
    anyhow::ensure!(
        options.users >= 1 && options.rate > 0.0,
        "--users and --rate must be positive"
    );
    anyhow::ensure!(
        options.window_minutes >= 1,
        "--window-minutes must be at least 1"
    );
    Ok(())
}

/// One task per connected device, each following its plan.
fn spawn_runners(
    options: &SoakOptions,
    users: Vec<Vec<Device>>,
    shared: &Arc<Shared>,
    gateway: &str,
    connected: Instant,
) -> Vec<tokio::task::JoinHandle<DeviceReport>> {
    let mut plans = plans(options, shared.start).into_iter();
    let mut tasks = Vec::new();
    for (u, devices) in users.into_iter().enumerate() {
        for device in devices {
            let plan = plans.next().expect("a plan per device");
            debug_assert_eq!(plan.user, u);
            let runner = Runner {
                report: DeviceReport::new(&plan, options.devices),
                plan,
                shared: shared.clone(),
                gateway: gateway.to_string(),
                user_name: format!("soak{u}"),
                offline: options.offline,
                device: Some(device),
                opened: connected,
                in_flight: Vec::new(),
                pending: None,
                cursor: 0,
                final_sent: false,
            };
            tasks.push(tokio::spawn(runner.run()));
        }
    }
    tasks
}

/// Once a minute, the host's resources; at each window's end but the last, its latencies.
/// Returns the samples, the first window's summaries and how many windows were printed.
async fn sample_each_minute(
    host: &Host,
    options: &SoakOptions,
    shared: &Shared,
) -> (Vec<Sample>, Summaries, usize) {
    let windows = options.minutes.div_ceil(options.window_minutes) as usize;
    let mut samples = Vec::new();
    let mut first: Summaries = [None; 4];
    let mut printed = 0;
    for minute in 0..=options.minutes {
        tokio::time::sleep_until((shared.start + Duration::from_secs(minute * 60)).into()).await;
        let sample = Sample::take(host, minute as f64);
        println!("min {minute}: {}", sample.line());
        samples.push(sample);
        if minute > 0 && minute % options.window_minutes == 0 && printed + 1 < windows {
            // A second for the window's last frames to be recorded.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let window = shared.windows.lock().unwrap()[printed].clone();
            let ours = print_window(printed, options, &window, &first);
            if printed == 0 {
                first = ours;
            }
            printed += 1;
        }
    }
    (samples, first, printed)
}

/// Latencies over the whole run.
fn print_latencies(options: &SoakOptions, windows: &[Window]) {
    let all = |pick: fn(&Window) -> &Vec<Duration>| {
        let mut joined: Vec<Duration> = windows
            .iter()
            .flat_map(|w| pick(w).iter().copied())
            .collect();
        summarize(&mut joined)
    };
    println!(
        "summary over {} min: ack {} | relay {} | catch-up {} | reconnect {} | the final catch-ups ({} devices over {} s) {}",
        options.minutes,
        latencies(all(|w| &w.ack)),
        latencies(all(|w| &w.relay)),
        latencies(all(|w| &w.catch_up)),
        latencies(all(|w| &w.reconnect)),
        options.sockets(),
        FINAL_SPREAD.as_secs(),
        latencies(all(|w| &w.final_catch_up)),
    );
}

/// What happened to every mutation and connection.
fn print_delivery(options: &SoakOptions, reports: &[DeviceReport], d: &Delivery) {
    let sum = |f: fn(&DeviceReport) -> usize| reports.iter().map(f).sum::<usize>();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for report in reports {
        for (error, count) in &report.errors {
            *errors.entry(error.clone()).or_default() += count;
        }
    }
    println!(
        "acks: sent {} ({:.1}/s), acked {}, lost acks {} (must be 0), acked more than once {}, resent with the same eventId {} (acks marked duplicate {}), acks for no mutation sent {}, ERROR replies {:?}",
        d.sent,
        d.sent as f64 / (options.minutes * 60) as f64,
        d.acked,
        d.sent - d.acked,
        d.acked_more_than_once,
        d.resent,
        sum(|r| r.duplicate_flags),
        sum(|r| r.unknown_acks),
        errors,
    );
    println!(
        "relays: live relays expected (receiver connected from before the send until {} s after the ack) {}, relays lost {}; duplicate live relays {}; entries replayed after WELCOME {}",
        LIVE_GRACE.as_secs(),
        d.live_expected,
        d.relays_lost,
        sum(|r| r.live_duplicates),
        sum(|r| r.replayed),
    );
    println!(
        "delivery (every acked mutation to every other device of its user, {} pairs): live {}, by replay after WELCOME (not live) {}, by a catch-up only {}, by the final catch-up only {}, missed {} (must be 0), not judged (device ended without its final catch-up) {}",
        d.pairs, d.live, d.replay_not_live, d.catch_up_only, d.final_only, d.missed, d.unjudged,
    );
    let failed: Vec<&String> = reports
        .iter()
        .filter_map(|r| r.failed_reconnect.as_ref())
        .collect();
    println!(
        "connections: planned reconnects {} (skipped at the end with mutations in flight {}), reconnects after an ack overdue {} s {}, connections the host ended {}, failed reconnects {}{}, connect retries {}; catch-ups {} ({} unanswered within {} s), final catch-ups done {}/{}",
        sum(|r| r.planned_reconnects),
        sum(|r| r.skipped_reconnects),
        ACK_TIMEOUT.as_secs(),
        sum(|r| r.stalled_reconnects),
        sum(|r| r.drops),
        failed.len(),
        failed
            .first()
            .map_or(String::new(), |why| format!(" (first: {why})")),
        reports.iter().map(|r| r.connect_retries).sum::<u32>(),
        sum(|r| r.catch_ups),
        sum(|r| r.catch_ups_unanswered),
        CATCH_UP_TIMEOUT.as_secs(),
        reports.iter().filter(|r| r.final_catch_up_done).count(),
        options.sockets(),
    );
}

/// Growth per hour of the host's resources, from the per-minute samples.
fn print_growth(samples: &[Sample]) {
    let run_samples = samples;
    println!(
        "growth per hour (least squares over the {} per-minute samples; a steady host: 0): {}; {}; {}; {}; {}; {}; {}",
        run_samples.len(),
        growth("RSS", "MiB", run_samples, |s| s.rss_kib as f64 / 1024.0),
        growth("of it anonymous", "MiB", run_samples, |s| s.rss_anon_kib
            as f64
            / 1024.0),
        growth(
            "of it mapped files (the mmap'ed database, once per connection mapping it)",
            "MiB",
            run_samples,
            |s| { s.rss_file_kib as f64 / 1024.0 }
        ),
        growth("open fds", "fds", run_samples, |s| s.fds.total as f64),
        growth("WAL", "MiB", run_samples, |s| s.wal_bytes as f64
            / 1024.0
            / 1024.0),
        growth("threads", "threads", run_samples, |s| s.threads as f64),
        growth(
            "database (grows with the data: every mutation is a new entry)",
            "MiB",
            run_samples,
            |s| { s.db_bytes as f64 / 1024.0 / 1024.0 }
        ),
    );
}
