//! `[sqlite_database.<label>]` in a runtime-config file, as Spin reads it.

use crate::app::runtime_config::Backend;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a SQLite label keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SqliteBackend {
    /// A file; a relative path is relative to the working directory, as in Spin. Required here
    /// (see `resolve`).
    Spin { path: Option<PathBuf> },
}

impl SqliteBackend {
    /// A file at `path`.
    pub fn file(path: PathBuf) -> Self {
        Self::Spin { path: Some(path) }
    }

    /// The database file (`resolve` has checked there is one).
    pub fn path(&self) -> &Path {
        match self {
            Self::Spin { path } => path.as_deref().unwrap_or(Path::new(":memory:")),
        }
    }
}

impl Backend for SqliteBackend {
    const SPIN_ONLY_TYPES: &'static [(&'static str, &'static str)] =
        &[("libsql", "a libSQL/Turso database")];

    fn resolve(self, base: &Path) -> Result<Self, String> {
        match self {
            Self::Spin { path: Some(path) } => Ok(Self::file(base.join(path))),
            Self::Spin { path: None } => Err("needs a `path` (without one Spin uses an in-memory \
                 database, which loses every change on exit; this host does not offer that)"
                .into()),
        }
    }
}
