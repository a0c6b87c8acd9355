//! The `redis` key-value backend: each key is stored as itself in the server's current database
//! (as Spin's Redis backend stores it), so instances on several machines share one store.

use super::store::{Error, Store};
use crate::capabilities::pool::Pool;
use redis::Commands;
use std::time::Duration;

/// How long one command (or connecting) may take before the guest gets an error instead.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept; more are opened while many requests run at once.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// The URL's message names the problem, never the URL, which may hold a password.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL: {0}")]
pub struct InvalidRedisUrl(redis::RedisError);

pub struct RedisStore {
    client: redis::Client,
    idle: Pool<redis::Connection>,
}

impl RedisStore {
    /// Checks the URL's form only: the server is reached on first use, so a server that is down
    /// is reported to the guest (and to /health) rather than stopping the host.
    pub fn new(url: &str) -> Result<Self, InvalidRedisUrl> {
        // The URL may hold a password: the message names the problem, not the URL.
        let client = redis::Client::open(url).map_err(InvalidRedisUrl)?;
        Ok(Self {
            client,
            idle: Pool::new(MAX_IDLE_CONNECTIONS),
        })
    }

    fn with<T>(
        &self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let failed = |e: redis::RedisError| Error::Other(format!("redis: {e}"));
        crate::capabilities::blocking::disk(|| {
            let mut connection = self.idle.take_or(|| self.connect()).map_err(failed)?;
            let result = command(&mut connection).map_err(failed)?;
            // A connection that failed may be mid-reply or closed: only one that succeeded is
            // given back.
            self.idle.give_back(connection);
            Ok(result)
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
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with(|c| c.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.with(|c| c.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.with(|c| c.del(key))
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        self.with(|c| c.exists(key))
    }

    fn keys(&self) -> Result<Vec<String>, Error> {
        self.with(|c| c.keys("*"))
    }
}
