//! Devices that write without pause, the load the deploy tests reload, restart or drain under:
//! each sends one mutation, waits for its ack, and sends the next, recording every ack, the
//! longest it waited for one, and how its connection ended if it did.

use crate::device::{Device, Ended};
use crate::shared_database::SharedDatabase;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Rate limits lifted for every host of a deploy test: the load is the point, not the limiter.
pub const UNLIMITED: [(&str, &str); 2] = [
    ("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1000000"),
    ("SPIN_VARIABLE_RATE_LIMIT_BURST", "1000000"),
];

/// A device that waits longer than this for an ack takes its connection for dead.
const ACK_DEADLINE: Duration = Duration::from_secs(60);

/// Devices connected at once (Pushpin answers some 502s past ~100 simultaneous connects).
const CONNECTING_AT_ONCE: usize = 20;

/// The devices' first writes are spread over this, as real devices' are: 200 first frames in the
/// same millisecond make Pushpin 1.36 drop some of the sockets (measured; docs/operations.md).
const FIRST_WRITES_SPREAD: Duration = Duration::from_secs(1);

/// What one device saw.
#[derive(Debug)]
pub struct WriterReport {
    pub user: String,
    /// (entry id, seq) of every acked mutation, in order.
    pub acked: Vec<(String, u64)>,
    /// When each ack arrived, in the same order.
    pub ack_times: Vec<Instant>,
    /// How its connection ended, if it did, and when.
    pub ended: Option<(Ended, Instant)>,
    /// Mutations the server could not take at the time (`WRITE_FAILED`,
    /// `RATE_LIMITER_UNAVAILABLE`: not acknowledged), which the device sent again.
    pub refused: usize,
}

pub struct SteadyWriters {
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<WriterReport>>,
}

fn entry_frame(id: &str) -> Value {
    json!({"type": "ENTRY_CREATED", "timestamp": crate::device::timestamp(),
        "eventId": format!("evt-{id}"),
        "entry": {"id": id, "duration": 1, "updatedAt": "2026-01-01T00:00:00Z"}})
}

impl SteadyWriters {
    /// Connects `devices_per_user` devices for each of `users` users to `gateway` and, once all
    /// are connected, starts them writing.
    pub async fn start(gateway: &str, users: usize, devices_per_user: usize) -> Self {
        let mut devices = Vec::new();
        let everyone: Vec<(String, usize)> = (0..users)
            .flat_map(|u| (0..devices_per_user).map(move |d| (format!("writer{u}"), d)))
            .collect();
        for batch in everyone.chunks(CONNECTING_AT_ONCE) {
            let connecting: Vec<_> = batch
                .iter()
                .cloned()
                .map(|(user, n)| {
                    let gateway = gateway.to_string();
                    tokio::spawn(async move { (Device::connect(&gateway, &user).await, user, n) })
                })
                .collect();
            for connecting in connecting {
                devices.push(connecting.await.expect("a device connects"));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let count = devices.len();
        let tasks = (devices.into_iter().enumerate())
            .map(|(index, (device, user, n))| {
                let (stop, acks) = (stop.clone(), acks.clone());
                let first_write = FIRST_WRITES_SPREAD.mul_f64(index as f64 / count as f64);
                tokio::spawn(async move {
                    tokio::time::sleep(first_write).await;
                    write_until_stopped(device, user, n, stop, acks).await
                })
            })
            .collect();
        Self { stop, acks, tasks }
    }

    /// Acks received so far, by every device.
    pub fn acks(&self) -> usize {
        self.acks.load(Ordering::SeqCst)
    }

    /// Waits until `more` further acks have arrived; panics after a minute.
    pub async fn await_more_acks(&self, more: usize) {
        if let Err(got) = self.more_acks_within(more, Duration::from_secs(60)).await {
            panic!("the writers got {got} of {more} more acks within a minute");
        }
    }

    /// Waits until `more` further acks have arrived, or `within` has passed: then how many did.
    pub async fn more_acks_within(&self, more: usize, within: Duration) -> Result<(), usize> {
        let target = self.acks() + more;
        let deadline = Instant::now() + within;
        while self.acks() < target {
            if Instant::now() >= deadline {
                return Err(self.acks() + more - target);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Tells every device to stop after its current mutation, and collects what each saw.
    pub async fn stop(self) -> Vec<WriterReport> {
        self.stop.store(true, Ordering::SeqCst);
        self.finished().await
    }

    /// What each saw, once every device has stopped by itself (its connection ended).
    pub async fn finished(self) -> Vec<WriterReport> {
        let mut reports = Vec::new();
        for task in self.tasks {
            reports.push(task.await.expect("a writer task"));
        }
        reports
    }
}

async fn write_until_stopped(
    mut device: Device,
    user: String,
    n: usize,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> WriterReport {
    let mut report = WriterReport {
        user: user.clone(),
        acked: Vec::new(),
        ack_times: Vec::new(),
        ended: None,
        refused: 0,
    };
    for k in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let id = format!("{user}-d{n}-{k}");
        // One mutation is in flight at a time, so the next SYNC_RESPONSE or ERROR answers it;
        // relays of the user's other devices come in between. A mutation the server could not
        // take is sent again with the same event id, as the Mirubato client keeps it queued.
        let seq = 'answered: loop {
            if let Err(error) = device.send_or_end(entry_frame(&id)).await {
                report.ended = Some((Ended::Broken(error), Instant::now()));
                return report;
            }
            loop {
                match device.next_or_end(ACK_DEADLINE).await {
                    Ok(frame) if frame["type"] == "SYNC_RESPONSE" => {
                        break 'answered frame["streamSeq"].as_u64().expect("an ack's seq");
                    }
                    Ok(frame) if frame["type"] == "ERROR" && busy(&frame) => {
                        report.refused += 1;
                        tokio::time::sleep(RESEND_AFTER).await;
                        continue 'answered;
                    }
                    Ok(frame) if frame["type"] == "ERROR" => panic!("{user}-d{n}: {frame}"),
                    Ok(_) => continue,
                    Err(ended) => {
                        report.ended = Some((ended, Instant::now()));
                        return report;
                    }
                }
            }
        };
        report.ack_times.push(Instant::now());
        report.acked.push((id, seq));
        acks.fetch_add(1, Ordering::SeqCst);
    }
    report
}

/// How long a device waits before it sends a refused mutation again.
const RESEND_AFTER: Duration = Duration::from_millis(50);

/// Whether an ERROR says the server was too busy to take the mutation (its database or limiter
/// locked), which sending it again may cure.
fn busy(frame: &Value) -> bool {
    let code = frame["code"].as_str().unwrap_or_default();
    [
        protocol::error_code::WRITE_FAILED,
        protocol::error_code::RATE_LIMITER_UNAVAILABLE,
    ]
    .contains(&code)
}

/// Every acked mutation of `reports` that `database` (the app's) does not hold with the seq its
/// ack gave: what a deploy lost.
pub fn lost_acks(database: &SharedDatabase, reports: &[WriterReport]) -> Vec<String> {
    let stored: HashMap<String, u64> = (database
        .rows("SELECT event_id, seq FROM applied_events", &[]))
    .into_iter()
    .map(|row| {
        (
            row[0].as_str().unwrap().to_string(),
            row[1].as_u64().unwrap(),
        )
    })
    .collect();
    reports
        .iter()
        .flat_map(|report| &report.acked)
        .filter(|(id, seq)| stored.get(&format!("evt-{id}")) != Some(seq))
        .map(|(id, seq)| format!("{id} (acked with seq {seq})"))
        .collect()
}

/// The longest time any device went without an ack, between two acks of which the second came
/// after `from` (and, for a device whose connection ended, up to its end).
pub fn longest_gap_since(reports: &[WriterReport], from: Instant) -> Duration {
    reports
        .iter()
        .flat_map(|report| {
            let ends = report.ended.iter().map(|(_, at)| *at);
            let times: Vec<Instant> = report.ack_times.iter().copied().chain(ends).collect();
            times
                .windows(2)
                .filter(|pair| pair[1] > from)
                .map(|pair| pair[1] - pair[0])
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or_default()
}
