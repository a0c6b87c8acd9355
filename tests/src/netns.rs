//! Network namespaces of the test's own on a network of the test's own: a Linux bridge in the
//! test's namespace, and per namespace a veth pair from the bridge to inside — real network paths
//! between addresses of the test's choosing, each of which the test can cut and restore
//! (`ip link set … down/up`). Namespaces on one [`Network`] reach each other and the test's
//! namespace (which holds the bridge's address) directly, with no routing. Needs root (or
//! password-less sudo) and `ip` (iproute2).
//!
//! Addresses: a /24 per network, `10.<200+n>.<p>.0/24`, with `p` from the process id and `n`
//! counting the networks of the process, so concurrent test processes and tests do not collide;
//! `.1` is the test's side (the bridge), `.2`, `.3`, … the namespaces in the order they are made.

use anyhow::{Context, bail};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

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

/// The bridge; deleted when the network and every namespace on it are gone.
struct Bridge {
    name: String,
    /// The test's address on it.
    address: Ipv4Addr,
    /// The last octet of the next namespace's address.
    next_host: AtomicU8,
    /// Names namespaces apart: `<tag><k>`.
    tag: String,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.name]);
    }
}

/// A network of the test's own, to put namespaces on.
pub struct Network {
    bridge: Arc<Bridge>,
}

impl Network {
    pub fn create() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 50, "a test process makes at most 50 networks");
        let pid = std::process::id();
        let tag = format!("{}{n}", pid % 100_000);
        let address = Ipv4Addr::new(10, 200 + n as u8, (pid % 250) as u8, 1);
        let name = format!("mrb{tag}b");
        // A bridge left by a killed run of the same pid would make `add` fail.
        let _ = ip(&["link", "del", &name]);
        ip(&["link", "add", &name, "type", "bridge"])?;
        let bridge = Bridge {
            name,
            address,
            next_host: AtomicU8::new(2),
            tag,
        };
        ip(&["addr", "add", &format!("{address}/24"), "dev", &bridge.name])?;
        ip(&["link", "set", &bridge.name, "up"])?;
        Ok(Self {
            bridge: Arc::new(bridge),
        })
    }

    /// The test's own address on the network: where the namespaces reach what runs outside them.
    pub fn address(&self) -> Ipv4Addr {
        self.bridge.address
    }

    /// A new namespace on this network, with the next address.
    pub fn namespace(&self) -> anyhow::Result<Netns> {
        let bridge = &self.bridge;
        let host = bridge.next_host.fetch_add(1, Ordering::Relaxed);
        assert!(host < 250, "a network holds at most 248 namespaces");
        let [a, b, c, _] = bridge.address.octets();
        let inside = Ipv4Addr::new(a, b, c, host);
        let tag = format!("{}x{host}", bridge.tag);
        let name = format!("mrb-{tag}");
        let outside_link = format!("mrb{tag}o");
        let inside_link = format!("mrb{tag}i");
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let namespace = Netns {
            name,
            inside_link: inside_link.clone(),
            outside: bridge.address,
            inside,
            _bridge: bridge.clone(),
        };
        let name = namespace.name.as_str();
        #[rustfmt::skip]
        ip(&["link", "add", &outside_link, "type", "veth", "peer", "name", &inside_link])?;
        ip(&["link", "set", &inside_link, "netns", name])?;
        ip(&["link", "set", &outside_link, "master", &bridge.name])?;
        ip(&["link", "set", &outside_link, "up"])?;
        let inside_ip = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside_ip(&["addr", "add", &format!("{inside}/24"), "dev", &inside_link])?;
        inside_ip(&["link", "set", &inside_link, "up"])?;
        inside_ip(&["link", "set", "lo", "up"])?;
        Ok(namespace)
    }
}

/// `program`, to run inside `namespace` when there is one.
pub fn command_in(namespace: Option<&Netns>, program: &std::path::Path) -> Command {
    match namespace {
        Some(namespace) => namespace.command(program),
        None => Command::new(program),
    }
}

/// Where a server in `namespace` listens: the namespace's address, or loopback without one.
pub fn address_in(namespace: Option<&Netns>) -> Ipv4Addr {
    namespace.map_or(Ipv4Addr::LOCALHOST, |namespace| namespace.inside)
}

pub struct Netns {
    name: String,
    /// The veth end inside: cutting it cuts the namespace off the network.
    inside_link: String,
    /// The test's address, as seen from inside.
    pub outside: Ipv4Addr,
    /// The address inside the namespace.
    pub inside: Ipv4Addr,
    _bridge: Arc<Bridge>,
}

impl Netns {
    /// A namespace on a network of its own, shared with the test only.
    pub fn create() -> anyhow::Result<Self> {
        Network::create()?.namespace()
    }

    /// `program` to be run inside the namespace (`ip netns exec` execs it: the child is the
    /// program itself, with the test's environment).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = ip_command();
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Cuts the namespace's link: nothing passes either way until [`Netns::restore`], and packets
    /// are lost rather than refused, as on a cable that was pulled.
    pub fn cut(&self) {
        self.set_inside_link("down");
    }

    pub fn restore(&self) {
        self.set_inside_link("up");
    }

    fn set_inside_link(&self, state: &str) {
        #[rustfmt::skip]
        ip(&["netns", "exec", &self.name, "ip", "link", "set", &self.inside_link, state]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = ip(&["netns", "del", &self.name]);
    }
}
