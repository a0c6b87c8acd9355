//! The coordinator's settings, from its component variables. Pure, so the health component can
//! check the same rules and report a misconfiguration before the first client meets it.

use crate::environment::{Environment, UnknownEnvironment, or_default};
use crate::grip_key::{self, GripKeyError};
use crate::jwt_secret::{self, JwtSecretError};

/// Default `replay_window_seconds`: longer than the Mirubato client's 30-s "synced recently" rule
/// (protocol.md §8) plus a margin for clock skew and relays still in flight when a device dropped.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables in `pairs`, with a usable `grip_key` unless `pairs` sets one.
    fn try_config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_variables(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .or_else(|| (name == "grip_key").then(|| "k".repeat(32)))
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
        assert_eq!(c.grip_publish_urls, ["http://127.0.0.1:5561"]);
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
    fn every_set_publish_url_is_published_to_in_order() {
        let c = config(&[
            ("grip_publish_url", "http://a:5561"),
            ("grip_publish_url_second", " "),
            ("grip_publish_url_third", "http://c:5561/"),
        ]);
        assert_eq!(c.grip_publish_urls, ["http://a:5561", "http://c:5561"]);
        let unused = config(&[
            ("grip_publish_url", "http://a:5561"),
            ("grip_publish_url_second", NO_GATEWAY),
            ("grip_publish_url_third", "http://none.invalid/"),
        ]);
        assert_eq!(unused.grip_publish_urls, ["http://a:5561"]);
        assert!(
            config(&[("grip_publish_url", "")])
                .grip_publish_urls
                .is_empty()
        );
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
    fn grip_key_and_rate_limit_errors_are_configuration_errors() {
        assert!(matches!(
            try_config(&[("grip_key", "")]),
            Err(ConfigError::GripKey(GripKeyError::Empty))
        ));
        assert!(try_config(&[("grip_key", grip_key::LOCAL_DEVELOPMENT_KEY)]).is_ok());
        assert!(matches!(
            try_config(&[
                ("environment", "production"),
                ("grip_key", grip_key::LOCAL_DEVELOPMENT_KEY)
            ]),
            Err(ConfigError::GripKey(GripKeyError::Public))
        ));
        assert_eq!(config(&[]).rate_limit_burst, 50);
        assert_eq!(config(&[("rate_limit_burst", "7")]).rate_limit_burst, 7);
        assert!(try_config(&[("rate_limit_burst", "0")]).is_err());
        assert!(try_config(&[("rate_limit_per_minute", "lots")]).is_err());
        assert!(try_config(&[("rate_limit_per_minute", "")]).is_ok());
    }

    #[test]
    fn a_public_or_short_jwt_secret_is_a_configuration_error_outside_local() {
        let public = crate::jwt_secret::LOCAL_DEVELOPMENT_SECRET;
        assert!(try_config(&[("jwt_secret", public)]).is_ok());
        for (environment, name, secret) in [
            ("production", "jwt_secret", public),
            ("staging", "jwt_secret_previous", public),
            ("staging", "jwt_secret", "only-16-bytes-ab"),
        ] {
            let error = try_config(&[("environment", environment), (name, secret)]).unwrap_err();
            assert!(
                matches!(&error, ConfigError::JwtSecret(_)) && error.to_string().contains(name),
                "{environment} {name}: {error}"
            );
        }
    }

    #[test]
    fn an_unknown_environment_is_an_error() {
        assert!(matches!(
            try_config(&[("environment", "prod")]),
            Err(ConfigError::Environment(_))
        ));
    }
}
