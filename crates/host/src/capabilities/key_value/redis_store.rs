//! The `redis` key-value backend: each key is stored as itself in the server's current database
//! (as Spin's Redis backend stores it), so instances on several machines share one store.

use super::Store;
use redis::Commands;
use std::sync::Mutex;
use std::time::Duration;

/// How long one command (or connecting) may take before the guest gets an error instead.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept; more are opened while many requests run at once.
const MAX_IDLE_CONNECTIONS: usize = 32;

pub struct RedisStore {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

impl RedisStore {
    /// Checks the URL's form only: the server is reached on first use, so a server that is down
    /// is reported to the guest (and to /health) rather than stopping the host.
    pub fn new(url: &str) -> Result<Self, String> {
        // The URL may hold a password: the message names the problem, not the URL.
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(Self {
            client,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn with<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        crate::capabilities::blocking::disk(|| {
            let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut connection = match pooled {
                Some(connection) => connection,
                None => self.connect().map_err(|e| format!("redis: {e}"))?,
            };
            let result = command(&mut connection).map_err(|e| format!("redis: {e}"));
            // A connection that failed may be mid-reply or closed: it is not reused.
            if result.is_ok() {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE_CONNECTIONS {
                    idle.push(connection);
                }
            }
            result
        })
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self.client.get_connection_with_timeout(TIMEOUT)?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c| c.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c| c.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|c| c.del(key))
    }

    fn exists(&self, key: &str) -> Result<bool, String> {
        self.with(|c| c.exists(key))
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        self.with(|c| c.keys("*"))
    }
}
