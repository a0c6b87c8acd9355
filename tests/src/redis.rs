//! A real `redis-server` (Debian package `redis-server`) on a loopback port of its own, for the
//! tests of several instances sharing a key-value store.

use anyhow::Context;
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
        crate::await_ready_line(&mut child, "Ready to accept connections")
            .context("redis-server")?;
        Ok(Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
