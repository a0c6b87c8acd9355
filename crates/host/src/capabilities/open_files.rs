//! The files the process's stores have open, by path. A reload configures the new app's stores
//! while the old app still serves; through this registry both use the same open file — for a
//! SQLite database one connection pool, one write gate and one flush group, for a key-value store
//! in memory the same contents — instead of two that know nothing of each other.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

type Erased = dyn Any + Send + Sync;

#[derive(Default)]
pub struct OpenFiles {
    /// Weak: a file stays open only while some app uses it.
    open: Mutex<HashMap<(TypeId, PathBuf), Weak<Erased>>>,
}

impl OpenFiles {
    /// The `T` open on `path`, or a new one from `open` when none is.
    pub fn get_or_open<T: Any + Send + Sync>(
        &self,
        path: &Path,
        open: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        let mut files = crate::locks::lock(&self.open);
        let key = (TypeId::of::<T>(), path.to_path_buf());
        if let Some(file) = files.get(&key).and_then(Weak::upgrade)
            && let Ok(file) = file.downcast::<T>()
        {
            return file;
        }
        files.retain(|_, file| file.strong_count() > 0);
        let file = open();
        let erased: Arc<Erased> = file.clone();
        files.insert(key, Arc::downgrade(&erased));
        file
    }
}

#[cfg(test)]
mod tests;
