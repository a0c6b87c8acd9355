//! Which host runs the app — sync-host (embedded gateway or `--no-gateway` behind Pushpin) or real
//! Spin behind Pushpin — and what the bench can cheaply observe of it over a run: CPU of the host's
//! process tree and of its Pushpin, memory, the app requests it answered by status, and the
//! coordinator's own log lines (its storage failures, SQLite lock retries given up).

use crate::procfs;
use e2e::{Host, HostConfig, app_manifest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Target {
    SyncHost {
        through_pushpin: bool,
    },
    /// `spin up` with this binary, behind its own Pushpin (Spin has no gateway).
    Spin {
        path: PathBuf,
        version: String,
    },
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::SyncHost {
                through_pushpin: false,
            } => "embedded gateway".into(),
            Target::SyncHost {
                through_pushpin: true,
            } => "sync-host + Pushpin".into(),
            Target::Spin { version, .. } => format!("Spin {version} + Pushpin"),
        }
    }

    /// Starts the app with rate limits lifted.
    pub fn start(&self) -> anyhow::Result<Host> {
        self.configure(unlimited(HostConfig::new(app_manifest())))
            .start()
    }

    /// `config` on this target's host. Spin runs behind Pushpin unless `config` is changed after.
    pub fn configure(&self, config: HostConfig) -> HostConfig {
        match self {
            Target::SyncHost { through_pushpin } => {
                // Whatever E2E_HOST / E2E_GATEWAY say: this target is sync-host as named.
                let mut config = config.through_pushpin(*through_pushpin);
                config.spin = None;
                config
            }
            Target::Spin { path, .. } => config.on_spin(path),
        }
    }
}

/// `config` with the rate limits lifted: the bench sends far more than a user may.
pub fn unlimited(config: HostConfig) -> HostConfig {
    e2e::steady_writers::UNLIMITED
        .iter()
        .fold(config, |config, (name, value)| config.env(name, value))
}

/// What the bench reads of a host at one moment; two of them give a run's [`Delta`].
pub struct Snapshot {
    at: Instant,
    host_cpu: Duration,
    pushpin_cpu: Duration,
    bench_cpu: Duration,
    host_write_bytes: u64,
    host_switches: u64,
    statuses: BTreeMap<u16, usize>,
    coordinator_lines: Vec<String>,
}

impl Snapshot {
    pub fn take(host: &Host) -> Self {
        let tree_cpu = |pid: u32| procfs::tree(pid).into_iter().map(procfs::cpu_time).sum();
        // The whole tree: Spin serves from a child process (`spin trigger http`).
        let host_tree = procfs::tree(host.pid());
        Snapshot {
            at: Instant::now(),
            host_cpu: host_tree.iter().copied().map(procfs::cpu_time).sum(),
            host_write_bytes: host_tree.iter().copied().map(procfs::write_bytes).sum(),
            host_switches: host_tree
                .iter()
                .copied()
                .map(procfs::voluntary_switches)
                .sum(),
            pushpin_cpu: host.pushpin_pid().map_or(Duration::ZERO, tree_cpu),
            bench_cpu: procfs::cpu_time(std::process::id()),
            statuses: statuses(host),
            coordinator_lines: coordinator_lines(host),
        }
    }

    pub fn since(&self, before: &Snapshot, host: &Host) -> Delta {
        let mut statuses = self.statuses.clone();
        for (status, count) in &before.statuses {
            *statuses.entry(*status).or_default() -= count;
        }
        statuses.retain(|_, count| *count > 0);
        Delta {
            wall: self.at - before.at,
            host_cpu: self.host_cpu.saturating_sub(before.host_cpu),
            pushpin_cpu: self.pushpin_cpu.saturating_sub(before.pushpin_cpu),
            bench_cpu: self.bench_cpu.saturating_sub(before.bench_cpu),
            host_write_bytes: self
                .host_write_bytes
                .saturating_sub(before.host_write_bytes),
            host_switches: self.host_switches.saturating_sub(before.host_switches),
            statuses,
            coordinator_lines: self
                .coordinator_lines
                .get(before.coordinator_lines.len()..)
                .unwrap_or_default()
                .to_vec(),
            rss_kib: procfs::tree_rss_kib(host.pid()),
        }
    }
}

/// One run as the host saw it.
pub struct Delta {
    pub wall: Duration,
    pub host_cpu: Duration,
    pub pushpin_cpu: Duration,
    pub bench_cpu: Duration,
    /// Bytes the host's processes wrote to storage during the run.
    pub host_write_bytes: u64,
    /// Times the host's threads blocked during the run.
    pub host_switches: u64,
    /// App requests answered during the run, by HTTP status.
    pub statuses: BTreeMap<u16, usize>,
    /// Messages the coordinator logged during the run (`coordinator: … failed …`).
    pub coordinator_lines: Vec<String>,
    /// Resident memory of the host's processes at the end of the run.
    pub rss_kib: u64,
}

impl Delta {
    pub fn cores(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    /// Host CPU per unit of work (`per` mutations, catch-ups…), in ms.
    pub fn host_ms_per(&self, per: usize) -> f64 {
        self.host_cpu.as_secs_f64() * 1000.0 / per.max(1) as f64
    }

    pub fn requests(&self) -> usize {
        self.statuses.values().sum()
    }

    /// `app requests answered 1234 (200: 1230, 503: 4), 2.10 mutations per request, …` — what
    /// explains a gap between hosts (`mutations` 0: no per-mutation figures).
    pub fn facts(&self, mutations: usize) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        let requests = self.requests().max(1) as f64;
        let per_mutation = if mutations > 0 {
            format!(
                ", {:.2} mutations per request; per mutation: {:.1} KiB written to storage, host threads blocked {:.1} times",
                mutations as f64 / requests,
                self.host_write_bytes as f64 / 1024.0 / mutations as f64,
                self.host_switches as f64 / mutations as f64,
            )
        } else {
            String::new()
        };
        let mut text = format!(
            "app requests answered {} ({}), host CPU {:.2} ms per request{per_mutation}; host memory (RSS of its processes) {:.1} MiB; coordinator log messages {}",
            self.requests(),
            statuses.join(", "),
            self.host_cpu.as_secs_f64() * 1000.0 / requests,
            self.rss_kib as f64 / 1024.0,
            self.coordinator_lines.len(),
        );
        let mut distinct: Vec<String> = Vec::new();
        for line in &self.coordinator_lines {
            // "coordinator: sync write failed after 12 attempt(s) in 2003 ms: database is locked",
            // without the numbers.
            let from = line.find("coordinator: ").unwrap_or(0);
            let shape: String = line[from..]
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            if !distinct.contains(&shape) {
                distinct.push(shape);
            }
        }
        for shape in distinct.iter().take(3) {
            text.push_str(&format!(" | {shape}"));
        }
        text
    }
}

/// Requests the host has answered so far, by status: sync-host's request log lines
/// (`POST /sync/ws 200 0.420ms`), Spin's `Request finished, sending response with status code 200 OK`.
fn statuses(host: &Host) -> BTreeMap<u16, usize> {
    const SPIN: &str = "sending response with status code ";
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"];
    let mut statuses = BTreeMap::new();
    for line in host.logs().lines() {
        let status = if let Some((_, rest)) = line.split_once(SPIN) {
            rest.split_whitespace().next()
        } else {
            // `… POST /sync/ws 200 0.420ms`
            let words: Vec<&str> = line.split_whitespace().rev().take(4).collect();
            let request_line = words.len() == 4
                && words[0]
                    .strip_suffix("ms")
                    .is_some_and(|ms| ms.parse::<f64>().is_ok())
                && words[2].starts_with('/')
                && METHODS.iter().any(|method| words[3].ends_with(method));
            request_line.then(|| words[1])
        };
        if let Some(status) = status.and_then(|s| s.parse::<u16>().ok()) {
            *statuses.entry(status).or_default() += 1;
        }
    }
    statuses
}

/// The coordinator's log messages so far: on Spin from the component's stderr file in the state
/// directory, on sync-host from its own log. Concurrent instances write that file unsynchronised,
/// so messages can share a line: split there.
fn coordinator_lines(host: &Host) -> Vec<String> {
    const MARK: &str = "coordinator: ";
    let text = if host.name == "spin" {
        std::fs::read_to_string(host.state_dir().join("logs/coordinator_stderr.txt"))
            .unwrap_or_default()
    } else {
        host.logs()
    };
    text.lines()
        .filter(|line| line.contains(MARK))
        .flat_map(|line| {
            let pieces: Vec<&str> = line.split(MARK).skip(1).collect();
            let whole = pieces.len() == 1;
            pieces
                .into_iter()
                .map(move |piece| format!("{MARK}{}", if whole { piece } else { "(interleaved)" }))
        })
        .collect()
}

/// The Spin binary to compare with: `--spin PATH`, else the first of `$E2E_SPIN_BINS` (paths
/// separated by ':') whose `--version` says 4.0.2, else its first, else `spin` on `PATH`. `Err`
/// says in one line why there is none.
pub fn find_spin(flag: Option<&str>) -> Result<Target, String> {
    let version = |path: &Path| -> Option<String> {
        let output = std::process::Command::new(path)
            .arg("--version")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "spin 4.0.2 (…)"
        output
            .status
            .success()
            .then(|| text.split_whitespace().nth(1).map(str::to_string))?
    };
    let target = |path: PathBuf, version: String| Target::Spin { path, version };
    if let Some(path) = flag {
        let path = PathBuf::from(path);
        let found = version(&path)
            .ok_or_else(|| format!("--spin {}: `--version` failed", path.display()))?;
        return Ok(target(path, found));
    }
    if let Some(list) = std::env::var_os("E2E_SPIN_BINS").filter(|l| !l.is_empty()) {
        let found: Vec<(PathBuf, String)> = std::env::split_paths(&list)
            .filter_map(|path| Some((path.clone(), version(&path)?)))
            .collect();
        let chosen = found
            .iter()
            .find(|(_, v)| v == "4.0.2")
            .or(found.first())
            .ok_or_else(|| {
                format!(
                    "E2E_SPIN_BINS={} names no Spin whose `--version` runs",
                    list.to_string_lossy()
                )
            })?;
        return Ok(target(chosen.0.clone(), chosen.1.clone()));
    }
    version(Path::new("spin"))
        .map(|found| target(PathBuf::from("spin"), found))
        .ok_or_else(|| {
            "no Spin binary: pass --spin PATH, or set E2E_SPIN_BINS=PATH[:PATH…] (../shared/spin/install prints the paths)".into()
        })
}
