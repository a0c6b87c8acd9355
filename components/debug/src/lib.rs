//! `/debug`: the operator's page for checking a deployment by hand — `/health`, two "devices"
//! connected with a pasted (or, in `local`, minted) token, every frame in and out, ack and relay
//! latency. It runs the `clients/typescript` package, bundled into `sync-client.js`.
//!
//! Off unless the `debug_page` variable enables it (`rules::Setting`); when off every path here
//! answers 404 exactly as an unknown path does.

pub mod rules;

#[cfg(target_arch = "wasm32")]
mod component;
