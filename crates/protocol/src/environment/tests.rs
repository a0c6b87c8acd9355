use super::*;

#[test]
fn parses_the_three_environments_and_refuses_others() {
    assert_eq!(Environment::parse(""), Ok(Environment::Local));
    assert_eq!(Environment::parse(" staging "), Ok(Environment::Staging));
    assert_eq!(
        Environment::parse("production"),
        Ok(Environment::Production)
    );
    let error = Environment::parse("prod").unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown environment `prod`: set `environment` to local, staging or production"
    );
}

#[test]
fn defaults_follow_the_seed_table() {
    let local = Environment::Local;
    assert_eq!(local.frontend_url(), "http://www-mirubato.localhost:4000");
    assert_eq!(local.api_url(), "http://api-mirubato.localhost:9797");
    assert_eq!(local.rate_limit_per_minute(), 1000);
    assert!(local.allowed_origins().contains(&"http://localhost:5173"));
    assert_eq!(
        Environment::Staging.frontend_url(),
        "https://staging.mirubato.com"
    );
    assert_eq!(
        Environment::Staging.api_url(),
        "https://api-staging.mirubato.com"
    );
    assert_eq!(
        Environment::Production.frontend_url(),
        "https://mirubato.com"
    );
    assert_eq!(
        Environment::Production.api_url(),
        "https://api.mirubato.com"
    );
    assert_eq!(Environment::Production.rate_limit_per_minute(), 100);
    assert!(Environment::Production.allowed_origins().is_empty());
}

#[test]
fn explicit_values_win_over_defaults() {
    assert_eq!(or_default(Some(" x ".into()), "d"), "x");
    assert_eq!(or_default(Some("  ".into()), "d"), "d");
    assert_eq!(or_default(None, "d"), "d");
}
