//! Loading an app: manifest → variables → per-component grants → composed, precompiled components
//! ready to instantiate (`ProxyPre`) per request. Every mistake is reported here, at startup.

pub mod build;
pub mod compose;
pub mod engine;
pub mod live;
pub mod manifest;
pub mod runtime_config;

use crate::app::engine::CompileCache;
use crate::app::manifest::{DependencySource, Manifest};
use crate::app::runtime_config::RuntimeConfig;
use crate::capabilities::instance::{AppStates, ComponentGrants, InstanceState};
use crate::capabilities::open_files::OpenFiles;
use crate::capabilities::outbound::http::LocalEndpointSlot;
use crate::capabilities::refusals::{deny, unavailable};
use crate::capabilities::{AppContext, sqlite, variables};
use crate::trigger::router::Router;
use anyhow::{Context, bail};
use compose::DependencyWasm;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// What every app one process loads shares, so that a reload keeps it: the engine (its instance
/// pool and compile settings), the files the stores have open, and the embedded gateway's publish
/// endpoint.
#[derive(Clone)]
pub struct Shared {
    pub engine: Engine,
    pub open_files: Arc<OpenFiles>,
    pub local_endpoint: LocalEndpointSlot,
}

impl Shared {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            engine: engine::new_engine()?,
            open_files: Arc::default(),
            local_endpoint: LocalEndpointSlot::default(),
        })
    }
}

#[derive(Clone)]
pub struct LoadOptions {
    pub shared: Shared,
    /// Values for application variables the environment does not set, keyed by the
    /// `SPIN_VARIABLE_<NAME>` name (the host wires its embedded gateway in this way).
    pub variable_defaults: HashMap<String, String>,
    /// Where the `default` key-value and SQLite files live (Spin's `.spin/`).
    pub state_dir: Option<PathBuf>,
    /// Where precompiled components are cached; defaults to `<state dir>/compiled`.
    pub cache_dir: Option<PathBuf>,
    /// How SQLite database files are opened.
    pub sqlite_mode: sqlite::SqliteMode,
    /// Stores and databases from `--runtime-config-file` (none: only the `default` labels).
    pub runtime_config: RuntimeConfig,
}

/// A component ready to serve requests.
pub struct LoadedComponent {
    pub pre: ProxyPre<InstanceState>,
    pub grants: ComponentGrants,
}

pub struct App {
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, LoadedComponent>,
    pub variables: Arc<variables::AppState>,
    /// The embedded gateway's publish endpoint, once it serves: publishes skip the network.
    pub local_endpoint: LocalEndpointSlot,
}

impl App {
    pub fn load(manifest: &Manifest, options: &LoadOptions) -> anyhow::Result<Self> {
        let variables = Arc::new(variables::AppState::resolve(manifest, |name| {
            std::env::var(name)
                .ok()
                .or_else(|| options.variable_defaults.get(name).cloned())
        })?);
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        create_state_directories(&state_dir, &options.runtime_config);
        let Shared {
            engine,
            open_files,
            local_endpoint,
        } = options.shared.clone();
        let context = AppContext {
            manifest,
            runtime_config: &options.runtime_config,
            state_dir: &state_dir,
            sqlite_mode: options.sqlite_mode,
            variables: &variables,
            local_endpoint: &local_endpoint,
            open_files: &open_files,
        };
        let capabilities = AppStates::configure(&context)?;
        let cache = CompileCache::new(compile_cache_dir(options.cache_dir.as_deref(), &state_dir));
        let linker = AppStates::linker(&engine)?;
        let mut components = HashMap::new();
        let mut routes = Vec::new();
        for trigger in &manifest.http_triggers {
            let id = trigger.component_id().to_string();
            if let crate::app::manifest::Route::Path(route) = &trigger.route {
                routes.push((route.clone(), id.clone()));
            }
            if components.contains_key(&id) {
                continue;
            }
            let grants =
                ComponentGrants::resolve(&capabilities, &id, &manifest.components[&id], &context)?;
            let pre = prepare(manifest, &id, &engine, &linker, &cache)
                .with_context(|| format!("cannot load component `{id}`"))?;
            components.insert(id, LoadedComponent { pre, grants });
        }
        Ok(Self {
            engine,
            router: Router::new(routes)?,
            components,
            variables,
            local_endpoint,
        })
    }
}

/// Creates the state directory and every configured file's directory, as Spin does. A failure is
/// not fatal: the stores report it to the guests (and so to /health) when opened.
fn create_state_directories(state_dir: &Path, runtime_config: &RuntimeConfig) {
    let configured_files = (runtime_config.key_value.values())
        .filter_map(|backend| match backend {
            crate::capabilities::key_value::config::KeyValueBackend::Spin { path } => {
                path.as_deref()
            }
            crate::capabilities::key_value::config::KeyValueBackend::Redis { .. } => None,
        })
        .chain(runtime_config.sqlite.values().filter_map(|b| b.file_path()))
        .filter_map(Path::parent);
    for directory in std::iter::once(state_dir).chain(configured_files) {
        if let Err(error) = std::fs::create_dir_all(directory) {
            tracing::warn!("cannot create {}: {error}", directory.display());
        }
    }
}

fn read_wasm(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (build it first: `sync-host up --build`)",
            path.display()
        )
    })
}

/// Where precompiled components are kept: `cache_dir`, else `<state dir>/compiled`.
pub fn compile_cache_dir(cache_dir: Option<&Path>, state_dir: &Path) -> PathBuf {
    cache_dir.map_or_else(|| state_dir.join("compiled"), Path::to_path_buf)
}

/// `sync-host compile`: composes and compiles every routed component of `manifest` into the
/// compile cache, so that a reload or a start after a deploy loads them instead of compiling them
/// on the cores that serve. The engine is the one `up` makes, so the cache entries match.
pub fn compile_ahead(manifest: &Manifest, cache_dir: &Path) -> anyhow::Result<()> {
    let engine = engine::new_engine()?;
    let cache = CompileCache::new(cache_dir.to_path_buf());
    for trigger in &manifest.http_triggers {
        let id = trigger.component_id();
        let wasm = composed(manifest, id).with_context(|| format!("component `{id}`"))?;
        cache.load(&engine, &wasm)?;
        tracing::info!("compiled component `{id}`");
    }
    Ok(())
}

/// Component `id` composed with its dependencies: what is compiled.
fn composed(manifest: &Manifest, id: &str) -> anyhow::Result<Vec<u8>> {
    let component = &manifest.components[id];
    let main = read_wasm(&manifest.resolve_path(Path::new(component.source_path())))?;
    let mut dependencies = Vec::new();
    for dependency in &component.resolved_dependencies {
        let path = match &dependency.source {
            DependencySource::Path(path) => manifest.resolve_path(path),
            DependencySource::AppComponent(other) => {
                manifest.resolve_path(Path::new(manifest.components[other].source_path()))
            }
        };
        dependencies.push(DependencyWasm {
            key: dependency.key.clone(),
            name: dependency.name.clone(),
            export: dependency.export.clone(),
            inherits: dependency.inherits.clone(),
            bytes: read_wasm(&path)?,
        });
    }
    Ok(compose::compose(main, dependencies)?)
}

fn prepare(
    manifest: &Manifest,
    id: &str,
    engine: &Engine,
    base_linker: &Linker<InstanceState>,
    cache: &CompileCache,
) -> anyhow::Result<ProxyPre<InstanceState>> {
    let wasm = composed(manifest, id)?;
    let compiled = cache.load(engine, &wasm)?;
    let mut linker = base_linker.clone();
    deny::link_denied_imports(&mut linker, engine, &compiled)?;
    unavailable::link_unavailable_imports(&mut linker, engine, &compiled)?;
    let instance_pre = linker.instantiate_pre(&compiled).map_err(|error| {
        anyhow::anyhow!("{error:#}")
            .context("the host does not provide every import the component needs")
    })?;
    match ProxyPre::new(instance_pre) {
        Ok(pre) => Ok(pre),
        Err(error) => {
            bail!("not an HTTP component (no wasi:http/incoming-handler@0.2 export): {error:#}")
        }
    }
}
