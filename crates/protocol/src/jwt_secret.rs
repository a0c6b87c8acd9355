//! Whether a `jwt_secret` (or `jwt_secret_previous`) is fit to verify users' tokens with. Whoever
//! knows the secret can sign a token for any user id: a public or guessable secret hands every
//! user's data to anyone. Outside `local` such a secret stops startup, as a public `grip_key` does.

use crate::environment::Environment;

/// The secret `scripts/run` supplies for local development (printed in its source and the
/// README, so public): development tokens are signed with it.
pub const LOCAL_DEVELOPMENT_SECRET: &str = "mirubato-local-development-secret-not-for-production";

/// Shortest secret accepted outside `local` (HS256's key should be at least the hash's size).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSecretError {
    #[error(
        "`{name}` is the public local development secret; outside local set the Mirubato API's secret"
    )]
    Public { name: &'static str },
    #[error("`{name}` is {length} bytes; outside local it must have at least {MIN_SECRET_BYTES}")]
    TooShort { name: &'static str, length: usize },
}

/// Checks the secret held by the variable `name` for `environment`: anything goes in `local`
/// (where the auth component still reports a short one on `/health`); elsewhere neither the
/// public development secret nor one shorter than [`MIN_SECRET_BYTES`]. An empty secret is the
/// auth component's to refuse (a required variable, or an unset previous one).
pub fn check(
    name: &'static str,
    secret: &str,
    environment: Environment,
) -> Result<(), JwtSecretError> {
    if environment == Environment::Local || secret.is_empty() {
        return Ok(());
    }
    if secret == LOCAL_DEVELOPMENT_SECRET {
        return Err(JwtSecretError::Public { name });
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(JwtSecretError::TooShort {
            name,
            length: secret.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
