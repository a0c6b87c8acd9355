//! Spin's default key-value backend: one table in a SQLite file, one row per key.

use super::store::{Error, Store};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Spin's default backend: one row per key in a shared SQLite file, opened on first use so an
/// unusable file is reported to the guest (and to /health) instead of stopping the host.
pub struct SqliteStore {
    pub label: String,
    pub file: Arc<SqliteFile>,
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

    /// Runs a read in place when the connection is open and free (WAL readers never wait);
    /// anything else as [`Self::with`].
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        if let Ok(guard) = self.connection.try_lock()
            && let Some(connection) = guard.as_ref()
        {
            return f(connection).map_err(|e| Error::Other(e.to_string()));
        }
        self.with(f)
    }

    /// Runs `f` off the worker thread: it may wait for the lock, open the file, or commit (and a
    /// commit may checkpoint).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        crate::capabilities::blocking::disk(|| {
            let mut guard = crate::locks::lock(&self.connection);
            if guard.is_none() {
                *guard = Some(
                    self.open()
                        .map_err(|e| Error::Other(format!("{}: {e}", self.path.display())))?,
                );
            }
            f(guard.as_ref().expect("opened above")).map_err(|e| Error::Other(e.to_string()))
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
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.file.read(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![self.label, key], |row| row.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.file.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![self.label, key, value])
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.file.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![self.label, key])
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.get(key).map(|value| value.is_some())
    }

    fn keys(&self) -> Result<Vec<String>, Error> {
        self.file.read(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map(params![self.label], |row| row.get(0))?
                .collect()
        })
    }
}
