//! GCRA arithmetic, pure: given the stored TAT and the time now, decide and compute the next TAT.
//! Times are microseconds since the Unix epoch, so a 1000/min limit (60 ms apart) stays exact.

/// Default `rate_limit_burst` (why 50: [`protocol::settings::DEFAULT_RATE_LIMIT_BURST`]).
pub const DEFAULT_BURST: u32 = protocol::settings::DEFAULT_RATE_LIMIT_BURST as u32;

const MICROS_PER_MINUTE: i64 = 60_000_000;

use protocol::environment::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests of cost 1 still allowed right now.
    pub remaining: u32,
    /// When refused: how long until the same request would be allowed (rounded up).
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcraError {
    Misconfigured(String),
    InvalidCost(u32),
}

impl Limit {
    /// Parses the variables; an absent or blank per-minute rate takes the `environment`'s default
    /// (1000 local, 100 staging and production), an absent burst [`DEFAULT_BURST`].
    pub fn parse(
        per_minute: Option<&str>,
        burst: Option<&str>,
        environment: Option<&str>,
    ) -> Result<Self, GcraError> {
        let positive = |name: &str, raw: &str| match raw.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(GcraError::Misconfigured(format!(
                "{name} must be a whole number above 0, not `{raw}`"
            ))),
        };
        let per_minute = match per_minute.map(str::trim).filter(|p| !p.is_empty()) {
            Some(raw) => positive("rate_limit_per_minute", raw)?,
            None => Environment::parse(environment.unwrap_or_default())
                .map_err(|e| GcraError::Misconfigured(e.to_string()))?
                .rate_limit_per_minute(),
        };
        let burst = match burst.map(str::trim).filter(|b| !b.is_empty()) {
            Some(raw) => positive("rate_limit_burst", raw)?,
            None => DEFAULT_BURST,
        };
        Ok(Self { per_minute, burst })
    }

    /// Time between two requests at the steady rate.
    fn interval(&self) -> i64 {
        MICROS_PER_MINUTE / i64::from(self.per_minute)
    }
}

/// Decides a request of `cost` at `now`. Returns the decision and, when allowed, the TAT to store.
/// A stored TAT in the past (an idle key) counts as absent; a clock that went backwards keeps the
/// later TAT, so it can only make the limit stricter, never looser.
pub fn decide(
    stored_tat: Option<i64>,
    now: i64,
    cost: u32,
    limit: Limit,
) -> Result<(Decision, Option<i64>), GcraError> {
    if cost == 0 || cost > limit.burst {
        return Err(GcraError::InvalidCost(cost));
    }
    let interval = limit.interval();
    let tolerance = interval * i64::from(limit.burst);
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + interval * i64::from(cost);
    let allowed_at = new_tat - tolerance;
    if allowed_at > now {
        let wait = allowed_at - now;
        let retry_after_ms = (wait as u64).div_ceil(1000);
        return Ok((
            Decision {
                allowed: false,
                remaining: 0,
                retry_after_ms,
            },
            None,
        ));
    }
    let remaining = ((tolerance - (new_tat - now)) / interval) as u32;
    Ok((
        Decision {
            allowed: true,
            remaining,
            retry_after_ms: 0,
        },
        Some(new_tat),
    ))
}

#[cfg(test)]
mod tests;
