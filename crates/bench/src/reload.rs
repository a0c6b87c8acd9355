//! Scenario `reload`: ack latency and the longest stall while the app is reloaded (`SIGHUP`)
//! under a steady rate of mutations through the embedded gateway, beside the same run without a
//! reload. Every device sends at its share of the rate, one mutation in flight, and times each ack
//! from the moment it was due; the longest such wait is the stall a device saw.

use crate::stats::{ms, ratio, summarize};
use e2e::Host;
use e2e::device::{Device, timestamp};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct ReloadOptions {
    pub users: usize,
    pub devices: usize,
    pub rate: f64,
    pub seconds: f64,
    /// Reloads spread over the run (0: the baseline run).
    pub reloads: usize,
}

pub async fn compare(host: &Host, options: ReloadOptions) -> anyhow::Result<()> {
    // Not counted: the first seconds of a new host (its database growing, its caches filling)
    // would weigh on whichever run came first.
    let warm_up = ReloadOptions {
        reloads: 0,
        seconds: options.seconds.min(3.0),
        ..options
    };
    run(host, warm_up, "warm-up").await?;
    let base = run(
        host,
        ReloadOptions {
            reloads: 0,
            ..options
        },
        "base",
    )
    .await?;
    let reloaded = run(host, options, "reload").await?;
    let (mut base, mut reloaded) = (base, reloaded);
    let (Some(b), Some(r)) = (summarize(&mut base.waits), summarize(&mut reloaded.waits)) else {
        anyhow::bail!("no acks");
    };
    println!(
        "without reload: {} acks, ack p50 {} p99 {}, longest stall {}",
        b.count,
        ms(b.p50),
        ms(b.p99),
        ms(b.max)
    );
    println!(
        "with {} reloads: {} acks, ack p50 {} p99 {} (×{:.2}), longest stall {} (×{:.2}); \
         reloads took {} each on average; {} sockets closed",
        options.reloads,
        r.count,
        ms(r.p50),
        ms(r.p99),
        ratio(r.p99.as_secs_f64(), b.p99.as_secs_f64()),
        ms(r.max),
        ratio(r.max.as_secs_f64(), b.max.as_secs_f64()),
        ms(reloaded.reload_time),
        base.closed + reloaded.closed,
    );
    Ok(())
}

struct RunResult {
    /// For every ack, how long after it was due it came.
    waits: Vec<Duration>,
    closed: usize,
    reload_time: Duration,
}

async fn run(host: &Host, options: ReloadOptions, label: &str) -> anyhow::Result<RunResult> {
    let count = options.users * options.devices;
    let interval = Duration::from_secs_f64(count as f64 / options.rate);
    let mut devices = Vec::new();
    for u in 0..options.users {
        for _ in 0..options.devices {
            let user = format!("reload-{label}-{u}");
            devices.push(
                Device::connect_with_retry(&host.gateway_url, &user, 12)
                    .await
                    .0,
            );
        }
    }
    let started = Instant::now() + Duration::from_millis(100);
    let stop = started + Duration::from_secs_f64(options.seconds);
    let tasks: Vec<_> = (devices.into_iter().enumerate())
        .map(|(n, device)| {
            // Each device's sends are offset within the interval, so the rate is even.
            let first = started + interval.mul_f64(n as f64 / count as f64);
            tokio::spawn(paced(device, format!("{label}-{n}"), first, interval, stop))
        })
        .collect();
    let reload_logs_before = host.logs().matches("reloaded in").count();
    for k in 0..options.reloads {
        let due = started + (stop - started).mul_f64((k as f64 + 0.5) / options.reloads as f64);
        tokio::time::sleep_until(due.into()).await;
        host.signal("HUP");
        let done = reload_logs_before + k + 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while host.logs().matches("reloaded in").count() < done {
            anyhow::ensure!(Instant::now() < deadline, "reload {k} never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let reload_time = if options.reloads > 0 {
        reload_duration(&host.logs(), options.reloads)
    } else {
        Duration::ZERO
    };
    let mut result = RunResult {
        waits: Vec::new(),
        closed: 0,
        reload_time,
    };
    for task in tasks {
        let (waits, closed) = task.await?;
        result.waits.extend(waits);
        result.closed += usize::from(closed);
    }
    Ok(result)
}

/// The mean of the last `reloads` "reloaded in …" durations the host logged.
fn reload_duration(logs: &str, reloads: usize) -> Duration {
    let times: Vec<Duration> = logs
        .lines()
        .filter_map(|line| line.split("reloaded in ").nth(1))
        .filter_map(|rest| rest.split(':').next())
        .filter_map(parse_debug_duration)
        .collect();
    let last = &times[times.len().saturating_sub(reloads)..];
    last.iter().sum::<Duration>() / last.len().max(1) as u32
}

/// `161ms`, `1.2s`, `850µs` as `{:.0?}` prints a `Duration`.
fn parse_debug_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// Sends one mutation every `interval` from `first` until `stop`, each after the previous one's
/// ack; returns how late each ack came after its mutation was due, and whether the socket closed.
async fn paced(
    mut device: Device,
    name: String,
    first: Instant,
    interval: Duration,
    stop: Instant,
) -> (Vec<Duration>, bool) {
    let mut waits = Vec::new();
    let mut due = first;
    let mut k = 0;
    while due < stop {
        tokio::time::sleep_until(due.into()).await;
        let id = format!("{name}-{k}");
        k += 1;
        let frame = json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
            "eventId": format!("evt-{id}"),
            "entry": {"id": id, "duration": 1, "updatedAt": "2026-01-01T00:00:00Z"}});
        if device.send_or_end(frame).await.is_err() {
            return (waits, true);
        }
        loop {
            match device.next_or_end(Duration::from_secs(60)).await {
                Ok(frame) if frame["type"] == "SYNC_RESPONSE" => break,
                Ok(_) => continue,
                Err(_) => return (waits, true),
            }
        }
        waits.push(due.elapsed());
        // A late ack does not make the device send a burst to catch up: the next is due one
        // interval after this one was, or now if that has passed.
        due = (due + interval).max(Instant::now());
    }
    (waits, false)
}
