//! A real `redis-server` (Debian package `redis-server`) on a loopback port of its own, for the
//! tests of several instances sharing a key-value store.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Redis {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server` without persistence and waits until it says it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::pushpin::five_ports()[0];
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (install the Debian package `redis-server`)")?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut log = String::new();
        let mut line = String::new();
        // Each read returns on a line or at EOF (redis-server exited): events, not timed waits.
        while stdout.read_line(&mut line)? > 0 {
            log.push_str(&line);
            if line.contains("Ready to accept connections") {
                std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
                return Ok(Self {
                    child,
                    url: format!("redis://127.0.0.1:{port}"),
                    _dir: dir,
                });
            }
            line.clear();
        }
        let _ = child.wait();
        bail!("redis-server exited before accepting connections:\n{log}")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
