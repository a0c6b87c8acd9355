//! Loading an app: manifest → variables → per-component grants → composed, precompiled components
//! ready to instantiate (`ProxyPre`) per request. Every mistake is reported here, at startup.

pub mod build;
pub mod compose;
pub mod engine;
pub mod manifest;
pub mod runtime_config;

use crate::capabilities::outbound::allowed_hosts::AllowedHosts;
use compose::DependencyWasm;
use crate::app::engine::CompileCache;
use crate::capabilities::key_value::{self, KeyValue};
use crate::app::manifest::{DependencySource, Manifest};
use crate::trigger::router::Router;
use crate::app::runtime_config::RuntimeConfig;
use crate::capabilities::sqlite::{self, Sqlite};
use crate::capabilities::instance::{ComponentGrants, InstanceState};
use crate::capabilities::variables::{self, Variables};
use crate::capabilities::bindings;
use crate::capabilities::refusals::{deny, unavailable};
use anyhow::{Context, bail};
use std::collections::{BTreeSet, HashMap};
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
    pub variables: variables::AppState,
    /// The embedded gateway's publish endpoint, once it serves: publishes skip the network.
    pub local_endpoint: crate::capabilities::outbound::http::LocalEndpointSlot,
}

impl App {
    pub fn load(manifest: &Manifest, options: &LoadOptions) -> anyhow::Result<Self> {
        let variables = variables::AppState::resolve(manifest, |name| {
            std::env::var(name)
                .ok()
                .or_else(|| options.variable_defaults.get(name).cloned())
        })?;
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        if let Err(error) = std::fs::create_dir_all(&state_dir) {
            // Not fatal: the stores report it to the guests (and so to /health) when opened.
            tracing::warn!(
                "cannot create state directory {}: {error}",
                state_dir.display()
            );
        }
        // As Spin does, a configured file's directory is created (a failure is reported to the
        // guests when they open it).
        let configured_files = (options.runtime_config.key_value.values())
            .filter_map(|backend| match backend {
                crate::app::runtime_config::KeyValueBackend::Spin { path } => path.as_deref(),
                crate::app::runtime_config::KeyValueBackend::Redis { .. } => None,
            })
            .chain(
                options
                    .runtime_config
                    .sqlite
                    .values()
                    .map(|b| b.path.as_path()),
            );
        for directory in configured_files.filter_map(Path::parent) {
            if let Err(error) = std::fs::create_dir_all(directory) {
                tracing::warn!("cannot create {}: {error}", directory.display());
            }
        }
        let key_value = Arc::new(
            key_value::AppState::configure(
                &options.runtime_config.key_value,
                &state_dir.join("sqlite_key_value.db"),
            )
            .map_err(|e| anyhow::anyhow!("runtime config: {e}"))?,
        );
        let sqlite = Arc::new(sqlite::AppState::configure(
            &options.runtime_config.sqlite,
            &state_dir.join("sqlite_db.db"),
            options.sqlite_mode,
        ));
        refuse_unconfigured_labels(manifest, &key_value, &sqlite)?;
        let cache = CompileCache::new(
            options
                .cache_dir
                .clone()
                .unwrap_or_else(|| state_dir.join("compiled")),
        );
        let engine = crate::app::engine::new_engine()?;
        let linker = base_linker(&engine)?;

        let local_endpoint = crate::capabilities::outbound::http::LocalEndpointSlot::default();
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
            let component = &manifest.components[&id];
            let outbound = component
                .allowed_outbound_hosts
                .iter()
                .map(|template| variables.render(template).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()
                .and_then(|hosts| Ok(AllowedHosts::parse(hosts.iter().map(String::as_str))?))
                .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
            let grants = ComponentGrants {
                environment: component.environment.clone().into_iter().collect(),
                key_value: (
                    key_value.clone(),
                    Arc::new(
                        component
                            .key_value_stores
                            .iter()
                            .cloned()
                            .collect::<BTreeSet<_>>(),
                    ),
                ),
                sqlite: (
                    sqlite.clone(),
                    Arc::new(
                        component
                            .sqlite_databases
                            .iter()
                            .cloned()
                            .collect::<BTreeSet<_>>(),
                    ),
                ),
                variables: variables.component(&id),
                outbound: Arc::new(outbound),
                local_endpoint: local_endpoint.clone(),
            };
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

/// A label a component lists must exist (as Spin checks at startup): otherwise every open of it
/// would fail at run time with `no-such-store`.
fn refuse_unconfigured_labels(
    manifest: &Manifest,
    key_value: &key_value::AppState,
    sqlite: &sqlite::AppState,
) -> anyhow::Result<()> {
    for (id, component) in &manifest.components {
        for label in &component.key_value_stores {
            if !key_value.has(label) {
                bail!(
                    "unknown key_value_stores label \"{label}\" for component \"{id}\": \
                     define [key_value_store.{label}] in a runtime config (--runtime-config-file)"
                );
            }
        }
        for label in &component.sqlite_databases {
            if !sqlite.has(label) {
                bail!(
                    "component `{id}` uses SQLite database '{label}', which is not defined: \
                     define [sqlite_database.{label}] in a runtime config (--runtime-config-file)"
                );
            }
        }
    }
    Ok(())
}

/// Every host capability, linked once per app.
fn base_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::fermyon::spin::key_value::add_to_linker::<_, KeyValue>(
        &mut linker,
        InstanceState::key_value,
    )?;
    bindings::fermyon::spin::sqlite::add_to_linker::<_, Sqlite>(
        &mut linker,
        InstanceState::sqlite,
    )?;
    bindings::fermyon::spin::variables::add_to_linker::<_, Variables>(
        &mut linker,
        InstanceState::variables,
    )?;
    Ok(linker)
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
