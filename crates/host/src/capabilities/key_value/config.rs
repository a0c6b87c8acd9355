//! `[key_value_store.<label>]` in a runtime-config file, as Spin reads it.

use crate::app::runtime_config::Backend;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a key-value label keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyValueBackend {
    /// A SQLite file (Spin's default backend); `None`: in memory, as in Spin. A relative path is
    /// relative to the runtime-config file's directory.
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// A Redis server, e.g. `redis://127.0.0.1:6379`.
    Redis { url: String },
}

impl Backend for KeyValueBackend {
    const SPIN_ONLY_TYPES: &'static [(&'static str, &'static str)] = &[
        ("azure_cosmos", "Azure Cosmos DB"),
        ("aws_dynamo", "AWS DynamoDB"),
    ];

    fn resolve(self, base: &Path) -> Result<Self, String> {
        Ok(match self {
            Self::Spin { path } => Self::Spin {
                path: path.map(|path| base.join(path)),
            },
            redis => redis,
        })
    }
}
