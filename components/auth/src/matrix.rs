//! The JWT test matrix: each case's token, the configuration it runs under and the outcome it must
//! have. Shared by the native unit tests and the end-to-end tests that run the same cases through
//! the host and the wasm component.

use crate::rules::{AuthError, BROADCAST_TYPE};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const SECRET: &str = "matrix-secret-0123456789abcdef-0123456789";
pub const PREVIOUS_SECRET: &str = "matrix-previous-secret-0123456789abcdef";
pub const AUDIENCE: &str = "mirubato-sync";
pub const ISSUER: &str = "mirubato-api";

/// The configuration a case runs under, as component variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Default,
    WithPreviousSecret,
    WithAudienceAndIssuer,
}

impl Setting {
    pub const ALL: [Setting; 3] = [
        Setting::Default,
        Setting::WithPreviousSecret,
        Setting::WithAudienceAndIssuer,
    ];

    pub fn variables(self) -> Vec<(&'static str, &'static str)> {
        let mut variables = vec![("jwt_secret", SECRET)];
        match self {
            Setting::Default => {}
            Setting::WithPreviousSecret => variables.push(("jwt_secret_previous", PREVIOUS_SECRET)),
            Setting::WithAudienceAndIssuer => {
                variables.extend([("jwt_audience", AUDIENCE), ("jwt_issuer", ISSUER)]);
            }
        }
        variables
    }
}

/// Which verification a case calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    User,
    Broadcast,
}

pub struct Case {
    pub name: &'static str,
    pub setting: Setting,
    pub call: Call,
    pub token: String,
    /// `Ok(user id)` (empty for broadcast) or the error.
    pub expected: Result<String, AuthError>,
}

pub use crate::rules::unix_now as now;

/// Signs `claims` with `algorithm` and `secret` through jsonwebtoken.
pub fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing a test token")
}

/// Signs `claims` with HS256, as the Mirubato API does.
pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    sign(Algorithm::HS256, secret, claims)
}

/// A token shaped as the Mirubato API issues them: 30-day expiry.
pub fn mirubato_claims(user: &str) -> Value {
    let now = now();
    json!({"sub": user, "email": format!("{user}@example.com"), "iat": now, "exp": now + 30 * 86_400})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn with_claim(key: &str, value: Value) -> Value {
    let mut claims = mirubato_claims("user-1");
    claims[key] = value;
    claims
}

fn without_claim(key: &str) -> Value {
    let mut claims = mirubato_claims("user-1");
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// Every case of the matrix. Long because it is the table itself, one `case(…)` a row: split up,
/// the rows could no longer be read side by side.
pub fn cases() -> Vec<Case> {
    use AuthError::*;
    let now = now();
    let hs256 = |claims: Value| sign(Algorithm::HS256, SECRET, &claims);
    let valid = hs256(mirubato_claims("user-1"));
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(&mirubato_claims("someone-else")),
            parts[2]
        )
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&mirubato_claims("user-1"))
    );
    let rs256 = {
        let parts: Vec<&str> = valid.split('.').collect();
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "typ": "JWT"})),
            parts[1],
            parts[2]
        )
    };
    let oversized = hs256(with_claim("padding", json!("x".repeat(9 * 1024))));
    let broadcast = |lifetime: i64| {
        sign(
            Algorithm::HS256,
            SECRET,
            &json!({"typ": BROADCAST_TYPE, "iat": now, "exp": now + lifetime}),
        )
    };
    let ok = |user: &str| Ok(user.to_string());
    let case = |name, setting, call, token: String, expected| Case {
        name,
        setting,
        call,
        token,
        expected,
    };
    use Call::{Broadcast, User};
    use Setting::*;
    vec![
        case(
            "valid Mirubato token",
            Default,
            User,
            valid.clone(),
            ok("user-1"),
        ),
        case("alg none", Default, User, unsigned, Err(WrongAlgorithm)),
        case(
            "HS384 with the right secret",
            Default,
            User,
            sign(Algorithm::HS384, SECRET, &mirubato_claims("user-1")),
            Err(WrongAlgorithm),
        ),
        case(
            "HS512 with the right secret",
            Default,
            User,
            sign(Algorithm::HS512, SECRET, &mirubato_claims("user-1")),
            Err(WrongAlgorithm),
        ),
        case("RS256 header", Default, User, rs256, Err(WrongAlgorithm)),
        case(
            "expired beyond leeway",
            Default,
            User,
            hs256(with_claim("exp", json!(now - 120))),
            Err(Expired),
        ),
        case(
            "expired within leeway",
            Default,
            User,
            hs256(with_claim("exp", json!(now - 10))),
            ok("user-1"),
        ),
        case(
            "missing exp",
            Default,
            User,
            hs256(without_claim("exp")),
            Err(Malformed("missing required claim `exp`".into())),
        ),
        case(
            "nbf in the future",
            Default,
            User,
            hs256(with_claim("nbf", json!(now + 600))),
            Err(NotYetValid),
        ),
        case(
            "wrong secret",
            Default,
            User,
            sign(
                Algorithm::HS256,
                "another-secret-0123456789abcdef-0123456789",
                &mirubato_claims("user-1"),
            ),
            Err(BadSignature),
        ),
        case(
            "payload tampered after signing",
            Default,
            User,
            tampered,
            Err(BadSignature),
        ),
        case(
            "missing sub",
            Default,
            User,
            hs256(without_claim("sub")),
            Err(MissingSubject),
        ),
        case(
            "empty sub",
            Default,
            User,
            hs256(with_claim("sub", json!(""))),
            Err(MissingSubject),
        ),
        case(
            "non-string sub",
            Default,
            User,
            hs256(with_claim("sub", json!(42))),
            Err(MissingSubject),
        ),
        case(
            "garbage",
            Default,
            User,
            "this is not a token".into(),
            Err(Malformed(
                "expected 3 dot-separated segments, found 1".into(),
            )),
        ),
        case(
            "two segments",
            Default,
            User,
            "aGVhZGVy.cGF5bG9hZA".into(),
            Err(Malformed(
                "expected 3 dot-separated segments, found 2".into(),
            )),
        ),
        case(
            "four segments",
            Default,
            User,
            format!("{valid}.extra"),
            Err(Malformed(
                "expected 3 dot-separated segments, found 4".into(),
            )),
        ),
        case(
            "bad base64",
            Default,
            User,
            "!!!.###.$$$".into(),
            Err(Malformed("header is not base64url".into())),
        ),
        case("9 KiB token", Default, User, oversized, Err(TooLarge)),
        case(
            "previous secret accepted",
            WithPreviousSecret,
            User,
            sign(
                Algorithm::HS256,
                PREVIOUS_SECRET,
                &mirubato_claims("user-2"),
            ),
            ok("user-2"),
        ),
        case(
            "current secret during rotation",
            WithPreviousSecret,
            User,
            valid.clone(),
            ok("user-1"),
        ),
        case(
            "previous secret not configured",
            Default,
            User,
            sign(
                Algorithm::HS256,
                PREVIOUS_SECRET,
                &mirubato_claims("user-2"),
            ),
            Err(BadSignature),
        ),
        case(
            "audience and issuer match",
            WithAudienceAndIssuer,
            User,
            hs256(json!({"sub": "user-3", "aud": AUDIENCE, "iss": ISSUER, "exp": now + 600})),
            ok("user-3"),
        ),
        case(
            "audience mismatched",
            WithAudienceAndIssuer,
            User,
            hs256(json!({"sub": "user-3", "aud": "elsewhere", "iss": ISSUER, "exp": now + 600})),
            Err(WrongAudience),
        ),
        case(
            "issuer mismatched",
            WithAudienceAndIssuer,
            User,
            hs256(json!({"sub": "user-3", "aud": AUDIENCE, "iss": "elsewhere", "exp": now + 600})),
            Err(WrongIssuer),
        ),
        case(
            "broadcast token",
            Default,
            Broadcast,
            broadcast(120),
            ok(""),
        ),
        case(
            "broadcast token used as a user token",
            Default,
            User,
            broadcast(120),
            Err(WrongType),
        ),
        case(
            "user token used for broadcast",
            Default,
            Broadcast,
            valid,
            Err(WrongType),
        ),
        case(
            "broadcast token living an hour",
            Default,
            Broadcast,
            broadcast(3600),
            Err(LifetimeTooLong),
        ),
    ]
}
