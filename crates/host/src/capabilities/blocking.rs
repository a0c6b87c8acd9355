//! Disk work from a host call without stalling the sockets of the worker thread it runs on.
//!
//! Guest calls into SQLite and key-value are synchronous (the guest waits for the answer either
//! way), but they run on a tokio worker that also drives gateway sockets and other requests. On
//! the multi-threaded runtime `block_in_place` first hands that worker's other tasks to a fresh
//! thread, so a slow disk stalls only the request that is waiting for it.

use tokio::runtime::{Handle, RuntimeFlavor};

pub fn disk<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        // Unit tests and the current-thread runtime: nothing else to hand over.
        _ => work(),
    }
}
