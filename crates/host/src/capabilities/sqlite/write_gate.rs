//! One writing connection at a time per database, queued in the host. SQLite lets a second writer
//! wait only by sleeping and retrying (its busy handler sleeps 1 to 100 ms between tries), so
//! under many concurrent writers the lock passes slowly and unfairly: a writer can sleep past its
//! timeout while others come and go. Here a connection takes the gate before its first write (or
//! `BEGIN IMMEDIATE`) and gives it back when its transaction ends, so writers queue and the lock
//! passes at once.

use crate::locks::lock;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct WriteGate {
    held: Mutex<bool>,
    freed: Condvar,
}

impl WriteGate {
    /// Takes the gate, waiting at most `timeout`; false when it stayed taken.
    pub fn acquire(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut held = lock(&self.held);
        while *held {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            held = self
                .freed
                .wait_timeout(held, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        *held = true;
        true
    }

    /// Takes the gate if it is free, without waiting.
    pub fn try_acquire(&self) -> bool {
        let mut held = lock(&self.held);
        !std::mem::replace(&mut *held, true)
    }

    pub fn release(&self) {
        *lock(&self.held) = false;
        self.freed.notify_one();
    }
}

#[cfg(test)]
mod tests;
