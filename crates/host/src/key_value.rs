//! `fermyon:spin/key-value`: stores by label, each backed (as in Spin) by a table in one SQLite file,
//! `<state dir>/sqlite_key_value.db`. A component opens only the labels its manifest entry lists;
//! any other label is `access-denied`, never a trap.

use crate::bindings::fermyon::spin::key_value::{Error, Host, HostStore};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
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
        crate::blocking::disk(|| {
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
        let connection = crate::sqlite_file::open_wal(&self.path)?;
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
    pub fn with_default_file(path: PathBuf) -> Self {
        let file = SqliteFile::new(path);
        let store = SqliteStore {
            label: "default".into(),
            file,
        };
        Self {
            stores: HashMap::from([("default".to_string(), Arc::new(store) as Arc<dyn Store>)]),
        }
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
