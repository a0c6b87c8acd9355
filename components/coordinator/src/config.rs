//! The coordinator's settings, from its component variables.

/// Connections one user may hold; the oldest is closed (4002) when a new one would exceed it.
pub const MAX_CONNECTIONS_PER_USER: usize = 10;
/// Seconds before a token's `exp` when `AUTH_EXPIRING` is sent.
pub const EXPIRY_WARNING_SECONDS: i64 = 60;
/// Seconds after `exp` an open socket is still tolerated before close 4001.
pub const EXPIRY_GRACE_SECONDS: i64 = 60;
/// Seconds between the gateway's keep-alive requests (Pushpin's minimum is 20).
pub const KEEP_ALIVE_SECONDS: u64 = 20;
/// Frame errors or rate-limit refusals on one connection before it is closed with 1008.
pub const MAX_VIOLATIONS: u32 = 20;
/// How long an idempotency key is remembered.
pub const EVENT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct Config {
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
}

impl Config {
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Self {
        let list = |raw: Option<String>| -> Vec<String> {
            raw.unwrap_or_default()
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect()
        };
        let mut allowed_origins = list(get("allowed_origins"));
        if let Some(frontend) =
            get("frontend_url").map(|f| f.trim().trim_end_matches('/').to_string())
            && !frontend.is_empty()
            && !allowed_origins.contains(&frontend)
        {
            allowed_origins.push(frontend);
        }
        Self {
            allowed_origins,
            seq_base: get("seq_base")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
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
        }
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

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_variables(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
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
    }
}
