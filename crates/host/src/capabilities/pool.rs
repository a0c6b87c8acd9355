//! Idle connections kept for reuse, shared by the backends that open connections (SQLite files,
//! Redis servers): a request takes one or opens a new one, and gives back only a connection in a
//! known state.

use crate::locks::lock;
use std::sync::Mutex;

pub struct Pool<C> {
    idle: Mutex<Vec<C>>,
    /// Connections kept beyond this are closed when given back.
    max_idle: usize,
}

impl<C> Pool<C> {
    pub const fn new(max_idle: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// An idle connection, or `open()`'s new one.
    pub fn take_or<E>(&self, open: impl FnOnce() -> Result<C, E>) -> Result<C, E> {
        self.take().map_or_else(open, Ok)
    }

    /// An idle connection, if there is one.
    pub fn take(&self) -> Option<C> {
        lock(&self.idle).pop()
    }

    /// Keeps `connection` for the next request, unless enough are idle already.
    pub fn give_back(&self, connection: C) {
        let mut idle = lock(&self.idle);
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
    }
}
