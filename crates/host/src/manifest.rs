//! spin.toml (manifest version 2): the subset of Spin's documented schema this host runs.
//!
//! Every field Spin does not define is refused by name; fields Spin defines but this host does not
//! implement (files, AI models, registry dependencies, …) are refused by name too, so an app never
//! silently runs with less than its manifest asks for.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
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

/// Which of the importing component's grants a dependency may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    Variables,
    KeyValueStores,
    SqliteDatabases,
    AllowedOutboundHosts,
}

impl Capability {
    const ALL: [Capability; 4] = [
        Capability::Variables,
        Capability::KeyValueStores,
        Capability::SqliteDatabases,
        Capability::AllowedOutboundHosts,
    ];

    fn from_config_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.config_key() == key)
    }

    pub fn config_key(self) -> &'static str {
        match self {
            Capability::Variables => "variables",
            Capability::KeyValueStores => "key_value_stores",
            Capability::SqliteDatabases => "sqlite_databases",
            Capability::AllowedOutboundHosts => "allowed_outbound_hosts",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dependency {
    /// The import it satisfies, e.g. `mirubato:sync/auth@0.1.0`.
    pub import: String,
    pub source: DependencySource,
    /// The dependency's export to use; defaults to the import name.
    pub export: Option<String>,
    pub inherits: BTreeSet<Capability>,
}

#[derive(Debug, Clone)]
pub enum DependencySource {
    /// A wasm file, relative to the manifest directory.
    Path(PathBuf),
    /// Another component of this manifest; its binary is composed in.
    AppComponent(String),
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
        validate_dependency_components(&components)?;
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

fn is_lower_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

fn is_label(name: &str) -> bool {
    let kebab = name.split('-').all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    kebab || is_lower_snake(name)
}

fn validate_variable(name: &str, decl: &VariableDecl) -> Result<(), ManifestError> {
    if !is_lower_snake(name) {
        return Err(ManifestError::Invalid(format!(
            "variable name `{name}` must be lower_snake_case"
        )));
    }
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
        if !is_lower_snake(name) {
            return Err(ManifestError::Invalid(format!(
                "{}: `{name}` must be lower_snake_case",
                field("variables")
            )));
        }
        for reference in crate::variables::template_references(template)
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
        if let Some(bad) = labels.iter().find(|l| !is_label(l)) {
            return Err(ManifestError::Invalid(format!(
                "{}: label `{bad}` must be kebab-case or snake_case",
                field(list)
            )));
        }
        if let Some(unknown) = labels.iter().find(|l| l.as_str() != "default") {
            return Err(ManifestError::Invalid(format!(
                "{}: `{unknown}` is not configured; sync-host provides only the `default` label",
                field(list)
            )));
        }
    }
    let inherit_all = component
        .dependencies_inherit_configuration
        .unwrap_or(false);
    let mut resolved = Vec::new();
    for (import, value) in &component.dependencies {
        resolved.push(parse_dependency(id, import, value, inherit_all)?);
    }
    component.resolved_dependencies = resolved;
    Ok(())
}

fn parse_dependency(
    component: &str,
    import: &str,
    value: &toml::Value,
    inherit_all: bool,
) -> Result<Dependency, ManifestError> {
    let field = format!("component.{component}.dependencies.\"{import}\"");
    let table = value.as_table().ok_or_else(|| ManifestError::Unsupported {
        field: field.clone(),
        why: "registry version requirements are not supported; use { path = \"…\" } or { component = \"…\" }",
    })?;
    if !import.contains(':') || !import.contains('/') {
        return Err(ManifestError::Unsupported {
            field,
            why: "only interface names (`ns:pkg/interface@version`) are supported as dependency keys",
        });
    }
    let mut source = None;
    let mut export = None;
    let mut inherits: BTreeSet<Capability> = if inherit_all {
        Capability::ALL.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    for (key, value) in table {
        let string = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ManifestError::Invalid(format!("{field}.{key} must be a string")))
        };
        match key.as_str() {
            "path" => source = Some(DependencySource::Path(PathBuf::from(string()?))),
            "component" => source = Some(DependencySource::AppComponent(string()?)),
            "export" => export = Some(string()?),
            "inherit_configuration" => inherits = parse_inherit(&field, value)?,
            "version" | "registry" | "package" | "url" | "digest" => {
                return Err(ManifestError::Unsupported {
                    field: format!("{field}.{key}"),
                    why: "registry and URL dependencies are not supported; use { path = \"…\" } or { component = \"…\" }",
                });
            }
            other => {
                return Err(ManifestError::Invalid(format!(
                    "{field}: unknown field `{other}`"
                )));
            }
        }
    }
    let source = source
        .ok_or_else(|| ManifestError::Invalid(format!("{field} needs `path` or `component`")))?;
    Ok(Dependency {
        import: import.to_string(),
        source,
        export,
        inherits,
    })
}

fn parse_inherit(field: &str, value: &toml::Value) -> Result<BTreeSet<Capability>, ManifestError> {
    match value {
        toml::Value::Boolean(true) => Ok(Capability::ALL.into_iter().collect()),
        toml::Value::Boolean(false) => Ok(BTreeSet::new()),
        toml::Value::Array(keys) => keys
            .iter()
            .map(|key| {
                key.as_str().and_then(Capability::from_config_key).ok_or_else(|| {
                    ManifestError::Invalid(format!(
                        "{field}.inherit_configuration: `{key}` is not one of variables, key_value_stores, sqlite_databases, allowed_outbound_hosts"
                    ))
                })
            })
            .collect(),
        _ => Err(ManifestError::Invalid(format!(
            "{field}.inherit_configuration must be true, false or a list of configuration keys"
        ))),
    }
}

fn validate_triggers(
    triggers: &[HttpTrigger],
    components: &BTreeMap<String, Component>,
) -> Result<(), ManifestError> {
    let mut routes = BTreeSet::new();
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
        if !components.contains_key(component) {
            return Err(ManifestError::Invalid(format!(
                "{field}.component: no component `{component}` in the manifest"
            )));
        }
        if let Route::Path(route) = &trigger.route {
            if !route.starts_with('/') {
                return Err(ManifestError::Invalid(format!(
                    "{field}.route `{route}` must start with `/`"
                )));
            }
            if !routes.insert(crate::router::normalize(route)) {
                return Err(ManifestError::Invalid(format!(
                    "{field}.route `{route}` is declared twice"
                )));
            }
        }
    }
    Ok(())
}

/// Spin's rule: "Dependencies may not have their own resources or permissions". A component used as
/// a dependency reaches stores, variables and hosts only through its importer's inheritance.
fn validate_dependency_components(
    components: &BTreeMap<String, Component>,
) -> Result<(), ManifestError> {
    for (importer, component) in components {
        for dependency in &component.resolved_dependencies {
            let DependencySource::AppComponent(id) = &dependency.source else {
                continue;
            };
            let Some(dep) = components.get(id) else {
                return Err(ManifestError::Invalid(format!(
                    "component.{importer}.dependencies.\"{}\": no component `{id}` in the manifest",
                    dependency.import
                )));
            };
            if id == importer {
                return Err(ManifestError::Invalid(format!(
                    "component `{importer}` cannot depend on itself"
                )));
            }
            let own = [
                ("variables", !dep.variables.is_empty()),
                ("environment", !dep.environment.is_empty()),
                ("key_value_stores", !dep.key_value_stores.is_empty()),
                ("sqlite_databases", !dep.sqlite_databases.is_empty()),
                (
                    "allowed_outbound_hosts",
                    !dep.allowed_outbound_hosts.is_empty(),
                ),
                ("dependencies", !dep.resolved_dependencies.is_empty()),
            ];
            if let Some((field, _)) = own.iter().find(|(_, present)| *present) {
                return Err(ManifestError::Invalid(format!(
                    "component `{id}` is a dependency of `{importer}` but declares `{field}`: dependencies may not have their own resources or permissions; declare them on `{importer}` and set inherit_configuration"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
variables = { g = "{{ greeting }}!" }
key_value_stores = ["default"]
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, PathBuf::from("."))
    }

    #[test]
    fn minimal_manifest_parses() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.http_triggers.len(), 1);
        assert_eq!(manifest.components["a"].source_path(), "a.wasm");
        assert!(manifest.variables["token"].required);
    }

    #[test]
    fn unknown_field_is_named() {
        let text = MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\nsourse = 1");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("sourse"), "{error}");
    }

    #[test]
    fn unsupported_spin_field_is_named() {
        let text = MINIMAL.replace(
            "source = \"a.wasm\"",
            "source = \"a.wasm\"\nfiles = [\"x\"]",
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("component.a.files"), "{error}");
    }

    #[test]
    fn other_trigger_types_are_refused() {
        let text = format!("{MINIMAL}\n[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\"\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("trigger.redis"), "{error}");
    }

    #[test]
    fn undeclared_variable_reference_is_refused() {
        let text = MINIMAL.replace("{{ greeting }}", "{{ greting }}");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("greting"), "{error}");
    }

    #[test]
    fn dependency_with_own_resources_is_refused() {
        let text = format!(
            "{MINIMAL}\n[component.a.dependencies]\n\"x:y/z@0.1.0\" = {{ component = \"b\" }}\n[component.b]\nsource = \"b.wasm\"\nkey_value_stores = [\"default\"]\n"
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.contains("may not have their own resources"),
            "{error}"
        );
    }

    #[test]
    fn inherit_configuration_forms() {
        let text = format!(
            "{MINIMAL}\n[component.a.dependencies]\n\"x:y/z@0.1.0\" = {{ path = \"z.wasm\", inherit_configuration = [\"variables\"] }}\n\"x:y/w@0.1.0\" = {{ path = \"w.wasm\", inherit_configuration = true }}\n\"x:y/v@0.1.0\" = {{ path = \"v.wasm\" }}\n"
        );
        let manifest = parse(&text).unwrap();
        let deps = &manifest.components["a"].resolved_dependencies;
        let by_import = |name: &str| {
            deps.iter()
                .find(|d| d.import == name)
                .unwrap()
                .inherits
                .clone()
        };
        assert_eq!(
            by_import("x:y/z@0.1.0"),
            BTreeSet::from([Capability::Variables])
        );
        assert_eq!(by_import("x:y/w@0.1.0").len(), 4);
        assert!(by_import("x:y/v@0.1.0").is_empty());
    }

    #[test]
    fn unknown_inherit_key_is_named() {
        let text = format!(
            "{MINIMAL}\n[component.a.dependencies]\n\"x:y/z@0.1.0\" = {{ path = \"z.wasm\", inherit_configuration = [\"varibles\"] }}\n"
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("varibles"), "{error}");
    }

    #[test]
    fn store_labels_other_than_default_are_refused() {
        let text = MINIMAL.replace(
            "key_value_stores = [\"default\"]",
            "key_value_stores = [\"cache\"]",
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("`cache` is not configured"), "{error}");
    }
}
