//! What one request of the app did that only the app knows — rate-limit refusals, catch-up sizes,
//! connections it closed — as metrics for the host, in a response header. A host that counts
//! them (`sync-host`) reads and removes the header; elsewhere (on Spin, behind Pushpin) it is
//! unused.
//!
//! The value is `name=number` entries separated by `;`, e.g. `rate_limit_refusals_total=1;
//! catch_up_rows=150; closes_4002_total=1`. A name matches `[a-z][a-z0-9_]*` and has at most
//! [`MAX_NAME_BYTES`] bytes. A name ending in `_total` is a counter, incremented by its number (a
//! non-negative integer); any other name is a histogram, observing its number (non-negative).
//! A name may repeat: each entry counts.

/// The response header carrying the metrics.
pub const HEADER: &str = "x-app-metrics";

/// The longest metric name a host takes.
pub const MAX_NAME_BYTES: usize = 64;

/// Frames or connections refused for the rate limit (a counter).
pub const RATE_LIMIT_REFUSALS_TOTAL: &str = "rate_limit_refusals_total";
/// Rows one catch-up sent (a histogram).
pub const CATCH_UP_ROWS: &str = "catch_up_rows";

/// The counter of connections the app closed with `code`: `closes_<code>_total` for a code this
/// protocol defines, `closes_other_total` for any other. The app echoes a client's own close
/// code, so a client must not be able to mint metric names.
pub fn closes_total(code: u16) -> String {
    use crate::close::*;
    match code {
        NORMAL | PROTOCOL_ERROR | NO_STATUS | INVALID_PAYLOAD | POLICY_VIOLATION
        | MESSAGE_TOO_BIG | AUTHENTICATION | TOO_MANY_CONNECTIONS => format!("closes_{code}_total"),
        _ => "closes_other_total".to_string(),
    }
}

/// What the coordinator reports for one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppReport {
    /// Frames or connections refused for the rate limit.
    pub rate_limited: u32,
    /// Rows sent by each catch-up.
    pub catch_ups: Vec<u64>,
    /// Close codes of connections the app closed.
    pub closes: Vec<u16>,
}

impl AppReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The header value; empty when there is nothing to report.
    pub fn encode(&self) -> String {
        let mut entries = Vec::new();
        if self.rate_limited > 0 {
            entries.push(entry(RATE_LIMIT_REFUSALS_TOTAL, self.rate_limited));
        }
        entries.extend(self.catch_ups.iter().map(|rows| entry(CATCH_UP_ROWS, rows)));
        entries.extend(
            self.closes
                .iter()
                .map(|code| entry(&closes_total(*code), 1)),
        );
        entries.join("; ")
    }
}

/// One `name=number` entry.
fn entry(name: &str, number: impl std::fmt::Display) -> String {
    debug_assert!(valid_name(name), "metric name {name:?}");
    format!("{name}={number}")
}

/// Whether `name` is a metric name the header may carry: `[a-z][a-z0-9_]*`, at most
/// [`MAX_NAME_BYTES`] bytes.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME_BYTES
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests;
