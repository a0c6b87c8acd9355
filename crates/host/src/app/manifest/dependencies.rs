//! `[component.X.dependencies]`: the forms Spin accepts and the rules its loader and composer
//! enforce, checked here at startup so that what Spin refuses, sync-host refuses too — with a
//! message that says what to change.
//!
//! Forms: `{ path = "…" }` (Spin 3.6 and 4) and `{ component = "…" }`; `export` picks the
//! dependency's export. Inheritance: component-level `dependencies_inherit_configuration = true`
//! (Spin 3.6 and 4), or per-dependency `inherit_configuration` (Spin 4 only); not both.
//! Registry (`version`, `registry`, `package`) and `url` dependencies are not implemented.

use super::spin_id::{IdError, IdRule};
use super::{Component, ManifestError, check_id};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Which of the importing component's grants a dependency may use (Spin's configuration keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    Variables,
    KeyValueStores,
    SqliteDatabases,
    AllowedOutboundHosts,
    Environment,
    /// Accepted as Spin names them; sync-host grants no AI models or files to inherit.
    AiModels,
    Files,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Capability::Variables,
        Capability::KeyValueStores,
        Capability::SqliteDatabases,
        Capability::AllowedOutboundHosts,
        Capability::Environment,
        Capability::AiModels,
        Capability::Files,
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
            Capability::Environment => "environment",
            Capability::AiModels => "ai_models",
            Capability::Files => "files",
        }
    }
}

/// A dependency key: which imports it satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyName {
    /// `foo-bar`: the import of exactly that plain name.
    Plain(String),
    /// `ns:pkg`, `ns:pkg/interface`, each optionally `@version`: every import it names.
    Package {
        package: String,
        interface: Option<String>,
        version: Option<semver::Version>,
    },
}

/// Why a dependency key is not a name Spin reads (see `spin_id` for the identifier rule).
#[derive(Debug, thiserror::Error)]
pub enum DependencyNameError {
    #[error("the plain name is not kebab-case: {0}")]
    Plain(IdError),
    #[error("no `:` between the WIT namespace and package")]
    NoNamespace,
    #[error("the WIT namespace `{name}` is not lower kebab-case: {problem}")]
    Namespace { name: String, problem: IdError },
    #[error("the WIT package `{name}` is not lower kebab-case: {problem}")]
    Package { name: String, problem: IdError },
    #[error("the interface `{name}` is not kebab-case: {problem}")]
    Interface { name: String, problem: IdError },
    #[error("the version `{version}` is not semver: {problem}")]
    Version {
        version: String,
        problem: semver::Error,
    },
}

impl DependencyName {
    /// Reads a key as Spin does: without `:` or `/` it is a plain name, else a package name whose
    /// namespace and package follow WIT's label rule and whose interface is a kebab id.
    pub fn parse(key: &str) -> Result<Self, DependencyNameError> {
        if !key.contains([':', '/']) {
            IdRule::KEBAB
                .check(key)
                .map_err(DependencyNameError::Plain)?;
            return Ok(Self::Plain(key.to_string()));
        }
        let (name, version) = match key.split_once('@') {
            Some((name, version)) => {
                let parsed = semver::Version::parse(version).map_err(|problem| {
                    DependencyNameError::Version {
                        version: version.to_string(),
                        problem,
                    }
                })?;
                (name, Some(parsed))
            }
            None => (key, None),
        };
        let (package, interface) = match name.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (name, None),
        };
        let (namespace, package_name) = package
            .split_once(':')
            .ok_or(DependencyNameError::NoNamespace)?;
        IdRule::LOWER_KEBAB
            .check(namespace)
            .map_err(|problem| DependencyNameError::Namespace {
                name: namespace.to_string(),
                problem,
            })?;
        IdRule::LOWER_KEBAB.check(package_name).map_err(|problem| {
            DependencyNameError::Package {
                name: package_name.to_string(),
                problem,
            }
        })?;
        if let Some(interface) = interface {
            IdRule::KEBAB
                .check(interface)
                .map_err(|problem| DependencyNameError::Interface {
                    name: interface.to_string(),
                    problem,
                })?;
        }
        Ok(Self::Package {
            package: package.to_string(),
            interface: interface.map(str::to_string),
            version,
        })
    }

    /// Whether this key satisfies `import` (a component import name), by Spin's rules: a plain name
    /// matches only itself; a package name matches its package's imports, narrowed by interface
    /// and version when the key gives them.
    pub fn matches(&self, import: &str) -> bool {
        match self {
            DependencyName::Plain(name) => name == import,
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                let Some((import_package, rest)) = import.split_once('/') else {
                    return false;
                };
                let (import_interface, import_version) = match rest.split_once('@') {
                    Some((interface, version)) => (interface, semver::Version::parse(version).ok()),
                    None => (rest, None),
                };
                import_package == package
                    && interface.as_deref().is_none_or(|i| i == import_interface)
                    && version
                        .as_ref()
                        .is_none_or(|v| import_version.as_ref() == Some(v))
            }
        }
    }

    /// The name Spin's composer registers the dependency under: its WIT package without version
    /// (or the plain name). Two dependencies under one name cannot be composed together.
    pub fn registered_as(&self) -> &str {
        match self {
            DependencyName::Plain(name) => name,
            DependencyName::Package { package, .. } => package,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dependency {
    /// The key as written, e.g. `mirubato:auth/auth@0.1.0`.
    pub key: String,
    pub name: DependencyName,
    pub source: DependencySource,
    /// The dependency's export to use; defaults to the import's own name.
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

const SUPPORTED_FORMS: &str = "use { path = \"…\" } (or { component = \"…\" })";

/// Parses every dependency of component `id`, enforcing the per-component rules.
pub(super) fn parse_all(id: &str, component: &Component) -> Result<Vec<Dependency>, ManifestError> {
    let component_level = component.dependencies_inherit_configuration;
    let inherit_all = component_level.unwrap_or(false);
    let mut parsed = Vec::new();
    for (key, value) in &component.dependencies {
        let field = format!("component.{id}.dependencies.\"{key}\"");
        let (dependency, per_dependency_inherit) = parse_one(&field, key, value, inherit_all)?;
        if per_dependency_inherit && component_level.is_some() {
            return Err(ManifestError::Invalid(format!(
                "{field}: component `{id}` sets dependencies_inherit_configuration and this dependency sets inherit_configuration; Spin refuses the two together. Keep only dependencies_inherit_configuration = true (the form Spin 3.6 and 4 both accept)"
            )));
        }
        parsed.push(dependency);
    }
    ensure_one_dependency_per_package(id, &parsed)?;
    Ok(parsed)
}

fn parse_one(
    field: &str,
    key: &str,
    value: &toml::Value,
    inherit_all: bool,
) -> Result<(Dependency, bool), ManifestError> {
    let name = DependencyName::parse(key).map_err(|problem| ManifestError::DependencyName {
        field: field.to_string(),
        problem,
    })?;
    let table = value.as_table().ok_or_else(|| ManifestError::Unsupported {
        field: field.to_string(),
        why: "registry version requirements are not implemented; use { path = \"…\" }",
    })?;
    let mut source = None;
    let mut export = None;
    let mut inherits: BTreeSet<Capability> = if inherit_all {
        Capability::ALL.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut per_dependency_inherit = false;
    for (entry, value) in table {
        let string = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ManifestError::Invalid(format!("{field}.{entry} must be a string")))
        };
        match entry.as_str() {
            "path" => source = Some(DependencySource::Path(PathBuf::from(string()?))),
            "component" => {
                let id = string()?;
                check_id(&format!("{field}.component"), &id, IdRule::KEBAB)?;
                source = Some(DependencySource::AppComponent(id));
            }
            "export" => export = Some(string()?),
            "inherit_configuration" => {
                inherits = parse_inherit(field, value)?;
                per_dependency_inherit = true;
            }
            "version" | "registry" | "package" | "url" | "digest" => {
                return Err(ManifestError::Unsupported {
                    field: format!("{field}.{entry}"),
                    why: "registry and URL dependencies are not implemented; use { path = \"…\" }",
                });
            }
            other => {
                return Err(ManifestError::Invalid(format!(
                    "{field}: unknown field `{other}`; {SUPPORTED_FORMS}"
                )));
            }
        }
    }
    let source = source.ok_or_else(|| {
        ManifestError::Invalid(format!("{field} names no source; {SUPPORTED_FORMS}"))
    })?;
    refuse_export_of_a_package(field, key, &name, export.as_deref())?;
    Ok((
        Dependency {
            key: key.to_string(),
            name,
            source,
            export,
            inherits,
        },
        per_dependency_inherit,
    ))
}

/// A key naming a whole package takes no `export`, as Spin refuses it.
fn refuse_export_of_a_package(
    field: &str,
    key: &str,
    name: &DependencyName,
    export: Option<&str>,
) -> Result<(), ManifestError> {
    match (name, export) {
        (
            DependencyName::Package {
                interface: None, ..
            },
            Some(export),
        ) => Err(ManifestError::Invalid(format!(
            "{field}: a key naming a whole package cannot take export = \"{export}\" (Spin refuses it); name the interface in the key instead, e.g. `{key}/<interface>`"
        ))),
        _ => Ok(()),
    }
}

fn parse_inherit(field: &str, value: &toml::Value) -> Result<BTreeSet<Capability>, ManifestError> {
    let known = Capability::ALL.map(Capability::config_key).join(", ");
    match value {
        toml::Value::Boolean(true) => Ok(Capability::ALL.into_iter().collect()),
        toml::Value::Boolean(false) => Ok(BTreeSet::new()),
        toml::Value::Array(keys) => keys
            .iter()
            .map(|key| {
                key.as_str()
                    .and_then(Capability::from_config_key)
                    .ok_or_else(|| {
                        ManifestError::Invalid(format!(
                            "{field}.inherit_configuration: `{key}` is not one of {known}"
                        ))
                    })
            })
            .collect(),
        _ => Err(ManifestError::Invalid(format!(
            "{field}.inherit_configuration must be true, false or a list of configuration keys"
        ))),
    }
}

/// Spin's composer registers each dependency under its WIT package name (without version), and
/// the importing component under its own id; a second registration of a name fails ("package
/// `…` has already been registered in the graph").
fn ensure_one_dependency_per_package(
    id: &str,
    dependencies: &[Dependency],
) -> Result<(), ManifestError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for dependency in dependencies {
        let registered = dependency.name.registered_as();
        if registered == id {
            return Err(ManifestError::Invalid(format!(
                "component.{id}.dependencies.\"{}\": the dependency's name is the component's own id, which Spin's composer already uses; rename the component",
                dependency.key
            )));
        }
        if let Some(first) = seen.insert(registered, &dependency.key) {
            return Err(ManifestError::Invalid(format!(
                "component `{id}`: dependencies \"{first}\" and \"{}\" both come from WIT package `{registered}`, and Spin composes each dependency as a package of that name, so it refuses the second (\"package `{registered}` has already been registered\"). Move each exported interface into a WIT package of its own",
                dependency.key
            )));
        }
    }
    Ok(())
}

/// Spin's rule for `{ component = … }`: "Dependencies may not have their own resources or
/// permissions"; a component used as a dependency reaches stores, variables and hosts only through
/// its importer's inheritance.
pub(super) fn validate_component_references(
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
                    dependency.key
                )));
            };
            let own = [
                ("variables", !dep.variables.is_empty()),
                ("environment", !dep.environment.is_empty()),
                ("key_value_stores", !dep.key_value_stores.is_empty()),
                ("sqlite_databases", !dep.sqlite_databases.is_empty()),
                (
                    "allowed_outbound_hosts",
                    !dep.allowed_outbound_hosts.is_empty(),
                ),
                ("dependencies", !dep.dependencies.is_empty()),
            ];
            let declared: Vec<&str> = own
                .iter()
                .filter(|(_, present)| *present)
                .map(|(field, _)| *field)
                .collect();
            if !declared.is_empty() {
                return Err(ManifestError::Invalid(format!(
                    "component `{id}` is a dependency of `{importer}` but declares {}: dependencies may not have their own resources or permissions. Declare them on `{importer}` and set dependencies_inherit_configuration = true there",
                    declared.join(", ")
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
