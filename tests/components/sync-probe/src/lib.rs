//! Fixture HTTP component with the coordinator's world: it imports `mirubato:auth/auth` and
//! `mirubato:rate-limit/rate-limit` (satisfied by spin.toml dependencies) and exposes them over
//! HTTP so tests can drive the real wasm components through the host. Routes, below any prefix:
//! - `POST …/verify`, `POST …/verify-broadcast`: body = token; 200 claims or 401 `{"error":case}`.
//! - `GET …/configuration`: 200 or 500 `{"error":case,"detail":…}`.
//! - `POST …/check?<key>&<cost>`: 200 decision or 500 `{"error":case}`.

// `generate_all`: the interfaces live in their own packages (`wit/deps`), not the worlds' package.
wit_bindgen::generate!({ path: "../../../wit", world: "coordinator", generate_all });

use mirubato::auth::auth::{self, AuthError};
use mirubato::rate_limit::rate_limit::{self, RateLimitError};
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let body = String::from_utf8_lossy(req.body()).into_owned();
    let (status, reply) = match (req.method(), req.path().rsplit('/').next()) {
        (Method::Post, Some("verify")) => match auth::verify(&body) {
            Ok(c) => (
                200,
                json!({"userId": c.user_id, "email": c.email, "issuedAt": c.issued_at, "expiresAt": c.expires_at}),
            ),
            Err(e) => (401, auth_error(e)),
        },
        (Method::Post, Some("verify-broadcast")) => match auth::verify_broadcast(&body) {
            Ok(c) => (200, json!({"expiresAt": c.expires_at})),
            Err(e) => (401, auth_error(e)),
        },
        (Method::Get, Some("configuration")) => match auth::check_configuration() {
            Ok(()) => (200, json!({"ok": true})),
            Err(e) => (500, auth_error(e)),
        },
        (Method::Post, Some("check")) => {
            let query = req.query().to_string();
            let mut parts = query.split('&');
            let key = parts.next().unwrap_or_default();
            let cost = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
            match rate_limit::check(key, cost) {
                Ok(d) => (
                    200,
                    json!({"allowed": d.allowed, "remaining": d.remaining, "retryAfterMs": d.retry_after_ms}),
                ),
                Err(e) => (500, rate_limit_error(e)),
            }
        }
        _ => (404, json!({"error": "no such route"})),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(reply.to_string())
        .build()
}

fn auth_error(error: AuthError) -> Value {
    let (case, detail) = match error {
        AuthError::Malformed(why) => ("malformed", why),
        AuthError::TooLarge => ("too-large", String::new()),
        AuthError::BadSignature => ("bad-signature", String::new()),
        AuthError::Expired => ("expired", String::new()),
        AuthError::NotYetValid => ("not-yet-valid", String::new()),
        AuthError::WrongAlgorithm => ("wrong-algorithm", String::new()),
        AuthError::MissingSubject => ("missing-subject", String::new()),
        AuthError::WrongAudience => ("wrong-audience", String::new()),
        AuthError::WrongIssuer => ("wrong-issuer", String::new()),
        AuthError::WrongType => ("wrong-type", String::new()),
        AuthError::LifetimeTooLong => ("lifetime-too-long", String::new()),
        AuthError::SecretMisconfigured(why) => ("secret-misconfigured", why),
    };
    json!({"error": case, "detail": detail})
}

fn rate_limit_error(error: RateLimitError) -> Value {
    match error {
        RateLimitError::StoreUnavailable(why) => {
            json!({"error": "store-unavailable", "detail": why})
        }
        RateLimitError::Misconfigured(why) => json!({"error": "misconfigured", "detail": why}),
        RateLimitError::InvalidCost(cost) => {
            json!({"error": "invalid-cost", "detail": cost.to_string()})
        }
    }
}
