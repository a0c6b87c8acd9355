//! Scenario `idle`: N idle WebSockets held by the gateway. Reports the gateway's memory per socket
//! against its own 0-socket baseline, CPU while idle, and what the app did meanwhile.

use crate::procfs;
use e2e::Host;
use e2e::device::Device;
use std::time::Duration;

pub struct IdleResult {
    pub rss_empty_kib: u64,
    pub rss_full_kib: u64,
    pub sockets: usize,
    pub cpu: Duration,
    pub window: Duration,
    /// App requests (WebSocket-over-HTTP keep-alives) during the idle window.
    pub app_requests: usize,
    /// App requests between the last connect and the window: each connection's first keep-alive.
    pub first_keep_alives: usize,
    /// Component instances alive at the end of the window, as the host's pooling allocator reports.
    pub instances_alive: Option<u64>,
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
    let mut devices = Vec::with_capacity(sockets);
    let batch = 200;
    for start in (0..sockets).step_by(batch) {
        let mut tasks = Vec::new();
        for n in start..(start + batch).min(sockets) {
            let gateway = host.gateway_url.clone();
            tasks.push(tokio::spawn(async move {
                Device::connect_with_retry(&gateway, &format!("idle{}", n / 5), 12)
                    .await
                    .0
            }));
        }
        for task in tasks {
            devices.push(task.await?);
        }
    }
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
    drop(devices);
    Ok(IdleResult {
        rss_empty_kib,
        rss_full_kib,
        sockets,
        cpu: cpu_gateway,
        window,
        app_requests,
        first_keep_alives,
        instances_alive,
    })
}
