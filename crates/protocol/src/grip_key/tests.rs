use super::*;
use Environment::{Local, Production, Staging};

const JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"CKo5A1ebyFcnmVV8SE5On-8G81JyBjSvcrx4VLetWCg","y":"7gwJqaU6N8TP88--twjkwoB36f-pT3QsmI46nPhjO7M"}"#;

#[test]
fn public_and_short_keys_pass_only_locally() {
    assert_eq!(check(LOCAL_DEVELOPMENT_KEY, Local), Ok(()));
    assert_eq!(check("short", Local), Ok(()));
    assert_eq!(
        check(LOCAL_DEVELOPMENT_KEY, Production),
        Err(GripKeyError::Public)
    );
    assert_eq!(check("changeme", Staging), Err(GripKeyError::Public));
    assert_eq!(
        check("0123456789abcdef", Production),
        Err(GripKeyError::TooShort { length: 16 })
    );
    assert_eq!(check(&"k".repeat(32), Production), Ok(()));
}

#[test]
fn empty_and_malformed_keys_fail_everywhere() {
    for environment in [Local, Staging, Production] {
        assert_eq!(check("  ", environment), Err(GripKeyError::Empty));
        assert!(matches!(
            check("{not json", environment),
            Err(GripKeyError::NotAnEcJwk(_))
        ));
        assert!(matches!(
            check(
                r#"{"kty":"RSA","crv":"P-256","x":"a","y":"b"}"#,
                environment
            ),
            Err(GripKeyError::NotAnEcJwk(_))
        ));
        assert_eq!(check(JWK, environment), Ok(()));
    }
}
