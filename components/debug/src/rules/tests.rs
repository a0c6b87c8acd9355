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
