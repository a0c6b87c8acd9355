//! The coordinator's settings, from its component variables.

use protocol::environment::{Environment, UnknownEnvironment, or_default};

/// Connections one user may hold; the oldest is closed (4002) when a new one would exceed it.
pub const MAX_CONNECTIONS_PER_USER: usize = 10;
/// Seconds before a token's `exp` when `AUTH_EXPIRING` is sent.
pub const EXPIRY_WARNING_SECONDS: i64 = 60;
/// Seconds after `exp` an open socket is still tolerated before close 4001.
pub const EXPIRY_GRACE_SECONDS: i64 = 60;
/// Seconds between the gateway's keep-alive requests (Pushpin's minimum is 20).
pub const KEEP_ALIVE_SECONDS: u64 = 20;
/// How long after OPEN a gateway's subscriptions may still be on their way (Pushpin registers them
/// asynchronously; one round trip was enough when measured): until then every request also
/// replays what was committed since the previous replay.
pub const SUBSCRIPTION_SETTLE_MS: i64 = 1_000;
/// Frame errors or rate-limit refusals on one connection before it is closed with 1008.
pub const MAX_VIOLATIONS: u32 = 20;
/// How long an idempotency key is remembered.
pub const EVENT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Default `replay_window_seconds`: longer than the Mirubato client's 30-s "synced recently" rule
/// (protocol.md §8) plus a margin for clock skew and relays still in flight when a device dropped.
pub const DEFAULT_REPLAY_WINDOW_SECONDS: u64 = 60;

/// A variable the coordinator cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Environment(#[from] UnknownEnvironment),
    #[error("`{name}` must be a whole number{bound}, not `{value}`")]
    NotANumber {
        name: &'static str,
        bound: &'static str,
        value: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// Browser origins allowed to connect; requests without `Origin` are always allowed.
    pub allowed_origins: Vec<String>,
    pub seq_base: u64,
    pub grip_publish_url: String,
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
}

impl Config {
    /// Reads the variables; a blank `frontend_url` or `allowed_origins` takes the environment's
    /// default.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let environment = Environment::parse(&get("environment").unwrap_or_default())?;
        let number = |name: &'static str, default: u64, bound: &'static str, min: u64| {
            let value = or_default(get(name), &default.to_string());
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or(ConfigError::NotANumber { name, bound, value })
        };
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
        Ok(Self {
            environment,
            allowed_origins,
            seq_base: number("seq_base", 0, "", 0)?,
            replay_window_ms: number(
                "replay_window_seconds",
                DEFAULT_REPLAY_WINDOW_SECONDS,
                " of at least 1",
                1,
            )? as i64
                * 1000,
            grip_publish_url: get("grip_publish_url")
                .unwrap_or_default()
                .trim()
                .trim_end_matches('/')
                .to_string(),
            grip_publish_token: get("grip_publish_token")
                .unwrap_or_default()
                .trim()
                .to_string(),
            grip_key: get("grip_key").unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn try_config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_variables(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        try_config(pairs).unwrap()
    }

    #[test]
    fn origins() {
        let c = config(&[
            ("allowed_origins", "http://a.test, https://b.test/"),
            ("frontend_url", "https://app.test"),
        ]);
        assert!(c.origin_allowed(None));
        assert!(c.origin_allowed(Some("http://a.test")));
        assert!(c.origin_allowed(Some("https://b.test")));
        assert!(c.origin_allowed(Some("https://app.test/")));
        assert!(!c.origin_allowed(Some("https://evil.test")));
        assert!(config(&[("allowed_origins", "*")]).origin_allowed(Some("https://any.test")));
    }

    #[test]
    fn numbers_and_flags() {
        let c = config(&[
            ("seq_base", "5000"),
            ("allow_legacy_broadcast_auth", "true"),
            ("grip_publish_url", "http://127.0.0.1:5561/"),
        ]);
        assert_eq!((c.seq_base, c.allow_legacy_broadcast_auth), (5000, true));
        assert_eq!(c.grip_publish_url, "http://127.0.0.1:5561");
        assert_eq!(config(&[]).seq_base, 0);
        assert_eq!(
            try_config(&[("seq_base", "12x")]).unwrap_err().to_string(),
            "`seq_base` must be a whole number, not `12x`"
        );
        assert_eq!(config(&[]).replay_window_ms, 60_000);
        assert_eq!(
            config(&[("replay_window_seconds", "5")]).replay_window_ms,
            5_000
        );
        assert!(try_config(&[("replay_window_seconds", "0")]).is_err());
    }

    #[test]
    fn blank_origins_take_the_environments_defaults() {
        let local = config(&[("allowed_origins", ""), ("frontend_url", "")]);
        assert!(local.origin_allowed(Some("http://www-mirubato.localhost:4000")));
        assert!(local.origin_allowed(Some("http://localhost:5173")));
        let production = config(&[("environment", "production")]);
        assert!(production.origin_allowed(Some("https://mirubato.com")));
        assert!(!production.origin_allowed(Some("http://localhost:5173")));
        assert!(!production.origin_allowed(Some("https://staging.mirubato.com")));
        let staging = config(&[("environment", "staging")]);
        assert!(staging.origin_allowed(Some("https://staging.mirubato.com")));
        // An explicit list replaces the defaults; the frontend URL is still allowed.
        let explicit = config(&[("allowed_origins", "https://x.test")]);
        assert!(!explicit.origin_allowed(Some("http://localhost:5173")));
        assert!(explicit.origin_allowed(Some("http://www-mirubato.localhost:4000")));
    }

    #[test]
    fn an_unknown_environment_is_an_error() {
        assert!(matches!(
            try_config(&[("environment", "prod")]),
            Err(ConfigError::Environment(_))
        ));
    }
}
