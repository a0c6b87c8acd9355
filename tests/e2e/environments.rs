//! Drop-in defaults for the Mirubato frontend (the seed's table): the gateway where the frontend's
//! dev build connects, and per-`environment` defaults for origins, the API URL and the message rate
//! whenever a variable is not set explicitly.

use e2e::device::{self, Device};
use e2e::{Host, HostConfig, app_manifest};

/// The frontend dev server's origin (the seed's local `FRONTEND_URL`).
const DEV_ORIGIN: &str = "http://www-mirubato.localhost:4000";

/// The frontend's dev build connects from its dev origin to the gateway (`ws://localhost:8787` by
/// default: `sync-host`'s own tests check that default, so this one takes a port the OS picks and
/// never collides with a host a developer is running), and plain HTTP on the same port reaches
/// `/health`.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_the_frontends_dev_build_and_health_on_one_port() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    let token = device::token("alice", 3600);
    let device = Device::try_connect(&host.gateway_url, "alice", &token, Some(DEV_ORIGIN))
        .await
        .unwrap_or_else(|refusal| panic!("the dev origin was refused: {refusal:?}"));
    assert_eq!(device.welcome["type"], "WELCOME");
    let health_url = format!(
        "{}/health",
        host.gateway_url.replacen("ws://", "http://", 1)
    );
    let health = Host::agent()
        .get(&health_url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["environment"].as_str(), health["apiUrl"].as_str()),
        (Some("local"), Some("http://api-mirubato.localhost:9797"))
    );
}

async fn origin_allowed(host: &Host, origin: &str) -> bool {
    let token = device::token("alice", 3600);
    match Device::try_connect(&host.gateway_url, "alice", &token, Some(origin)).await {
        Ok(_) => true,
        Err(refusal) => {
            assert_eq!(
                (refusal.status, refusal.body["error"].as_str()),
                (403, Some("Origin not allowed"))
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_environment_has_its_own_origins_and_api_url() {
    for (environment, allowed, refused, api) in [
        (
            "local",
            vec![DEV_ORIGIN, "http://localhost:5173"],
            vec!["https://mirubato.com"],
            "http://api-mirubato.localhost:9797",
        ),
        (
            "staging",
            vec!["https://staging.mirubato.com"],
            vec![DEV_ORIGIN, "http://localhost:5173", "https://mirubato.com"],
            "https://api-staging.mirubato.com",
        ),
        (
            "production",
            vec!["https://mirubato.com"],
            vec![DEV_ORIGIN, "https://staging.mirubato.com"],
            "https://api.mirubato.com",
        ),
    ] {
        let host = HostConfig::new(app_manifest())
            .env("SPIN_VARIABLE_ENVIRONMENT", environment)
            .start()
            .unwrap();
        let health = host.get("/health").json();
        assert_eq!(health["environment"], environment);
        assert_eq!(health["apiUrl"], api);
        for origin in allowed {
            assert!(
                origin_allowed(&host, origin).await,
                "{environment}: {origin}"
            );
        }
        for origin in refused {
            assert!(
                !origin_allowed(&host, origin).await,
                "{environment}: {origin}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_settings_replace_the_environments_defaults() {
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_ENVIRONMENT", "production")
        .env("SPIN_VARIABLE_FRONTEND_URL", "https://beta.mirubato.test")
        .env("SPIN_VARIABLE_API_URL", "https://api.beta.mirubato.test")
        .start()
        .unwrap();
    assert_eq!(
        host.get("/health").json()["apiUrl"],
        "https://api.beta.mirubato.test"
    );
    assert!(origin_allowed(&host, "https://beta.mirubato.test").await);
    assert!(!origin_allowed(&host, "https://mirubato.com").await);
}

#[test]
fn an_unknown_environment_stops_startup_with_a_message() {
    let (status, stderr) = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_ENVIRONMENT", "prod")
        .run_until_exit()
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(
            "unknown environment `prod`: set `environment` to local, staging or production"
        ),
        "{stderr}"
    );
}

/// Behind an external gateway the app verifies `Grip-Sig` with `grip_key`: outside `local` a public
/// or short key would let anyone who reaches the app port sign their own `Meta-User-Id`.
#[test]
fn outside_local_a_public_or_short_grip_key_stops_startup() {
    for (key, why) in [
        (None, "`grip_key` is the public development key"),
        (Some("0123456789abcdef"), "`grip_key` is 16 bytes"),
    ] {
        let mut config = HostConfig::new(app_manifest())
            .through_pushpin(false)
            .env("SPIN_VARIABLE_ENVIRONMENT", "production");
        if let Some(key) = key {
            config = config.env("SPIN_VARIABLE_GRIP_KEY", key);
        }
        let (status, stderr) = config.run_until_exit_with_args(&["--no-gateway"]).unwrap();
        assert!(!status.success());
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("0123456789abcdef"), "the key was logged");
    }
    // Locally the development key is fine, and a long secret is fine anywhere.
    HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start_with_args(&["--no-gateway"])
        .unwrap();
    HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_ENVIRONMENT", "production")
        .env("SPIN_VARIABLE_GRIP_KEY", &"k".repeat(32))
        .start_with_args(&["--no-gateway"])
        .unwrap();
}

/// `scripts/run` prints the development JWT secret, so anyone can sign a token for any user with
/// it: outside `local` it must stop startup, and so must a secret too short to be one, current or
/// previous. It used to start and serve (`/health` 200, and a token signed with it opened a socket).
#[test]
fn outside_local_a_public_or_short_jwt_secret_stops_startup() {
    let public = protocol::jwt_secret::LOCAL_DEVELOPMENT_SECRET;
    let long = "s".repeat(40);
    for (environment, secret, previous, why) in [
        (
            "production",
            public,
            "",
            "`jwt_secret` is the public local development secret",
        ),
        (
            "staging",
            public,
            "",
            "`jwt_secret` is the public local development secret",
        ),
        (
            "staging",
            long.as_str(),
            public,
            "`jwt_secret_previous` is the public local development secret",
        ),
        (
            "production",
            long.as_str(),
            "only-16-bytes-ab",
            "`jwt_secret_previous` is 16 bytes",
        ),
    ] {
        let (status, stderr) = HostConfig::new(app_manifest())
            .through_pushpin(false)
            .env("SPIN_VARIABLE_ENVIRONMENT", environment)
            .env("SPIN_VARIABLE_GRIP_KEY", &"k".repeat(32))
            .env("SPIN_VARIABLE_JWT_SECRET", secret)
            .env("SPIN_VARIABLE_JWT_SECRET_PREVIOUS", previous)
            .run_until_exit_with_args(&["--no-gateway"])
            .unwrap();
        assert!(!status.success(), "{environment}: started");
        assert!(stderr.contains(why), "{environment}: {stderr}");
        assert!(!stderr.contains(public), "the secret was logged");
        assert!(
            !stderr.contains("only-16-bytes-ab"),
            "the secret was logged"
        );
    }
    // Locally the development secret is what scripts/run supplies.
    HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_JWT_SECRET", public)
        .start_with_args(&["--no-gateway"])
        .unwrap();
}

/// A `seq_base` that is not a number used to fall back to 0: a migrated user's seqs would then
/// restart below the original service's, and devices would skip everything until they passed it.
#[test]
fn a_seq_base_that_is_not_a_number_stops_startup() {
    let (status, stderr) = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_SEQ_BASE", "12x")
        .run_until_exit()
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("`seq_base` must be a whole number, not `12x`"),
        "{stderr}"
    );
}
