use super::*;
use Environment::{Local, Production, Staging};

#[test]
fn the_public_secret_is_refused_outside_local_only() {
    assert_eq!(check("jwt_secret", LOCAL_DEVELOPMENT_SECRET, Local), Ok(()));
    for environment in [Staging, Production] {
        assert_eq!(
            check("jwt_secret", LOCAL_DEVELOPMENT_SECRET, environment),
            Err(JwtSecretError::Public { name: "jwt_secret" })
        );
    }
}

#[test]
fn a_short_secret_is_refused_outside_local_only() {
    let short = "only-16-bytes-ab";
    assert_eq!(check("jwt_secret_previous", short, Local), Ok(()));
    assert_eq!(
        check("jwt_secret_previous", short, Staging),
        Err(JwtSecretError::TooShort {
            name: "jwt_secret_previous",
            length: 16
        })
    );
    let enough = "x".repeat(MIN_SECRET_BYTES);
    assert_eq!(check("jwt_secret", &enough, Production), Ok(()));
    assert_eq!(check("jwt_secret_previous", "", Production), Ok(()));
}
