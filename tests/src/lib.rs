//! End-to-end harness: starts the real `sync-host` binary on an ephemeral loopback port with its own
//! state directory, waits for its "Serving" line (no sleeps), and kills it when dropped.
//!
//! The binary and the wasm components are built by `scripts/test` before `cargo test` runs; the
//! harness only finds them, so every test uses the same artifacts.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `sync-host` binary: `$SYNC_HOST_BIN`, else `<root>/target/release/sync-host`.
pub fn host_binary() -> PathBuf {
    let path = std::env::var_os("SYNC_HOST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/sync-host"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which builds it",
        path.display()
    );
    path
}

/// A built wasm component under `target/wasm32-wasip2/release`.
pub fn wasm(name: &str) -> PathBuf {
    let path = workspace_root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-components (scripts/test does)",
        path.display()
    );
    path
}

/// The app's own spin.toml and the host-fixture manifest.
pub fn app_manifest() -> PathBuf {
    workspace_root().join("spin.toml")
}

pub fn fixture_manifest() -> PathBuf {
    workspace_root().join("tests/fixtures/spin.toml")
}

/// A manifest written for one test (`spin_manifest_version`, `[application]` and `body`) in a
/// fresh directory, which lives as long as the returned guard. Wasm paths in `body` should be
/// absolute (see [`wasm`]).
pub fn temporary_manifest(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("spin.toml");
    std::fs::write(
        &path,
        format!("spin_manifest_version = 2\n[application]\nname = \"t\"\n{body}"),
    )
    .expect("writing the manifest");
    (dir, path)
}

/// One compile cache for the whole run: each component is compiled once.
fn compile_cache() -> PathBuf {
    workspace_root().join("target/sync-host-test-cache")
}

/// `sync-host compile`: the components of `manifest` compiled into the cache every test host
/// reads, as a deploy does before it reloads.
pub fn compile_ahead(manifest: &Path) {
    let output = Command::new(host_binary())
        .args(["compile", "--manifest"])
        .arg(manifest)
        .env("SYNC_HOST_CACHE_DIR", compile_cache())
        .output()
        .expect("running sync-host compile");
    assert!(
        output.status.success(),
        "sync-host compile failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A secret long enough for every rule the auth component will apply.
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef-0123456789abcdef";

/// How to start a host.
#[derive(Clone)]
pub struct HostConfig {
    pub manifest: PathBuf,
    pub env: Vec<(String, String)>,
    /// Reuse a state directory (e.g. to restart on the same files); a fresh one otherwise.
    pub state_dir: Option<PathBuf>,
    /// Front the host with real Pushpin instead of its embedded gateway (`E2E_GATEWAY=pushpin`).
    pub through_pushpin: bool,
    /// The host's working directory (where relative SQLite paths in a runtime config resolve).
    pub current_dir: Option<PathBuf>,
    /// Run the app on this real `spin` binary instead of sync-host (the Spin pass sets it for
    /// every host through `E2E_HOST=spin`).
    pub spin: Option<PathBuf>,
    /// How long the host may take to serve (or, expected to refuse, to exit) before the test fails.
    pub startup_deadline: Duration,
    /// The HTTP trigger port (a restarted instance comes back where its gateway expects it); one
    /// of the OS's choosing otherwise.
    pub port: Option<u16>,
    /// Run the host inside this network namespace, listening on its address (else on loopback).
    pub namespace: Option<Arc<netns::Netns>>,
}

impl HostConfig {
    pub fn new(manifest: PathBuf) -> Self {
        Self {
            manifest,
            env: vec![("SPIN_VARIABLE_JWT_SECRET".into(), TEST_JWT_SECRET.into())],
            state_dir: None,
            through_pushpin: pushpin::enabled(),
            current_dir: None,
            spin: spin::enabled().then(spin::binary),
            startup_deadline: Duration::from_secs(120),
            port: None,
            namespace: None,
        }
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Runs the host inside `namespace`, listening on its address.
    pub fn in_namespace(mut self, namespace: Arc<netns::Netns>) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// The address the host listens on: its namespace's, or loopback.
    pub fn address(&self) -> std::net::Ipv4Addr {
        netns::address_in(self.namespace.as_deref())
    }

    /// `program`, to run in the host's namespace when it has one.
    fn program(&self, program: &Path) -> Command {
        netns::command_in(self.namespace.as_deref(), program)
    }

    pub fn startup_deadline(mut self, deadline: Duration) -> Self {
        self.startup_deadline = deadline;
        self
    }

    /// Runs the app on real Spin (`spin up` with the binary at `spin`) behind Pushpin.
    pub fn on_spin(mut self, spin: &Path) -> Self {
        self.spin = Some(spin.to_path_buf());
        self.through_pushpin = true;
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.current_dir = Some(dir.to_path_buf());
        self
    }

    pub fn through_pushpin(mut self, through_pushpin: bool) -> Self {
        self.through_pushpin = through_pushpin;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn without_env(mut self, name: &str) -> Self {
        self.env.retain(|(n, _)| n != name);
        self
    }

    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    fn command(&self, state_dir: &Path, extra: &[&str]) -> Command {
        let listen = format!("{}:{}", self.address(), self.port.unwrap_or(0));
        if let Some(spin) = &self.spin {
            assert!(
                self.through_pushpin || extra.contains(&"--no-gateway"),
                "this test needs sync-host's embedded gateway; Spin has none (list it in \
                 scripts/spin-pass's sync-host-only tests and in docs/hosts.md)"
            );
            let mut command = spin::command(self.program(spin), &self.manifest, state_dir, &listen);
            command
                .args(spin::translate_args(extra))
                .envs(self.env.iter().map(|(k, v)| (k, v)));
            if let Some(dir) = &self.current_dir {
                command.current_dir(dir);
            }
            return command;
        }
        let mut command = self.program(&host_binary());
        // A process group of its own, so that what it starts (build commands) ends with it.
        command.process_group(0);
        command.args(["up", "--listen", &listen]);
        if !extra.contains(&"--publish-listen") {
            command.args(["--publish-listen", "127.0.0.1:0"]);
        }
        command.args(["--gateway-listen", "127.0.0.1:0"]);
        command
            .args(extra)
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--state-dir")
            .arg(state_dir)
            .env("SYNC_HOST_CACHE_DIR", compile_cache())
            .env("RUST_LOG", "info")
            .env_remove("SPIN_VARIABLE_JWT_SECRET")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    /// What runs the app: "spin" or "sync-host".
    pub fn host_name(&self) -> &'static str {
        if self.spin.is_some() {
            "spin"
        } else {
            "sync-host"
        }
    }

    /// Starts the host and waits until it serves.
    pub fn start(self) -> anyhow::Result<Host> {
        self.start_with_args(&[])
    }

    /// Starts the host with extra `up` arguments (e.g. `--build`) and waits until it serves.
    pub fn start_with_args(mut self, extra: &[&str]) -> anyhow::Result<Host> {
        // A test that runs the host without a gateway publishes somewhere of its own.
        let pushpin_ports = (self.through_pushpin && !extra.contains(&"--no-gateway"))
            .then(pushpin::PushpinPorts::allocate);
        let mut extra: Vec<&str> = extra.to_vec();
        if let Some(ports) = &pushpin_ports {
            // Pushpin holds the sockets; the app publishes to it.
            extra.push("--no-gateway");
            self = self.env(
                "SPIN_VARIABLE_GRIP_PUBLISH_URL",
                &format!("http://127.0.0.1:{}", ports.publish),
            );
        }
        let extra = extra.as_slice();
        let state = match &self.state_dir {
            Some(dir) => State::Kept(dir.clone()),
            None => State::Temporary(tempfile::tempdir()?),
        };
        let mut child = self
            .command(state.path(), extra)
            .spawn()
            .with_context(|| format!("starting {}", self.host_name()))?;
        let stderr = collect(child.stderr.take().expect("piped"));
        let lines = stdout_lines(child.stdout.take().expect("piped"));
        let (mut gateway_url, mut publish_url) = (String::new(), String::new());
        let mut metrics_url = None;
        let deadline = Instant::now() + self.startup_deadline;
        loop {
            // A line, the host's exit (EOF), or the deadline: a host that hangs silently fails
            // the test with what it logged instead of blocking it.
            let line = match lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait()?;
                    bail!(
                        "{} exited ({status}) before serving:\n{}",
                        self.host_name(),
                        stderr.lock().unwrap()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    stop_process(&mut child);
                    bail!(
                        "{} printed no Serving line within {:?}; its log:\n{}",
                        self.host_name(),
                        self.startup_deadline,
                        tail(&stderr.lock().unwrap(), 200)
                    );
                }
            };
            if let Some(rest) = line.trim().strip_prefix("Gateway ") {
                gateway_url = rest.trim().to_string();
            }
            if let Some(rest) = line.trim().strip_prefix("Publish ") {
                publish_url = rest.trim().to_string();
            }
            if let Some(rest) = line.trim().strip_prefix("Metrics ") {
                metrics_url = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.trim().strip_prefix("Serving ") {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let mut pushpin = None;
                if let Some(ports) = &pushpin_ports {
                    let app_port: u16 = url
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .context("host port")?;
                    pushpin = Some(pushpin::Pushpin::start(app_port, ports)?);
                    gateway_url = format!("ws://127.0.0.1:{}", ports.client);
                    publish_url = format!("http://127.0.0.1:{}/publish/", ports.publish);
                    register_pushpin(&gateway_url, &publish_url);
                }
                return Ok(Host {
                    _pushpin: pushpin,
                    name: self.host_name(),
                    child,
                    url,
                    gateway_url,
                    publish_url,
                    metrics_url,
                    stderr,
                    state,
                });
            }
        }
    }

    /// Runs the host until it exits by itself; returns its exit status and stderr.
    pub fn run_until_exit(self) -> anyhow::Result<(ExitStatus, String)> {
        self.run_until_exit_with_args(&[])
    }

    /// [`HostConfig::run_until_exit`] with extra `up` arguments.
    /// A host still running after a minute is killed and reported, so the test fails, not hangs.
    pub fn run_until_exit_with_args(self, extra: &[&str]) -> anyhow::Result<(ExitStatus, String)> {
        let state = tempfile::tempdir()?;
        let child = self.command(state.path(), extra).spawn()?;
        let (exited, watch) = std::sync::mpsc::channel::<()>();
        let pid = child.id().to_string();
        let watchdog = std::thread::spawn(move || {
            let timed_out = watch.recv_timeout(Duration::from_secs(60)).is_err();
            if timed_out {
                let _ = Command::new("kill").arg("-KILL").arg(&pid).status();
            }
            timed_out
        });
        let output = child.wait_with_output()?;
        let _ = exited.send(());
        if watchdog.join().unwrap_or(false) {
            bail!(
                "{} was still running after a minute; it should have exited",
                self.host_name()
            );
        }
        Ok((
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    /// Runs the host expecting it to refuse to start; returns its exit status and stderr. A host
    /// that starts serving instead is stopped and reported, so the test fails rather than hangs.
    pub fn run_expecting_failure(self) -> anyhow::Result<(ExitStatus, String)> {
        self.run_expecting_failure_with_args(&[])
    }

    /// [`HostConfig::run_expecting_failure`] with extra `up` arguments.
    pub fn run_expecting_failure_with_args(
        self,
        extra: &[&str],
    ) -> anyhow::Result<(ExitStatus, String)> {
        let state = tempfile::tempdir()?;
        let mut child = self.command(state.path(), extra).spawn()?;
        let mut stderr = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let lines = stdout_lines(child.stdout.take().expect("piped"));
        let deadline = Instant::now() + self.startup_deadline;
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains("Serving ") => {
                    stop_process(&mut child);
                    bail!(
                        "{} started although it should have refused: {line}",
                        self.host_name()
                    );
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    stop_process(&mut child);
                    let log = stderr.join().unwrap_or_default();
                    bail!(
                        "{} neither refused nor served within {:?}; its log:\n{}",
                        self.host_name(),
                        self.startup_deadline,
                        tail(&log, 200)
                    );
                }
            }
        }
        let status = child.wait()?;
        let stderr = stderr.join().unwrap_or_default();
        Ok((status, stderr))
    }
}

enum State {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl State {
    fn path(&self) -> &Path {
        match self {
            State::Temporary(dir) => dir.path(),
            State::Kept(path) => path,
        }
    }
}

/// The lines `stdout` prints, as they come; the channel closes at EOF (the process exited). The
/// reader keeps draining after the receiver is gone, so the process never blocks on a full pipe.
fn stdout_lines(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = send.send(line);
        }
    });
    lines
}

/// Sends `signal` to the process group `child` leads; whether it was delivered.
fn signal_group(child: &Child, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .args(["--", &format!("-{}", child.id())])
        .status()
        .is_ok_and(|status| status.success())
}

/// Kills a process that overran its deadline, with its process group, and reaps it.
fn stop_process(child: &mut Child) {
    signal_group(child, "KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}

fn collect(mut stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    text
}

/// A running host; killed when dropped.
pub struct Host {
    /// What runs the app: "sync-host" or "spin".
    pub name: &'static str,
    child: Child,
    /// The Pushpin in front of this host, in the suite's Pushpin run; stopped with the host.
    _pushpin: Option<pushpin::Pushpin>,
    /// The HTTP trigger address, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The embedded gateway's WebSocket address, e.g. `ws://127.0.0.1:41235`.
    pub gateway_url: String,
    /// The embedded gateway's publish endpoint, e.g. `http://127.0.0.1:41236/publish/`.
    pub publish_url: String,
    /// `http://…/metrics` when the host was started with `--metrics-listen`.
    pub metrics_url: Option<String>,
    stderr: Arc<Mutex<String>>,
    state: State,
}

impl Host {
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Waits until the host's log contains `fragment` (it logs asynchronously); panics after 30 s.
    pub fn wait_for_log(&self, fragment: &str) -> String {
        self.wait_for_log_times(fragment, 1)
    }

    /// Waits until the host's log contains `fragment` `times` times; panics after 30 s.
    pub fn wait_for_log_times(&self, fragment: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = self.logs();
            if logs.matches(fragment).count() >= times {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "the host never logged {fragment:?} {times} times:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process id of the Pushpin runner in front of this host, if any.
    pub fn pushpin_pid(&self) -> Option<u32> {
        self._pushpin.as_ref().map(pushpin::Pushpin::pid)
    }

    /// Component instances alive in the host right now (it reports them on SIGUSR1).
    pub fn instances_alive(&self) -> Option<u64> {
        const REPORT: &str = "component instances alive: ";
        let before = self.logs().matches(REPORT).count();
        self.signal("USR1");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let logs = self.logs();
            if logs.matches(REPORT).count() > before {
                let line = logs.rsplit(REPORT).next()?;
                return line.split_whitespace().next()?.parse().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// What the host has logged so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    pub fn get(&self, path: &str) -> Reply {
        Reply::from(Self::agent().get(format!("{}{path}", self.url)).call())
    }

    pub fn head(&self, path: &str) -> Reply {
        Reply::from(Self::agent().head(format!("{}{path}", self.url)).call())
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        Reply::from(Self::agent().post(format!("{}{path}", self.url)).send(body))
    }

    /// A WebSocket-over-HTTP request straight to the app's port, as a gateway would make it — or
    /// an attacker who reaches that port.
    pub fn post_events(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
        events: &[protocol::ws_events::Event],
    ) -> Reply {
        post_events_to(
            &self.url,
            path_and_query,
            protocol::ws_events::CONTENT_TYPE,
            headers,
            events,
        )
    }

    pub fn put(&self, path: &str, body: &str) -> Reply {
        Reply::from(Self::agent().put(format!("{}{path}", self.url)).send(body))
    }

    /// Sends `signal` (e.g. "TERM") to the host process.
    /// Sent to the host's whole process group (every host starts one of its own): `spin up` runs
    /// the app in a child process (`spin trigger http`), and sync-host runs build commands, which
    /// a signal to the host alone would leave running.
    pub fn signal(&self, signal: &str) {
        assert!(self.try_signal(signal), "kill -{signal} failed");
    }

    /// [`Host::signal`], saying whether it was delivered.
    fn try_signal(&self, signal: &str) -> bool {
        signal_group(&self.child, signal)
    }

    /// Waits for the host to exit (after a signal), returning its status; a host still running
    /// after a minute is killed and the test fails with its log.
    pub fn wait(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the host") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within a minute; its log:\n{}",
                self.name,
                tail(&self.logs(), 200)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the host (SIGKILL: no shutdown of any kind) and waits for it to be gone.
    pub fn kill(mut self) {
        self.signal("KILL");
        self.child.wait().expect("waiting for the host");
    }

    /// Stops the host and waits for it, keeping a kept state directory.
    pub fn stop(self) {
        let name = self.name;
        self.signal("TERM");
        let status = self.wait();
        assert!(status.success(), "{name} exited with {status} on SIGTERM");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the host logged (and, on Spin, what the components wrote
            // to stderr, which Spin keeps in files under the state directory).
            let mut logs = vec![(self.name.to_string(), self.logs())];
            if self.name == "spin" {
                logs.extend(spin::component_logs(self.state_dir()));
            }
            for (name, text) in logs {
                let tail: Vec<&str> = text.lines().rev().take(200).collect();
                eprintln!("--- {name} log (last {} lines) ---", tail.len());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        // Only a process not yet reaped: its id (and group id) may belong to another one after.
        if self.child.try_wait().is_ok_and(|status| status.is_none()) {
            self.try_signal("KILL");
        }
        let _ = self.child.wait();
    }
}

/// An HTTP reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl Reply {
    fn from(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Self {
        let mut response = result.expect("request to sync-host failed");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Self {
            status: response.status().as_u16(),
            content_type,
            body,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// spin.toml's default `grip_key` and `grip_iss`: what a forger tries first.
pub const MANIFEST_GRIP_KEY: &str = "mirubato-local-grip-key-change-me";
pub const MANIFEST_GRIP_ISS: &str = "mirubato-gateway";

/// A WebSocket-over-HTTP request such as only a gateway may send: `POST <base><path>` with the
/// given `Content-Type`, a `Grip-Sig` signed with `grip_key`, `Meta-*` claiming `user` and a
/// `Connection-Id`, and `events` as its body. A forger sends exactly this to steal `user`'s data.
pub fn forged_ws_events(
    base: &str,
    path: &str,
    content_type: &str,
    grip_key: &str,
    user: &str,
    events: &[protocol::ws_events::Event],
) -> Reply {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let sig = auth::matrix::sign_hs256(
        grip_key,
        &serde_json::json!({"iss": MANIFEST_GRIP_ISS, "exp": exp}),
    );
    let headers = [
        ("grip-sig", sig.as_str()),
        ("meta-user-id", user),
        ("meta-token-exp", "9999999999"),
        ("meta-user", "x"),
        ("connection-id", "x"),
    ];
    post_events_to(base, path, content_type, &headers, events)
}

/// `POST <base><path>` with `Content-Type: content_type`, `headers`, and `events` encoded as the
/// body.
fn post_events_to(
    base: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    events: &[protocol::ws_events::Event],
) -> Reply {
    let mut request = Host::agent()
        .post(format!("{base}{path}"))
        .header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from(request.send(&protocol::ws_events::encode(events)[..]))
}

/// User + system CPU time process `pid` has used so far, from `/proc/<pid>/stat`; zero for a
/// process that is gone.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Clock ticks are 100 per second on Linux (USER_HZ).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

pub mod client_model;
pub mod cluster;
pub mod device;
pub mod front;
pub mod metrics;
pub mod netns;
pub mod pushpin;
pub mod redis;
pub mod shared_database;
pub mod spin;
pub mod sqld;
pub mod steady_writers;
pub mod workload;

/// Each Pushpin-fronted host's publish endpoint, by its client URL (for device readiness probes).
static PUBLISH_URLS: std::sync::OnceLock<Mutex<std::collections::HashMap<String, String>>> =
    std::sync::OnceLock::new();

/// Reads `child`'s piped stdout until a line contains `ready`; the rest is drained in the
/// background so the child never blocks on a full pipe. Fails, with what it printed, if it exits
/// first or prints no such line within a minute (then it is killed).
pub fn await_ready_line(child: &mut std::process::Child, ready: &str) -> anyhow::Result<()> {
    let lines = stdout_lines(child.stdout.take().context("stdout is not piped")?);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = String::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(ready) => return Ok(()),
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                bail!("exited ({status}) before printing {ready:?}:\n{printed}")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop_process(child);
                bail!("printed no {ready:?} within a minute:\n{printed}")
            }
        }
    }
}

/// Makes devices connecting to `gateway_url` (a Pushpin) wait for their subscriptions by
/// publishing to `publish_url`, as they do for a host's own Pushpin.
pub fn register_pushpin(gateway_url: &str, publish_url: &str) {
    PUBLISH_URLS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .insert(gateway_url.to_string(), publish_url.to_string());
}

pub(crate) fn publish_url_for(gateway_url: &str) -> Option<String> {
    PUBLISH_URLS
        .get()?
        .lock()
        .unwrap()
        .get(gateway_url)
        .cloned()
}
