//! `Grip-Sig` verification (docs/protocol.md §7): the gateway signs every request it makes to the app;
//! `Meta-*` headers are trusted only when that signature verifies. Pushpin signs HS256 with a shared
//! key; Fastly Fanout signs ES256 with its published P-256 key. The algorithm follows the configured
//! key, never the token's header.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GripSigError {
    #[error("no Grip-Sig header")]
    Missing,
    #[error("Grip-Sig has expired")]
    Expired,
    #[error("Grip-Sig has the wrong issuer")]
    WrongIssuer,
    #[error("Grip-Sig does not verify: {0}")]
    Invalid(String),
    #[error("grip key is unusable: {0}")]
    Misconfigured(String),
}

/// The key that verifies the gateway's signature, with the issuer it must name.
pub struct GripSigConfig {
    algorithm: Algorithm,
    key: DecodingKey,
    issuer: Option<String>,
}

/// An EC public key as a JWK (`{"kty":"EC","crv":"P-256","x":…,"y":…}`), as Fastly publishes it.
#[derive(Deserialize)]
struct EcJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

impl GripSigConfig {
    /// `key` is a shared secret (HS256, Pushpin's `sig_key`) or a P-256 public key as a JWK
    /// (ES256, Fanout). `issuer` empty means any issuer.
    pub fn parse(key: &str, issuer: &str) -> Result<Self, GripSigError> {
        let issuer = Some(issuer.trim().to_string()).filter(|i| !i.is_empty());
        let key = key.trim();
        if key.starts_with('{') {
            let jwk: EcJwk = serde_json::from_str(key)
                .map_err(|e| GripSigError::Misconfigured(format!("grip_key JWK: {e}")))?;
            if jwk.kty != "EC" || jwk.crv != "P-256" {
                return Err(GripSigError::Misconfigured(
                    "grip_key JWK must be an EC P-256 key".into(),
                ));
            }
            let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y)
                .map_err(|e| GripSigError::Misconfigured(format!("grip_key JWK: {e}")))?;
            return Ok(Self {
                algorithm: Algorithm::ES256,
                key,
                issuer,
            });
        }
        if key.is_empty() {
            return Err(GripSigError::Misconfigured("grip_key is empty".into()));
        }
        Ok(Self {
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(key.as_bytes()),
            issuer,
        })
    }

    /// Verifies a `Grip-Sig` header value: signature, `exp` (no leeway: the gateway re-signs every
    /// request) and issuer.
    pub fn verify(&self, header: Option<&str>) -> Result<(), GripSigError> {
        let token = header
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(GripSigError::Missing)?;
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        match jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &validation) {
            Ok(_) => Ok(()),
            Err(error) => Err(match error.kind() {
                ErrorKind::ExpiredSignature => GripSigError::Expired,
                ErrorKind::InvalidIssuer => GripSigError::WrongIssuer,
                other => GripSigError::Invalid(format!("{other:?}")),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
