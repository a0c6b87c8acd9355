//! Deny-all adapters for the `deny-…` imports that composition gives a dependency for each
//! capability it does not inherit (see `compose`). Every function answers its interface's own
//! refusal (`access-denied`, `HTTP-request-denied`, or `other("access denied …")`), so a dependency
//! sees the same typed errors as a component without the grant, never a trap.

use crate::app::compose::DENY_PREFIX;
use crate::capabilities::refusals::{self as refuse, Refusal};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// Links every `deny-…` import of `component` into `linker`.
pub fn link_denied_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> anyhow::Result<()> {
    refuse::link_imports(
        linker,
        engine,
        component,
        |name| name.starts_with(DENY_PREFIX),
        Refusal::Denied,
        None,
    )
}
