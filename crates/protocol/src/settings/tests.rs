use super::*;

/// The variables in `pairs`, with a usable `grip_key` unless `pairs` sets one.
fn try_config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_variables(|name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| (name == "grip_key").then(|| "k".repeat(32)))
    })
}

fn config(pairs: &[(&str, &str)]) -> Config {
    try_config(pairs).unwrap()
}

#[test]
fn origins() {
    let c = config(&[
        ("allowed_origins", "http://a.test, https://b.test/"),
        ("frontend_url", "https://app.test"),
    ]);
    assert!(c.origin_allowed(None));
    assert!(c.origin_allowed(Some("http://a.test")));
    assert!(c.origin_allowed(Some("https://b.test")));
    assert!(c.origin_allowed(Some("https://app.test/")));
    assert!(!c.origin_allowed(Some("https://evil.test")));
    assert!(config(&[("allowed_origins", "*")]).origin_allowed(Some("https://any.test")));
}

#[test]
fn numbers_and_flags() {
    let c = config(&[
        ("seq_base", "5000"),
        ("allow_legacy_broadcast_auth", "true"),
        ("grip_publish_url", "http://127.0.0.1:5561/"),
    ]);
    assert_eq!((c.seq_base, c.allow_legacy_broadcast_auth), (5000, true));
    assert_eq!(c.grip_publish_urls, ["http://127.0.0.1:5561"]);
    assert_eq!(config(&[]).seq_base, 0);
    assert_eq!(
        try_config(&[("seq_base", "12x")]).unwrap_err().to_string(),
        "`seq_base` must be a whole number, not `12x`"
    );
    assert_eq!(config(&[]).replay_window_ms, 60_000);
    assert_eq!(
        config(&[("replay_window_seconds", "5")]).replay_window_ms,
        5_000
    );
    assert!(try_config(&[("replay_window_seconds", "0")]).is_err());
}

#[test]
fn every_set_publish_url_is_published_to_in_order() {
    let c = config(&[
        ("grip_publish_url", "http://a:5561"),
        ("grip_publish_url_second", " "),
        ("grip_publish_url_third", "http://c:5561/"),
    ]);
    assert_eq!(c.grip_publish_urls, ["http://a:5561", "http://c:5561"]);
    let unused = config(&[
        ("grip_publish_url", "http://a:5561"),
        ("grip_publish_url_second", NO_GATEWAY),
        ("grip_publish_url_third", "http://none.invalid/"),
    ]);
    assert_eq!(unused.grip_publish_urls, ["http://a:5561"]);
    assert!(
        config(&[("grip_publish_url", "")])
            .grip_publish_urls
            .is_empty()
    );
}

#[test]
fn blank_origins_take_the_environments_defaults() {
    let local = config(&[("allowed_origins", ""), ("frontend_url", "")]);
    assert!(local.origin_allowed(Some("http://www-mirubato.localhost:4000")));
    assert!(local.origin_allowed(Some("http://localhost:5173")));
    let production = config(&[("environment", "production")]);
    assert!(production.origin_allowed(Some("https://mirubato.com")));
    assert!(!production.origin_allowed(Some("http://localhost:5173")));
    assert!(!production.origin_allowed(Some("https://staging.mirubato.com")));
    let staging = config(&[("environment", "staging")]);
    assert!(staging.origin_allowed(Some("https://staging.mirubato.com")));
    // An explicit list replaces the defaults; the frontend URL is still allowed.
    let explicit = config(&[("allowed_origins", "https://x.test")]);
    assert!(!explicit.origin_allowed(Some("http://localhost:5173")));
    assert!(explicit.origin_allowed(Some("http://www-mirubato.localhost:4000")));
}

#[test]
fn grip_key_and_rate_limit_errors_are_configuration_errors() {
    assert!(matches!(
        try_config(&[("grip_key", "")]),
        Err(ConfigError::GripKey(GripKeyError::Empty))
    ));
    assert!(try_config(&[("grip_key", grip_key::LOCAL_DEVELOPMENT_KEY)]).is_ok());
    assert!(matches!(
        try_config(&[
            ("environment", "production"),
            ("grip_key", grip_key::LOCAL_DEVELOPMENT_KEY)
        ]),
        Err(ConfigError::GripKey(GripKeyError::Public))
    ));
    assert_eq!(config(&[]).rate_limit_burst, 50);
    assert_eq!(config(&[("rate_limit_burst", "7")]).rate_limit_burst, 7);
    assert!(try_config(&[("rate_limit_burst", "0")]).is_err());
    assert!(try_config(&[("rate_limit_per_minute", "lots")]).is_err());
    assert!(try_config(&[("rate_limit_per_minute", "")]).is_ok());
}

#[test]
fn a_public_or_short_jwt_secret_is_a_configuration_error_outside_local() {
    let public = crate::jwt_secret::LOCAL_DEVELOPMENT_SECRET;
    assert!(try_config(&[("jwt_secret", public)]).is_ok());
    for (environment, name, secret) in [
        ("production", "jwt_secret", public),
        ("staging", "jwt_secret_previous", public),
        ("staging", "jwt_secret", "only-16-bytes-ab"),
    ] {
        let error = try_config(&[("environment", environment), (name, secret)]).unwrap_err();
        assert!(
            matches!(&error, ConfigError::JwtSecret(_)) && error.to_string().contains(name),
            "{environment} {name}: {error}"
        );
    }
}

#[test]
fn an_unknown_environment_is_an_error() {
    assert!(matches!(
        try_config(&[("environment", "prod")]),
        Err(ConfigError::Environment(_))
    ));
}
