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
mod tests;
