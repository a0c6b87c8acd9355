//! mirubato-sync's wire protocol (`shared/protocol.md`): pure Rust with no I/O, so the same code
//! runs natively in the host and tests and inside the wasm components.

pub mod timestamp;
