//! Loading an app: manifest → variables → per-component grants → composed, precompiled components
//! ready to instantiate (`ProxyPre`) per request. Every mistake is reported here, at startup.

pub mod build;
pub mod compose;
pub mod engine;
pub mod manifest;
pub mod runtime_config;

use crate::app::engine::CompileCache;
use crate::app::manifest::{DependencySource, Manifest};
use crate::app::runtime_config::RuntimeConfig;
use crate::capabilities::instance::{AppStates, ComponentGrants, InstanceState};
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

pub struct LoadOptions {
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
        let local_endpoint = LocalEndpointSlot::default();
        let context = AppContext {
            manifest,
            runtime_config: &options.runtime_config,
            state_dir: &state_dir,
            sqlite_mode: options.sqlite_mode,
            variables: &variables,
            local_endpoint: &local_endpoint,
        };
        let capabilities = AppStates::configure(&context)?;
        let cache = CompileCache::new(
            options
                .cache_dir
                .clone()
                .unwrap_or_else(|| state_dir.join("compiled")),
        );
        let engine = crate::app::engine::new_engine()?;
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
        .chain(runtime_config.sqlite.values().map(|b| b.path()))
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

fn prepare(
    manifest: &Manifest,
    id: &str,
    engine: &Engine,
    base_linker: &Linker<InstanceState>,
    cache: &CompileCache,
) -> anyhow::Result<ProxyPre<InstanceState>> {
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
    let wasm = compose::compose(main, dependencies)?;
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
