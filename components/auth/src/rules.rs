//! Verification rules for the Mirubato API's JWTs (RFC 8725): pure, so they are unit-tested natively
//! and run unchanged inside the wasm component.
//!
//! - HS256 only, whatever the header says; `none` and every other algorithm are refused before any
//!   key is used.
//! - `exp` required, `nbf` enforced, clock leeway from `jwt_leeway_seconds` (default 30, at most 60).
//! - `sub` must be a non-empty string; `aud`/`iss` enforced when configured.
//! - Tokens over 8 KiB are refused before any parsing.
//! - `jwt_secret_previous`, when set, is also accepted, so the secret can be rotated.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
pub const MIN_SECRET_BYTES: usize = 32;
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
pub const MAX_LEEWAY_SECONDS: u64 = 60;
/// Longest lifetime a `/broadcast` token may have (docs/protocol.md §6).
pub const BROADCAST_MAX_LIFETIME_SECONDS: i64 = 300;
/// The `typ` a `/broadcast` token carries.
pub const BROADCAST_TYPE: &str = "broadcast";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Malformed(String),
    TooLarge,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAlgorithm,
    MissingSubject,
    WrongAudience,
    WrongIssuer,
    WrongType,
    LifetimeTooLong,
    SecretMisconfigured(String),
}

impl AuthError {
    /// The WIT case name, e.g. `bad-signature`.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Malformed(_) => "malformed",
            AuthError::TooLarge => "too-large",
            AuthError::BadSignature => "bad-signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not-yet-valid",
            AuthError::WrongAlgorithm => "wrong-algorithm",
            AuthError::MissingSubject => "missing-subject",
            AuthError::WrongAudience => "wrong-audience",
            AuthError::WrongIssuer => "wrong-issuer",
            AuthError::WrongType => "wrong-type",
            AuthError::LifetimeTooLong => "lifetime-too-long",
            AuthError::SecretMisconfigured(_) => "secret-misconfigured",
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user_id: String,
    pub email: Option<String>,
    pub issued_at: Option<i64>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastClaims {
    pub expires_at: i64,
}

/// The auth configuration, read from component variables.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub secret: String,
    /// Also accepted while a rotation is under way.
    pub previous_secret: Option<String>,
    /// Raw `jwt_leeway_seconds`; validated by [`AuthConfig::leeway`].
    pub leeway_seconds: Option<String>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// `environment` = `production`: a short secret then refuses every token.
    pub production: bool,
}

impl AuthConfig {
    /// Builds the configuration from variable lookups; empty values count as unset.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Self {
            secret: get("jwt_secret").unwrap_or_default(),
            previous_secret: set("jwt_secret_previous"),
            leeway_seconds: set("jwt_leeway_seconds"),
            audience: set("jwt_audience"),
            issuer: set("jwt_issuer"),
            production: get("environment").is_some_and(|e| e.trim() == "production"),
        }
    }

    fn leeway(&self) -> Result<u64, AuthError> {
        match &self.leeway_seconds {
            None => Ok(DEFAULT_LEEWAY_SECONDS),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(seconds) if seconds <= MAX_LEEWAY_SECONDS => Ok(seconds),
                _ => Err(AuthError::SecretMisconfigured(format!(
                    "jwt_leeway_seconds must be a whole number from 0 to {MAX_LEEWAY_SECONDS}"
                ))),
            },
        }
    }

    /// Every configuration problem, for health checks and startup: no secret, a secret (current or
    /// previous) shorter than 32 bytes, or an unusable leeway.
    pub fn check(&self) -> Result<(), AuthError> {
        if self.secret.is_empty() {
            return Err(AuthError::SecretMisconfigured(
                "jwt_secret is not set".into(),
            ));
        }
        for (name, secret) in [
            ("jwt_secret", Some(&self.secret)),
            ("jwt_secret_previous", self.previous_secret.as_ref()),
        ] {
            if let Some(secret) = secret
                && secret.len() < MIN_SECRET_BYTES
            {
                return Err(AuthError::SecretMisconfigured(format!(
                    "{name} is {} bytes; use at least {MIN_SECRET_BYTES}",
                    secret.len()
                )));
            }
        }
        self.leeway().map(drop)
    }

    /// The check that gates verification: a missing secret or bad leeway always refuses; a short
    /// secret refuses only in production (elsewhere it is reported by [`AuthConfig::check`]).
    fn usable(&self) -> Result<u64, AuthError> {
        if self.secret.is_empty() || self.production {
            self.check()?;
        }
        self.leeway()
    }
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    email: Option<Value>,
    #[serde(default)]
    iat: Option<Value>,
    /// Required; jsonwebtoken refuses a token without it before this is read.
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    typ: Option<Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<Value>,
    #[serde(default)]
    typ: Option<Value>,
}

/// Verifies a user token (the Mirubato API's `{sub, email, iat, exp}`).
pub fn verify_user(token: &str, config: &AuthConfig) -> Result<Claims, AuthError> {
    let (header, claims) = verify_signed(token, config)?;
    if is_broadcast(&header, &claims) {
        return Err(AuthError::WrongType);
    }
    let user_id = match &claims.sub {
        Some(Value::String(sub)) if !sub.trim().is_empty() => sub.clone(),
        _ => return Err(AuthError::MissingSubject),
    };
    Ok(Claims {
        user_id,
        email: claims
            .email
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string),
        issued_at: claims.iat.as_ref().and_then(Value::as_i64),
        expires_at: claims
            .exp
            .as_ref()
            .and_then(Value::as_i64)
            .unwrap_or_default(),
    })
}

/// Verifies a server-to-server `/broadcast` token: `typ` = "broadcast" (claim or header) and a
/// lifetime of at most five minutes.
pub fn verify_broadcast(
    token: &str,
    config: &AuthConfig,
    now: i64,
) -> Result<BroadcastClaims, AuthError> {
    let (header, claims) = verify_signed(token, config)?;
    if !is_broadcast(&header, &claims) {
        return Err(AuthError::WrongType);
    }
    let expires_at = claims
        .exp
        .as_ref()
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let leeway = config.leeway()? as i64;
    let issued_at = claims.iat.as_ref().and_then(Value::as_i64);
    let too_long = expires_at - now > BROADCAST_MAX_LIFETIME_SECONDS + leeway
        || issued_at.is_some_and(|iat| expires_at - iat > BROADCAST_MAX_LIFETIME_SECONDS);
    if too_long {
        return Err(AuthError::LifetimeTooLong);
    }
    Ok(BroadcastClaims { expires_at })
}

fn is_broadcast(header: &Header, claims: &RawClaims) -> bool {
    let named = |typ: &Option<Value>| {
        typ.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(BROADCAST_TYPE))
    };
    named(&header.typ) || named(&claims.typ)
}

/// Structure, algorithm, signature (current then previous secret) and registered claims.
fn verify_signed(token: &str, config: &AuthConfig) -> Result<(Header, RawClaims), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    let leeway = config.usable()?;
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(AuthError::Malformed(format!(
            "expected 3 dot-separated segments, found {}",
            segments.len()
        )));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(segments[0])
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object".into()))?;
    // Pinned: the header's word is never trusted to choose the algorithm.
    if header.alg.as_ref().and_then(Value::as_str) != Some("HS256") {
        return Err(AuthError::WrongAlgorithm);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = leeway;
    validation.validate_nbf = true;
    validation.validate_aud = config.audience.is_some();
    validation.set_required_spec_claims(&["exp"]);
    if let Some(audience) = &config.audience {
        validation.set_audience(&[audience]);
    }
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
    }
    let decode = |secret: &str| {
        jsonwebtoken::decode::<RawClaims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
    };
    let result = match (decode(&config.secret), &config.previous_secret) {
        (Err(error), Some(previous)) if *error.kind() == ErrorKind::InvalidSignature => {
            decode(previous)
        }
        (result, _) => result,
    };
    match result {
        Ok(data) => Ok((header, data.claims)),
        Err(error) => Err(map_error(error.kind())),
    }
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::Malformed(format!("missing required claim `{claim}`"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::Malformed(format!("claim `{claim}` has the wrong type"))
        }
        ErrorKind::Base64(_) => AuthError::Malformed("not base64url".into()),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed("payload is not a JSON object".into())
        }
        other => AuthError::Malformed(format!("{other:?}")),
    }
}
