//! `/health` through the real host and the real health component (docs/protocol.md §1).

use e2e::{HostConfig, app_manifest};

#[test]
fn get_reports_healthy_with_every_documented_field() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let reply = host.get("/health");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["service"], "sync-worker");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["environment"], "local");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["checks"]["sqlite"], "ok");
    assert_eq!(body["checks"]["kv"], "ok");
    assert_eq!(body["checks"]["auth"], "ok");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24 && timestamp.as_bytes()[10] == b'T',
        "{timestamp}"
    );
}

#[test]
fn head_answers_200_without_a_body() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let reply = host.head("/health");
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.is_empty(),
        "HEAD returned a body: {}",
        reply.body
    );
}

#[test]
fn other_methods_get_405_json() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let reply = host.post("/health", "{}");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(reply.json()["error"], "Method not allowed");
}

#[test]
fn unknown_route_gets_404_json() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let reply = host.get("/no/such/route");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(reply.json()["error"], "Not found");
}

#[test]
fn environment_comes_from_the_variable_override() {
    let host = HostConfig::new(app_manifest())
        .env("SPIN_VARIABLE_ENVIRONMENT", "staging")
        .start()
        .unwrap();
    assert_eq!(host.get("/health").json()["environment"], "staging");
}

/// Puts a directory where `file` belongs, so SQLite cannot open it, and expects /health to blame
/// `failing` while `working` still answers.
fn assert_503_when_unusable(file: &str, failing: &str, working: &str) {
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir(state.path().join(file)).unwrap();
    let host = HostConfig::new(app_manifest())
        .state_dir(state.path())
        .start()
        .unwrap();
    let reply = host.get("/health");
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["checks"][failing]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{body}"
    );
    assert_eq!(body["checks"][working], "ok");
}

#[test]
fn unusable_sqlite_database_makes_health_503() {
    assert_503_when_unusable("sqlite_db.db", "sqlite", "kv");
}

#[test]
fn unusable_key_value_file_makes_health_503() {
    assert_503_when_unusable("sqlite_key_value.db", "kv", "sqlite");
}
