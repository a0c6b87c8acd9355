//! Whether the debug page is served, and the development tokens it may mint. Pure, so the rules
//! are unit-tested natively.

use protocol::environment::Environment;
use serde_json::json;

/// The `debug_page` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Not served (the default): `/debug` answers 404 like any unknown path.
    Off,
    /// Served in `local` and `staging`; still off in `production`.
    On,
    /// Served in every environment, `production` included: an explicit choice.
    EvenInProduction,
}

impl Setting {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" | "off" => Ok(Self::Off),
            "on" => Ok(Self::On),
            "production" => Ok(Self::EvenInProduction),
            other => Err(format!(
                "`debug_page` must be off, on or production, not `{other}`"
            )),
        }
    }

    pub fn served(self, environment: Environment) -> bool {
        match self {
            Self::Off => false,
            Self::On => environment != Environment::Production,
            Self::EvenInProduction => true,
        }
    }
}

/// Tokens are minted only for local development, where the secret is a development one.
pub fn can_mint(environment: Environment) -> bool {
    environment == Environment::Local
}

/// Whether a request from `client` (Spin's `spin-client-addr`) may have a token minted: only
/// from this machine, so a `local` deployment that is reachable from elsewhere (and may hold a
/// real secret) mints nothing for others.
pub fn minting_allowed(environment: Environment, client: Option<&str>) -> Result<(), String> {
    if !can_mint(environment) {
        return Err("Development tokens are minted only in environment=local".into());
    }
    let loopback = client
        .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .is_some_and(|addr| addr.ip().is_loopback());
    if !loopback {
        return Err("Development tokens are minted only for clients on this machine".into());
    }
    Ok(())
}

/// The longest user id a development token is minted for.
pub const MAX_USER_ID: usize = 128;

/// An HS256 token for `user`, valid for an hour, shaped as the Mirubato API's (with `aud`/`iss`
/// when the deployment requires them).
pub fn dev_token(
    secret: &str,
    user: &str,
    now: i64,
    audience: &str,
    issuer: &str,
) -> Result<String, String> {
    if user.trim().is_empty() || user.len() > MAX_USER_ID {
        return Err(format!("userId must be 1 to {MAX_USER_ID} characters"));
    }
    let mut claims =
        json!({"sub": user, "email": format!("{user}@localhost"), "iat": now, "exp": now + 3600});
    if !audience.is_empty() {
        claims["aud"] = json!(audience);
    }
    if !issuer.is_empty() {
        claims["iss"] = json!(issuer);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign: {e}"))
}

#[cfg(test)]
mod tests;
