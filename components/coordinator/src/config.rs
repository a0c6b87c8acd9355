//! The coordinator's limits. Its settings (variables) are parsed in [`protocol::settings`], where
//! the health component checks the same rules.

pub use protocol::settings::{Config, ConfigError};

/// Connections one user may hold; the oldest is closed (4002) when a new one would exceed it.
pub const MAX_CONNECTIONS_PER_USER: usize = 10;
/// Seconds before a token's `exp` when `AUTH_EXPIRING` is sent.
pub const EXPIRY_WARNING_SECONDS: i64 = 60;
/// Seconds after `exp` an open socket is still tolerated before close 4001.
pub const EXPIRY_GRACE_SECONDS: i64 = 60;
/// The shortest keep-alive interval a gateway honours (Pushpin's minimum).
pub const KEEP_ALIVE_MIN_SECONDS: u64 = 20;
/// The longest: an idle connection costs the app one request per this many seconds, which is also
/// how its registry entry stays fresh.
pub const KEEP_ALIVE_MAX_SECONDS: u64 = 600;
/// How long after OPEN a gateway's subscriptions may still be on their way (Pushpin registers them
/// asynchronously; one round trip was enough when measured): until then every request also
/// replays what was committed since the previous replay.
pub const SUBSCRIPTION_SETTLE_MS: i64 = 1_000;
/// Frame errors or rate-limit refusals on one connection before it is closed with 1008.
pub const MAX_VIOLATIONS: u32 = 20;
/// How long an idempotency key is remembered.
pub const EVENT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Catch-up rows that cost one more unit of the sender's message rate: a catch-up of 1,500
/// entities costs 16 messages, so repeated full catch-ups are limited like a flood of frames.
pub const CATCH_UP_ROWS_PER_COST: usize = 100;
