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
    /// A libSQL server (`sqld`, Turso) reached over HTTP(S), as Spin's `libsql` type: both keys
    /// required, as in Spin.
    Libsql { url: String, token: Token },
}

/// A libSQL token: a credential, so it never appears in `Debug` output (or a log built from it).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl SqliteBackend {
    /// A file at `path`.
    pub fn file(path: PathBuf) -> Self {
        Self::Spin { path: Some(path) }
    }

    /// The database file, for a file database (`resolve` has checked there is one).
    pub fn file_path(&self) -> Option<&Path> {
        match self {
            Self::Spin { path } => path.as_deref(),
            Self::Libsql { .. } => None,
        }
    }
}

impl Backend for SqliteBackend {
    const SPIN_ONLY_TYPES: &'static [(&'static str, &'static str)] = &[];

    fn resolve(self, base: &Path) -> Result<Self, String> {
        match self {
            Self::Spin { path: Some(path) } => Ok(Self::file(base.join(path))),
            Self::Spin { path: None } => Err("needs a `path` (without one Spin uses an in-memory \
                 database, which loses every change on exit; this host does not offer that)"
                .into()),
            Self::Libsql { url, token } => {
                // The URL is named in no message: a user may have put credentials in it.
                let scheme = url.split_once("://").map(|(scheme, _)| scheme);
                if !matches!(scheme, Some("http" | "https" | "libsql")) {
                    return Err("`url` must be an http://, https:// or libsql:// URL".into());
                }
                Ok(Self::Libsql { url, token })
            }
        }
    }
}
