//! `--runtime-config-file`: the part of Spin's runtime-config format this app uses, read as Spin
//! reads it, so one file serves both hosts. `[key_value_store.<label>]` is `type = "spin"` (a
//! SQLite file, `path`) or `type = "redis"` (`url`); `[sqlite_database.<label>]` is
//! `type = "spin"` (`path`). Anything else stops startup with a message naming it: a setting this
//! host silently ignored would run the app against state the operator did not intend (Spin itself
//! ignores unknown keys in a key-value table; this host refuses them).
//!
//! Relative paths resolve as Spin resolves them: a key-value `path` against the runtime-config
//! file's directory, a SQLite `path` against the working directory. A key-value `spin` store
//! without `path` is in memory, as in Spin; a SQLite database without one is refused (Spin would
//! give an in-memory database, which would lose every change on exit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a key-value label keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueBackend {
    /// A SQLite file (Spin's default backend); `None`: in memory.
    Spin { path: Option<PathBuf> },
    /// A Redis server, e.g. `redis://127.0.0.1:6379`.
    Redis { url: String },
}

/// Where a SQLite label keeps its data: a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteBackend {
    pub path: PathBuf,
}

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
        for (name, value) in &table {
            match name.as_str() {
                "key_value_store" => {
                    for (label, entry) in labelled_tables(name, value)? {
                        let backend = key_value_backend(&label, entry, &bases.key_value)?;
                        config.key_value.insert(label, backend);
                    }
                }
                "sqlite_database" => {
                    for (label, entry) in labelled_tables(name, value)? {
                        let backend = sqlite_backend(&label, entry, &bases.sqlite)?;
                        config.sqlite.insert(label, backend);
                    }
                }
                other => return Err(invalid(unsupported_table(other))),
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

fn invalid(message: String) -> RuntimeConfigError {
    RuntimeConfigError::Invalid(message)
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

/// `[kind.<label>]` entries: each must itself be a table.
fn labelled_tables<'a>(
    kind: &str,
    value: &'a toml::Value,
) -> Result<Vec<(String, &'a toml::Table)>, RuntimeConfigError> {
    let toml::Value::Table(labels) = value else {
        return Err(invalid(format!(
            "`{kind}` must be tables named by label, e.g. [{kind}.default]"
        )));
    };
    labels
        .iter()
        .map(|(label, entry)| match entry {
            toml::Value::Table(entry) => Ok((label.clone(), entry)),
            _ => Err(invalid(format!(
                "[{kind}.{label}] must be a table with a `type`"
            ))),
        })
        .collect()
}

/// The entry's `type`, after checking it names no key outside `allowed` (for that type).
fn entry_type<'a>(
    where_: &str,
    entry: &'a toml::Table,
    allowed_for: impl Fn(&str) -> Option<&'static [&'static str]>,
    unsupported: impl Fn(&str) -> Option<String>,
) -> Result<&'a str, RuntimeConfigError> {
    let kind = match entry.get("type") {
        Some(toml::Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(invalid(format!("{where_}: `type` must be a string"))),
        None => return Err(invalid(format!("{where_}: missing `type`"))),
    };
    if let Some(why) = unsupported(kind) {
        return Err(invalid(format!("{where_}: {why}")));
    }
    let Some(allowed) = allowed_for(kind) else {
        return Err(invalid(format!("{where_}: unknown type `{kind}`")));
    };
    for key in entry.keys() {
        if key != "type" && !allowed.contains(&key.as_str()) {
            return Err(invalid(format!(
                "{where_}: unknown key `{key}` for type `{kind}` (allowed: {})",
                allowed
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(kind)
}

fn string_key(
    where_: &str,
    entry: &toml::Table,
    key: &str,
) -> Result<Option<String>, RuntimeConfigError> {
    match entry.get(key) {
        None => Ok(None),
        Some(toml::Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(invalid(format!("{where_}: `{key}` must be a string"))),
    }
}

fn resolve(base: &Path, path: String) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

fn key_value_backend(
    label: &str,
    entry: &toml::Table,
    base: &Path,
) -> Result<KeyValueBackend, RuntimeConfigError> {
    let where_ = format!("[key_value_store.{label}]");
    let kind = entry_type(
        &where_,
        entry,
        |kind| match kind {
            "spin" => Some(&["path"]),
            "redis" => Some(&["url"]),
            _ => None,
        },
        |kind| {
            matches!(kind, "azure_cosmos" | "aws_dynamo").then(|| {
                format!(
                    "type `{kind}` is supported by Spin, not by this host (it offers `spin` and \
                     `redis`)"
                )
            })
        },
    )?;
    Ok(match kind {
        "spin" => KeyValueBackend::Spin {
            path: string_key(&where_, entry, "path")?.map(|p| resolve(base, p)),
        },
        _ => KeyValueBackend::Redis {
            url: string_key(&where_, entry, "url")?
                .ok_or_else(|| invalid(format!("{where_}: type `redis` needs `url`")))?,
        },
    })
}

fn sqlite_backend(
    label: &str,
    entry: &toml::Table,
    base: &Path,
) -> Result<SqliteBackend, RuntimeConfigError> {
    let where_ = format!("[sqlite_database.{label}]");
    entry_type(
        &where_,
        entry,
        |kind| (kind == "spin").then_some(&["path"][..]),
        |kind| {
            (kind == "libsql").then(|| {
                "type `libsql` (a libSQL/Turso database) is supported by Spin, not by this \
                 host; use type `spin` with a file `path` here, or run the app on Spin"
                    .to_string()
            })
        },
    )?;
    let path = string_key(&where_, entry, "path")?.ok_or_else(|| {
        invalid(format!(
            "{where_}: needs a `path` (without one Spin uses an in-memory database, which loses \
             every change on exit; this host does not offer that)"
        ))
    })?;
    Ok(SqliteBackend {
        path: resolve(base, path),
    })
}

#[cfg(test)]
mod tests;
