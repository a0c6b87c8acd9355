//! What a component can reach: one module per capability, each the same shape.

pub mod bindings;
pub mod blocking;
pub mod instance;
pub mod key_value;
pub mod outbound;
pub mod refusals;
pub mod sqlite;
pub mod variables;
