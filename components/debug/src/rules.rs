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
mod tests {
    use super::*;

    #[test]
    fn off_unless_enabled_and_never_in_production_unless_said_so() {
        use Environment::*;
        for environment in [Local, Staging, Production] {
            assert!(!Setting::parse("").unwrap().served(environment));
            assert!(!Setting::parse("off").unwrap().served(environment));
            assert!(Setting::parse("production").unwrap().served(environment));
        }
        let on = Setting::parse(" on ").unwrap();
        assert!(on.served(Local) && on.served(Staging) && !on.served(Production));
        assert!(Setting::parse("yes").is_err());
    }

    #[test]
    fn minting_needs_local_and_a_loopback_client() {
        let local = Environment::Local;
        assert!(minting_allowed(local, Some("127.0.0.1:5000")).is_ok());
        assert!(minting_allowed(local, Some("[::1]:5000")).is_ok());
        assert!(minting_allowed(local, Some("192.168.1.9:5000")).is_err());
        assert!(minting_allowed(local, None).is_err());
        assert!(minting_allowed(Environment::Staging, Some("127.0.0.1:1")).is_err());
    }

    #[test]
    fn tokens_are_minted_in_local_only_and_verify_with_the_secret() {
        assert!(can_mint(Environment::Local));
        assert!(!can_mint(Environment::Staging) && !can_mint(Environment::Production));
        let secret = "s".repeat(32);
        let token = dev_token(&secret, "alice", 1_000, "aud-x", "").unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["aud-x"]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "alice");
        assert_eq!(decoded.claims["exp"], 4_600);
        assert!(decoded.claims.get("iss").is_none());
        assert!(dev_token(&secret, " ", 0, "", "").is_err());
        assert!(dev_token(&secret, &"u".repeat(129), 0, "", "").is_err());
    }
}
