//! `sync-host front` in front of one instance, for restarting an instance that cannot drain
//! (Spin, or any host killed outright) without losing a request: hold, restart, release.

use crate::{collect, host_binary, signal_group, stdout_lines};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELD: &str = "held: no request in flight upstream";

pub struct Front {
    child: Child,
    /// The port the front serves on: what a gateway targets.
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Front {
    /// Starts a front for the host on `upstream` (a loopback port).
    pub fn start(upstream: u16) -> Self {
        let mut child = Command::new(host_binary())
            .args(["front", "--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("127.0.0.1:{upstream}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("starting sync-host front");
        let stderr = collect(child.stderr.take().expect("piped"));
        let lines = stdout_lines(child.stdout.take().expect("piped"));
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the front never said where it serves: {stderr:?}"));
        let port = line
            .strip_prefix("Front http://127.0.0.1:")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Self {
            child,
            port,
            stderr,
        }
    }

    /// Holds new requests and returns once none is in flight upstream.
    pub fn hold(&self) {
        let held_before = self.logs().matches(HELD).count();
        assert!(signal_group(&self.child, "USR1"), "kill -USR1 failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.logs().matches(HELD).count() <= held_before {
            assert!(
                Instant::now() < deadline,
                "the front never held:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets the held requests (and every later one) go upstream.
    pub fn release(&self) {
        assert!(signal_group(&self.child, "USR2"), "kill -USR2 failed");
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- front log ---\n{}", self.logs());
        }
        signal_group(&self.child, "KILL");
        let _ = self.child.wait();
    }
}
