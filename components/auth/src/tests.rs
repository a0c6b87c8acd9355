use crate::matrix::{self, Call, Setting};
use crate::rules::{self, AuthConfig, AuthError};

fn config(setting: Setting) -> AuthConfig {
    let variables = setting.variables();
    AuthConfig::from_variables(|name| {
        variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
}

#[test]
fn jwt_matrix() {
    let mut failures = Vec::new();
    for case in matrix::cases() {
        let config = config(case.setting);
        let outcome = match case.call {
            Call::User => rules::verify_user(&case.token, &config).map(|c| c.user_id),
            Call::Broadcast => rules::verify_broadcast(&case.token, &config, rules::unix_now())
                .map(|_| String::new()),
        };
        if outcome != case.expected {
            failures.push(format!(
                "{}: expected {:?}, got {outcome:?}",
                case.name, case.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_token_carries_every_claim() {
    let claims = matrix::mirubato_claims("user-9");
    let token = matrix::sign_hs256(matrix::SECRET, &claims);
    let verified = rules::verify_user(&token, &config(Setting::Default)).unwrap();
    assert_eq!(verified.user_id, "user-9");
    assert_eq!(verified.email.as_deref(), Some("user-9@example.com"));
    assert_eq!(verified.issued_at, claims["iat"].as_i64());
    assert_eq!(Some(verified.expires_at), claims["exp"].as_i64());
}

fn with(secret: &str, environment: &str, leeway: Option<&str>) -> AuthConfig {
    AuthConfig::from_variables(|name| match name {
        "jwt_secret" => Some(secret.to_string()),
        "environment" => Some(environment.to_string()),
        "jwt_leeway_seconds" => leeway.map(str::to_string),
        _ => None,
    })
}

#[test]
fn missing_secret_refuses_everything() {
    let config = with("", "local", None);
    assert!(matches!(
        config.check(),
        Err(AuthError::SecretMisconfigured(_))
    ));
    let token = matrix::sign_hs256("", &matrix::mirubato_claims("u"));
    assert!(matches!(
        rules::verify_user(&token, &config),
        Err(AuthError::SecretMisconfigured(_))
    ));
}

#[test]
fn short_secret_is_reported_and_refused_only_in_production() {
    let short = "only-16-bytes-ab";
    let token = matrix::sign_hs256(short, &matrix::mirubato_claims("u"));
    let local = with(short, "local", None);
    let error = local.check().unwrap_err();
    assert!(
        matches!(&error, AuthError::SecretMisconfigured(why) if why.contains("16 bytes")),
        "{error:?}"
    );
    assert_eq!(rules::verify_user(&token, &local).unwrap().user_id, "u");
    let production = with(short, "production", None);
    assert!(matches!(
        rules::verify_user(&token, &production),
        Err(AuthError::SecretMisconfigured(_))
    ));
}

#[test]
fn leeway_is_bounded() {
    assert!(with(matrix::SECRET, "local", Some("60")).check().is_ok());
    assert!(matches!(
        with(matrix::SECRET, "local", Some("61")).check(),
        Err(AuthError::SecretMisconfigured(_))
    ));
    assert!(matches!(
        with(matrix::SECRET, "local", Some("soon")).check(),
        Err(AuthError::SecretMisconfigured(_))
    ));
    // Leeway 0: a token expired 10 s ago is refused; the default 30 s accepts it.
    let mut claims = matrix::mirubato_claims("u");
    claims["exp"] = (rules::unix_now() - 10).into();
    let token = matrix::sign_hs256(matrix::SECRET, &claims);
    assert_eq!(
        rules::verify_user(&token, &with(matrix::SECRET, "local", Some("0"))),
        Err(AuthError::Expired)
    );
    assert!(rules::verify_user(&token, &with(matrix::SECRET, "local", None)).is_ok());
}

#[test]
fn every_setting_has_a_case() {
    let cases = matrix::cases();
    for setting in Setting::ALL {
        assert!(cases.iter().any(|c| c.setting == setting), "{setting:?}");
    }
}
