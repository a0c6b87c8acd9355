use super::*;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

/// A P-256 key pair generated for these tests only (PKCS#8 DER, base64) and its public point.
const TEST_EC_PRIVATE_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWCBr8dxj4duZAfA33HkpQSKDfKDho+p1xMMfqFJe4R6hRANCAATNocQMfL33DhwdE8qzFjgikZdvPJpwI3LYmIQ1W+XFHyk+6bQS5Dmbr/klZVx/Qi3GSiK+DX01UYIe+RGjJ9K4";
const TEST_EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"zaHEDHy99w4cHRPKsxY4IpGXbzyacCNy2JiENVvlxR8","y":"KT7ptBLkOZuv-SVlXH9CLcZKIr4NfTVRgh75EaMn0rg"}"#;
/// Fastly's published Fanout key: parses, and refuses a signature from any other key.
const FASTLY_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"CKo5A1ebyFcnmVV8SE5On-8G81JyBjSvcrx4VLetWCg","y":"7gwJqaU6N8TP88--twjkwoB36f-pT3QsmI46nPhjO7M"}"#;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs256(key: &str, iss: &str, exp: i64) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": iss, "exp": exp}),
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn es256(iss: &str, exp: i64) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(TEST_EC_PRIVATE_PKCS8)
        .unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &json!({"iss": iss, "exp": exp}),
        &EncodingKey::from_ec_der(&der),
    )
    .unwrap()
}

#[test]
fn pushpin_hs256() {
    let config = GripSigConfig::parse("grip-test-key", "mirubato-gateway").unwrap();
    let exp = now() + 3600;
    assert_eq!(
        config.verify(Some(&hs256("grip-test-key", "mirubato-gateway", exp))),
        Ok(())
    );
    assert_eq!(config.verify(None), Err(GripSigError::Missing));
    assert_eq!(config.verify(Some("")), Err(GripSigError::Missing));
    assert_eq!(
        config.verify(Some(&hs256("grip-test-key", "mirubato-gateway", now() - 5))),
        Err(GripSigError::Expired)
    );
    assert_eq!(
        config.verify(Some(&hs256("grip-test-key", "pushpin", exp))),
        Err(GripSigError::WrongIssuer)
    );
    assert!(matches!(
        config.verify(Some(&hs256("changeme", "mirubato-gateway", exp))),
        Err(GripSigError::Invalid(_))
    ));
    assert!(matches!(
        config.verify(Some("not.a.jwt")),
        Err(GripSigError::Invalid(_))
    ));
    // An ES256 token cannot stand in for the HS256 key.
    assert!(matches!(
        config.verify(Some(&es256("mirubato-gateway", exp))),
        Err(GripSigError::Invalid(_))
    ));
}

#[test]
fn fanout_es256() {
    let config = GripSigConfig::parse(TEST_EC_JWK, "fastly:service-1").unwrap();
    let exp = now() + 3600;
    assert_eq!(config.verify(Some(&es256("fastly:service-1", exp))), Ok(()));
    assert_eq!(
        config.verify(Some(&es256("fastly:other", exp))),
        Err(GripSigError::WrongIssuer)
    );
    // An HS256 token signed with the public key's text must not pass (algorithm confusion).
    assert!(matches!(
        config.verify(Some(&hs256(TEST_EC_JWK, "fastly:service-1", exp))),
        Err(GripSigError::Invalid(_))
    ));
    let fastly = GripSigConfig::parse(FASTLY_JWK, "").unwrap();
    assert!(matches!(
        fastly.verify(Some(&es256("fastly:service-1", exp))),
        Err(GripSigError::Invalid(_))
    ));
}

#[test]
fn unusable_keys_are_configuration_errors() {
    assert!(matches!(
        GripSigConfig::parse("", "x"),
        Err(GripSigError::Misconfigured(_))
    ));
    assert!(matches!(
        GripSigConfig::parse("{not json", "x"),
        Err(GripSigError::Misconfigured(_))
    ));
    assert!(matches!(
        GripSigConfig::parse(r#"{"kty":"RSA","crv":"P-256","x":"a","y":"b"}"#, "x"),
        Err(GripSigError::Misconfigured(_))
    ));
}
