//! Several `sync-host --no-gateway` instances (in the Spin pass, `spin up` instances) sharing one
//! Redis key-value store and one database through a runtime config — a SQLite file, or a real
//! libSQL server (`sqld`) — behind one or more real Pushpins (`docs/operations.md`). Over libSQL
//! the instances share no disk and no loopback: on a network of the test's own, `sqld` and Redis
//! run in one network namespace and each instance in one of its own, and the Pushpins (in the
//! test's namespace) reach them by address.

use crate::front::Front;
use crate::netns::{Netns, Network};
use crate::pushpin::{Pushpin, PushpinPorts};
use crate::redis::Redis;
use crate::shared_database::SharedDatabase;
use crate::sqld::Sqld;
use crate::{Host, HostConfig, app_manifest};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

/// Which database the instances share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// One SQLite file: instances on one machine.
    File,
    /// A libSQL server: instances that share no disk, each in a network namespace of its own.
    Libsql,
}

/// The runtime config the instances share: key-value in Redis, SQLite in `database`.
fn runtime_config(redis_url: &str, database: &SharedDatabase) -> String {
    format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n\
         [sqlite_database.default]\n{}",
        database.runtime_config()
    )
}

/// How `Cluster::restart` stops an instance.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM, as a deploy stops a process.
    Term,
    /// SIGKILL: nothing of the instance's own shutdown runs.
    Kill,
}

pub struct Cluster {
    /// The instances; a killed one is `None`.
    pub hosts: Vec<Option<Host>>,
    /// Each Pushpin's WebSocket URL, in the order of `pushpins`.
    pub gateways: Vec<String>,
    pushpins: Vec<Pushpin>,
    pub redis: Redis,
    /// The database every instance uses.
    pub database: SharedDatabase,
    /// How each instance was started, to start it again.
    configs: Vec<(HostConfig, Vec<String>)>,
    /// With `Cluster::start_fronted`, each instance's front, which the Pushpins target instead.
    fronts: Vec<Front>,
    /// Over libSQL: the network, and the namespace `sqld` and Redis run in (dropped after them).
    _apart: Option<(Network, Netns)>,
    _dir: tempfile::TempDir,
    _alone: std::sync::MutexGuard<'static, ()>,
}

/// One cluster at a time in a test process: several instances, Pushpins and 200 writing devices
/// each already keep a 2-core machine busy, and a rolling restart's timing is what is measured.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where instance `host` serves (its `Serving` URL is `http://<address>`).
fn address(host: &Host) -> SocketAddrV4 {
    host.url.trim_start_matches("http://").parse().unwrap()
}

fn start(config: HostConfig, args: &[String]) -> Host {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    config.start_with_args(&args).unwrap()
}

impl Cluster {
    /// Starts `instances` hosts and one Pushpin per entry of `target_orders`, each listing the
    /// instances in that order (indexes into the instances). Every instance publishes to every
    /// Pushpin. `env` goes to every host.
    pub fn start(instances: usize, target_orders: &[&[usize]], env: &[(&str, &str)]) -> Self {
        Self::start_with(instances, target_orders, env, false, Storage::File)
    }

    /// [`Cluster::start`] with the instances sharing `storage`.
    pub fn start_on(
        storage: Storage,
        instances: usize,
        target_orders: &[&[usize]],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with(instances, target_orders, env, false, storage)
    }

    /// [`Cluster::start`] with a `sync-host front` before each instance (what a host that cannot
    /// drain is restarted behind): the Pushpins target the fronts.
    pub fn start_fronted(
        instances: usize,
        target_orders: &[&[usize]],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with(instances, target_orders, env, true, Storage::File)
    }

    fn start_with(
        instances: usize,
        target_orders: &[&[usize]],
        env: &[(&str, &str)],
        fronted: bool,
        storage: Storage,
    ) -> Self {
        assert!(
            target_orders.len() <= 3,
            "the app publishes to at most three gateways"
        );
        let alone = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().unwrap();
        let apart = (storage == Storage::Libsql).then(|| {
            let network = Network::create().unwrap();
            let data = network.namespace().unwrap();
            (network, data)
        });
        let data = apart.as_ref().map(|(_, data)| data);
        let redis = Redis::start_in(data).unwrap();
        let database = match storage {
            Storage::File => SharedDatabase::File(dir.path().join("sqlite_db.db")),
            Storage::Libsql => SharedDatabase::Libsql(Sqld::start_in(data).unwrap()),
        };
        // Where the instances reach the Pushpins' publish ports.
        let outside = data.map_or(Ipv4Addr::LOCALHOST, |data| data.outside);
        let config_path = dir.path().join("runtime-config.toml");
        std::fs::write(&config_path, runtime_config(&redis.url, &database)).unwrap();
        let ports: Vec<PushpinPorts> = target_orders
            .iter()
            .map(|_| PushpinPorts::allocate())
            .collect();
        let publish_variables = [
            "SPIN_VARIABLE_GRIP_PUBLISH_URL",
            "SPIN_VARIABLE_GRIP_PUBLISH_URL_SECOND",
            "SPIN_VARIABLE_GRIP_PUBLISH_URL_THIRD",
        ];
        let config = config_path.display().to_string();
        let configs: Vec<(HostConfig, Vec<String>)> = (0..instances)
            .map(|n| {
                let state = dir.path().join(format!("instance-{n}"));
                std::fs::create_dir_all(&state).unwrap();
                let mut host = HostConfig::new(app_manifest())
                    .through_pushpin(false)
                    .state_dir(&state);
                if let Some((network, _)) = &apart {
                    host = host.in_namespace(Arc::new(network.namespace().unwrap()));
                }
                for (variable, ports) in publish_variables.iter().zip(&ports) {
                    host = host.env(variable, &format!("http://{outside}:{}", ports.publish));
                }
                for (name, value) in env {
                    host = host.env(name, value);
                }
                let mut args = ["--no-gateway", "--runtime-config-file", config.as_str()]
                    .map(str::to_string)
                    .to_vec();
                if !crate::spin::enabled() {
                    args.extend(["--metrics-listen".into(), format!("{}:0", host.address())]);
                }
                (host, args)
            })
            .collect();
        let hosts: Vec<Option<Host>> = (configs.iter())
            .map(|(host, args)| Some(start(host.clone(), args)))
            .collect();
        let apps: Vec<SocketAddrV4> = (hosts.iter())
            .map(|host| address(host.as_ref().unwrap()))
            .collect();
        let fronts: Vec<Front> = (apps.iter())
            .filter(|_| fronted)
            .map(|app| Front::start(app.port()))
            .collect();
        let targets: Vec<SocketAddrV4> = match fronted {
            true => (fronts.iter())
                .map(|front| SocketAddrV4::new(Ipv4Addr::LOCALHOST, front.port))
                .collect(),
            false => apps,
        };
        let mut pushpins = Vec::new();
        let mut gateways = Vec::new();
        for (order, ports) in target_orders.iter().zip(&ports) {
            let order: Vec<SocketAddrV4> = order.iter().map(|&n| targets[n]).collect();
            pushpins.push(Pushpin::start_with_targets(&order, ports, outside).unwrap());
            let gateway = format!("ws://127.0.0.1:{}", ports.client);
            let publish = format!("http://{outside}:{}/publish/", ports.publish);
            crate::register_pushpin(&gateway, &publish);
            gateways.push(gateway);
        }
        Self {
            hosts,
            gateways,
            pushpins,
            redis,
            database,
            configs,
            fronts,
            _apart: apart,
            _dir: dir,
            _alone: alone,
        }
    }

    /// Stops instance `n` as a deploy does and starts it again on the same port, where the
    /// gateways expect it; returns once it serves. Without fronts: SIGTERM, and the instance
    /// finishes what is in flight. With fronts: the front holds, the instance is stopped as `stop`
    /// says (it may abort nothing: nothing is in flight), and the front releases once it serves.
    pub fn restart(&mut self, n: usize, stop: Stop) {
        let host = self.hosts[n].take().expect("running");
        let port = address(&host).port();
        let front = self.fronts.get(n);
        if let Some(front) = front {
            front.hold();
        }
        match stop {
            Stop::Term => host.stop(),
            Stop::Kill => host.kill(),
        }
        let (config, args) = &self.configs[n];
        self.hosts[n] = Some(start(config.clone().port(port), args));
        if let Some(front) = front {
            front.release();
        }
    }

    pub fn host(&self, n: usize) -> &Host {
        self.hosts[n].as_ref().expect("a running instance")
    }

    /// The instance's metrics as text.
    pub fn metrics(&self, n: usize) -> String {
        crate::metrics::scrape(
            self.host(n)
                .metrics_url
                .as_deref()
                .expect("--metrics-listen"),
        )
    }

    /// WebSocket-over-HTTP requests instance `n` has answered (on Spin, every request it has
    /// answered: Spin counts them in its log, not by route).
    pub fn ws_requests(&self, n: usize) -> f64 {
        if crate::spin::enabled() {
            return crate::spin::requests_answered(&self.host(n).logs()) as f64;
        }
        crate::metrics::sample(
            &self.metrics(n),
            "sync_host_http_requests_total",
            &[("route", "/sync/ws")],
        )
    }

    /// Kills instance `n` with SIGKILL, as a crash would.
    pub fn kill(&mut self, n: usize) {
        self.hosts[n].take().expect("running").kill();
    }

    pub fn pushpin_count(&self) -> usize {
        self.pushpins.len()
    }
}
