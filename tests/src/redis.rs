//! A real `redis-server` (Debian package `redis-server`) on a port of its own — on loopback, or in
//! a network namespace of the test's — for the tests of several instances sharing a key-value
//! store.

use crate::netns::{Netns, address_in, command_in};
use anyhow::Context;
use std::path::Path;
use std::process::{Child, Stdio};

pub struct Redis {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts `redis-server` without persistence and waits until it says it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_in(None)
    }

    /// [`Redis::start`] inside `namespace` (on its address), when given.
    pub fn start_in(namespace: Option<&Netns>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::pushpin::five_ports()[0];
        let address = address_in(namespace);
        let mut child = command_in(namespace, Path::new("redis-server"))
            .args(["--bind", &address.to_string(), "--port", &port.to_string()])
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
            url: format!("redis://{address}:{port}"),
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
