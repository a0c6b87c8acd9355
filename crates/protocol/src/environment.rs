//! The deployment environments (the seed's table) and the defaults each implies for settings
//! that are not set explicitly: browser origins, the frontend and API URLs, the message rate.

/// `local`, `staging` or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Staging,
    Production,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}`: set `environment` to local, staging or production")]
pub struct UnknownEnvironment(pub String);

/// The Mirubato frontend's dev server (the seed's local `FRONTEND_URL`).
const LOCAL_FRONTEND: &str = "http://www-mirubato.localhost:4000";

/// Other origins a developer's frontend is served from locally (Vite and preview ports).
const LOCAL_DEV_ORIGINS: &[&str] = &[
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:4000",
    "http://127.0.0.1:4000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
];

impl Environment {
    /// Parses the `environment` variable; empty means `local`.
    pub fn parse(raw: &str) -> Result<Self, UnknownEnvironment> {
        match raw.trim() {
            "" | "local" => Ok(Self::Local),
            "staging" => Ok(Self::Staging),
            "production" => Ok(Self::Production),
            other => Err(UnknownEnvironment(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    /// `frontend_url` when not set.
    pub fn frontend_url(self) -> &'static str {
        match self {
            Self::Local => LOCAL_FRONTEND,
            Self::Staging => "https://staging.mirubato.com",
            Self::Production => "https://mirubato.com",
        }
    }

    /// `allowed_origins` when not set (the frontend URL is always allowed besides).
    pub fn allowed_origins(self) -> &'static [&'static str] {
        match self {
            Self::Local => LOCAL_DEV_ORIGINS,
            Self::Staging | Self::Production => &[],
        }
    }

    /// `api_url` when not set: reported by `/health`; the service makes no calls to it.
    pub fn api_url(self) -> &'static str {
        match self {
            Self::Local => "http://api-mirubato.localhost:9797",
            Self::Staging => "https://api-staging.mirubato.com",
            Self::Production => "https://api.mirubato.com",
        }
    }

    /// `rate_limit_per_minute` when not set.
    pub fn rate_limit_per_minute(self) -> u32 {
        match self {
            Self::Local => 1000,
            Self::Staging | Self::Production => 100,
        }
    }
}

/// `value` unless it is absent or blank, else the environment's `default`.
pub fn or_default(value: Option<String>, default: &str) -> String {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_environments_and_refuses_others() {
        assert_eq!(Environment::parse(""), Ok(Environment::Local));
        assert_eq!(Environment::parse(" staging "), Ok(Environment::Staging));
        assert_eq!(
            Environment::parse("production"),
            Ok(Environment::Production)
        );
        let error = Environment::parse("prod").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown environment `prod`: set `environment` to local, staging or production"
        );
    }

    #[test]
    fn defaults_follow_the_seed_table() {
        let local = Environment::Local;
        assert_eq!(local.frontend_url(), "http://www-mirubato.localhost:4000");
        assert_eq!(local.api_url(), "http://api-mirubato.localhost:9797");
        assert_eq!(local.rate_limit_per_minute(), 1000);
        assert!(local.allowed_origins().contains(&"http://localhost:5173"));
        assert_eq!(
            Environment::Staging.frontend_url(),
            "https://staging.mirubato.com"
        );
        assert_eq!(
            Environment::Staging.api_url(),
            "https://api-staging.mirubato.com"
        );
        assert_eq!(
            Environment::Production.frontend_url(),
            "https://mirubato.com"
        );
        assert_eq!(
            Environment::Production.api_url(),
            "https://api.mirubato.com"
        );
        assert_eq!(Environment::Production.rate_limit_per_minute(), 100);
        assert!(Environment::Production.allowed_origins().is_empty());
    }

    #[test]
    fn explicit_values_win_over_defaults() {
        assert_eq!(or_default(Some(" x ".into()), "d"), "x");
        assert_eq!(or_default(Some("  ".into()), "d"), "d");
        assert_eq!(or_default(None, "d"), "d");
    }
}
