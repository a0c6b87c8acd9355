//! The Spin 2.0 interfaces this host does not implement — outbound Redis, MQTT, PostgreSQL, MySQL
//! and LLM inferencing. A component that imports them (spin-sdk links them when they are used)
//! still instantiates here. Each call first gets the refusal Spin would answer before doing
//! anything (an address outside `allowed_outbound_hosts`, a model outside `ai_models`: see
//! `permission`), and otherwise the interface's own error (`connection-failed`, `runtime-error` or
//! `other`) saying that sync-host does not provide it, instead of the component failing to start.

mod outbound_url;
mod permission;
mod postgres_hosts;

pub use permission::OutboundGrant;

use crate::capabilities::refusals::{self as refuse, Refusal};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The interfaces, with the exact names and versions spin-sdk 5.x imports.
const UNAVAILABLE: &[&str] = &[
    permission::REDIS,
    permission::MQTT,
    permission::POSTGRES,
    permission::MYSQL,
    // Types only (shared by postgres and mysql); linked as an empty interface.
    "fermyon:spin/rdbms-types@2.0.0",
    permission::LLM,
];

/// Links every import of `component` that is one of [`UNAVAILABLE`].
pub fn link_unavailable_imports<T: OutboundGrant + 'static>(
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
        Some(permission::refusal_before_use::<T>),
    )
}
