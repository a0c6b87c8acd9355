//! Host calls that may wait, without stalling the sockets of the worker thread they run on.
//!
//! Guest calls into SQLite and key-value are synchronous (the guest waits for the answer either
//! way), but they run on a tokio worker that also drives gateway sockets and other requests. On
//! the multi-threaded runtime `block_in_place` first hands that worker's other tasks to a fresh
//! thread, so a slow disk or a held lock stalls only the request that is waiting for it.
//!
//! The hand-over costs thread wake-ups of its own (about 20 µs of CPU and a context switch or two),
//! more than a statement that finds its pages in memory takes. So callers use [`disk`] only for
//! what may wait: opening a file, a lock another request holds, a commit (which may checkpoint),
//! a network round trip. What cannot wait runs in place.

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
