//! Taking a lock whose holder may have panicked. Every value the host guards with a `Mutex` is
//! changed by single assignments or pushes (a flag, a queue, an idle list), so a panic in a holder
//! cannot leave it half-updated: the next caller carries on with it rather than panicking too.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
