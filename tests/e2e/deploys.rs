//! Deploys that drop no socket (docs/operations.md, "Deploys"): 200 devices of 50 users write
//! without pause through sync-host's embedded gateway while the app is reloaded (`SIGHUP`) to a
//! new build, reloaded to a broken one, or the host is stopped (`SIGTERM`) and drains.

use e2e::device::Ended;
use e2e::shared_database::SharedDatabase;
use e2e::steady_writers::{SteadyWriters, UNLIMITED, WriterReport, longest_gap_since, lost_acks};
use e2e::{Host, HostConfig, compile_ahead, workspace_root};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USERS: usize = 50;
const DEVICES_PER_USER: usize = 4;

/// How soon after the `SIGHUP` the new build must answer.
const NEW_VERSION_WITHIN: Duration = Duration::from_secs(1);

/// The app's spin.toml in a directory of its own, with its own copy of `health.wasm`, so a test
/// can replace either and reload.
struct AppCopy {
    dir: tempfile::TempDir,
    original_health: Vec<u8>,
}

impl AppCopy {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = workspace_root();
        let built = root.join("target/wasm32-wasip2/release");
        let manifest = std::fs::read_to_string(root.join("spin.toml"))
            .unwrap()
            .replace(
                "\"target/wasm32-wasip2/release/health.wasm\"",
                &format!("\"{}\"", dir.path().join("health.wasm").display()),
            )
            .replace("\"target/", &format!("\"{}/target/", root.display()));
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        let original_health = std::fs::read(built.join("health.wasm")).unwrap();
        let copy = Self {
            dir,
            original_health,
        };
        copy.replace_health(&copy.original_health.clone());
        copy
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin.toml")
    }

    /// Puts `wasm` in place of the health component, atomically, as a deploy would.
    fn replace_health(&self, wasm: &[u8]) {
        let next = self.dir.path().join("health.wasm.next");
        std::fs::write(&next, wasm).unwrap();
        std::fs::rename(next, self.dir.path().join("health.wasm")).unwrap();
    }

    fn edit_manifest(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.manifest()).unwrap();
        assert!(text.contains(from), "spin.toml no longer has {from:?}");
        std::fs::write(self.manifest(), text.replacen(from, to, 1)).unwrap();
    }

    /// The health component as a new build would be: the same code reporting `version`, which
    /// must be as long as the built one's (`health_version`). The version string is the one
    /// place it appears after `"version"` in the component's data.
    fn rebuilt_health(&self, built: &str, version: &str) -> Vec<u8> {
        assert_eq!(built.len(), version.len());
        let (old, new) = (format!("version{built}"), format!("version{version}"));
        let at: Vec<usize> = (self.original_health.windows(old.len()))
            .enumerate()
            .filter(|(_, window)| *window == old.as_bytes())
            .map(|(at, _)| at)
            .collect();
        assert_eq!(at.len(), 1, "health.wasm holds {old:?} {} times", at.len());
        let mut wasm = self.original_health.clone();
        wasm[at[0]..at[0] + new.len()].copy_from_slice(new.as_bytes());
        wasm
    }

    fn start(&self, extra: &[&str]) -> Host {
        // Kept with the copy, so the database outlives the host's exit.
        let state = self.dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let mut config = HostConfig::new(self.manifest())
            .through_pushpin(false)
            .state_dir(&state);
        for (name, value) in UNLIMITED {
            config = config.env(name, value);
        }
        let mut args = vec!["--metrics-listen", "127.0.0.1:0"];
        args.extend(extra);
        config.start_with_args(&args).unwrap()
    }
}

fn health_version(host: &Host) -> String {
    let reply = host.get("/health");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["version"].as_str().unwrap().to_string()
}

fn reloads(host: &Host, outcome: &str) -> f64 {
    let text = e2e::metrics::scrape(host.metrics_url.as_deref().unwrap());
    e2e::metrics::sample(&text, "sync_host_reloads_total", &[("outcome", outcome)])
}

/// Every device that saw its connection end, with how.
fn closed(reports: &[WriterReport]) -> Vec<String> {
    reports
        .iter()
        .filter_map(|r| {
            r.ended
                .as_ref()
                .map(|(how, _)| format!("{}: {how}", r.user))
        })
        .collect()
}

fn acked(reports: &[WriterReport]) -> usize {
    reports.iter().map(|r| r.acked.len()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_to_a_new_build_closes_no_socket_and_loses_no_acked_mutation() {
    let app = AppCopy::new();
    let host = app.start(&[]);
    let built = health_version(&host);
    let new_version = format!("{}9", &built[..built.len() - 1]);
    assert_ne!(new_version, built);
    let writers = SteadyWriters::start(&host.gateway_url, USERS, DEVICES_PER_USER).await;
    writers.await_more_acks(1000).await;
    let steady = Instant::now();

    app.replace_health(&app.rebuilt_health(&built, &new_version));
    // As a deploy does: compiled ahead, so the reload loads the new build.
    let compiling = Instant::now();
    let manifest = app.manifest();
    tokio::task::spawn_blocking(move || compile_ahead(&manifest))
        .await
        .unwrap();
    let compiled_in = compiling.elapsed();
    let signalled = Instant::now();
    host.signal("HUP");
    let answered = loop {
        let host_url = host.url.clone();
        let version = tokio::task::spawn_blocking(move || {
            let reply = Host::agent()
                .get(format!("{host_url}/health"))
                .call()
                .map(|mut r| r.body_mut().read_to_string().unwrap_or_default());
            reply.unwrap_or_default()
        })
        .await
        .unwrap();
        if version.contains(&format!("\"version\":\"{new_version}\"")) {
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "the new build never answered: {}",
            host.logs()
        );
    };
    writers.await_more_acks(1000).await;
    let reports = writers.stop().await;

    eprintln!(
        "reload: compiled ahead in {compiled_in:?}; new version answering {answered:?} after \
         SIGHUP; {} acks; the longest any device went without an ack: {:?} while it compiled \
         and reloaded, {:?} from the SIGHUP on",
        acked(&reports),
        longest_gap_since(&reports, steady),
        longest_gap_since(&reports, signalled),
    );
    assert_eq!(closed(&reports), Vec::<String>::new(), "sockets closed");
    let database = SharedDatabase::File(host.state_dir().join("sqlite_db.db"));
    assert_eq!(lost_acks(&database, &reports), Vec::<String>::new());
    assert!(
        answered < NEW_VERSION_WITHIN,
        "the new build answered {answered:?} after SIGHUP"
    );
    assert_eq!(reloads(&host, "applied"), 1.0);
    assert_eq!(reloads(&host, "refused"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_to_a_broken_app_is_refused_and_the_running_one_keeps_serving() {
    let app = AppCopy::new();
    let host = app.start(&[]);
    let built = health_version(&host);
    let writers = SteadyWriters::start(&host.gateway_url, USERS, DEVICES_PER_USER).await;
    writers.await_more_acks(500).await;

    // A component that does not load: a truncated file, as a copy cut short leaves it.
    let original = app.original_health.clone();
    app.replace_health(&original[..original.len() / 2]);
    host.signal("HUP");
    host.wait_for_log("reload refused");
    assert_eq!(reloads(&host, "refused"), 1.0);
    writers.await_more_acks(500).await;
    assert_eq!(health_version(&host), built, "the running app answers");

    // An app that loads but whose own /health refuses its configuration.
    app.replace_health(&original);
    app.edit_manifest(
        "seq_base = { default = \"0\"",
        "seq_base = { default = \"not-a-number\"",
    );
    host.signal("HUP");
    let logs = host.wait_for_log_times("reload refused", 2);
    assert!(
        logs.contains("/health answered 503"),
        "refused for its /health: {logs}"
    );
    assert_eq!(reloads(&host, "refused"), 2.0);
    writers.await_more_acks(500).await;
    let reports = writers.stop().await;
    assert_eq!(health_version(&host), built);
    assert_eq!(reloads(&host, "applied"), 0.0);
    assert_eq!(closed(&reports), Vec::<String>::new(), "sockets closed");
    let database = SharedDatabase::File(host.state_dir().join("sqlite_db.db"));
    assert_eq!(lost_acks(&database, &reports), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_every_socket_with_1012_over_the_window_and_loses_no_acked_mutation() {
    const WINDOW: Duration = Duration::from_secs(2);
    let app = AppCopy::new();
    let host = app.start(&["--drain-seconds", &WINDOW.as_secs().to_string()]);
    let writers = SteadyWriters::start(&host.gateway_url, USERS, DEVICES_PER_USER).await;
    writers.await_more_acks(1000).await;

    let signalled = Instant::now();
    host.signal("TERM");
    let reports = writers.finished().await;
    let database = SharedDatabase::File(host.state_dir().join("sqlite_db.db"));
    let status = host.wait();

    assert!(status.success(), "sync-host exited with {status}");
    let mut codes = std::collections::BTreeMap::new();
    for report in &reports {
        let (how, _) = report.ended.as_ref().expect("every connection ended");
        *codes.entry(how.to_string()).or_insert(0) += 1;
    }
    let restart = Ended::Closed(1012, "service restart".into()).to_string();
    assert_eq!(
        codes,
        std::collections::BTreeMap::from([(restart, USERS * DEVICES_PER_USER)])
    );
    // Spread over the window, not all at once.
    let offsets: Vec<Duration> = reports
        .iter()
        .map(|r| r.ended.as_ref().unwrap().1 - signalled)
        .collect();
    let (first, last) = (offsets.iter().min().unwrap(), offsets.iter().max().unwrap());
    eprintln!("drain: closes from {first:?} to {last:?} after SIGTERM");
    assert!(
        *last - *first >= WINDOW / 2,
        "closes within {:?} of each other",
        *last - *first
    );
    assert!(
        *last < WINDOW + Duration::from_secs(5),
        "the last close came {last:?} after SIGTERM"
    );
    assert_eq!(lost_acks(&database, &reports), Vec::<String>::new());
}
