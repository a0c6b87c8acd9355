//! Group commit for a WAL database opened with `synchronous = NORMAL`: a commit returns once it is
//! in the WAL (the OS page cache), and a request's response is held until one `fsync` of the WAL
//! has covered every commit the request made. Commits that land while an `fsync` is running share
//! the next one, so under load many requests pay for one disk flush instead of one each.
//!
//! The promise stays the one `synchronous = FULL` gave: nothing is acknowledged before it is on
//! disk. Checkpoints keep it too: under `NORMAL` SQLite syncs the WAL before copying it into the
//! database and syncs the database before the WAL is reused.

use crate::locks::lock;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A position in the sequence of commits: a request waits until the synced position reaches the
/// ticket of its last commit.
pub type Ticket = u64;

/// How the WAL reaches the disk; a trait so tests can count and stall flushes.
pub trait Flush: Send + Sync + 'static {
    fn flush(&self) -> std::io::Result<()>;
}

/// Flushes `<database>-wal` (and, the first time a WAL file is seen, its directory, so the file's
/// name survives a power loss too).
pub struct WalFile {
    wal: PathBuf,
    seen: Mutex<Option<(u64, u64)>>,
}

impl WalFile {
    pub fn new(database: &std::path::Path) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            wal: wal.into(),
            seen: Mutex::new(None),
        }
    }
}

impl Flush for WalFile {
    fn flush(&self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let file = match std::fs::File::open(&self.wal) {
            Ok(file) => file,
            // The last connection closed: SQLite checkpointed (and synced) the WAL into the
            // database and removed it, so everything committed is already on disk.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        file.sync_data()?;
        let metadata = file.metadata()?;
        let identity = Some((metadata.dev(), metadata.ino()));
        let mut seen = lock(&self.seen);
        if *seen != identity {
            if let Some(directory) = self.wal.parent() {
                std::fs::File::open(directory)?.sync_all()?;
            }
            *seen = identity;
        }
        Ok(())
    }
}

struct Positions {
    committed: Ticket,
    flushing: bool,
}

/// A flush of the WAL failed: the commits it covered are not known to be on disk.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot flush the SQLite WAL to disk: {0}")]
pub struct FlushFailed(Arc<str>);

/// What the flushes so far achieved.
#[derive(Clone, Default)]
struct Synced {
    /// Every commit up to here is on disk.
    through: Ticket,
    /// The last failed flush: the commits it was for, and why.
    failed: Option<(Ticket, FlushFailed)>,
}

struct Inner {
    flush: Box<dyn Flush>,
    positions: Mutex<Positions>,
    synced: watch::Sender<Synced>,
}

/// The commit and sync positions of one database file.
pub struct GroupSync {
    inner: Arc<Inner>,
}

impl GroupSync {
    pub fn new(flush: impl Flush) -> Self {
        Self {
            inner: Arc::new(Inner {
                flush: Box::new(flush),
                positions: Mutex::new(Positions {
                    committed: 0,
                    flushing: false,
                }),
                synced: watch::Sender::new(Synced::default()),
            }),
        }
    }

    /// Records a commit that has returned; its ticket is what a response must wait for.
    pub fn committed(&self) -> Ticket {
        let mut positions = lock(&self.inner.positions);
        positions.committed += 1;
        crate::ops::metrics::get().sqlite_commits.inc();
        positions.committed
    }

    /// Waits until every commit up to `ticket` is on disk, or fails if the flush meant for it
    /// failed. A waiter that finds no flush running starts one covering every commit so far; the
    /// others wait for it, and those whose commits came too late for it start the next. The flush
    /// runs in a task of its own: a waiter that goes away (its request was cancelled) never leaves
    /// the others waiting for a flush nobody finishes.
    pub async fn synced(&self, ticket: Ticket) -> Result<(), FlushFailed> {
        let mut updates = self.inner.synced.subscribe();
        loop {
            {
                let synced = updates.borrow_and_update();
                if synced.through >= ticket {
                    return Ok(());
                }
                if let Some((target, error)) = &synced.failed
                    && *target >= ticket
                {
                    return Err(error.clone());
                }
            }
            self.start_flush();
            // The sender lives as long as `self`, so this only ends when a flush does.
            let _ = updates.changed().await;
        }
    }

    /// Starts a flush of every commit so far, unless one is running.
    fn start_flush(&self) {
        let target = {
            let mut positions = lock(&self.inner.positions);
            if positions.flushing {
                return;
            }
            positions.flushing = true;
            positions.committed
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let flushing = inner.clone();
            let result = tokio::task::spawn_blocking(move || flushing.flush.flush())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            lock(&inner.positions).flushing = false;
            let metrics = crate::ops::metrics::get();
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics
                .sqlite_flushes
                .get_or_create(&crate::ops::metrics::Outcome { outcome })
                .inc();
            inner.synced.send_modify(|synced| match result {
                Ok(()) => {
                    let covered = target.saturating_sub(synced.through);
                    metrics.sqlite_flush_batch.observe(covered as f64);
                    synced.through = synced.through.max(target);
                }
                Err(error) => {
                    // Its waiters fail (nothing is acknowledged); later commits get a new flush.
                    let failed = FlushFailed(error.into());
                    tracing::error!("{failed}");
                    synced.failed = Some((target, failed));
                }
            });
        });
    }
}

/// A flush a test controls, for this module's tests and those of its users.
#[cfg(test)]
pub mod gated {
    use super::{Flush, GroupSync};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, mpsc};

    /// Counts flushes; each waits for a permit, so a test decides when the disk "finishes".
    struct Gated {
        flushes: Arc<AtomicUsize>,
        permits: Mutex<mpsc::Receiver<()>>,
    }

    impl Flush for Gated {
        fn flush(&self) -> std::io::Result<()> {
            self.permits.lock().unwrap().recv().unwrap();
            self.flushes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// A group whose flushes each wait for a permit sent on the returned sender, and the count of
    /// flushes done.
    pub fn gated() -> (Arc<GroupSync>, Arc<AtomicUsize>, mpsc::Sender<()>) {
        let flushes = Arc::new(AtomicUsize::new(0));
        let (permit, permits) = mpsc::channel();
        let sync = GroupSync::new(Gated {
            flushes: flushes.clone(),
            permits: Mutex::new(permits),
        });
        (Arc::new(sync), flushes, permit)
    }
}

#[cfg(test)]
mod tests;
