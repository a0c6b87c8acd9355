//! `components/coordinator`: the replacement for the original service's per-user Durable Object.
//! The storage rules live in [`store`], written against the small [`sql::Sql`] trait so they run
//! natively in tests (on rusqlite) and in the component (on Spin's SQLite interface);
//! [`grip_sig`] decides whether a request really comes from the gateway.

pub mod config;
pub mod grip_sig;
pub mod handler;
pub mod sql;
pub mod store;

#[cfg(test)]
mod test_db;

#[cfg(target_arch = "wasm32")]
mod component;
