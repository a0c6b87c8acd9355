//! What a component can reach. Each capability is a module of the same shape, the shape of
//! [`Capability`]: per-app state configured once at startup, a grant per component resolved at
//! startup, per-instance state built from the grant for every request, and its interface's host
//! implementation linked once. `instance` assembles them into the store data; adding a capability
//! is a module here and one field in each of `instance`'s three structs.

pub mod bindings;
pub mod blocking;
pub mod instance;
pub mod key_value;
pub mod open_files;
pub mod outbound;
pub mod pool;
pub mod refusals;
pub mod sqlite;
pub mod variables;

use crate::app::manifest::{Component, Manifest};
use crate::app::runtime_config::RuntimeConfig;
use crate::durability::held_response::PendingSync;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Linker;

/// What every capability may read while the app is configured.
pub struct AppContext<'a> {
    pub manifest: &'a Manifest,
    pub runtime_config: &'a RuntimeConfig,
    /// Where the `default` stores live (Spin's `.spin/`).
    pub state_dir: &'a Path,
    pub sqlite_mode: sqlite::SqliteMode,
    /// Resolved before any capability is configured: other capabilities' settings (allowed
    /// outbound hosts) may be templates over them.
    pub variables: &'a Arc<variables::AppState>,
    pub local_endpoint: &'a outbound::http::LocalEndpointSlot,
    /// The files the process's stores have open, which a reloaded app's stores share.
    pub open_files: &'a open_files::OpenFiles,
}

/// What one request's capabilities share.
pub struct RequestScope {
    /// The commits this request made: its response, and any outbound request it sends after
    /// them, wait until they are on disk.
    pub pending: Arc<PendingSync>,
}

pub trait Capability {
    /// State for the whole app, configured once.
    type AppState: Send + Sync + 'static;
    /// What one component may use, resolved once.
    type Grant: Send + Sync + 'static;
    /// State for one request's instance; cheap to build.
    type InstanceState: Send + 'static;

    /// Configures the app's state; every mistake stops startup here.
    fn configure(context: &AppContext) -> anyhow::Result<Arc<Self::AppState>>;
    /// Resolves what component `id` may use.
    fn grant(
        app: &Arc<Self::AppState>,
        id: &str,
        component: &Component,
        context: &AppContext,
    ) -> anyhow::Result<Self::Grant>;
    /// The state of one instance of a component holding `grant`.
    fn instance(grant: &Self::Grant, request: &RequestScope) -> Self::InstanceState;
    /// Links the capability's host implementation.
    fn add_to_linker(linker: &mut Linker<instance::InstanceState>) -> wasmtime::Result<()>;
}

/// The first label some component lists in `labels_of` that `has` does not know, with the
/// component's id: a label must exist at startup (as Spin checks), or every open of it would fail
/// at run time.
pub fn unconfigured_label<'a>(
    manifest: &'a Manifest,
    labels_of: fn(&Component) -> &[String],
    has: impl Fn(&str) -> bool,
) -> Option<(&'a str, &'a str)> {
    manifest.components.iter().find_map(|(id, component)| {
        let label = labels_of(component).iter().find(|label| !has(label))?;
        Some((id.as_str(), label.as_str()))
    })
}
