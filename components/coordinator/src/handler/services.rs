//! What the coordinator needs from its host: the database, the auth and rate-limit components,
//! a clock and fresh names. The component provides them on Spin's interfaces; tests, fakes.

use crate::sql::Sql;
use protocol::timestamp::iso8601_from_millis;

/// A verified user token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub retry_after_ms: u64,
}

/// A rate charge's outcome and the state to keep for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateVerdict {
    pub decision: RateDecision,
    /// The key's new theoretical arrival time (µs), to store when allowed.
    pub new_tat_us: Option<i64>,
}

/// Everything the coordinator needs from its host.
pub trait Services {
    fn db(&self) -> &dyn Sql;
    fn verify_user(&self, token: &str) -> Result<Identity, String>;
    fn verify_broadcast(&self, token: &str) -> Result<(), String>;
    /// Charges `cost` against `key`, whose state (`stored_tat_us`) the coordinator keeps in its
    /// database.
    fn rate_limit(
        &self,
        key: &str,
        stored_tat_us: Option<i64>,
        cost: u32,
    ) -> Result<RateVerdict, String>;
    fn now_ms(&self) -> i64;
    /// A fresh, unguessable name (a new stream's epoch, a connection id when the gateway gave
    /// none).
    fn new_epoch(&self) -> String;

    /// Now, as the frames' `timestamp` says it.
    fn timestamp(&self) -> String {
        iso8601_from_millis(self.now_ms())
    }
}
