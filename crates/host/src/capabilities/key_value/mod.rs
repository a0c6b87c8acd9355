//! `fermyon:spin/key-value`: stores by label. Without a runtime config only `default` exists, as in
//! Spin: a table in the SQLite file `<state dir>/sqlite_key_value.db`. A runtime config adds labels
//! or moves them to another file or to Redis (`redis_store`). A component opens only the labels its
//! manifest entry lists; any other label is `access-denied`, never a trap.

mod redis_store;

use crate::capabilities::bindings::fermyon::spin::key_value::{Error, Host, HostStore};
use crate::app::runtime_config::KeyValueBackend;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasData, Resource, ResourceTable};

/// A store backend. Errors are messages for the guest's `other(string)`.
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&self, key: &str) -> Result<(), String>;
    fn exists(&self, key: &str) -> Result<bool, String>;
    fn keys(&self) -> Result<Vec<String>, String>;
}

/// Spin's default backend: one row per key in a shared SQLite file, opened on first use so an
/// unusable file is reported to the guest (and to /health) instead of stopping the host.
pub struct SqliteStore {
    label: String,
    file: Arc<SqliteFile>,
}

/// The SQLite file all labels of the default backend share.
pub struct SqliteFile {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl SqliteFile {
    pub fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            connection: Mutex::new(None),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        crate::capabilities::blocking::disk(|| {
            let mut guard = self.connection.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(
                    self.open()
                        .map_err(|e| format!("{}: {e}", self.path.display()))?,
                );
            }
            f(guard.as_ref().expect("opened above")).map_err(|e| e.to_string())
        })
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = crate::capabilities::sqlite::file::open_wal(&self.path)?;
        // A write is not flushed on its own: it survives the process dying (the OS holds it) but
        // an OS crash or power loss may undo the newest writes. What this app keeps here is
        // rate-limit state, for which that is harmless (docs/durability.md).
        connection.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS spin_key_value (
                 store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 PRIMARY KEY (store, key));",
        )?;
        Ok(connection)
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.file.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![self.label, key], |row| row.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.file.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![self.label, key, value])
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.file.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![self.label, key])
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> Result<bool, String> {
        self.get(key).map(|value| value.is_some())
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        self.file.with(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map(params![self.label], |row| row.get(0))?
                .collect()
        })
    }
}

/// Per-app state: the configured stores by label.
#[derive(Default)]
pub struct AppState {
    stores: HashMap<String, Arc<dyn Store>>,
}

impl AppState {
    /// The `default` label on a SQLite file, as Spin configures it without a runtime config.
    #[cfg(test)]
    pub fn with_default_file(path: PathBuf) -> Self {
        Self::configure(&BTreeMap::new(), &path).expect("the default store needs no configuration")
    }

    /// The runtime config's labels, and `default` on `default_file` unless the config defines it.
    /// Labels on the same file share its connection.
    pub fn configure(
        labels: &BTreeMap<String, KeyValueBackend>,
        default_file: &Path,
    ) -> Result<Self, String> {
        let mut files: HashMap<PathBuf, Arc<SqliteFile>> = HashMap::new();
        let mut file = |path: &Path| {
            files
                .entry(path.to_path_buf())
                .or_insert_with(|| SqliteFile::new(path.to_path_buf()))
                .clone()
        };
        let mut stores: HashMap<String, Arc<dyn Store>> = HashMap::new();
        let default = KeyValueBackend::Spin {
            path: Some(default_file.to_path_buf()),
        };
        let configured = crate::app::runtime_config::with_default(labels, &default);
        for (label, backend) in configured {
            let store: Arc<dyn Store> = match backend {
                KeyValueBackend::Spin { path } => Arc::new(SqliteStore {
                    label: label.to_string(),
                    // As in Spin, a `spin` store without a path lives in memory. One connection
                    // serves each file, so every request sees the same memory database.
                    file: file(path.as_deref().unwrap_or(Path::new(":memory:"))),
                }),
                KeyValueBackend::Redis { url } => Arc::new(
                    redis_store::RedisStore::new(url)
                        .map_err(|e| format!("[key_value_store.{label}]: {e}"))?,
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
        Ok(self.store(&store)?.get(&key).map_err(Error::Other))
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.set(&key, &value).map_err(Error::Other))
    }

    fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&store)?.delete(&key).map_err(Error::Other))
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.store(&store)?.exists(&key).map_err(Error::Other))
    }

    fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.store(&store)?.keys().map_err(Error::Other))
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_test(allowed: &[&str], f: impl FnOnce(&mut KeyValueView<'_>)) {
        let dir = tempfile::tempdir().unwrap();
        let app = Arc::new(AppState::with_default_file(dir.path().join("kv.db")));
        let state = InstanceState {
            app,
            allowed: Arc::new(allowed.iter().map(|s| s.to_string()).collect()),
        };
        let mut table = ResourceTable::new();
        f(&mut KeyValueView {
            state: &state,
            table: &mut table,
        });
    }

    #[test]
    fn set_get_delete_roundtrip() {
        view_test(&["default"], |view| {
            let store = view.open("default".into()).unwrap().unwrap();
            let again = Resource::<OpenStore>::new_borrow(store.rep());
            view.set(again, "k".into(), b"v".to_vec()).unwrap().unwrap();
            let again = Resource::<OpenStore>::new_borrow(store.rep());
            assert_eq!(
                view.get(again, "k".into()).unwrap().unwrap(),
                Some(b"v".to_vec())
            );
            let again = Resource::<OpenStore>::new_borrow(store.rep());
            assert_eq!(
                view.get_keys(again).unwrap().unwrap(),
                vec!["k".to_string()]
            );
            let again = Resource::<OpenStore>::new_borrow(store.rep());
            view.delete(again, "k".into()).unwrap().unwrap();
            let again = Resource::<OpenStore>::new_borrow(store.rep());
            assert!(!view.exists(again, "k".into()).unwrap().unwrap());
        });
    }

    #[test]
    fn ungranted_label_is_access_denied() {
        view_test(&[], |view| {
            assert!(matches!(
                view.open("default".into()).unwrap(),
                Err(Error::AccessDenied)
            ));
        });
    }

    #[test]
    fn granted_but_unconfigured_label_is_no_such_store() {
        view_test(&["other"], |view| {
            assert!(matches!(
                view.open("other".into()).unwrap(),
                Err(Error::NoSuchStore)
            ));
        });
    }

    #[test]
    fn a_runtime_config_adds_labels_and_moves_default() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared.db");
        let labels = BTreeMap::from([
            (
                "default".to_string(),
                KeyValueBackend::Spin {
                    path: Some(shared.clone()),
                },
            ),
            (
                "other".to_string(),
                KeyValueBackend::Spin {
                    path: Some(shared.clone()),
                },
            ),
            ("memory".to_string(), KeyValueBackend::Spin { path: None }),
        ]);
        let app = AppState::configure(&labels, &dir.path().join("unused.db")).unwrap();
        app.stores["default"].set("k", b"default").unwrap();
        app.stores["other"].set("k", b"other").unwrap();
        app.stores["memory"].set("k", b"memory").unwrap();
        // Two labels on one file keep their keys apart; the memory store keeps its own.
        assert_eq!(
            app.stores["default"].get("k").unwrap(),
            Some(b"default".to_vec())
        );
        assert_eq!(
            app.stores["other"].get("k").unwrap(),
            Some(b"other".to_vec())
        );
        assert_eq!(
            app.stores["memory"].get("k").unwrap(),
            Some(b"memory".to_vec())
        );
        assert!(shared.exists());
        assert!(!dir.path().join("unused.db").exists(), "default was moved");
        assert!(!app.has("missing"));
    }

    #[test]
    fn a_malformed_redis_url_is_refused_without_repeating_it() {
        let labels = BTreeMap::from([(
            "default".to_string(),
            KeyValueBackend::Redis {
                url: "rediss//:hunter2@cache".into(),
            },
        )]);
        let error = AppState::configure(&labels, Path::new("unused.db"))
            .err()
            .unwrap();
        assert!(
            error.contains("[key_value_store.default]: invalid Redis URL"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn unusable_file_is_a_guest_error_not_a_trap() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the database file should be: SQLite cannot open it.
        std::fs::create_dir(dir.path().join("kv.db")).unwrap();
        let store = SqliteStore {
            label: "default".into(),
            file: SqliteFile::new(dir.path().join("kv.db")),
        };
        assert!(store.get("k").is_err());
    }
}
