//! mirubato-sync's wire protocol (`docs/protocol.md`): pure Rust with no I/O, so the same code
//! runs natively in the host and tests and inside the wasm components.
//!
//! - [`client_frame`]: frames from clients, validated, with the compat error strings.
//! - [`server_frame`]: frames to clients.
//! - [`close`]: close codes and reasons.
//! - [`error_code`]: the ext `ERROR.code` values.
//! - [`catch_up`]: a user's changed entities as catch-up frames, bounded by count and bytes.
//! - [`exact_integers`]: integer literals JSON parsing would round.
//! - [`environment`]: local / staging / production and the defaults each implies.
//! - [`entity`]: entity types, ids and `updatedAt` rules.
//! - [`grip`] and [`ws_events`]: the GRIP crate (Pushpin's protocol, no application in it),
//!   re-exported for the coordinator.
//! - [`grip_key`]: whether a `grip_key` may be trusted in an environment.
//! - [`jwt_secret`]: whether a `jwt_secret` may be trusted in an environment.
//! - [`settings`]: the coordinator's variables, parsed and checked.
//! - [`timestamp`]: ISO-8601 formatting and parsing.
//! - [`app_metrics`]: what a request did that only the app knows, as metrics in a response header.

pub mod app_metrics;
pub mod catch_up;
pub mod client_frame;
pub mod close;
pub mod entity;
pub mod environment;
pub mod error_code;
pub mod exact_integers;
pub use ::grip;
pub mod grip_key;
pub mod jwt_secret;
pub mod server_frame;
pub mod settings;
pub mod timestamp;
pub use ::grip::ws_events;
