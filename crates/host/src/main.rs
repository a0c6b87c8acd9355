//! `sync-host`: runs mirubato-sync's spin.toml on Wasmtime — HTTP triggers, component dependencies,
//! key-value, SQLite, variables and outbound HTTP — as the embedded default where Spin is absent.
//!
//! Design: one module per capability (`key_value`, `sqlite`, `variables`, `outbound_http`), each with
//! per-app state validated at startup and cheap per-instance state; one `bindgen!` (`bindings`);
//! components composed with their dependencies (`compose`, `deny`) and precompiled once (`engine`).

mod app;
mod bindings;
mod builder;
mod compose;
mod deny;
mod engine;
mod http_trigger;
mod key_value;
mod manifest;
mod outbound_http;
mod router;
mod self_check;
mod sqlite;
mod state;
mod variables;

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

fn up(args: UpArgs) -> anyhow::Result<()> {
    let manifest = manifest::Manifest::load(&args.manifest)?;
    if args.build {
        builder::build_all(&manifest)?;
    }
    let options = app::LoadOptions {
        state_dir: args.state_dir,
        cache_dir: args.cache_dir,
    };
    let app = Arc::new(app::App::load(&manifest, &options)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
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
        if app.router.route(self_check::HEALTH_PATH).is_some() {
            tokio::spawn(self_check::report_health(address));
        }
        http_trigger::serve(app, listener, shutdown_signal()).await
    })
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
