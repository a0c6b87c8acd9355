//! `cargo run --release -p bench -- <scenario> [--option value]…` — scenarios `relay`,
//! `throughput`, `idle`, `instantiate`, `catch-up`, `reload`, `spin` (the app on real Spin against
//! sync-host, both behind Pushpin), or `all`; and, not in `all`, `soak` (30 min by default) and
//! `libsql` (the database on a libSQL server across a network-namespace link, against a file; needs
//! root). Every figure is printed beside a baseline measured in the same run. Loads are bounded in
//! count and time and use loopback only (`libsql`: loopback and the namespace's private link).
//! Needs the components and host built (`scripts/build-components`,
//! `cargo build --release -p sync-host`); runs through Pushpin too where it is installed.

mod baseline;
mod catch_up;
mod host_floor;
mod hosts;
mod idle;
mod instantiate;
mod libsql;
mod procfs;
mod relay;
mod reload;
mod soak;
mod spin;
mod stats;
mod throughput;

use e2e::{Host, HostConfig};
use hosts::Target;
use stats::{ms, print_summary, ratio};
use std::collections::HashMap;
use std::time::Duration;

struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let mut iter = args.iter();
        while let Some(flag) = iter.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| anyhow::anyhow!("expected --option, got {flag}"))?;
            let value = iter
                .next()
                .ok_or_else(|| anyhow::anyhow!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Self(map))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.0.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name}: cannot parse {raw:?}")),
        }
    }
}

fn start_host(through_pushpin: bool) -> anyhow::Result<Host> {
    Target::SyncHost { through_pushpin }.start()
}

fn pushpin_installed() -> bool {
    std::process::Command::new("pushpin")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `--users`, `--devices`, `--seconds` for a relay run at `rate` mutations/s.
fn relay_options(options: &Options, rate: f64) -> anyhow::Result<relay::RelayOptions> {
    let relay_options = relay::RelayOptions {
        users: options.get("users", 100)?,
        devices: options.get("devices", 3)?,
        rate,
        seconds: options.get("seconds", 10.0)?,
    };
    anyhow::ensure!(relay_options.devices >= 2, "--devices must be at least 2");
    Ok(relay_options)
}

async fn relay(options: &Options) -> anyhow::Result<()> {
    let relay_options = relay_options(options, options.get("rate", 1000.0)?)?;
    println!(
        "## relay: {} users × {} devices, {} mutations/s for {} s",
        relay_options.users, relay_options.devices, relay_options.rate, relay_options.seconds
    );
    let floor = baseline::start_broadcast_server().await?;
    let base = relay::run(&floor, &relay_options).await?;
    println!(
        "baseline (native broadcast, no persistence): relay p50 {} p99 {}",
        ms(base.relay.p50),
        ms(base.relay.p99)
    );
    let mut gateways = vec![Target::SyncHost {
        through_pushpin: false,
    }];
    if pushpin_installed() {
        gateways.push(Target::SyncHost {
            through_pushpin: true,
        });
    } else {
        println!("Pushpin is not installed: no Pushpin run");
    }
    for target in gateways {
        relay::on(target, relay_options, base.relay, base.ack).await?;
    }
    Ok(())
}

async fn reload(options: &Options) -> anyhow::Result<()> {
    let reload_options = reload::ReloadOptions {
        users: options.get("users", 100)?,
        devices: options.get("devices", 2)?,
        rate: options.get("rate", 1000.0)?,
        seconds: options.get("seconds", 10.0)?,
        reloads: options.get("reloads", 3)?,
    };
    println!(
        "## reload: {} users × {} devices, {} mutations/s for {} s, {} SIGHUP reloads (embedded \
         gateway)",
        reload_options.users,
        reload_options.devices,
        reload_options.rate,
        reload_options.seconds,
        reload_options.reloads
    );
    let host = start_host(false)?;
    reload::compare(&host, reload_options).await
}

async fn throughput(options: &Options) -> anyhow::Result<()> {
    let seconds: f64 = options.get("seconds", 60.0)?;
    let window: usize = options.get("window", 32)?;
    println!("## throughput: acked mutations/s over {seconds} s, {window} in flight per device");
    let host = start_host(false)?;
    for users in [1usize, options.get("users", 100)?] {
        let base = throughput::sqlite_baseline(users, seconds.min(10.0))?;
        let ours = throughput::run(&host.gateway_url, users, window, seconds).await?;
        println!(
            "{users} user(s): {:.0}/s ({} acked, {} not applied, {} unanswered, in {:.1} s) — ×{:.2} of baseline raw SQLite {:.0}/s{}",
            ours.per_second(),
            ours.acked,
            ours.not_applied,
            ours.unanswered,
            ours.elapsed.as_secs_f64(),
            ratio(ours.per_second(), base.per_second()),
            base.per_second(),
            ours.ends()
        );
    }
    Ok(())
}

async fn idle(options: &Options) -> anyhow::Result<()> {
    let sockets: usize = options.get("sockets", 10_000)?;
    let window = Duration::from_secs_f64(options.get("seconds", 30.0)?);
    let pushpin: bool = options.get("pushpin", true)?;
    let limit = procfs::raise_fd_limit(sockets);
    println!(
        "## idle: {sockets} idle sockets, watched for {} s (open-file limit {limit})",
        window.as_secs()
    );
    // The bench holds the client side of every socket and the host, which inherits the limit, the
    // server side: short of descriptors, either would fail only after minutes of connecting.
    anyhow::ensure!(
        limit >= sockets as u64 + procfs::FD_HEADROOM,
        "{sockets} sockets need an open-file limit of at least {} and the hard limit allows \
         {limit}: raise it (`ulimit -Hn`, as root) or open fewer",
        sockets as u64 + procfs::FD_HEADROOM
    );
    let host = start_host(false)?;
    let ours = idle::run(&host, host.pid(), false, sockets, window).await?;
    if let Some(dropped) = &ours.dropped {
        anyhow::bail!("the embedded gateway dropped sockets: {}", dropped.summary);
    }
    println!(
        "embedded gateway (sync-host): RSS {} KiB with 0 sockets (baseline), {} KiB with {} (opened in {:.1} s) → {:.2} KiB per socket; CPU {} over {} s idle ({:.2}%); {} app requests (keep-alives) in the window, after {} first keep-alives (one per connection, at 20 s); component instances alive: {}",
        ours.rss_empty_kib,
        ours.rss_full_kib,
        ours.sockets,
        ours.connecting.as_secs_f64(),
        ours.kib_per_socket(),
        ms(ours.cpu),
        ours.window.as_secs(),
        100.0 * ours.cpu.as_secs_f64() / ours.window.as_secs_f64(),
        ours.app_requests,
        ours.first_keep_alives,
        ours.instances_alive
            .map_or("unknown".into(), |n| n.to_string()),
    );
    drop(host);
    if !pushpin {
        println!("--pushpin false: no Pushpin comparison");
    } else if pushpin_installed() {
        let host = start_host(true)?;
        let pid = host
            .pushpin_pid()
            .ok_or_else(|| anyhow::anyhow!("no Pushpin process"))?;
        let theirs = idle::run(&host, pid, true, sockets, window).await?;
        println!(
            "Pushpin (all its processes): RSS {} KiB with 0 sockets, {} KiB with {} (opened in {:.1} s) → {:.2} KiB per socket (×{:.2} of ours); CPU {} over {} s idle ({:.2}%); {} app requests in the window, after {} first keep-alives",
            theirs.rss_empty_kib,
            theirs.rss_full_kib,
            theirs.sockets,
            theirs.connecting.as_secs_f64(),
            theirs.kib_per_socket(),
            ratio(theirs.kib_per_socket(), ours.kib_per_socket()),
            ms(theirs.cpu),
            theirs.window.as_secs(),
            100.0 * theirs.cpu.as_secs_f64() / theirs.window.as_secs_f64(),
            theirs.app_requests,
            theirs.first_keep_alives,
        );
        // Measured, not hidden: on 2 cores, Pushpin 1.36's proxy ends a few per cent of the
        // sockets of a 10,000-socket connect burst ("target error" on a connected session, 502 on
        // a handshake) while the app answers every request; the figures above count the rest.
        if let Some(dropped) = &theirs.dropped {
            println!("Pushpin dropped sockets: {}", dropped.summary);
        }
    } else {
        println!("Pushpin is not installed: no Pushpin comparison");
    }
    Ok(())
}

async fn instantiate(options: &Options) -> anyhow::Result<()> {
    let count: usize = options.get("requests", 5000)?;
    let clients: usize = options.get("clients", 8)?;
    let seconds: f64 = options.get("seconds", 10.0)?;
    println!(
        "## instantiate: a trivial component, then /health; {count} sequential requests each, then {clients} clients for {seconds} s"
    );
    let fixtures = HostConfig::new(e2e::fixture_manifest()).start()?;
    instantiate_one(
        "trivial component (route-echo fixture)",
        &fixtures,
        "/routes/bench",
        count,
        clients,
        seconds,
    )
    .await?;
    let host = start_host(false)?;
    instantiate_one(
        "/health (SQLite query, key-value read)",
        &host,
        "/health",
        count,
        clients,
        seconds,
    )
    .await
}

/// Instantiate + handle time inside the host, the HTTP round trip and requests/s for `path`,
/// beside a native hyper server answering the same body.
async fn instantiate_one(
    what: &str,
    host: &Host,
    path: &str,
    count: usize,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    let url = format!("{}{path}", host.url);
    let body = e2e::Host::agent()
        .get(&url)
        .call()?
        .body_mut()
        .read_to_string()?;
    let floor = baseline::start_json_server(body).await?;
    let (ours_url, floor_url) = (url.clone(), format!("{floor}/health"));
    let (ours, base) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        instantiate::sequential(&ours_url, 500)?; // warm-up
        let ours = instantiate::sequential(&ours_url, count)?;
        let base = instantiate::sequential(&floor_url, count)?;
        Ok((ours, base))
    })
    .await??;
    let in_host = instantiate::in_host(&host.logs(), path, count)
        .ok_or_else(|| anyhow::anyhow!("no request log lines for {path}"))?;
    println!(
        "{what}: instantiate + handle inside the host (request log, 1 µs resolution): p50 {} p99 {} (n={})",
        ms(in_host.p50),
        ms(in_host.p99),
        in_host.count
    );
    print_summary(
        &format!("{what}: HTTP round trip, sequential"),
        &ours,
        &base,
    );
    let (ours_url, floor_url) = (url, format!("{floor}/health"));
    let (ours_rps, base_rps) = tokio::task::spawn_blocking(move || {
        (
            instantiate::load(&ours_url, clients, seconds),
            instantiate::load(&floor_url, clients, seconds),
        )
    })
    .await?;
    println!(
        "{what}: requests/s with {clients} clients: {ours_rps:.0} — ×{:.3} of baseline native hyper {base_rps:.0}",
        ratio(ours_rps, base_rps)
    );
    Ok(())
}

async fn catch_up(options: &Options) -> anyhow::Result<()> {
    let changes: usize = options.get("changes", 10_000)?;
    let rounds: usize = options.get("rounds", 5)?;
    println!("## catch-up: a new device catching up {changes} changes, {rounds} rounds");
    let embedded = Target::SyncHost {
        through_pushpin: false,
    };
    catch_up::on(embedded, changes, rounds).await?;
    Ok(())
}

/// `bench soak`: 1,000 sockets for 30 min by default (`--minutes N` to shorten).
async fn soak(options: &Options) -> anyhow::Result<()> {
    soak::run(soak::SoakOptions {
        minutes: options.get("minutes", 30)?,
        users: options.get("users", 200)?,
        devices: options.get("devices", 5)?,
        rate: options.get("rate", 200.0)?,
        reconnect_percent: options.get("reconnect-percent", 5.0)?,
        extra_catch_ups: options.get("catch-ups", 10.0)?,
        offline: Duration::from_secs_f64(options.get("offline-seconds", 2.0)?),
        window_minutes: options.get("window-minutes", 5)?,
    })
    .await
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or("?".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores, {memory} memory, commit {commit}")
}

const USAGE: &str = "usage: bench <relay|throughput|idle|instantiate|catch-up|reload|spin|all|soak|libsql> [--option value]…\n(each scenario's options are described at the top of its module in crates/bench/src/)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scenario = match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(scenario) => scenario.to_string(),
        None => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let options = Options::parse(&args[1..])?;
    println!("# mirubato-sync bench — {}", machine());
    const SCENARIOS: [&str; 7] = [
        "relay",
        "throughput",
        "idle",
        "instantiate",
        "catch-up",
        "reload",
        "spin",
    ];
    let chosen: Vec<&str> = match scenario.as_str() {
        "all" => SCENARIOS.to_vec(),
        // Long (30 min by default): only when asked for.
        "soak" => return soak(&options).await,
        // Needs root (a network namespace): only when asked for.
        "libsql" => return libsql::compare(&options).await,
        one if SCENARIOS.contains(&one) => vec![one],
        unknown => {
            eprintln!("unknown scenario {unknown:?}\n{USAGE}");
            std::process::exit(2);
        }
    };
    for name in chosen {
        match name {
            "relay" => relay(&options).await?,
            "throughput" => throughput(&options).await?,
            "idle" => idle(&options).await?,
            "instantiate" => instantiate(&options).await?,
            "catch-up" => catch_up(&options).await?,
            "reload" => reload(&options).await?,
            _ => spin::compare(&options).await?,
        }
    }
    Ok(())
}
