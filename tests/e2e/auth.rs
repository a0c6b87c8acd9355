//! The auth component through the real host: the same JWT matrix the native unit tests run, here
//! verified by the wasm component composed into `tests/components/sync-probe`.

use auth::matrix::{self, Call, Setting};
use e2e::{Host, HostConfig, app_manifest, fixture_manifest};

fn host_for(setting: Setting) -> Host {
    let mut config = HostConfig::new(fixture_manifest());
    for (name, value) in setting.variables() {
        config = config.env(
            &format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    config.start().unwrap()
}

#[test]
fn jwt_matrix_through_the_host() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for setting in Setting::ALL {
        let host = host_for(setting);
        for case in matrix::cases().into_iter().filter(|c| c.setting == setting) {
            let path = match case.call {
                Call::User => "/sync-probe/verify",
                Call::Broadcast => "/sync-probe/verify-broadcast",
            };
            let reply = host.post(path, &case.token);
            let body = reply.json();
            let outcome = match (reply.status, &case.expected) {
                (200, Ok(user))
                    if case.call == Call::Broadcast || body["userId"] == user.as_str() =>
                {
                    Ok(())
                }
                (401, Err(error)) if body["error"] == error.label() => Ok(()),
                _ => Err(format!(
                    "{}: expected {:?}, got {} {body}",
                    case.name, case.expected, reply.status
                )),
            };
            checked += 1;
            if let Err(failure) = outcome {
                failures.push(failure);
            }
        }
    }
    assert_eq!(checked, matrix::cases().len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_detail_reaches_the_caller() {
    let host = host_for(Setting::Default);
    let body = host.post("/sync-probe/verify", "a.b").json();
    assert_eq!(body["error"], "malformed");
    assert_eq!(body["detail"], "expected 3 dot-separated segments, found 2");
}

#[test]
fn verified_claims_are_complete() {
    let host = host_for(Setting::Default);
    let claims = matrix::mirubato_claims("user-42");
    let token = matrix::sign_hs256(matrix::SECRET, &claims);
    let body = host.post("/sync-probe/verify", &token).json();
    assert_eq!(body["userId"], "user-42");
    assert_eq!(body["email"], "user-42@example.com");
    assert_eq!(body["issuedAt"], claims["iat"]);
    assert_eq!(body["expiresAt"], claims["exp"]);
}

const SHORT_SECRET: &str = "sixteen-bytes-ab";

#[test]
fn short_secret_is_reported_by_health_and_at_startup() {
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_JWT_SECRET", SHORT_SECRET)
        .start()
        .unwrap();
    let logs = host.wait_for_log("startup check");
    assert!(
        logs.contains("jwt_secret is 16 bytes; use at least 32"),
        "{logs}"
    );
    assert!(
        !logs.contains(SHORT_SECRET),
        "the secret reached the log:\n{logs}"
    );
    let reply = host.get("/health");
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json()["checks"]["auth"],
        "error: jwt_secret is 16 bytes; use at least 32"
    );
}

#[test]
fn short_secret_still_verifies_outside_production_but_never_in_production() {
    let token = matrix::sign_hs256(SHORT_SECRET, &matrix::mirubato_claims("u"));
    let local = HostConfig::new(fixture_manifest())
        .env("SPIN_VARIABLE_JWT_SECRET", SHORT_SECRET)
        .start()
        .unwrap();
    assert_eq!(local.post("/sync-probe/verify", &token).status, 200);
    assert_eq!(
        local.get("/sync-probe/configuration").json()["error"],
        "secret-misconfigured"
    );
    drop(local);
    let production = HostConfig::new(fixture_manifest())
        .env("SPIN_VARIABLE_JWT_SECRET", SHORT_SECRET)
        .env("SPIN_VARIABLE_ENVIRONMENT", "production")
        .start()
        .unwrap();
    let reply = production.post("/sync-probe/verify", &token);
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (401, Some("secret-misconfigured"))
    );
}
