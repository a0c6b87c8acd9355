//! Scenario `spin`: the same app (spin.toml and the same wasm) on real Spin (`spin up`) and on
//! sync-host `--no-gateway`, each behind its own Pushpin configured from `deploy/pushpin/`, in one
//! run: relay latency at each of `--rates` (default 500,1000 mutations/s; `--users`, `--devices`,
//! `--seconds` as for `relay`), throughput (`--users`, `--window`, `--throughput-seconds`, default
//! 20), catch-up (`--changes`, default 5,000, and `--rounds`) and each host's own floor per request
//! (`host_floor`, `--floor-seconds`, default 10); `--rates ""`, `--throughput-seconds 0`,
//! `--changes 0` or `--floor-seconds 0` leaves that part out. Each part prints both hosts'
//! figures beside the same-run baseline the `relay`, `throughput` and `catch-up` scenarios use,
//! then Spin/sync-host. Every measurement starts a fresh host; sync-host runs first. The Spin
//! binary: `--spin PATH`, else `$E2E_SPIN_BINS` (its 4.0.2, else its first), else `spin` on
//! `PATH`.

use crate::hosts::{Delta, Target, find_spin};
use crate::stats::{ms, ratio};
use crate::{
    Options, baseline, catch_up, host_floor, pushpin_installed, relay, relay_options, throughput,
};
use std::future::Future;

pub async fn compare(options: &Options) -> anyhow::Result<()> {
    let spin = match find_spin(options.0.get("spin").map(String::as_str)) {
        Ok(spin) => spin,
        Err(why) => {
            println!("## spin: not run — {why}");
            return Ok(());
        }
    };
    if !pushpin_installed() {
        println!("## spin: not run — Pushpin is not installed (both hosts run behind it)");
        return Ok(());
    }
    let Target::Spin { path, version } = &spin else {
        unreachable!("find_spin returns a Spin target")
    };
    println!(
        "## spin: the app on Spin {version} ({}) and on sync-host --no-gateway, each behind its own Pushpin (deploy/pushpin/); fresh host per measurement",
        path.display()
    );
    let hosts = [
        Target::SyncHost {
            through_pushpin: true,
        },
        spin.clone(),
    ];
    let rates: Vec<f64> = options
        .0
        .get("rates")
        .map_or("500,1000", String::as_str)
        .split(',')
        .filter(|rate| !rate.trim().is_empty())
        .map(|rate| rate.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--rates: a comma-separated list of mutations/s"))?;
    if !rates.is_empty() {
        compare_relay(options, &rates, &hosts).await?;
    }
    let seconds: f64 = options.get("throughput-seconds", 20.0)?;
    if seconds > 0.0 {
        compare_throughput(options, seconds, &hosts).await?;
    }
    // Not the catch-up scenario's 10,000: through Pushpin (either host) a catch-up of 10,000 of
    // the bench's entries (about 1.1 MB) never arrives — the connection is reset, and a connect
    // whose replay is that large gets 502 — while 5,000 (about 0.55 MB) do.
    let changes: usize = options.get("changes", 5_000)?;
    let rounds: usize = options.get("rounds", 5)?;
    if changes > 0 {
        compare_catch_up(changes, rounds, &hosts).await;
    }
    let floor_seconds: f64 = options.get("floor-seconds", 10.0)?;
    if floor_seconds > 0.0 {
        compare_floor(floor_seconds, &hosts).await;
    }
    Ok(())
}

/// Each host's cost per request before the app, sync-host then Spin.
async fn compare_floor(seconds: f64, hosts: &[Target; 2]) {
    println!(
        "### host floor: the fixture probe component, one client awaiting each response straight to the host (no Pushpin), {seconds} s per route"
    );
    let run = |target: &Target| {
        let target = target.clone();
        isolated(target.label(), async move {
            tokio::task::spawn_blocking(move || host_floor::measure(&target, seconds)).await?
        })
    };
    let ours = run(&hosts[0]).await;
    let theirs = run(&hosts[1]).await;
    if let (Some(ours), Some(theirs)) = (ours, theirs) {
        let statements = format!(
            "SQLite SELECT 1 ×{} on one connection",
            host_floor::STATEMENTS
        );
        for (route, ours, theirs) in [
            ("a component touching no interface", &ours[0], &theirs[0]),
            ("SQLite SELECT 1", &ours[1], &theirs[1]),
            ("one SQLite INSERT (a commit)", &ours[2], &theirs[2]),
            (statements.as_str(), &ours[3], &theirs[3]),
            ("an outbound GET to the first route", &ours[4], &theirs[4]),
            (
                "the app's /sync/ws refusing a body (400)",
                &ours[5],
                &theirs[5],
            ),
            (
                "the app's /sync/ws acking a mutation (its relay published)",
                &ours[6],
                &theirs[6],
            ),
        ] {
            println!(
                "Spin/sync-host, floor, {route} per request (Spin / sync-host = ratio): {:.0}/s / {:.0}/s = ×{:.2} | host CPU per request {} | KiB written to storage per request {:.2} / {:.2}",
                theirs.per_second,
                ours.per_second,
                ratio(theirs.per_second, ours.per_second),
                versus_ms(theirs.host_cpu_ms_per_request, ours.host_cpu_ms_per_request),
                theirs.written_kib_per_request,
                ours.written_kib_per_request,
            );
        }
    }
}

/// Relay latency at each rate, sync-host then Spin, beside the native broadcast floor.
async fn compare_relay(
    options: &Options,
    rates: &[f64],
    hosts: &[Target; 2],
) -> anyhow::Result<()> {
    let floor = baseline::start_broadcast_server().await?;
    for &rate in rates {
        let relay_options = relay_options(options, rate)?;
        println!(
            "### relay: {} users × {} devices, {rate} mutations/s for {} s",
            relay_options.users, relay_options.devices, relay_options.seconds
        );
        let base = relay::run(&floor, &relay_options).await?;
        println!(
            "baseline (native broadcast, no persistence): relay p50 {} p99 {}, ack p50 {} p99 {}",
            ms(base.relay.p50),
            ms(base.relay.p99),
            ms(base.ack.p50),
            ms(base.ack.p99)
        );
        let run = |target: &Target| {
            isolated(
                target.label(),
                relay::on(target.clone(), relay_options, base.relay, base.ack),
            )
        };
        let ours = run(&hosts[0]).await;
        let theirs = run(&hosts[1]).await;
        if let (Some((ours, our_use)), Some((theirs, their_use))) = (ours, theirs) {
            let lost = |r: &relay::RelayResult| r.relays_expected.saturating_sub(r.relays_received);
            println!(
                "Spin/sync-host, relay at {rate}/s (Spin / sync-host = ratio): relay p50 {} | p99 {} | ack p50 {} | p99 {} | host CPU per mutation {} | host busy {} cores | Pushpin cores {:.2} / {:.2}; relays lost {} / {}, ERROR replies {} / {} (baseline relay p50 {}, p99 {})",
                versus(theirs.relay.p50, ours.relay.p50),
                versus(theirs.relay.p99, ours.relay.p99),
                versus(theirs.ack.p50, ours.ack.p50),
                versus(theirs.ack.p99, ours.ack.p99),
                versus_ms(
                    their_use.host_ms_per(theirs.sent),
                    our_use.host_ms_per(ours.sent)
                ),
                versus_plain(
                    their_use.cores(their_use.host_cpu),
                    our_use.cores(our_use.host_cpu)
                ),
                their_use.cores(their_use.pushpin_cpu),
                our_use.cores(our_use.pushpin_cpu),
                lost(&theirs),
                lost(&ours),
                theirs.errors,
                ours.errors,
                ms(base.relay.p50),
                ms(base.relay.p99),
            );
        }
    }
    Ok(())
}

/// Acked mutations/s, sync-host then Spin, beside raw SQLite.
async fn compare_throughput(
    options: &Options,
    seconds: f64,
    hosts: &[Target; 2],
) -> anyhow::Result<()> {
    let users: usize = options.get("users", 100)?;
    let window: usize = options.get("window", 32)?;
    println!("### throughput: {users} users, {window} in flight per device, {seconds} s");
    let base = throughput::sqlite_baseline(users, seconds.min(10.0))?;
    println!(
        "baseline raw SQLite (one transaction per row, WAL + synchronous=FULL): {:.0}/s",
        base.per_second()
    );
    let run = |target: &Target| {
        isolated(
            target.label(),
            throughput::on(target.clone(), users, window, seconds, base.per_second()),
        )
    };
    let ours = run(&hosts[0]).await;
    let theirs = run(&hosts[1]).await;
    if let (Some((ours, our_use)), Some((theirs, their_use))) = (ours, theirs) {
        println!(
            "Spin/sync-host, throughput (Spin / sync-host = ratio): {:.0}/s / {:.0}/s = ×{:.2} | host CPU per acked mutation {} | host busy {} cores | KiB written to storage per mutation {} | mutations per app request {} | not applied {} / {}, unanswered {} / {} (baseline raw SQLite {:.0}/s)",
            theirs.per_second(),
            ours.per_second(),
            ratio(theirs.per_second(), ours.per_second()),
            versus_ms(
                their_use.host_ms_per(theirs.acked),
                our_use.host_ms_per(ours.acked)
            ),
            versus_plain(
                their_use.cores(their_use.host_cpu),
                our_use.cores(our_use.host_cpu)
            ),
            versus_plain(
                their_use.host_write_bytes as f64 / 1024.0 / theirs.acked.max(1) as f64,
                our_use.host_write_bytes as f64 / 1024.0 / ours.acked.max(1) as f64
            ),
            versus_plain(
                per_request(&theirs, &their_use),
                per_request(&ours, &our_use)
            ),
            theirs.not_applied,
            ours.not_applied,
            theirs.unanswered,
            ours.unanswered,
            base.per_second(),
        );
    }
    Ok(())
}

/// Catch-up time, sync-host then Spin, beside reading the rows from SQLite.
async fn compare_catch_up(changes: usize, rounds: usize, hosts: &[Target; 2]) {
    println!(
        "### catch-up: a new device catching up {changes} changes, {rounds} rounds (through Pushpin a catch-up of about 1 MB fails on either host: 10,000 changes do)"
    );
    let run = |target: &Target| {
        isolated(
            target.label(),
            catch_up::on(target.clone(), changes, rounds),
        )
    };
    let ours = run(&hosts[0]).await;
    let theirs = run(&hosts[1]).await;
    if let (Some(ours), Some(theirs)) = (ours, theirs) {
        println!(
            "Spin/sync-host, catch-up (Spin / sync-host = ratio): p50 {} | max {} | host CPU per catch-up {} (baseline SQLite read p50 {} / {})",
            versus(theirs.ours.p50, ours.ours.p50),
            versus(theirs.ours.max, ours.ours.max),
            versus_ms(theirs.host_cpu_ms, ours.host_cpu_ms),
            ms(theirs.baseline.p50),
            ms(ours.baseline.p50),
        );
    }
}

/// Runs one host's measurement on a runtime of its own, so that a failure on one host (an error,
/// or a harness panic such as a device refused) is printed and the comparison goes on, and so that
/// tasks it leaves behind (its devices) end with it instead of running into the next measurement.
async fn isolated<T: Send + 'static>(
    label: String,
    measurement: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> Option<T> {
    let outcome = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(measurement))
    })
    .await;
    match outcome {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            println!("{label}: failed: {error:#}");
            None
        }
        Err(failed) => {
            let why = failed.try_into_panic().ok().and_then(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            });
            println!(
                "{label}: failed: panicked: {}",
                why.unwrap_or_else(|| "(no message)".into())
            );
            None
        }
    }
}

fn per_request(result: &throughput::ThroughputResult, used: &Delta) -> f64 {
    (result.acked + result.not_applied) as f64 / used.requests().max(1) as f64
}

/// `12.30 ms / 4.10 ms = ×3.00`
fn versus(spin: std::time::Duration, sync_host: std::time::Duration) -> String {
    format!(
        "{} / {} = ×{:.2}",
        ms(spin),
        ms(sync_host),
        ratio(spin.as_secs_f64(), sync_host.as_secs_f64())
    )
}

fn versus_ms(spin: f64, sync_host: f64) -> String {
    format!(
        "{spin:.3} ms / {sync_host:.3} ms = ×{:.2}",
        ratio(spin, sync_host)
    )
}

fn versus_plain(spin: f64, sync_host: f64) -> String {
    format!(
        "{spin:.2} / {sync_host:.2} = ×{:.2}",
        ratio(spin, sync_host)
    )
}
