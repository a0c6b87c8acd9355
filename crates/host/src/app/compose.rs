//! Component dependencies, composed at load time as Spin does: each dependency is instantiated
//! inside the importing component with `wac-graph`, and the result is one component.
//!
//! The rules are Spin's composer's: each key must match at least one import (a package-level key
//! may match several), no import may be matched by two keys, the dependency must export what the
//! import needs (the import's own name, or `export`) with a compatible type.
//!
//! A dependency reaches Spin capabilities only through inheritance: for each capability it does not
//! inherit, its import is rewired to a separate `deny-…` import that the host links to functions
//! answering the interface's refusal (see `deny.rs`). Inherited capabilities merge with the
//! importer's own imports, so the dependency works under exactly the importer's grants.

use crate::app::manifest::{Capability, DependencyName};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, InstantiationArgumentError, NodeId};

/// Prefix of the imports the host links to deny-all functions.
pub const DENY_PREFIX: &str = "deny-";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "dependency \"{key}\" matches no import of the component (it imports: {imports}); use one of those names as the key, or remove the dependency"
    )]
    NoSuchImport { key: String, imports: String },
    #[error(
        "import `{import}` is satisfied by two dependencies, \"{first}\" and \"{second}\"; keep one"
    )]
    ImportSatisfiedTwice {
        import: String,
        first: String,
        second: String,
    },
    #[error(
        "dependency \"{key}\" exports no `{export}` to satisfy import `{import}` (it exports: {exports}); build it from the same WIT, or name its export with `export = \"…\"`"
    )]
    NoSuchExport {
        key: String,
        import: String,
        export: String,
        exports: String,
    },
    #[error(
        "dependency \"{key}\" exports `{export}` with a type that does not match import `{import}` ({source:#}); build both components from the same WIT version"
    )]
    Incompatible {
        key: String,
        import: String,
        export: String,
        source: anyhow::Error,
    },
    #[error("dependency \"{key}\": {source:#}")]
    Dependency { key: String, source: anyhow::Error },
    #[error("composition failed: {0:#}")]
    Graph(anyhow::Error),
}

/// One dependency, ready to compose.
pub struct DependencyWasm {
    /// The manifest key, for messages.
    pub key: String,
    pub name: DependencyName,
    pub export: Option<String>,
    pub inherits: BTreeSet<Capability>,
    pub bytes: Vec<u8>,
}

/// Which capability a Spin/WASI import belongs to, by interface name, and a short tag for the
/// `deny-…` import that replaces it when the dependency does not inherit that capability.
fn capability_of(import: &str) -> Option<(Capability, &'static str)> {
    let base = import.split('@').next().unwrap_or(import);
    match base {
        "fermyon:spin/key-value" => Some((Capability::KeyValueStores, "key-value")),
        "fermyon:spin/sqlite" => Some((Capability::SqliteDatabases, "sqlite")),
        "fermyon:spin/variables" => Some((Capability::Variables, "variables")),
        "wasi:http/outgoing-handler" => {
            Some((Capability::AllowedOutboundHosts, "outgoing-handler"))
        }
        // Sockets reach exactly the importer's `allowed_outbound_hosts`, as on Spin.
        "wasi:sockets/tcp-create-socket" => {
            Some((Capability::AllowedOutboundHosts, "tcp-create-socket"))
        }
        "wasi:sockets/udp-create-socket" => {
            Some((Capability::AllowedOutboundHosts, "udp-create-socket"))
        }
        "wasi:sockets/ip-name-lookup" => Some((Capability::AllowedOutboundHosts, "ip-name-lookup")),
        _ => None,
    }
}

fn graph_error(error: impl Into<anyhow::Error>) -> ComposeError {
    ComposeError::Graph(error.into())
}

/// Which imports of the main component each dependency satisfies (indexes into `dependencies`).
fn match_imports(
    imports: &[String],
    dependencies: &[DependencyWasm],
) -> Result<BTreeMap<String, usize>, ComposeError> {
    let mut satisfied: BTreeMap<String, usize> = BTreeMap::new();
    for (index, dependency) in dependencies.iter().enumerate() {
        let matched: Vec<&String> = imports
            .iter()
            .filter(|import| dependency.name.matches(import))
            .collect();
        if matched.is_empty() {
            return Err(ComposeError::NoSuchImport {
                key: dependency.key.clone(),
                imports: imports.join(", "),
            });
        }
        for import in matched {
            if let Some(first) = satisfied.insert(import.clone(), index) {
                return Err(ComposeError::ImportSatisfiedTwice {
                    import: import.clone(),
                    first: dependencies[first].key.clone(),
                    second: dependency.key.clone(),
                });
            }
        }
    }
    Ok(satisfied)
}

/// Composes `dependencies` into `main`. Without dependencies, `main` is returned unchanged.
pub fn compose(main: Vec<u8>, dependencies: Vec<DependencyWasm>) -> Result<Vec<u8>, ComposeError> {
    if dependencies.is_empty() {
        return Ok(main);
    }
    let mut graph = CompositionGraph::new();
    let main_package =
        Package::from_bytes("app:main", None, main, graph.types_mut()).map_err(graph_error)?;
    let main_id = graph.register_package(main_package).map_err(graph_error)?;
    let main_world = graph[main_id].ty();
    let main_imports: Vec<String> = graph.types()[main_world].imports.keys().cloned().collect();
    let main_exports: Vec<String> = graph.types()[main_world].exports.keys().cloned().collect();
    let main_instance = graph.instantiate(main_id);
    let satisfied = match_imports(&main_imports, &dependencies)?;
    let mut deny_imports: HashMap<String, NodeId> = HashMap::new();

    for (index, dependency) in dependencies.into_iter().enumerate() {
        let key = dependency.key.clone();
        let dep_error = |source: anyhow::Error| ComposeError::Dependency {
            key: key.clone(),
            source,
        };
        let package = Package::from_bytes(
            &format!("app:dependency{index}"),
            None,
            dependency.bytes,
            graph.types_mut(),
        )
        .map_err(dep_error)?;
        let package_id = graph
            .register_package(package)
            .map_err(|e| dep_error(e.into()))?;
        let world = &graph.types()[graph[package_id].ty()];
        let exports: Vec<String> = world.exports.keys().cloned().collect();
        let dep_imports: Vec<(String, wac_graph::types::ItemKind)> = world
            .imports
            .iter()
            .map(|(name, kind)| (name.clone(), *kind))
            .collect();
        let instance = graph.instantiate(package_id);
        deny_uninherited(
            &mut graph,
            instance,
            dep_imports,
            &dependency.inherits,
            &mut deny_imports,
        )
        .map_err(dep_error)?;
        let imports = satisfied
            .iter()
            .filter(|(_, satisfier)| **satisfier == index)
            .map(|(import, _)| import.as_str());
        for import in imports {
            let export = dependency
                .export
                .clone()
                .unwrap_or_else(|| import.to_string());
            if !exports.contains(&export) {
                return Err(ComposeError::NoSuchExport {
                    key,
                    import: import.to_string(),
                    export,
                    exports: exports.join(", "),
                });
            }
            plug(&mut graph, instance, main_instance, import, export, &key)?;
        }
    }

    for name in main_exports {
        let alias = graph
            .alias_instance_export(main_instance, &name)
            .map_err(graph_error)?;
        graph.export(alias, &name).map_err(graph_error)?;
    }
    graph.encode(EncodeOptions::default()).map_err(graph_error)
}

/// Gives each capability import of a dependency that does not inherit it a `deny-…` import of the
/// composed component (one per distinct interface), which the host links to refusals.
fn deny_uninherited(
    graph: &mut CompositionGraph,
    instance: NodeId,
    imports: Vec<(String, wac_graph::types::ItemKind)>,
    inherits: &BTreeSet<Capability>,
    deny_imports: &mut HashMap<String, NodeId>,
) -> anyhow::Result<()> {
    for (name, kind) in imports {
        let Some((capability, short)) = capability_of(&name) else {
            continue;
        };
        if inherits.contains(&capability) {
            continue;
        }
        let node = match deny_imports.get(&name) {
            Some(node) => *node,
            None => {
                let deny_name = format!("{DENY_PREFIX}{short}-n{}", deny_imports.len());
                let node = graph.import(deny_name, kind)?;
                deny_imports.insert(name.clone(), node);
                node
            }
        };
        graph.set_instantiation_argument(instance, &name, node)?;
    }
    Ok(())
}

/// Satisfies the main component's `import` with the dependency `instance`'s `export`.
fn plug(
    graph: &mut CompositionGraph,
    instance: NodeId,
    main_instance: NodeId,
    import: &str,
    export: String,
    key: &str,
) -> Result<(), ComposeError> {
    let dep_error = |source: anyhow::Error| ComposeError::Dependency {
        key: key.to_string(),
        source,
    };
    let alias = graph
        .alias_instance_export(instance, &export)
        .map_err(|e| dep_error(e.into()))?;
    match graph.set_instantiation_argument(main_instance, import, alias) {
        Ok(()) => Ok(()),
        Err(InstantiationArgumentError::ArgumentTypeMismatch { source, .. }) => {
            Err(ComposeError::Incompatible {
                key: key.to_string(),
                import: import.to_string(),
                export,
                source,
            })
        }
        Err(other) => Err(dep_error(other.into())),
    }
}

#[cfg(test)]
mod tests;
