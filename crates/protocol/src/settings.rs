//! The coordinator's settings, from its component variables. Pure, so the health component can
//! check the same rules and report a misconfiguration before the first client meets it.

use crate::environment::{Environment, UnknownEnvironment, or_default};
use crate::grip_key::{self, GripKeyError};
use crate::jwt_secret::{self, JwtSecretError};

/// Default `replay_window_seconds`: longer than the Mirubato client's 30-s "synced recently" rule
/// (docs/protocol.md §8) plus a margin for clock skew and relays still in flight when a device dropped.
pub const DEFAULT_REPLAY_WINDOW_SECONDS: u64 = 60;

/// Default `rate_limit_burst`: a device that reconnects flushes its queued offline changes at once
/// (the frontend sends them right after `SYNC_REQUEST`); 50 lets a typical offline session through
/// in one go, while the steady rate stays at the per-minute limit.
pub const DEFAULT_RATE_LIMIT_BURST: u64 = 50;

/// A variable the coordinator cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Environment(#[from] UnknownEnvironment),
    #[error(transparent)]
    GripKey(#[from] GripKeyError),
    #[error(transparent)]
    JwtSecret(#[from] JwtSecretError),
    #[error("`{name}` must be a whole number{bound}, not `{value}`")]
    NotANumber {
        name: &'static str,
        bound: &'static str,
        value: String,
    },
}

/// The variables naming publish endpoints. Separate variables rather than one list: each must also
/// be an `allowed_outbound_hosts` entry, and Spin renders one variable into exactly one entry.
/// Spin refuses an entry that renders empty (at load, from the defaults), so an unused one holds
/// [`NO_GATEWAY`] instead.
pub const PUBLISH_URL_VARIABLES: [&str; 3] = [
    "grip_publish_url",
    "grip_publish_url_second",
    "grip_publish_url_third",
];

/// A publish-URL variable with this value names no gateway: a valid `allowed_outbound_hosts`
/// entry (as Spin requires of every entry) whose host, under the reserved `.invalid` top-level
/// domain (RFC 2606), never resolves.
pub const NO_GATEWAY: &str = "http://none.invalid";

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// Browser origins allowed to connect; requests without `Origin` are always allowed.
    pub allowed_origins: Vec<String>,
    pub seq_base: u64,
    /// Every gateway to publish to (`grip_publish_url`, then `grip_publish_url_second` and `_third`
    /// unless blank or [`NO_GATEWAY`]): each Pushpin holds only its own clients, so several must
    /// each get every publish.
    pub grip_publish_urls: Vec<String>,
    /// Sent as `Authorization: Bearer` on publishes when set (Fanout's API token).
    pub grip_publish_token: String,
    pub grip_key: String,
    pub grip_iss: String,
    pub allow_legacy_broadcast_auth: bool,
    /// The raw `jwt_secret`, only for the legacy `X-Worker-Auth` comparison.
    pub jwt_secret: String,
    /// Changes committed this long before a device connects are replayed to it after `WELCOME`
    /// (docs/delivery.md).
    pub replay_window_ms: i64,
    /// The most a user may spend at once (`rate_limit_burst`): no single request may cost more.
    pub rate_limit_burst: u32,
}

impl Config {
    /// Reads the variables; a blank `frontend_url` or `allowed_origins` takes the environment's
    /// default.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let environment = Environment::parse(&get("environment").unwrap_or_default())?;
        let number = |name, default, bound, min| number(&get, name, default, bound, min);
        let allowed_origins = allowed_origins(&get, environment);
        if get("rate_limit_per_minute").is_some_and(|raw| !raw.trim().is_empty()) {
            number("rate_limit_per_minute", 1, " above 0", 1)?;
        }
        let grip_key = get("grip_key").unwrap_or_default();
        grip_key::check(&grip_key, environment)?;
        for name in ["jwt_secret", "jwt_secret_previous"] {
            jwt_secret::check(name, get(name).unwrap_or_default().trim(), environment)?;
        }
        Ok(Self {
            environment,
            rate_limit_burst: number("rate_limit_burst", DEFAULT_RATE_LIMIT_BURST, " above 0", 1)?
                .min(u64::from(u32::MAX)) as u32,
            allowed_origins,
            seq_base: number("seq_base", 0, "", 0)?,
            replay_window_ms: number(
                "replay_window_seconds",
                DEFAULT_REPLAY_WINDOW_SECONDS,
                " of at least 1",
                1,
            )? as i64
                * 1000,
            grip_publish_urls: PUBLISH_URL_VARIABLES
                .iter()
                .filter_map(|name| get(name))
                .map(|url| url.trim().trim_end_matches('/').to_string())
                .filter(|url| !url.is_empty() && url != NO_GATEWAY)
                .collect(),
            grip_publish_token: get("grip_publish_token")
                .unwrap_or_default()
                .trim()
                .to_string(),
            grip_key,
            grip_iss: get("grip_iss").unwrap_or_default(),
            allow_legacy_broadcast_auth: get("allow_legacy_broadcast_auth")
                .is_some_and(|v| v.trim() == "true"),
            jwt_secret: get("jwt_secret").unwrap_or_default(),
        })
    }

    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(origin) => {
                let origin = origin.trim().trim_end_matches('/');
                self.allowed_origins
                    .iter()
                    .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
            }
        }
    }
}

/// The whole-number variable `name` (`default` when blank), at least `min`; `bound` says so in
/// the error.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    bound: &'static str,
    min: u64,
) -> Result<u64, ConfigError> {
    let value = or_default(get(name), &default.to_string());
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or(ConfigError::NotANumber { name, bound, value })
}

/// `allowed_origins` (blank: the environment's), and the frontend's own origin, each without a
/// trailing `/`.
fn allowed_origins(get: &impl Fn(&str) -> Option<String>, environment: Environment) -> Vec<String> {
    let trimmed = |origin: &str| origin.trim().trim_end_matches('/').to_string();
    let mut allowed_origins: Vec<String> = match get("allowed_origins")
        .map(|raw| raw.trim().to_string())
        .filter(|raw| !raw.is_empty())
    {
        Some(raw) => raw
            .split(',')
            .map(trimmed)
            .filter(|o| !o.is_empty())
            .collect(),
        None => environment
            .allowed_origins()
            .iter()
            .map(|o| trimmed(o))
            .collect(),
    };
    let frontend = trimmed(&or_default(get("frontend_url"), environment.frontend_url()));
    if !allowed_origins.contains(&frontend) {
        allowed_origins.push(frontend);
    }
    allowed_origins
}

#[cfg(test)]
mod tests;
