//! `sync-host`: runs mirubato-sync's spin.toml on Wasmtime — HTTP triggers, component dependencies,
//! key-value, SQLite, variables and outbound HTTP — as the embedded default where Spin is absent.
//!
//! Design: one module per capability (`key_value`, `sqlite`, `variables`, `outbound_http`), each with
//! per-app state validated at startup and cheap per-instance state; one `bindgen!` (`bindings`);
//! components composed with their dependencies (`compose`, `deny`) and precompiled once (`engine`).

mod app;
mod locks;
mod capabilities;
mod durability;
mod gateway;
mod ops;
mod server;
mod trigger;

use app::{build as builder, manifest, runtime_config};
use capabilities::{sqlite, variables};
use ops::{metrics, self_check};
use server::http1 as http1_server;
use trigger as http_trigger;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    version,
    about = "Runs a Spin manifest (v2) on Wasmtime: mirubato-sync's embedded host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the manifest and serve its HTTP triggers.
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// The Spin manifest to run.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to serve HTTP triggers on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Run every component's build command first, like `spin build`.
    #[arg(long)]
    build: bool,
    /// Directory for the default key-value and SQLite files (default: `.spin` beside the manifest).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Directory for precompiled components (default: `<state dir>/compiled`).
    #[arg(long, env = "SYNC_HOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Address of the embedded gateway's WebSocket endpoint (clients connect here). 8787 is where
    /// the Mirubato frontend's dev build connects (the original service's `wrangler dev` port).
    #[arg(long, default_value = "127.0.0.1:8787")]
    gateway_listen: SocketAddr,
    /// Address of the embedded gateway's publish endpoint (`POST /publish/`). Off loopback it needs
    /// the application variable `grip_publish_token`, which every publish must then carry as
    /// `Authorization: Bearer <token>`.
    #[arg(long, default_value = "127.0.0.1:5561")]
    publish_listen: SocketAddr,
    /// Seconds between the gateway's pings to each client; three unanswered ones drop it.
    #[arg(long, default_value_t = 30)]
    gateway_ping_seconds: u64,
    /// Seconds a client has to send a request head on any port the host serves; also how long an
    /// idle keep-alive connection is kept. Tests shorten it; established WebSockets are not
    /// affected.
    #[arg(long, env = "SYNC_HOST_HEADER_READ_TIMEOUT_SECONDS", default_value_t = http1_server::HEADER_READ_TIMEOUT.as_secs())]
    header_read_timeout_seconds: u64,
    /// Serve HTTP triggers only, without the embedded gateway (e.g. behind Pushpin).
    #[arg(long)]
    no_gateway: bool,
    /// How SQLite databases are opened: `wal` (pooled connections in WAL mode), or `spin` (as
    /// Spin's default database: a new connection per open, the file's own journal mode) to
    /// reproduce Spin's behaviour locally.
    #[arg(long, value_enum, default_value_t = sqlite::SqliteMode::Wal, env = "SYNC_HOST_SQLITE_MODE")]
    sqlite_mode: sqlite::SqliteMode,
    /// A Spin runtime-config file: where key-value stores (`spin` file or `redis`) and SQLite
    /// databases (`spin` file) live, by label. Relative paths in it are relative to the file.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Serve Prometheus metrics on `GET /metrics` at this address (given alone:
    /// 127.0.0.1:9464). Off unless given. Metrics carry no user data, but they do describe the
    /// traffic: keep the address on loopback or a private network.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    metrics_listen: Option<SocketAddr>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,wasmtime_wasi_http=warn,cranelift=warn,wasmtime=warn".into()
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Application variables through which the embedded gateway and the app find each other.
const PUBLISH_URL_VARIABLE: &str = "grip_publish_url";
const GRIP_KEY_VARIABLE: &str = "grip_key";
const GRIP_ISS_VARIABLE: &str = "grip_iss";
/// The bearer token the app publishes with; the publish endpoint then requires it.
const PUBLISH_TOKEN_VARIABLE: &str = "grip_publish_token";

/// Random bytes in a generated `grip_key`: as many as HS256's output, the most its key can use.
const GRIP_KEY_BYTES: usize = 32;

/// A new `grip_key` from the OS's RNG, hex-encoded. Never logged.
fn fresh_grip_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; GRIP_KEY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no OS randomness for grip_key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Anyone who reaches the publish endpoint can write to every client and close any connection, so
/// off loopback it needs a token. Checked before anything is bound.
fn refuse_an_open_publish_endpoint(
    manifest: &manifest::Manifest,
    address: SocketAddr,
) -> anyhow::Result<()> {
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

fn bind(address: SocketAddr, what: &str) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address} ({what})"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest = manifest::Manifest::load(&args.manifest)?;
    let runtime_config = match &args.runtime_config_file {
        Some(path) => runtime_config::RuntimeConfig::load(path)?,
        None => runtime_config::RuntimeConfig::default(),
    };
    if args.build {
        builder::build_all(&manifest)?;
    }
    if !args.no_gateway {
        refuse_an_open_publish_endpoint(&manifest, args.publish_listen)?;
    }
    let listener = bind(args.listen, "HTTP triggers")?;
    let metrics_listener = args
        .metrics_listen
        .map(|address| bind(address, "metrics"))
        .transpose()?;
    let gateway_listeners = if args.no_gateway {
        None
    } else {
        Some((
            bind(args.gateway_listen, "gateway")?,
            bind(args.publish_listen, "publish endpoint")?,
        ))
    };
    let mut variable_defaults = std::collections::HashMap::new();
    // The gateway signs with a key only this process knows, unless one is configured
    // (`SPIN_VARIABLE_GRIP_KEY` wins over these defaults): with the manifest's published default,
    // anyone reaching the HTTP trigger port could sign `Meta-*` the app trusts.
    let generated_grip_key = fresh_grip_key()?;
    if let Some((_, publish)) = &gateway_listeners {
        // The app publishes to the embedded gateway unless told otherwise.
        variable_defaults.insert(
            variables::env_name(PUBLISH_URL_VARIABLE),
            format!("http://{}", publish.local_addr()?),
        );
        variable_defaults.insert(
            variables::env_name(GRIP_KEY_VARIABLE),
            generated_grip_key.clone(),
        );
    }
    let options = app::LoadOptions {
        variable_defaults,
        state_dir: args.state_dir,
        cache_dir: args.cache_dir,
        sqlite_mode: args.sqlite_mode,
        runtime_config,
    };
    let app = Arc::new(app::App::load(&manifest, &options)?);
    let header_read_timeout =
        std::time::Duration::from_secs(args.header_read_timeout_seconds.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wait_for_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let address = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        let gateway = match gateway_listeners {
            Some((client, publish)) => {
                let (client, publish) = (
                    tokio::net::TcpListener::from_std(client)?,
                    tokio::net::TcpListener::from_std(publish)?,
                );
                writeln!(stdout, "Gateway ws://{}", client.local_addr()?)?;
                writeln!(stdout, "Publish http://{}/publish/", publish.local_addr()?)?;
                let config = gateway::GatewayConfig {
                    // A manifest without `grip_key` verifies nothing; the gateway still never
                    // signs with a public key.
                    sig_key: app
                        .variables
                        .application(GRIP_KEY_VARIABLE)
                        .map_or(generated_grip_key, str::to_string),
                    sig_iss: app
                        .variables
                        .application(GRIP_ISS_VARIABLE)
                        .unwrap_or("sync-host")
                        .to_string(),
                    ping_interval: std::time::Duration::from_secs(args.gateway_ping_seconds.max(1)),
                    header_read_timeout,
                    publish_token: app
                        .variables
                        .application(PUBLISH_TOKEN_VARIABLE)
                        .filter(|token| !token.is_empty())
                        .map(str::to_string),
                };
                Some(tokio::spawn(gateway::serve(
                    app.clone(),
                    config,
                    client,
                    publish,
                    wait_for_stop(stopped.clone()),
                )))
            }
            None => None,
        };
        if let Some(metrics_listener) = metrics_listener {
            let metrics_listener = tokio::net::TcpListener::from_std(metrics_listener)?;
            writeln!(
                stdout,
                "Metrics http://{}/metrics",
                metrics_listener.local_addr()?
            )?;
            tokio::spawn(metrics::serve(
                metrics_listener,
                app.engine.clone(),
                header_read_timeout,
                wait_for_stop(stopped.clone()),
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
        let stop = Arc::new(stop);
        let refused = Arc::new(std::sync::OnceLock::<String>::new());
        if app.router.route(self_check::HEALTH_PATH).is_some() {
            let (stop, refused) = (stop.clone(), refused.clone());
            tokio::spawn(async move {
                if let Err(why) = self_check::report_health(address).await {
                    let _ = refused.set(why);
                    let _ = stop.send(true);
                }
            });
        }
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        tokio::spawn(report_instances_on_sigusr1(app.engine.clone()));
        http_trigger::serve(app, listener, header_read_timeout, wait_for_stop(stopped)).await?;
        if let Some(gateway) = gateway {
            gateway.await??;
        }
        match refused.get() {
            Some(why) => anyhow::bail!("startup stopped: {why}"),
            None => Ok(()),
        }
    })
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
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the Mirubato frontend's dev build connects (`ws://localhost:8787/sync/ws`), and the
    /// other defaults `scripts/run` and the README rely on.
    #[test]
    fn up_listens_where_the_frontends_dev_build_connects() {
        let Command::Up(up) = Cli::parse_from(["sync-host", "up"]).command;
        assert_eq!(up.gateway_listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(up.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(up.publish_listen, "127.0.0.1:5561".parse().unwrap());
    }
}
