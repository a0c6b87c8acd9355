//! Whether a `grip_key` is fit to trust the gateway with. Whoever knows the key can sign
//! `Grip-Sig` and have the app believe any `Meta-User-Id`: a public or guessable key hands every
//! user's data to anyone who can reach the app. Outside `local` such a key stops startup.

use crate::environment::Environment;

/// The key the manifest ships for local development with Pushpin (`deploy/pushpin`): public.
pub const LOCAL_DEVELOPMENT_KEY: &str = "mirubato-local-grip-key-change-me";

/// Shortest shared (HS256) key accepted outside `local`: 32 bytes, as for `jwt_secret`.
pub const MIN_SHARED_KEY_BYTES: usize = 32;

/// Public keys that must never verify anything outside `local`.
const PUBLIC_KEYS: &[&str] = &[LOCAL_DEVELOPMENT_KEY, "changeme"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GripKeyError {
    #[error(
        "`grip_key` is empty: set it to the gateway's signing key (Pushpin's sig_key, or Fanout's public JWK)"
    )]
    Empty,
    #[error("`grip_key` is the public development key; outside local set a secret of your own")]
    Public,
    #[error(
        "`grip_key` is {length} bytes; outside local a shared key must have at least {MIN_SHARED_KEY_BYTES}"
    )]
    TooShort { length: usize },
    #[error("`grip_key` looks like a JWK but is not an EC P-256 public key: {0}")]
    NotAnEcJwk(String),
}

/// Checks `key` for `environment`: a JWK (it starts with `{`) must be an EC P-256 public key
/// anywhere; a shared key must be non-empty anywhere, and outside `local` neither public nor
/// shorter than [`MIN_SHARED_KEY_BYTES`].
pub fn check(key: &str, environment: Environment) -> Result<(), GripKeyError> {
    let key = key.trim();
    if key.starts_with('{') {
        return check_jwk(key);
    }
    if key.is_empty() {
        return Err(GripKeyError::Empty);
    }
    if environment == Environment::Local {
        return Ok(());
    }
    if PUBLIC_KEYS.contains(&key) {
        return Err(GripKeyError::Public);
    }
    if key.len() < MIN_SHARED_KEY_BYTES {
        return Err(GripKeyError::TooShort { length: key.len() });
    }
    Ok(())
}

fn check_jwk(key: &str) -> Result<(), GripKeyError> {
    let jwk: serde_json::Value =
        serde_json::from_str(key).map_err(|e| GripKeyError::NotAnEcJwk(e.to_string()))?;
    let field = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
    if field("kty") != Some("EC") || field("crv") != Some("P-256") {
        return Err(GripKeyError::NotAnEcJwk(
            "`kty` must be EC and `crv` P-256".into(),
        ));
    }
    // A P-256 coordinate is 32 bytes: 43 characters of unpadded base64url.
    let coordinate = |name: &str| {
        field(name).is_some_and(|c| {
            c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    if !(coordinate("x") && coordinate("y")) {
        return Err(GripKeyError::NotAnEcJwk(
            "`x` and `y` must be 32-byte base64url coordinates".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
