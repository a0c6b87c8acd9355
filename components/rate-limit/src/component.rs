//! The wasm export: variables and, for `check`, the key-value store in, a decision out.

// `generate_all`: the interfaces live in their own packages (`wit/deps`), not the worlds' package.
wit_bindgen::generate!({ path: "../../wit", world: "rate-limiter", generate_all });

use crate::gcra::{self, GcraError, Limit};
use exports::mirubato::rate_limit::rate_limit::{Decision, Guest, RateLimitError, Verdict};
use spin_sdk::{key_value, variables};

/// Where each key's TAT lives in the `default` store.
const KEY_PREFIX: &str = "ratelimit:";

struct RateLimit;

impl Guest for RateLimit {
    fn check(key: String, cost: u32) -> Result<Decision, RateLimitError> {
        let limit = configured_limit()?;
        let store = key_value::Store::open_default()
            .map_err(|e| RateLimitError::StoreUnavailable(e.to_string()))?;
        let storage_key = format!("{KEY_PREFIX}{key}");
        let stored = store
            .get(&storage_key)
            .map_err(|e| RateLimitError::StoreUnavailable(e.to_string()))?
            // An unreadable value is treated as an idle key and overwritten.
            .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<i64>().ok());
        let (decision, new_tat) = gcra::decide(stored, now_us(), cost, limit).map_err(into_wit)?;
        if let Some(tat) = new_tat {
            store
                .set(&storage_key, tat.to_string().as_bytes())
                .map_err(|e| RateLimitError::StoreUnavailable(e.to_string()))?;
        }
        Ok(into_wit_decision(decision))
    }

    fn decide(stored_tat_us: Option<i64>, cost: u32) -> Result<Verdict, RateLimitError> {
        let limit = configured_limit()?;
        let (decision, new_tat) =
            gcra::decide(stored_tat_us, now_us(), cost, limit).map_err(into_wit)?;
        Ok(Verdict {
            decision: into_wit_decision(decision),
            new_tat_us: new_tat,
        })
    }
}

fn configured_limit() -> Result<Limit, RateLimitError> {
    Limit::parse(
        variables::get("rate_limit_per_minute").ok().as_deref(),
        variables::get("rate_limit_burst").ok().as_deref(),
        variables::get("environment").ok().as_deref(),
    )
    .map_err(into_wit)
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn into_wit_decision(decision: gcra::Decision) -> Decision {
    Decision {
        allowed: decision.allowed,
        remaining: decision.remaining,
        retry_after_ms: decision.retry_after_ms,
    }
}

fn into_wit(error: GcraError) -> RateLimitError {
    match error {
        GcraError::Misconfigured(why) => RateLimitError::Misconfigured(why),
        GcraError::InvalidCost(cost) => RateLimitError::InvalidCost(cost),
    }
}

export!(RateLimit);
