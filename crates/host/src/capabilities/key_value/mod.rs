//! `fermyon:spin/key-value`: stores by label. Without a runtime config only `default` exists, as in
//! Spin: a table in the SQLite file `<state dir>/sqlite_key_value.db`. A runtime config adds labels
//! or moves them to another file or to Redis (`redis_store`). A component opens only the labels its
//! manifest entry lists; any other label is `access-denied`, never a trap.

pub mod config;
mod redis_store;
mod sqlite_store;
mod store;

pub use sqlite_store::SqliteFile;
pub use store::Store;

use crate::app::manifest::Component;
use crate::capabilities::bindings::fermyon::spin::key_value::{Error, Host, HostStore};
use crate::capabilities::open_files::OpenFiles;
use crate::capabilities::{AppContext, Capability, RequestScope, instance, unconfigured_label};
use anyhow::bail;
use config::KeyValueBackend;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// A configured backend that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("[key_value_store.{label}]: {source}")]
pub struct BackendError {
    label: String,
    source: redis_store::InvalidRedisUrl,
}

/// Per-app state: the configured stores by label.
#[derive(Default)]
pub struct AppState {
    stores: HashMap<String, Arc<dyn Store>>,
}

impl AppState {
    /// The `default` label on a SQLite file, as Spin configures it without a runtime config.
    #[cfg(test)]
    pub fn with_default_file(path: std::path::PathBuf) -> Self {
        Self::configure(&BTreeMap::new(), &path, &OpenFiles::default())
            .expect("the default store needs no configuration")
    }

    /// The runtime config's labels, and `default` on `default_file` unless the config defines it.
    /// Labels on the same file share its connection, with every other app of the process that has
    /// it open (`open_files`).
    pub fn configure(
        labels: &BTreeMap<String, KeyValueBackend>,
        default_file: &Path,
        open_files: &OpenFiles,
    ) -> Result<Self, BackendError> {
        let file =
            |path: &Path| open_files.get_or_open(path, || SqliteFile::new(path.to_path_buf()));
        let mut stores: HashMap<String, Arc<dyn Store>> = HashMap::new();
        let default = KeyValueBackend::Spin {
            path: Some(default_file.to_path_buf()),
        };
        let configured = crate::app::runtime_config::with_default(labels, &default);
        for (label, backend) in configured {
            let store: Arc<dyn Store> = match backend {
                KeyValueBackend::Spin { path } => Arc::new(sqlite_store::SqliteStore {
                    label: label.to_string(),
                    // As in Spin, a `spin` store without a path lives in memory. One connection
                    // serves each file, so every request sees the same memory database.
                    file: file(path.as_deref().unwrap_or(Path::new(":memory:"))),
                }),
                KeyValueBackend::Redis { url } => Arc::new(
                    redis_store::RedisStore::new(url).map_err(|source| BackendError {
                        label: label.to_string(),
                        source,
                    })?,
                ),
            };
            stores.insert(label.to_string(), store);
        }
        Ok(Self { stores })
    }

    /// Whether `label` is configured.
    pub fn has(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }
}

/// Per-instance state: which labels this component may open.
#[derive(Clone)]
pub struct InstanceState {
    pub app: Arc<AppState>,
    pub allowed: Arc<BTreeSet<String>>,
}

/// A store the guest opened: the resource behind `store`.
pub struct OpenStore(Arc<dyn Store>);

pub struct KeyValueView<'a> {
    pub state: &'a InstanceState,
    pub table: &'a mut ResourceTable,
}

pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

impl Capability for KeyValue {
    type AppState = AppState;
    type Grant = InstanceState;
    type InstanceState = InstanceState;

    fn configure(context: &AppContext) -> anyhow::Result<Arc<AppState>> {
        let app = AppState::configure(
            &context.runtime_config.key_value,
            &context.state_dir.join("sqlite_key_value.db"),
            context.open_files,
        )
        .map_err(|e| anyhow::anyhow!("runtime config: {e}"))?;
        if let Some((id, label)) =
            unconfigured_label(context.manifest, |c| &c.key_value_stores, |l| app.has(l))
        {
            bail!(
                "unknown key_value_stores label \"{label}\" for component \"{id}\": \
                 define [key_value_store.{label}] in a runtime config (--runtime-config-file)"
            );
        }
        Ok(Arc::new(app))
    }

    fn grant(
        app: &Arc<AppState>,
        _id: &str,
        component: &Component,
        _context: &AppContext,
    ) -> anyhow::Result<InstanceState> {
        Ok(InstanceState {
            app: app.clone(),
            allowed: Arc::new(component.key_value_stores.iter().cloned().collect()),
        })
    }

    fn instance(grant: &InstanceState, _request: &RequestScope) -> InstanceState {
        grant.clone()
    }

    fn add_to_linker(linker: &mut Linker<instance::InstanceState>) -> wasmtime::Result<()> {
        crate::capabilities::bindings::fermyon::spin::key_value::add_to_linker::<_, KeyValue>(
            linker,
            instance::InstanceState::key_value,
        )
    }
}

impl KeyValueView<'_> {
    fn store(&self, resource: &Resource<OpenStore>) -> wasmtime::Result<Arc<dyn Store>> {
        Ok(self.table.get(resource)?.0.clone())
    }
}

impl Host for KeyValueView<'_> {}

impl HostStore for KeyValueView<'_> {
    fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        if !self.state.allowed.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(store) = self.state.app.stores.get(&label) else {
            return Ok(Err(Error::NoSuchStore));
        };
        match self.table.push(OpenStore(store.clone())) {
            Ok(resource) => Ok(Ok(resource)),
            Err(_) => Ok(Err(Error::StoreTableFull)),
        }
    }

    fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.store(&store)?.get(&key))
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.set(&key, &value))
    }

    fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.delete(&key))
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.store(&store)?.exists(&key))
    }

    fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.store(&store)?.keys())
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
