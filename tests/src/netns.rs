//! A network namespace of the test's own, joined to the test's namespace by a veth pair: a real
//! network path between two addresses of its own choosing, which the test can cut and restore
//! (`ip link set … down/up`). Needs root (or password-less sudo) and `ip` (iproute2).
//!
//! Addresses: `10.231.<p>.<4k+1>` on the test's side, `<4k+2>` inside, a /30 per namespace, with
//! `p` from the process id and `k` counting the namespaces of the process, so concurrent test
//! processes and tests do not collide.

use anyhow::{Context, bail};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Netns {
    name: String,
    /// The veth end in the test's namespace.
    outside_link: String,
    /// The veth end inside: cutting it cuts the path.
    inside_link: String,
    /// The test's address on the link.
    pub outside: Ipv4Addr,
    /// The address inside the namespace.
    pub inside: Ipv4Addr,
}

/// Runs `ip` with `args`, as root (through `sudo -n` when the test is not).
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = ip_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running `ip` (install iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {}: {} (network namespaces need root)",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `ip`, through `sudo -n` unless the test runs as root.
fn ip_command() -> Command {
    if is_root() {
        return Command::new("ip");
    }
    let mut sudo = Command::new("sudo");
    sudo.args(["-n", "ip"]);
    sudo
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Netns {
    pub fn create() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 64, "a test process makes at most 64 namespaces");
        let pid = std::process::id();
        let tag = format!("{}{n}", pid % 100_000);
        let name = format!("mrb-{tag}");
        let outside_link = format!("mrb{tag}o");
        let inside_link = format!("mrb{tag}i");
        let third = (pid % 250) as u8;
        let outside = Ipv4Addr::new(10, 231, third, (4 * n + 1) as u8);
        let inside = Ipv4Addr::new(10, 231, third, (4 * n + 2) as u8);
        // A namespace left by a killed run of the same pid would make `add` fail.
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let namespace = Self {
            name,
            outside_link,
            inside_link: inside_link.clone(),
            outside,
            inside,
        };
        let name = namespace.name.as_str();
        let (outside_cidr, inside_cidr) = (format!("{outside}/30"), format!("{inside}/30"));
        ip(&[
            "link",
            "add",
            &namespace.outside_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside_link,
        ])?;
        ip(&["link", "set", &inside_link, "netns", name])?;
        ip(&["addr", "add", &outside_cidr, "dev", &namespace.outside_link])?;
        ip(&["link", "set", &namespace.outside_link, "up"])?;
        let inside_ip = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside_ip(&["addr", "add", &inside_cidr, "dev", &inside_link])?;
        inside_ip(&["link", "set", &inside_link, "up"])?;
        inside_ip(&["link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// `program` to be run inside the namespace (`ip netns exec` execs it: the child is the
    /// program itself).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = ip_command();
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Cuts the link at its far end: nothing passes either way until [`Netns::restore`], and
    /// packets are lost rather than refused, as on a cable that was pulled. (Taking the near end
    /// down would remove the route too, and packets would leave by the default route instead.)
    pub fn cut(&self) {
        self.set_inside_link("down");
    }

    pub fn restore(&self) {
        self.set_inside_link("up");
    }

    fn set_inside_link(&self, state: &str) {
        ip(&[
            "netns",
            "exec",
            &self.name,
            "ip",
            "link",
            "set",
            &self.inside_link,
            state,
        ])
        .unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = ip(&["netns", "del", &self.name]);
    }
}
