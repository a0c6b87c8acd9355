//! The Spin 2.0 interfaces this host does not implement — outbound Redis, MQTT, PostgreSQL, MySQL
//! and LLM inferencing. A component that imports them (spin-sdk links them when they are used)
//! still instantiates here, and each call answers the interface's own error (`connection-failed`,
//! `runtime-error` or `other`) saying that sync-host does not provide it, instead of the component
//! failing to start.

use crate::refuse::{self, Refusal};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The interfaces, with the exact names and versions spin-sdk 5.x imports.
const UNAVAILABLE: &[&str] = &[
    "fermyon:spin/redis@2.0.0",
    "fermyon:spin/mqtt@2.0.0",
    "fermyon:spin/postgres@2.0.0",
    "fermyon:spin/mysql@2.0.0",
    // Types only (shared by postgres and mysql); linked as an empty interface.
    "fermyon:spin/rdbms-types@2.0.0",
    "fermyon:spin/llm@2.0.0",
];

/// Links every import of `component` that is one of [`UNAVAILABLE`].
pub fn link_unavailable_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> anyhow::Result<()> {
    refuse::link_imports(
        linker,
        engine,
        component,
        |name| UNAVAILABLE.contains(&name),
        Refusal::Unavailable,
    )
}
