//! The wasm export: variables in, WIT types out.

// `generate_all`: the interfaces live in their own packages (`wit/deps`), not the worlds' package.
wit_bindgen::generate!({ path: "../../wit", world: "auth-provider", generate_all });

use crate::rules::{self, AuthConfig};
use exports::mirubato::auth::auth::{AuthError, BroadcastClaims, Claims, Guest};

struct Auth;

fn config() -> AuthConfig {
    AuthConfig::from_variables(|name| spin_sdk::variables::get(name).ok())
}

impl Guest for Auth {
    fn verify(token: String) -> Result<Claims, AuthError> {
        rules::verify_user(&token, &config())
            .map(|c| Claims {
                user_id: c.user_id,
                email: c.email,
                issued_at: c.issued_at,
                expires_at: c.expires_at,
            })
            .map_err(into_wit)
    }

    fn verify_broadcast(token: String) -> Result<BroadcastClaims, AuthError> {
        rules::verify_broadcast(&token, &config(), rules::unix_now())
            .map(|c| BroadcastClaims {
                expires_at: c.expires_at,
            })
            .map_err(into_wit)
    }

    fn check_configuration() -> Result<(), AuthError> {
        config().check().map_err(into_wit)
    }
}

fn into_wit(error: rules::AuthError) -> AuthError {
    use rules::AuthError as E;
    match error {
        E::Malformed(why) => AuthError::Malformed(why),
        E::TooLarge => AuthError::TooLarge,
        E::BadSignature => AuthError::BadSignature,
        E::Expired => AuthError::Expired,
        E::NotYetValid => AuthError::NotYetValid,
        E::WrongAlgorithm => AuthError::WrongAlgorithm,
        E::MissingSubject => AuthError::MissingSubject,
        E::WrongAudience => AuthError::WrongAudience,
        E::WrongIssuer => AuthError::WrongIssuer,
        E::WrongType => AuthError::WrongType,
        E::LifetimeTooLong => AuthError::LifetimeTooLong,
        E::SecretMisconfigured(why) => AuthError::SecretMisconfigured(why),
    }
}

export!(Auth);
