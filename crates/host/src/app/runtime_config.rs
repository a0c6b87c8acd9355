//! `--runtime-config-file`: the part of Spin's runtime-config format this app uses, read as Spin
//! reads it, so one file serves both hosts. `[key_value_store.<label>]` is `type = "spin"` (a
//! SQLite file, `path`) or `type = "redis"` (`url`); `[sqlite_database.<label>]` is
//! `type = "spin"` (`path`). Each capability's entry is its own serde type that refuses unknown
//! keys; anything else stops startup with a message naming it: a setting this host silently
//! ignored would run the app against state the operator did not intend (Spin itself ignores
//! unknown keys in a key-value table; this host refuses them).
//!
//! Relative paths resolve as Spin resolves them: a key-value `path` against the runtime-config
//! file's directory, a SQLite `path` against the working directory. A key-value `spin` store
//! without `path` is in memory, as in Spin; a SQLite database without one is refused (Spin would
//! give an in-memory database, which would lose every change on exit).

use crate::capabilities::key_value::config::KeyValueBackend;
use crate::capabilities::sqlite::config::SqliteBackend;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The stores and databases a runtime-config file declares, by label.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub key_value: BTreeMap<String, KeyValueBackend>,
    pub sqlite: BTreeMap<String, SqliteBackend>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("cannot read runtime config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("runtime config {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("runtime config: {0}")]
    Invalid(String),
}

/// Spin's runtime-config entries this host does not implement, with what they configure.
const SPIN_ONLY_ENTRIES: &[(&str, &str)] = &[
    ("state_dir", "the state directory; use --state-dir"),
    ("log_dir", "the log directory"),
    ("max_instance_memory", "the instance memory limit"),
    (
        "variables_provider",
        "variable providers (Vault, Azure Key Vault)",
    ),
    (
        "config_provider",
        "variable providers (Vault, Azure Key Vault)",
    ),
    ("llm_compute", "LLM inferencing"),
    ("outbound_networking", "outbound networking"),
    ("client_tls", "client TLS"),
    ("outbound_http", "outbound HTTP"),
    ("outbound_redis", "outbound Redis"),
    ("outbound_pg", "outbound PostgreSQL"),
    ("outbound_mysql", "outbound MySQL"),
    ("outbound_mqtt", "outbound MQTT"),
];

impl RuntimeConfig {
    /// Reads `path`, resolving relative paths inside it as Spin does.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let bases = Bases {
            key_value: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            sqlite: std::env::current_dir().unwrap_or_default(),
        };
        Self::parse(&text, &bases).map_err(|error| match error {
            RuntimeConfigError::Syntax { message, .. } => RuntimeConfigError::Syntax {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses the file's text.
    pub fn parse(text: &str, bases: &Bases) -> Result<Self, RuntimeConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| RuntimeConfigError::Syntax {
                    path: String::new(),
                    message: e.message().to_string(),
                })?;
        let mut config = Self::default();
        for (name, value) in table {
            match name.as_str() {
                "key_value_store" => {
                    config.key_value = labelled(&name, value, &bases.key_value)?;
                }
                "sqlite_database" => {
                    config.sqlite = labelled(&name, value, &bases.sqlite)?;
                }
                other => return Err(RuntimeConfigError::Invalid(unsupported_table(other))),
            }
        }
        Ok(config)
    }
}

/// The runtime config's `labels`, plus `default` as `default` unless the config defines it: as in
/// Spin, defining a label replaces its default.
pub fn with_default<'a, B>(
    labels: &'a BTreeMap<String, B>,
    default: &'a B,
) -> impl Iterator<Item = (&'a str, &'a B)> {
    let implicit = (!labels.contains_key("default")).then_some(("default", default));
    labels
        .iter()
        .map(|(label, backend)| (label.as_str(), backend))
        .chain(implicit)
}

/// The directories relative paths resolve against.
pub struct Bases {
    /// Key-value paths: the runtime-config file's directory.
    pub key_value: PathBuf,
    /// SQLite paths: the working directory.
    pub sqlite: PathBuf,
}

fn unsupported_table(name: &str) -> String {
    match SPIN_ONLY_ENTRIES.iter().find(|(entry, _)| *entry == name) {
        Some((_, what)) => format!(
            "`{name}` ({what}) is a Spin runtime-config setting this host does not support; \
             run the app on Spin to use it, or remove it"
        ),
        None => format!(
            "unknown table [{name}]: this host reads [key_value_store.<label>] and \
             [sqlite_database.<label>]"
        ),
    }
}

/// A capability's `[kind.<label>]` entry: a serde type that refuses unknown keys.
pub trait Backend: DeserializeOwned {
    /// `type`s Spin offers that this host does not, each with what it is.
    const SPIN_ONLY_TYPES: &'static [(&'static str, &'static str)];
    /// Checks what the type cannot say, and resolves relative paths against `base`.
    fn resolve(self, base: &Path) -> Result<Self, String>;
}

/// `[kind.<label>]` entries, each read as a `B`. A `type` Spin offers and this host does not is
/// named as such; the entry's other values are never repeated (they may hold a token).
fn labelled<B: Backend>(
    kind: &str,
    value: toml::Value,
    base: &Path,
) -> Result<BTreeMap<String, B>, RuntimeConfigError> {
    let invalid = |message: String| RuntimeConfigError::Invalid(message);
    let toml::Value::Table(labels) = value else {
        return Err(invalid(format!(
            "`{kind}` must be tables named by label, e.g. [{kind}.default]"
        )));
    };
    labels
        .into_iter()
        .map(|(label, entry)| {
            let where_ = format!("[{kind}.{label}]");
            let Some(type_) = entry.as_table().map(|entry| entry.get("type")) else {
                return Err(invalid(format!("{where_} must be a table with a `type`")));
            };
            let type_ = type_.and_then(toml::Value::as_str);
            if let Some((type_, what)) = B::SPIN_ONLY_TYPES.iter().find(|(t, _)| Some(*t) == type_)
            {
                return Err(invalid(format!(
                    "{where_}: type `{type_}` ({what}) is supported by Spin, not by this host; \
                     run the app on Spin to use it, or use a type this host offers"
                )));
            }
            let backend = B::deserialize(entry)
                .map_err(|error| invalid(format!("{where_}: {}", error.message())))?
                .resolve(base)
                .map_err(|message| invalid(format!("{where_}: {message}")))?;
            Ok((label, backend))
        })
        .collect()
}

#[cfg(test)]
mod tests;
