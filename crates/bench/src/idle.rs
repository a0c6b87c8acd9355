//! Scenario `idle`: N idle WebSockets held by the gateway. Reports the gateway's memory per socket
//! against its own 0-socket baseline, CPU while idle, and what the app did meanwhile.

use crate::procfs;
use e2e::Host;
use e2e::device::{Device, Ended};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

pub struct IdleResult {
    pub rss_empty_kib: u64,
    pub rss_full_kib: u64,
    /// The sockets still open at the end.
    pub sockets: usize,
    /// The sockets that ended before the end, if any did.
    pub dropped: Option<Dropped>,
    /// How long opening the sockets took.
    pub connecting: Duration,
    pub cpu: Duration,
    pub window: Duration,
    /// App requests (WebSocket-over-HTTP keep-alives) during the idle window.
    pub app_requests: usize,
    /// App requests between the last connect and the window: each connection's first keep-alive.
    pub first_keep_alives: usize,
    /// Component instances alive at the end of the window, as the host's pooling allocator reports.
    pub instances_alive: Option<u64>,
}

/// Sockets that ended during the run, and how.
pub struct Dropped {
    pub count: usize,
    pub summary: String,
}

impl IdleResult {
    pub fn kib_per_socket(&self) -> f64 {
        self.rss_full_kib.saturating_sub(self.rss_empty_kib) as f64 / self.sockets as f64
    }
}

/// The shortest keep-alive interval the app asks for (the coordinator's `KEEP_ALIVE_MIN_SECONDS`).
const FIRST_KEEP_ALIVE: Duration = Duration::from_secs(20);

fn count_requests(host: &Host) -> usize {
    host.logs().matches(" /sync/ws ").count()
}

/// Sockets per loopback source address (127.0.0.2, then 127.0.0.3, …): one address has ~28,000
/// ephemeral ports to reach the gateway from, and a previous run's sockets (the embedded
/// gateway's, before Pushpin's) hold theirs in TIME_WAIT for a minute after they closed.
const SOCKETS_PER_SOURCE: usize = 10_000;

/// The source address of the `n`th socket.
fn source(n: usize) -> IpAddr {
    let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
    IpAddr::V4(Ipv4Addr::from(first + (n / SOCKETS_PER_SOURCE) as u32))
}

/// Holds an idle device as a real client does, reading it so that the gateway's pings are
/// answered, until the connection ends: the embedded gateway pings every 30 s and drops a client
/// that answered none for 2 min, and opening tens of thousands of sockets, the wait for their
/// first keep-alives and the window can take longer.
async fn hold(mut device: Device) -> (Ended, Instant) {
    loop {
        if let Err(ended) = device.next_or_end(Duration::MAX).await {
            return (ended, Instant::now());
        }
    }
}

/// Opens `sockets` connections (5 devices per user) and watches the gateway — the host process,
/// or the process tree given by `gateway_pid` — for `window`.
pub async fn run(
    host: &Host,
    gateway_pid: u32,
    tree: bool,
    sockets: usize,
    window: Duration,
) -> anyhow::Result<IdleResult> {
    let rss = || {
        if tree {
            procfs::tree_rss_kib(gateway_pid)
        } else {
            procfs::rss_kib(gateway_pid)
        }
    };
    let rss_empty_kib = rss();
    let started = Instant::now();
    let mut held = Vec::with_capacity(sockets);
    // Batches well inside the listen queue (sync-host's holds 4,096; the standard library's 128,
    // which batches of 200 overflowed, made a connection wait a second for its SYN to be resent).
    let batch = 100;
    let mut retried = 0;
    for start in (0..sockets).step_by(batch) {
        let mut tasks = Vec::new();
        for n in start..(start + batch).min(sockets) {
            let gateway = host.gateway_url.clone();
            tasks.push(tokio::spawn(async move {
                let user = format!("idle{}", n / 5);
                Device::connect_with_retry_from(&gateway, source(n), &user, 12).await
            }));
        }
        for task in tasks {
            let (device, attempts) = task.await?;
            retried += attempts as usize - 1;
            held.push(tokio::spawn(hold(device)));
        }
    }
    let connecting = started.elapsed();
    // A new connection's first keep-alive comes after the shortest interval (20 s, while its
    // catch-up's follow-up replay may be pending); after it, the next is ten minutes away. Wait
    // past it, so that the window sees the steady state.
    let requests_connected = count_requests(host);
    tokio::time::sleep(FIRST_KEEP_ALIVE + Duration::from_secs(3)).await;
    let rss_full_kib = rss();
    let requests_before = count_requests(host);
    let first_keep_alives = requests_before - requests_connected;
    let cpu_gateway_before: Duration = procfs::tree(gateway_pid)
        .into_iter()
        .map(procfs::cpu_time)
        .sum();
    tokio::time::sleep(window).await;
    let cpu_gateway: Duration = procfs::tree(gateway_pid)
        .into_iter()
        .map(procfs::cpu_time)
        .sum::<Duration>()
        - cpu_gateway_before;
    let app_requests = count_requests(host) - requests_before;
    let instances_alive = host.instances_alive();
    let (ended, held): (Vec<_>, Vec<_>) = held.into_iter().partition(|device| device.is_finished());
    // Closes the sockets still held.
    for device in held {
        device.abort();
    }
    let mut endings = Vec::with_capacity(ended.len());
    for device in ended {
        endings.push(device.await?);
    }
    let dropped = (!endings.is_empty()).then(|| {
        let after = |at: Instant| at.duration_since(started).as_secs_f64();
        let first = endings.iter().map(|(_, at)| *at).min().unwrap_or(started);
        let last = endings.iter().map(|(_, at)| *at).max().unwrap_or(started);
        let failed = host
            .logs()
            .lines()
            .filter(|l| l.contains(" /sync/ws ") && !l.contains(" /sync/ws 200 "))
            .count();
        Dropped {
            count: endings.len(),
            summary: format!(
                "{} of {sockets} sockets ended, {:.1}–{:.1} s after the first connect \
                 (connecting took {:.1} s, {retried} connects retried); one: {}; the app \
                 answered {failed} requests with an error",
                endings.len(),
                after(first),
                after(last),
                connecting.as_secs_f64(),
                endings[0].0,
            ),
        }
    });
    Ok(IdleResult {
        rss_empty_kib,
        rss_full_kib,
        sockets: sockets - dropped.as_ref().map_or(0, |d| d.count),
        dropped,
        connecting,
        cpu: cpu_gateway,
        window,
        app_requests,
        first_keep_alives,
        instances_alive,
    })
}
