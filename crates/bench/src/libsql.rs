//! Scenario `libsql`: the app with its database on a real libSQL server (`sqld`) in a network
//! namespace of its own, reached over a veth link and a bridge, against the same app on a local
//! SQLite file, in one run, on sync-host `--no-gateway` and on real Spin, each behind its own
//! Pushpin: throughput (`--users`, default 20, `--window`, default 8, `--throughput-seconds`,
//! default 10) and relay latency at `--rate` (default 100 mutations/s, `--users`, `--devices`,
//! `--seconds` as for `relay`). Every measurement starts a fresh host and, for libSQL, a fresh
//! `sqld`. It also times one Hrana round trip across the link, which bounds the libSQL path: a
//! mutation is a dozen statements, each a round trip. Needs root (network namespaces); the Spin
//! binary as for `spin`.

use crate::hosts::{Target, find_spin, unlimited};
use crate::stats::{ms, ratio, summarize};
use crate::{Options, pushpin_installed, relay, relay_options, throughput};
use e2e::netns::Netns;
use e2e::shared_database::SharedDatabase;
use e2e::sqld::Sqld;
use e2e::{Host, HostConfig, app_manifest};
use std::time::Instant;

pub async fn compare(options: &Options) -> anyhow::Result<()> {
    if !pushpin_installed() {
        println!("## libsql: not run — Pushpin is not installed (both hosts run behind it)");
        return Ok(());
    }
    let mut hosts = vec![Target::SyncHost {
        through_pushpin: true,
    }];
    match find_spin(options.0.get("spin").map(String::as_str)) {
        Ok(spin) => hosts.push(spin),
        Err(why) => println!("(Spin left out: {why})"),
    }
    let namespace = Netns::create()?;
    let users: usize = options.get("users", 20)?;
    let window: usize = options.get("window", 8)?;
    let seconds: f64 = options.get("throughput-seconds", 10.0)?;
    let relay_options = relay_options(options, options.get("rate", 100.0)?)?;
    println!(
        "## libsql: the database on sqld in a network namespace, across a veth link and a bridge, against a local file; throughput {users} users × window {window} for {seconds} s; relay {} users × {} devices at {}/s for {} s; fresh host (and sqld) per measurement",
        relay_options.users, relay_options.devices, relay_options.rate, relay_options.seconds
    );
    {
        let sqld = Sqld::start_in(Some(&namespace))?;
        let mut round_trips = (0..200)
            .map(|_| {
                let started = Instant::now();
                sqld.query("SELECT 1", &[]).map(|_| started.elapsed())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let link = summarize(&mut round_trips).expect("200 samples");
        println!(
            "one Hrana request across the link (SELECT 1 in a fresh stream, from this process): p50 {} p99 {}",
            ms(link.p50),
            ms(link.p99)
        );
    }
    for target in &hosts {
        let name = target.label();
        let mut rates = Vec::new();
        let mut relays = Vec::new();
        for on_libsql in [false, true] {
            let storage = if on_libsql { "libSQL" } else { "file" };
            let (host, _database) = start(target, on_libsql.then_some(&namespace))?;
            let result = throughput::run(&host.gateway_url, users, window, seconds).await?;
            println!(
                "{name}, {storage}: throughput {:.0}/s ({} acked, {} not applied, {} unanswered){}",
                result.per_second(),
                result.acked,
                result.not_applied,
                result.unanswered,
                result.ends()
            );
            rates.push(result.per_second());
            drop(host);
            let (host, _database) = start(target, on_libsql.then_some(&namespace))?;
            let result = relay::run(&host.gateway_url, &relay_options).await?;
            println!(
                "{name}, {storage}: relay p50 {} p99 {}, ack p50 {} p99 {}; {} sent, {} ERROR replies, relays {}/{}",
                ms(result.relay.p50),
                ms(result.relay.p99),
                ms(result.ack.p50),
                ms(result.ack.p99),
                result.sent,
                result.errors,
                result.relays_received,
                result.relays_expected
            );
            relays.push(result.relay);
        }
        println!(
            "{name}, libSQL/file: throughput {:.0}/s / {:.0}/s = ×{:.2} | relay p50 {} / {} | p99 {} / {}",
            rates[1],
            rates[0],
            ratio(rates[1], rates[0]),
            ms(relays[1].p50),
            ms(relays[0].p50),
            ms(relays[1].p99),
            ms(relays[0].p99),
        );
    }
    Ok(())
}

/// A fresh host of `target` behind Pushpin, on a local file, or on a fresh `sqld` in `namespace`
/// (returned with it: the server lives as long as the host needs it).
fn start(
    target: &Target,
    namespace: Option<&Netns>,
) -> anyhow::Result<(Host, Option<SharedDatabase>)> {
    let config = target.configure(unlimited(HostConfig::new(app_manifest())));
    let Some(namespace) = namespace else {
        return Ok((config.start()?, None));
    };
    let database = SharedDatabase::Libsql(Sqld::start_in(Some(namespace))?);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("runtime-config.toml");
    std::fs::write(
        &file,
        format!("[sqlite_database.default]\n{}", database.runtime_config()),
    )?;
    let host = config.start_with_args(&["--runtime-config-file", file.to_str().unwrap()])?;
    // The host has read the file; the directory may go.
    drop(dir);
    Ok((host, Some(database)))
}
