//! `sync-host up`: load the app, bind every port, serve — reloading the app on SIGHUP — until
//! SIGINT or SIGTERM, then drain.

use crate::UpArgs;
use crate::app::live::LiveApp;
use crate::app::manifest::Manifest;
use crate::app::runtime_config::RuntimeConfig;
use crate::app::{App, LoadOptions, Shared};
use crate::capabilities::variables;
use crate::ops::self_check;
use crate::reload::{GatewayVariables, Reloader};
use crate::server::handover::Shutdown;
use crate::server::listen;
use crate::{gateway, ops, trigger};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

/// Application variables through which the embedded gateway and the app find each other.
const PUBLISH_URL_VARIABLE: &str = "grip_publish_url";
pub(crate) const GRIP_KEY_VARIABLE: &str = "grip_key";
pub(crate) const GRIP_ISS_VARIABLE: &str = "grip_iss";
/// The bearer token the app publishes with; the publish endpoint then requires it.
pub(crate) const PUBLISH_TOKEN_VARIABLE: &str = "grip_publish_token";

/// How often `--watch` looks at the app's files.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Random bytes in a generated `grip_key`: as many as HS256's output, the most its key can use.
const GRIP_KEY_BYTES: usize = 32;

pub fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let runtime_config = match &args.runtime_config_file {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    if args.build {
        crate::app::build::build_all(&manifest)?;
    }
    if !args.no_gateway {
        refuse_an_open_publish_endpoint(&manifest, args.publish_listen)?;
    }
    let listeners = Listeners::bind(&args)?;
    // The gateway signs with a key only this process knows, unless one is configured
    // (`SPIN_VARIABLE_GRIP_KEY` wins over these defaults): with the manifest's published default,
    // anyone reaching the HTTP trigger port could sign `Meta-*` the app trusts.
    let generated_grip_key = fresh_grip_key()?;
    let options = LoadOptions {
        shared: Shared::new()?,
        variable_defaults: listeners.variable_defaults(&generated_grip_key)?,
        state_dir: args.state_dir.clone(),
        cache_dir: args.cache_dir.clone(),
        sqlite_mode: args.sqlite_mode,
        runtime_config,
    };
    let app = App::load(&manifest, &options)?;
    let header_read_timeout = Duration::from_secs(args.header_read_timeout_seconds.max(1));
    let gateway_config = gateway_config(&app, &args, generated_grip_key, header_read_timeout);
    let reloader = Arc::new(Reloader {
        manifest_path: args.manifest.clone(),
        runtime_config_file: args.runtime_config_file.clone(),
        options,
        address: listeners.triggers.local_addr()?,
        gateway_variables: listeners
            .gateway
            .is_some()
            .then(|| GatewayVariables::of(&app)),
        live: LiveApp::new(app),
        running: Default::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        reloader,
        args.watch,
        &manifest,
        listeners,
        gateway_config,
        header_read_timeout,
    ))
}

/// Every port, bound before the app loads so that a port in use stops startup at once.
struct Listeners {
    triggers: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
    /// The gateway's client and publish ports, unless `--no-gateway`.
    gateway: Option<(std::net::TcpListener, std::net::TcpListener)>,
}

impl Listeners {
    fn bind(args: &UpArgs) -> anyhow::Result<Self> {
        Ok(Self {
            triggers: listen(args.listen, "HTTP triggers")?,
            metrics: (args.metrics_listen)
                .map(|address| listen(address, "metrics"))
                .transpose()?,
            gateway: if args.no_gateway {
                None
            } else {
                Some((
                    listen(args.gateway_listen, "gateway")?,
                    listen(args.publish_listen, "publish endpoint")?,
                ))
            },
        })
    }

    /// With the embedded gateway, the app publishes to it and verifies its signatures, unless
    /// the environment says otherwise.
    fn variable_defaults(&self, grip_key: &str) -> anyhow::Result<HashMap<String, String>> {
        let mut defaults = HashMap::new();
        if let Some((_, publish)) = &self.gateway {
            defaults.insert(
                variables::env_name(PUBLISH_URL_VARIABLE),
                format!("http://{}", publish.local_addr()?),
            );
            defaults.insert(variables::env_name(GRIP_KEY_VARIABLE), grip_key.to_string());
        }
        Ok(defaults)
    }
}

fn gateway_config(
    app: &App,
    args: &UpArgs,
    generated_grip_key: String,
    header_read_timeout: Duration,
) -> gateway::GatewayConfig {
    let variable = |name| app.variables.application(name);
    gateway::GatewayConfig {
        // A manifest without `grip_key` verifies nothing; the gateway still never signs with a
        // public key.
        sig_key: variable(GRIP_KEY_VARIABLE).map_or(generated_grip_key, str::to_string),
        sig_iss: variable(GRIP_ISS_VARIABLE)
            .unwrap_or("sync-host")
            .to_string(),
        ping_interval: Duration::from_secs(args.gateway_ping_seconds.max(1)),
        header_read_timeout,
        publish_token: variable(PUBLISH_TOKEN_VARIABLE)
            .filter(|token| !token.is_empty())
            .map(str::to_string),
        drain_window: Duration::from_secs(args.drain_seconds),
    }
}

/// Serves every port until a signal, or the startup self-check, stops the host.
async fn serve(
    reloader: Arc<Reloader>,
    watch: bool,
    manifest: &Manifest,
    listeners: Listeners,
    gateway_config: gateway::GatewayConfig,
    header_read_timeout: Duration,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let drain_window = gateway_config.drain_window;
    let wait_for_stop = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // Before the first line that says the host serves, so that a signal after it is never the
    // default action (which, for SIGHUP, ends the process).
    let hangups = signal(SignalKind::hangup())?;
    let terminate = signal(SignalKind::terminate())?;
    let app = reloader.live.current();
    let triggers = TcpListener::from_std(listeners.triggers)?;
    let address = triggers.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    let gateway = match listeners.gateway {
        Some((client, publish)) => {
            let (client, publish) = (
                TcpListener::from_std(client)?,
                TcpListener::from_std(publish)?,
            );
            writeln!(stdout, "Gateway ws://{}", client.local_addr()?)?;
            writeln!(stdout, "Publish http://{}/publish/", publish.local_addr()?)?;
            let stopped = wait_for_stop(stopped.clone());
            Some(tokio::spawn(gateway::serve(
                reloader.live.clone(),
                gateway_config,
                client,
                publish,
                stopped,
            )))
        }
        None => None,
    };
    if let Some(metrics) = listeners.metrics {
        let metrics = TcpListener::from_std(metrics)?;
        writeln!(stdout, "Metrics http://{}/metrics", metrics.local_addr()?)?;
        let stopped = wait_for_stop(stopped.clone());
        tokio::spawn(ops::metrics::serve(
            metrics,
            app.engine.clone(),
            header_read_timeout,
            stopped,
        ));
    }
    writeln!(
        stdout,
        "Serving http://{address} ({})",
        manifest.application.name
    )?;
    for route in app.router.routes() {
        writeln!(stdout, "  {} -> {}", route.raw, route.component)?;
    }
    stdout.flush()?;
    drop(stdout);
    let refused = check_health_at_startup(&app, address, &stop);
    tokio::spawn(async move {
        shutdown_signal(terminate).await;
        let _ = stop.send(true);
    });
    tokio::spawn(report_instances_on_sigusr1(app.engine.clone()));
    tokio::spawn(reloader.clone().on_sighup(hangups));
    if watch {
        tokio::spawn(reloader.clone().watch(WATCH_INTERVAL));
    }
    drop(app);
    let live = reloader.live.clone();
    let shutdown = Shutdown {
        signal: wait_for_stop(stopped),
        handover: drain_window,
    };
    trigger::serve(live, triggers, header_read_timeout, shutdown).await?;
    if let Some(gateway) = gateway {
        gateway.await??;
    }
    match refused.get() {
        Some(why) => anyhow::bail!("startup stopped: {why}"),
        None => Ok(()),
    }
}

/// When the app routes `/health`, asks it once; a configuration it refuses stops the host, and
/// the returned cell then says why.
fn check_health_at_startup(
    app: &App,
    address: SocketAddr,
    stop: &Arc<watch::Sender<bool>>,
) -> Arc<OnceLock<String>> {
    let refused = Arc::new(OnceLock::new());
    if app.router.route(self_check::HEALTH_PATH).is_some() {
        let (stop, refused) = (stop.clone(), refused.clone());
        tokio::spawn(async move {
            if let Err(why) = self_check::report_health(address).await {
                let _ = refused.set(why.to_string());
                let _ = stop.send(true);
            }
        });
    }
    refused
}

/// A new `grip_key` from the OS's RNG, hex-encoded. Never logged.
fn fresh_grip_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; GRIP_KEY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no OS randomness for grip_key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Anyone who reaches the publish endpoint can write to every client and close any connection, so
/// off loopback it needs a token. Checked before anything is bound.
fn refuse_an_open_publish_endpoint(manifest: &Manifest, address: SocketAddr) -> anyhow::Result<()> {
    let token = variables::application_value(manifest, PUBLISH_TOKEN_VARIABLE, |name| {
        std::env::var(name).ok()
    })
    .unwrap_or_default();
    if address.ip().is_loopback() || !token.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the publish endpoint would listen on {address}, which is not loopback, without a token: \
         set the application variable `{PUBLISH_TOKEN_VARIABLE}` (environment variable {}) so every \
         publish must carry it, or keep --publish-listen on loopback",
        variables::env_name(PUBLISH_TOKEN_VARIABLE)
    )
}

/// On SIGUSR1, logs how many component instances are alive: a request's instance lives only while
/// it is handled, so an idle host reports 0 (the idle benchmark checks this).
async fn report_instances_on_sigusr1(engine: wasmtime::Engine) {
    let Ok(mut usr1) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
    else {
        return;
    };
    while usr1.recv().await.is_some() {
        if let Some(metrics) = engine.pooling_allocator_metrics() {
            tracing::info!(
                "component instances alive: {}",
                metrics.component_instances()
            );
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal(mut terminate: Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}
