//! spin.toml (manifest version 2): the subset of Spin's documented schema this host runs.
//!
//! Every field Spin does not define is refused by name; fields Spin defines but this host does not
//! implement (files, AI models, registry dependencies, …) are refused by name too, so an app never
//! silently runs with less than its manifest asks for.

mod dependencies;
mod spin_id;

use dependencies::DependencyNameError;
pub use dependencies::{Capability, Dependency, DependencyName, DependencySource};
use spin_id::{IdError, IdRule};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid manifest: {0}")]
    Invalid(String),
    /// An identifier Spin refuses to read (see `spin_id`): `field` is where it is written.
    #[error("invalid manifest: {field}: `{id}`: {problem}")]
    Identifier {
        field: String,
        id: String,
        problem: IdError,
    },
    /// A `[component.<id>.dependencies]` key Spin refuses to read; `field` names the key.
    #[error(
        "invalid manifest: {field}: {problem}; the key must be a plain name (`foo-bar`) or a WIT name (`ns:pkg`, `ns:pkg/interface`, optionally `@version`) of what the component imports"
    )]
    DependencyName {
        field: String,
        problem: DependencyNameError,
    },
    #[error("unsupported manifest field `{field}`: {why}")]
    Unsupported { field: String, why: &'static str },
}

/// Spin fields this host knows but does not implement.
const NOT_IMPLEMENTED: &str =
    "a Spin field that sync-host does not implement; run this app on Spin instead";

#[derive(Debug)]
pub struct Manifest {
    /// The directory holding spin.toml: component sources and build workdirs are relative to it.
    pub dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: BTreeMap<String, toml::Value>,
    #[serde(default)]
    component: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub version: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub description: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub authors: Vec<String>,
    /// Spin ignores `[application.tool.*]`; so do we.
    #[serde(default)]
    #[allow(dead_code)]
    pub tool: Option<toml::Table>,
    #[serde(default)]
    targets: Option<toml::Value>,
    #[serde(default)]
    trigger: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub secret: bool,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub id: String,
    pub route: Route,
    pub component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Route {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: toml::Value,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub description: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    /// Spin ignores `[component.X.tool.*]`; so do we.
    #[serde(default)]
    #[allow(dead_code)]
    pub tool: Option<toml::Table>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    profile: Option<toml::Value>,
    /// Filled from `dependencies` during validation.
    #[serde(skip)]
    pub resolved_dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: Commands,
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    #[serde(default)]
    #[allow(dead_code)] // accepted as Spin documents it; this host has no use for it
    pub watch: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Commands {
    One(String),
    Many(Vec<String>),
}

impl Commands {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        match self {
            Commands::One(c) => std::slice::from_ref(c).iter().map(String::as_str),
            Commands::Many(cs) => cs.iter().map(String::as_str),
        }
    }
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Self::parse(&text, dir).map_err(|e| match e {
            ManifestError::Parse { message, .. } => ManifestError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str, dir: PathBuf) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: PathBuf::from("spin.toml"),
            message: e.to_string(),
        })?;
        if raw.spin_manifest_version != 2 {
            return Err(ManifestError::Invalid(format!(
                "spin_manifest_version = {} is not supported; use 2",
                raw.spin_manifest_version
            )));
        }
        let RawManifest {
            application,
            variables,
            mut trigger,
            component: mut components,
            ..
        } = raw;
        unsupported_if("application.targets", application.targets.is_some())?;
        unsupported_if("application.trigger", application.trigger.is_some())?;
        if let Some(other) = trigger.keys().find(|t| *t != "http") {
            return Err(ManifestError::Unsupported {
                field: format!("trigger.{other}"),
                why: "sync-host runs HTTP triggers only",
            });
        }
        let http_triggers: Vec<HttpTrigger> = match trigger.remove("http") {
            Some(value) => value.try_into().map_err(|e: toml::de::Error| {
                ManifestError::Invalid(format!("trigger.http: {}", e.message()))
            })?,
            None => Vec::new(),
        };
        for (name, decl) in &variables {
            validate_variable(name, decl)?;
        }
        for (id, component) in &mut components {
            validate_component(id, component, &variables)?;
        }
        validate_triggers(&http_triggers, &components)?;
        dependencies::validate_component_references(&components)?;
        Ok(Self {
            dir,
            application,
            variables,
            http_triggers,
            components,
        })
    }

    /// A path from the manifest, relative to the manifest's directory.
    pub fn resolve_path(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }

    /// Every wasm file the app is loaded from: each component's, and its dependencies' (a
    /// dependency on another component is that component's file).
    pub fn component_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for component in self.components.values() {
            files.push(self.resolve_path(Path::new(component.source_path())));
            for dependency in &component.resolved_dependencies {
                if let DependencySource::Path(path) = &dependency.source {
                    files.push(self.resolve_path(path));
                }
            }
        }
        files
    }
}

impl HttpTrigger {
    /// The component id this trigger runs (validated to be a plain reference).
    pub fn component_id(&self) -> &str {
        self.component.as_str().unwrap_or_default()
    }
}

impl Component {
    /// The wasm file this component is loaded from (validated to be a local path).
    pub fn source_path(&self) -> &str {
        self.source.as_str().unwrap_or_default()
    }
}

fn unsupported_if(field: &str, present: bool) -> Result<(), ManifestError> {
    if present {
        return Err(ManifestError::Unsupported {
            field: field.to_string(),
            why: NOT_IMPLEMENTED,
        });
    }
    Ok(())
}

/// Checks `id`, written at `field`, against `rule`.
fn check_id(field: &str, id: &str, rule: IdRule) -> Result<(), ManifestError> {
    rule.check(id)
        .map_err(|problem| identifier_error(field, id, problem))
}

fn identifier_error(field: &str, id: &str, problem: IdError) -> ManifestError {
    ManifestError::Identifier {
        field: field.to_string(),
        id: id.to_string(),
        problem,
    }
}

fn validate_variable(name: &str, decl: &VariableDecl) -> Result<(), ManifestError> {
    check_id("variables", name, IdRule::LOWER_SNAKE)?;
    match (&decl.default, decl.required) {
        (Some(_), true) => Err(ManifestError::Invalid(format!(
            "variable `{name}` has both a default and required = true; choose one"
        ))),
        (None, false) => Err(ManifestError::Invalid(format!(
            "variable `{name}` needs either a default or required = true"
        ))),
        _ => Ok(()),
    }
}

fn validate_component(
    id: &str,
    component: &mut Component,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<(), ManifestError> {
    check_id("component", id, IdRule::KEBAB)?;
    let field = |name: &str| format!("component.{id}.{name}");
    unsupported_if(&field("files"), component.files.is_some())?;
    unsupported_if(&field("exclude_files"), component.exclude_files.is_some())?;
    unsupported_if(&field("ai_models"), component.ai_models.is_some())?;
    unsupported_if(
        &field("allowed_http_hosts"),
        component.allowed_http_hosts.is_some(),
    )?;
    unsupported_if(&field("profile"), component.profile.is_some())?;
    if !component.source.is_str() {
        return Err(ManifestError::Unsupported {
            field: field("source"),
            why: "only a local wasm path is supported (no URL or registry sources)",
        });
    }
    for (name, template) in &component.variables {
        check_id(&field("variables"), name, IdRule::LOWER_SNAKE)?;
        for reference in crate::capabilities::variables::template_references(template)
            .map_err(|e| ManifestError::Invalid(format!("{}.{name}: {e}", field("variables"))))?
        {
            if !app_variables.contains_key(reference) {
                return Err(ManifestError::Invalid(format!(
                    "{}.{name} refers to `{{{{ {reference} }}}}`, which is not declared in [variables]",
                    field("variables")
                )));
            }
        }
    }
    for (list, labels) in [
        ("key_value_stores", &component.key_value_stores),
        ("sqlite_databases", &component.sqlite_databases),
    ] {
        for label in labels {
            spin_id::check_label(label)
                .map_err(|problem| identifier_error(&field(list), label, problem))?;
        }
    }
    component.resolved_dependencies = dependencies::parse_all(id, component)?;
    Ok(())
}

fn validate_triggers(
    triggers: &[HttpTrigger],
    components: &BTreeMap<String, Component>,
) -> Result<(), ManifestError> {
    let mut routes: Vec<crate::trigger::router::RoutePattern> = Vec::new();
    for (index, trigger) in triggers.iter().enumerate() {
        let field = format!("trigger.http[{index}]");
        unsupported_if(
            &format!("{field}.executor"),
            trigger
                .executor
                .as_ref()
                .is_some_and(|e| e.get("type").and_then(toml::Value::as_str) != Some("spin")),
        )?;
        let Some(component) = trigger.component.as_str() else {
            return Err(ManifestError::Unsupported {
                field: format!("{field}.component"),
                why: "inline components are not supported; reference a [component.<id>] by id",
            });
        };
        check_id(&format!("{field}.component"), component, IdRule::KEBAB)?;
        if !components.contains_key(component) {
            return Err(ManifestError::Invalid(format!(
                "{field}.component: no component `{component}` in the manifest"
            )));
        }
        match &trigger.route {
            Route::Path(route) => {
                let pattern = crate::trigger::router::RoutePattern::parse(route)
                    .map_err(|e| ManifestError::Invalid(format!("{field}.{e}")))?;
                // Spin lets the last of two equal routes win and logs it; a duplicate is always a
                // mistake, so this host refuses it.
                if routes.contains(&pattern) {
                    return Err(ManifestError::Invalid(format!(
                        "{field}.route `{route}` is declared twice"
                    )));
                }
                routes.push(pattern);
            }
            Route::Private { private: false } => {
                return Err(ManifestError::Invalid(format!(
                    "{field}.route must be a path or {{ private = true }}, not {{ private = false }}"
                )));
            }
            Route::Private { private: true } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
