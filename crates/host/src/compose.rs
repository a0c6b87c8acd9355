//! Component dependencies, composed at load time as Spin does: each dependency is instantiated
//! inside the importing component with `wac-graph`, and the result is one component.
//!
//! A dependency reaches Spin capabilities only through inheritance: for each capability it does not
//! inherit, its import is rewired to a separate `deny-…` import that the host links to functions
//! answering `access-denied` (see `deny.rs`). Inherited capabilities merge with the importer's own
//! imports, so the dependency works under exactly the importer's grants.

use crate::manifest::Capability;
use std::collections::{BTreeSet, HashMap};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, NodeId};

/// Prefix of the imports the host links to deny-all functions.
pub const DENY_PREFIX: &str = "deny-";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("dependency `{import}` matches no import of the component (it imports: {imports})")]
    NoSuchImport { import: String, imports: String },
    #[error("dependency `{import}`: the dependency exports no `{export}` (it exports: {exports})")]
    NoSuchExport {
        import: String,
        export: String,
        exports: String,
    },
    #[error("dependency `{import}`: {source:#}")]
    Dependency {
        import: String,
        source: anyhow::Error,
    },
    #[error("composition failed: {0:#}")]
    Graph(anyhow::Error),
}

/// One dependency, ready to compose.
pub struct DependencyWasm {
    pub import: String,
    pub export: Option<String>,
    pub inherits: BTreeSet<Capability>,
    pub bytes: Vec<u8>,
}

/// Which capability a Spin/WASI import belongs to, by interface name.
fn capability_of(import: &str) -> Option<(Capability, &'static str)> {
    let base = import.split('@').next().unwrap_or(import);
    match base {
        "fermyon:spin/key-value" => Some((Capability::KeyValueStores, "key-value")),
        "fermyon:spin/sqlite" => Some((Capability::SqliteDatabases, "sqlite")),
        "fermyon:spin/variables" => Some((Capability::Variables, "variables")),
        "wasi:http/outgoing-handler" => {
            Some((Capability::AllowedOutboundHosts, "outgoing-handler"))
        }
        _ => None,
    }
}

fn graph_error(error: impl Into<anyhow::Error>) -> ComposeError {
    ComposeError::Graph(error.into())
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
    let mut deny_imports: HashMap<String, NodeId> = HashMap::new();

    for (index, dependency) in dependencies.into_iter().enumerate() {
        let import = dependency.import.clone();
        if !main_imports.contains(&import) {
            return Err(ComposeError::NoSuchImport {
                import,
                imports: main_imports.join(", "),
            });
        }
        let dep_error = |source: anyhow::Error| ComposeError::Dependency {
            import: import.clone(),
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
        let export = dependency.export.clone().unwrap_or_else(|| import.clone());
        if !exports.contains(&export) {
            return Err(ComposeError::NoSuchExport {
                import,
                export,
                exports: exports.join(", "),
            });
        }
        let instance = graph.instantiate(package_id);
        for (name, kind) in dep_imports {
            let Some((capability, short)) = capability_of(&name) else {
                continue;
            };
            if dependency.inherits.contains(&capability) {
                continue;
            }
            let node = match deny_imports.get(&name) {
                Some(node) => *node,
                None => {
                    let deny_name = format!("{DENY_PREFIX}{short}-n{}", deny_imports.len());
                    let node = graph
                        .import(deny_name, kind)
                        .map_err(|e| dep_error(e.into()))?;
                    deny_imports.insert(name.clone(), node);
                    node
                }
            };
            graph
                .set_instantiation_argument(instance, &name, node)
                .map_err(|e| dep_error(e.into()))?;
        }
        let alias = graph
            .alias_instance_export(instance, &export)
            .map_err(|e| dep_error(e.into()))?;
        graph
            .set_instantiation_argument(main_instance, &import, alias)
            .map_err(|e| dep_error(e.into()))?;
    }

    for name in main_exports {
        let alias = graph
            .alias_instance_export(main_instance, &name)
            .map_err(graph_error)?;
        graph.export(alias, &name).map_err(graph_error)?;
    }
    graph.encode(EncodeOptions::default()).map_err(graph_error)
}
