//! Real Pushpin in front of the host, for the suite's second run (`E2E_GATEWAY=pushpin`): each host
//! gets its own Pushpin, configured from the shipped `deploy/pushpin/pushpin.conf` with its own run
//! directory and free loopback ports.

use anyhow::{Context, bail};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this test run's hosts are behind Pushpin instead of the embedded gateway: the Pushpin
/// pass (`E2E_GATEWAY=pushpin`) and the Spin pass, since Spin has no gateway of its own.
pub fn enabled() -> bool {
    std::env::var("E2E_GATEWAY").is_ok_and(|g| g == "pushpin") || crate::spin::enabled()
}

/// Five loopback ports for one Pushpin, below Linux's ephemeral range (32768+): ports from there
/// can be handed to any `:0` listener or outgoing connection between our check and Pushpin's bind.
/// Each test process walks its own stretch of 20000..32000, skipping ports that are taken.
pub fn five_ports() -> [u16; 5] {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = (std::process::id() % 400) * 30;
    loop {
        let offset = NEXT.fetch_add(5, std::sync::atomic::Ordering::Relaxed);
        let base = 20000 + (start + offset) % 12000;
        let ports: Vec<u16> = (base..base + 5).map(|p| p as u16).collect();
        let all_free = ports
            .iter()
            .all(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return ports.try_into().unwrap();
        }
    }
}

/// The ports one Pushpin instance uses.
pub struct PushpinPorts {
    pub client: u16,
    pub publish: u16,
    push_in: u16,
    push_in_sub: u16,
    command: u16,
}

impl PushpinPorts {
    pub fn allocate() -> Self {
        let p = five_ports();
        Self {
            client: p[0],
            publish: p[1],
            push_in: p[2],
            push_in_sub: p[3],
            command: p[4],
        }
    }
}

pub struct Pushpin {
    child: Child,
    dir: tempfile::TempDir,
}

fn replace_setting(config: &str, key: &str, value: &str) -> anyhow::Result<String> {
    let mut found = false;
    let lines: Vec<String> = config
        .lines()
        .map(|line| {
            if line.split('=').next().map(str::trim) == Some(key) {
                found = true;
                format!("{key}={value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        bail!("deploy/pushpin/pushpin.conf has no `{key}` setting");
    }
    Ok(lines.join("\n") + "\n")
}

impl Pushpin {
    /// Starts Pushpin routing to the app on `app_port`, and waits until it accepts connections.
    pub fn start(app_port: u16, ports: &PushpinPorts) -> anyhow::Result<Self> {
        let app = SocketAddrV4::new(Ipv4Addr::LOCALHOST, app_port);
        Self::start_with_targets(&[app], ports, Ipv4Addr::LOCALHOST)
    }

    /// Starts Pushpin with every route listing the app instances at `apps`, in this order
    /// (Pushpin tries them in order: the first that accepts a connection serves it), taking
    /// publishes on `publish_address`.
    pub fn start_with_targets(
        apps: &[SocketAddrV4],
        ports: &PushpinPorts,
        publish_address: Ipv4Addr,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().to_path_buf();
        let root = root.as_path();
        std::fs::create_dir_all(root.join("run"))?;
        std::fs::create_dir_all(root.join("log"))?;
        let shipped =
            std::fs::read_to_string(crate::workspace_root().join("deploy/pushpin/pushpin.conf"))?;
        let mut config = shipped;
        for (key, value) in [
            ("rundir", root.join("run").display().to_string()),
            ("logdir", root.join("log").display().to_string()),
            ("routesfile", root.join("routes").display().to_string()),
            ("http_port", format!("127.0.0.1:{}", ports.client)),
            ("push_in_spec", format!("tcp://127.0.0.1:{}", ports.push_in)),
            (
                "push_in_sub_specs",
                format!("tcp://127.0.0.1:{}", ports.push_in_sub),
            ),
            ("push_in_http_addr", publish_address.to_string()),
            ("push_in_http_port", ports.publish.to_string()),
            ("command_spec", format!("tcp://127.0.0.1:{}", ports.command)),
        ] {
            config = replace_setting(&config, key, &value)?;
        }
        std::fs::write(root.join("pushpin.conf"), config)?;
        let routes =
            std::fs::read_to_string(crate::workspace_root().join("deploy/pushpin/routes"))?;
        anyhow::ensure!(
            routes.contains("127.0.0.1:3000,"),
            "deploy/pushpin/routes no longer targets 127.0.0.1:3000"
        );
        std::fs::write(root.join("routes"), retarget(&routes, apps))?;
        let log = std::fs::File::create(root.join("pushpin.out"))?;
        let child = Command::new("pushpin")
            .arg(format!("--config={}", root.join("pushpin.conf").display()))
            .arg("--merge-output")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting pushpin (install the Debian package `pushpin`)")?;
        let pushpin = Pushpin { child, dir };
        for (address, port) in [
            (Ipv4Addr::LOCALHOST, ports.client),
            (publish_address, ports.publish),
        ] {
            pushpin.await_port(address, port, root)?;
        }
        pushpin.await_round_trip(ports.client, root)?;
        Ok(pushpin)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a WebSocket round trip works: Pushpin listens before its processes have all
    /// connected to each other, and a client's frames sent in that window are dropped ("stream zmq
    /// send to: Host unreachable"). Probes as a user of its own, so tests' users are untouched.
    fn await_round_trip(&self, client_port: u16, root: &Path) -> anyhow::Result<()> {
        use tokio_tungstenite::tungstenite::{self, Message};
        let url = format!(
            "ws://127.0.0.1:{client_port}/sync/ws?userId=e2e-probe&token={}",
            crate::device::token("e2e-probe", 600)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let stream = std::net::TcpStream::connect(("127.0.0.1", client_port))?;
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            let (mut socket, _) = match tungstenite::client(url.as_str(), stream) {
                Ok(connected) => connected,
                Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                    bail!("the readiness probe was refused: {}", response.status())
                }
                Err(_) => continue,
            };
            socket.send(Message::text(
                r#"{"type":"PING","timestamp":"2026-01-01T00:00:00Z"}"#,
            ))?;
            while let Ok(message) = socket.read() {
                if message.to_text().is_ok_and(|t| t.contains("PONG")) {
                    let _ = socket.close(None);
                    return Ok(());
                }
            }
        }
        let log = std::fs::read_to_string(root.join("pushpin.out")).unwrap_or_default();
        bail!("no WebSocket round trip through pushpin:\n{log}")
    }

    /// Waits for `port` to accept connections: Pushpin's processes start asynchronously.
    fn await_port(&self, address: Ipv4Addr, port: u16, root: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect((address, port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(root.join("pushpin.out")).unwrap_or_default();
                bail!("pushpin never listened on {port}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// The shipped routes with each `127.0.0.1:3000[,options]` target replaced by one target per app.
fn retarget(routes: &str, apps: &[SocketAddrV4]) -> String {
    let lines: Vec<String> = routes
        .lines()
        .map(|line| {
            line.split(' ')
                .map(|word| match word.strip_prefix("127.0.0.1:3000") {
                    Some(options) if options.is_empty() || options.starts_with(',') => apps
                        .iter()
                        .map(|app| format!("{app}{options}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => word.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.join("\n") + "\n"
}

impl Drop for Pushpin {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what Pushpin saw.
            let log =
                std::fs::read_to_string(self.dir.path().join("pushpin.out")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(400).collect();
            eprintln!("--- pushpin log (last {} lines) ---", tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        // SIGTERM lets the runner stop its four children; SIGKILL would orphan them.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
