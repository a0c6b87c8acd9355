//! Scenario `relay`: U users × D devices; one device per user sends mutations at a fixed rate, the
//! others receive the relays. Measures send → relay-receive latency and send → ack latency.

use crate::hosts::{Delta, Snapshot, Target};
use crate::stats::{Summary, print_summary, summarize};
use e2e::device::{Device, timestamp};
use serde_json::json;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct RelayOptions {
    pub users: usize,
    pub devices: usize,
    /// Mutations per second over all users.
    pub rate: f64,
    pub seconds: f64,
}

pub struct RelayResult {
    pub relay: Summary,
    pub ack: Summary,
    pub sent: usize,
    /// `ERROR` replies to sent mutations (e.g. "Sync write failed"): not applied, never relayed.
    pub errors: usize,
    pub relays_expected: usize,
    pub relays_received: usize,
    pub connect_retries: u32,
    /// Devices whose connection the gateway ended during the run (their missing relays and acks
    /// count as lost).
    pub dropped: usize,
}

/// How long stragglers may take after the last send before they count as lost.
const DRAIN: Duration = Duration::from_secs(5);

/// A wait for the next frame that only the run's end (`stop_receiving`) cuts short: an overloaded
/// host may leave a device without a frame for longer than the harness's per-frame deadline, and
/// that is a result to report (late or lost), not a failure of the bench.
pub const UNBOUNDED_WAIT: Duration = Duration::from_secs(3600);

/// Connects `devices` devices for each of `users` users named `{prefix}{u}`, with bounded
/// concurrency (one task per user, its devices in turn); returns them by user, with the connect
/// retries they took.
pub async fn connect_users(
    gateway: &str,
    prefix: &str,
    users: usize,
    devices: usize,
) -> anyhow::Result<(Vec<Vec<Device>>, u32)> {
    let mut connecting = Vec::new();
    for u in 0..users {
        let (gateway, user) = (gateway.to_string(), format!("{prefix}{u}"));
        connecting.push(tokio::spawn(async move {
            let mut connected = Vec::new();
            let mut retries = 0;
            for _ in 0..devices {
                let (device, attempts) = Device::connect_with_retry(&gateway, &user, 12).await;
                retries += attempts - 1;
                connected.push(device);
            }
            (connected, retries)
        }));
    }
    let mut by_user = Vec::new();
    let mut connect_retries = 0;
    for task in connecting {
        let (devices, retries) = task.await?;
        connect_retries += retries;
        by_user.push(devices);
    }
    Ok((by_user, connect_retries))
}

pub async fn run(gateway: &str, options: &RelayOptions) -> anyhow::Result<RelayResult> {
    let epoch = Instant::now();
    let per_user_rate = options.rate / options.users as f64;
    let planned = (per_user_rate * options.seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / per_user_rate);
    let (users, connect_retries) =
        connect_users(gateway, "bench", options.users, options.devices).await?;
    let start = Instant::now() + Duration::from_millis(200);
    let stop_receiving = start + Duration::from_secs_f64(options.seconds) + DRAIN;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (u, mut devices) in users.into_iter().enumerate() {
        let sender = devices.remove(0);
        for receiver in devices {
            receivers.push(tokio::spawn(receive_relays(
                receiver,
                planned,
                stop_receiving,
                epoch,
            )));
        }
        // Users start staggered across one interval, so the load is even rather than in waves.
        let offset = interval.mul_f64(u as f64 / options.users as f64);
        let clock = Clock {
            epoch,
            first: start + offset,
            interval,
            stop: stop_receiving,
        };
        senders.push(tokio::spawn(send_mutations(sender, u, planned, clock)));
    }
    let (mut sent, mut errors) = (0, 0);
    let (mut ack_latencies, mut relay_latencies) = (Vec::new(), Vec::new());
    let (mut keep_open, mut dropped) = (Vec::new(), 0);
    for task in senders {
        let (n, failed, acks, device, ended) = task.await?;
        sent += n;
        errors += failed;
        ack_latencies.extend(acks);
        keep_open.push(device);
        dropped += usize::from(ended);
    }
    for task in receivers {
        let (latencies, ended) = task.await?;
        relay_latencies.extend(latencies);
        dropped += usize::from(ended);
    }
    let relays_received = relay_latencies.len();
    Ok(RelayResult {
        relay: summarize(&mut relay_latencies)
            .ok_or_else(|| anyhow::anyhow!("no relay arrived"))?,
        ack: summarize(&mut ack_latencies).ok_or_else(|| anyhow::anyhow!("no ack arrived"))?,
        sent,
        errors,
        relays_expected: (sent - errors) * (options.devices - 1),
        relays_received,
        connect_retries,
        dropped,
    })
}

/// A receiving device's relay latencies, until it has `planned` relays or `stop`; and whether the
/// host ended its connection.
async fn receive_relays(
    mut receiver: Device,
    planned: usize,
    stop: Instant,
    epoch: Instant,
) -> (Vec<Duration>, bool) {
    let mut latencies = Vec::with_capacity(planned);
    while latencies.len() < planned {
        let frame = match tokio::time::timeout_at(
            stop.into(),
            receiver.try_recv_any_within(UNBOUNDED_WAIT),
        )
        .await
        {
            Ok(Ok(frame)) => frame,
            Ok(Err(_)) => return (latencies, true),
            Err(_) => break,
        };
        if let Some(sent_ns) = frame["entry"]["sentNs"].as_u64() {
            latencies.push(
                epoch
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(sent_ns)),
            );
        }
    }
    (latencies, false)
}

/// When a sender sends.
struct Clock {
    /// What `sentNs` counts from.
    epoch: Instant,
    first: Instant,
    interval: Duration,
    /// Past this, nothing more is awaited.
    stop: Instant,
}

/// A sending device: `planned` mutations on `clock`, each ack timed. Returns how many it sent,
/// how many were answered with `ERROR`, the ack latencies, the device (kept open until every
/// receiver is done) and whether the host ended its connection.
async fn send_mutations(
    mut sender: Device,
    user: usize,
    planned: usize,
    clock: Clock,
) -> (usize, usize, Vec<Duration>, Device, bool) {
    let mut ticks = tokio::time::interval_at(clock.first.into(), clock.interval);
    let mut in_flight = VecDeque::new();
    let mut acks = Vec::with_capacity(planned);
    let (mut sent, mut errors) = (0, 0);
    let mut dropped = false;
    while acks.len() + errors < planned && !dropped {
        tokio::select! {
            _ = ticks.tick(), if sent < planned => {
                let frame = json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {
                    "id": format!("u{user}-{sent}"), "duration": 1,
                    "sentNs": clock.epoch.elapsed().as_nanos() as u64,
                    "updatedAt": "2026-01-01T00:00:00.000Z"}});
                in_flight.push_back(Instant::now());
                dropped = sender.send_or_end(frame).await.is_err();
                sent += 1;
            }
            frame = tokio::time::timeout_at(clock.stop.into(), sender.try_recv_any_within(UNBOUNDED_WAIT)) => {
                let frame = match frame {
                    Ok(Ok(frame)) => frame,
                    Ok(Err(_)) => { dropped = true; continue; }
                    Err(_) => break,
                };
                if frame["type"] == "SYNC_RESPONSE" && let Some(at) = in_flight.pop_front() {
                    acks.push(at.elapsed());
                } else if frame["type"] == "ERROR" && in_flight.pop_front().is_some() {
                    errors += 1;
                }
            }
        }
    }
    (sent, errors, acks, sender, dropped)
}

/// One run on a fresh host of `target`, printed beside the baseline's relay and ack latencies;
/// returns it with what the host used.
pub async fn on(
    target: Target,
    options: RelayOptions,
    base_relay: Summary,
    base_ack: Summary,
) -> anyhow::Result<(RelayResult, Delta)> {
    let name = target.label();
    let host = target.start()?;
    let before = Snapshot::take(&host);
    let ours = run(&host.gateway_url, &options).await?;
    let used = Snapshot::take(&host).since(&before, &host);
    print_summary(&format!("{name} relay"), &ours.relay, &base_relay);
    print_summary(&format!("{name} ack"), &ours.ack, &base_ack);
    println!(
        "{name}: sent {} acked {} ERROR replies {} relays {}/{} (lost {}), connect retries {}, connections the gateway dropped {}",
        ours.sent,
        ours.ack.count,
        ours.errors,
        ours.relays_received,
        ours.relays_expected,
        ours.relays_expected.saturating_sub(ours.relays_received),
        ours.connect_retries,
        ours.dropped
    );
    println!(
        "{name}: CPU over the run ({:.1} s, {} cores here): host {:.2} cores ({:.2} ms per mutation sent, connects included), Pushpin {:.2} cores, load generator {:.2} cores",
        used.wall.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        used.cores(used.host_cpu),
        used.host_ms_per(ours.sent),
        used.cores(used.pushpin_cpu),
        used.cores(used.bench_cpu)
    );
    println!("{name}: {}", used.facts(ours.sent));
    Ok((ours, used))
}
