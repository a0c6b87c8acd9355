//! `sync-host`: runs mirubato-sync's spin.toml on Wasmtime — HTTP triggers, component dependencies,
//! key-value, SQLite, variables and outbound HTTP — as the embedded default where Spin is absent.
//!
//! Design: one module per capability (`key_value`, `sqlite`, `variables`, `outbound_http`), each with
//! per-app state validated at startup and cheap per-instance state; one `bindgen!` (`bindings`);
//! components composed with their dependencies (`compose`, `deny`) and precompiled once (`engine`).

mod app;
mod capabilities;
mod durability;
mod front;
mod gateway;
mod locks;
mod ops;
mod reload;
mod server;
mod trigger;
mod up;

use capabilities::sqlite;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Compose and compile every component into the compile cache `up` reads, without serving:
    /// run it after a deploy's build and before the SIGHUP, so the reload loads the new
    /// components instead of compiling them on the cores that serve.
    Compile(CompileArgs),
    /// Serve as a reverse proxy in front of one host that aborts its requests when stopped
    /// (Spin): SIGUSR1 holds new requests and says when none is in flight, SIGUSR2 lets them go
    /// on, so the host behind it can be restarted without losing a request.
    Front(front::FrontArgs),
}

#[derive(clap::Args)]
pub struct CompileArgs {
    /// The Spin manifest whose components to compile.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// As for `up`: the compile cache is `<state dir>/compiled` unless `--cache-dir` says.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// As for `up`.
    #[arg(long, env = "SYNC_HOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// The Spin manifest to run.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Address to serve HTTP triggers on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Run every component's build command first, like `spin build`.
    #[arg(long)]
    pub build: bool,
    /// Directory for the default key-value and SQLite files (default: `.spin` beside the manifest).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Directory for precompiled components (default: `<state dir>/compiled`).
    #[arg(long, env = "SYNC_HOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Address of the embedded gateway's WebSocket endpoint (clients connect here). 8787 is where
    /// the Mirubato frontend's dev build connects (the original service's `wrangler dev` port).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub gateway_listen: SocketAddr,
    /// Address of the embedded gateway's publish endpoint (`POST /publish/`). Off loopback it needs
    /// the application variable `grip_publish_token`, which every publish must then carry as
    /// `Authorization: Bearer <token>`.
    #[arg(long, default_value = "127.0.0.1:5561")]
    pub publish_listen: SocketAddr,
    /// Seconds between the gateway's pings to each client; three unanswered ones drop it.
    #[arg(long, default_value_t = 30)]
    pub gateway_ping_seconds: u64,
    /// Seconds a client has to send a request head on any port the host serves; also how long an
    /// idle keep-alive connection is kept. Tests shorten it; established WebSockets are not
    /// affected.
    #[arg(long, env = "SYNC_HOST_HEADER_READ_TIMEOUT_SECONDS", default_value_t = server::http1::HEADER_READ_TIMEOUT.as_secs())]
    pub header_read_timeout_seconds: u64,
    /// At shutdown (SIGTERM, SIGINT), seconds over which the embedded gateway's client sockets are
    /// closed with 1012 (service restart), evenly spread, so their reconnects do not arrive at
    /// once; also how long the HTTP trigger port's keep-alive connections have to take their
    /// `Connection: close` before idle ones are closed. Keep it well under 30 s: the Mirubato
    /// client gives up after five reconnects 1, 2, 4, 8 and 16 s apart.
    #[arg(long, default_value_t = 5)]
    pub drain_seconds: u64,
    /// Reload the app whenever the manifest, the runtime config or a component's wasm file
    /// changes (checked every second), as on SIGHUP. For development.
    #[arg(long)]
    pub watch: bool,
    /// Serve HTTP triggers only, without the embedded gateway (e.g. behind Pushpin).
    #[arg(long)]
    pub no_gateway: bool,
    /// How SQLite databases are opened: `wal` (pooled connections in WAL mode), or `spin` (as
    /// Spin's default database: a new connection per open, the file's own journal mode) to
    /// reproduce Spin's behaviour locally.
    #[arg(long, value_enum, default_value_t = sqlite::SqliteMode::Wal, env = "SYNC_HOST_SQLITE_MODE")]
    pub sqlite_mode: sqlite::SqliteMode,
    /// A Spin runtime-config file: where key-value stores (`spin` file or `redis`) and SQLite
    /// databases (`spin` file) live, by label. Relative paths resolve as Spin resolves them: a
    /// key-value `path` against this file's directory, a SQLite `path` against the working
    /// directory.
    #[arg(long)]
    pub runtime_config_file: Option<PathBuf>,
    /// Serve Prometheus metrics on `GET /metrics` at this address (given alone:
    /// 127.0.0.1:9464). Off unless given. Metrics carry no user data, but they do describe the
    /// traffic: keep the address on loopback or a private network.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    pub metrics_listen: Option<SocketAddr>,
}

fn compile(args: CompileArgs) -> anyhow::Result<()> {
    let manifest = app::manifest::Manifest::load(&args.manifest)?;
    let state_dir = (args.state_dir).unwrap_or_else(|| manifest.dir.join(".spin"));
    let cache_dir = app::compile_cache_dir(args.cache_dir.as_deref(), &state_dir);
    app::compile_ahead(&manifest, &cache_dir)
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
        Command::Up(args) => up::up(args),
        Command::Compile(args) => compile(args),
        Command::Front(args) => front::front(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
