//! Host capabilities through a real guest (`tests/components/probe`): key-value, SQLite, variables,
//! outbound HTTP, and the manifest grants that fence them.

use e2e::{HostConfig, fixture_manifest};
use std::io::{Read, Write};
use std::net::TcpListener;

#[test]
fn key_value_and_sqlite_data_survive_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let host = HostConfig::new(fixture_manifest())
        .state_dir(state.path())
        .start()
        .unwrap();
    assert_eq!(
        host.put("/probe/kv/default/note", "kept across restarts")
            .status,
        200
    );
    assert_eq!(
        host.post("/probe/sql/default", "CREATE TABLE notes (body TEXT)")
            .status,
        200
    );
    assert_eq!(
        host.post(
            "/probe/sql/default",
            "INSERT INTO notes VALUES ('durable row')"
        )
        .status,
        200
    );
    host.stop();

    assert!(state.path().join("sqlite_key_value.db").exists());
    assert!(state.path().join("sqlite_db.db").exists());
    let host = HostConfig::new(fixture_manifest())
        .state_dir(state.path())
        .start()
        .unwrap();
    let value = host.get("/probe/kv/default/note");
    assert_eq!(
        (value.status, value.body.as_str()),
        (200, "kept across restarts")
    );
    let rows = host
        .post("/probe/sql/default", "SELECT body FROM notes")
        .json();
    assert_eq!(rows["rows"], serde_json::json!([["durable row"]]));
}

#[test]
fn sqlite_database_is_in_wal_mode() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let mode = host
        .post("/probe/sql/default", "PRAGMA journal_mode")
        .json();
    assert_eq!(mode["rows"], serde_json::json!([["wal"]]));
}

#[test]
fn variables_default_and_environment_override() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    assert_eq!(host.get("/probe/var/probe_value").body, "from-default");
    drop(host);
    let host = HostConfig::new(fixture_manifest())
        .env("SPIN_VARIABLE_PROBE_VALUE", "from-env")
        .start()
        .unwrap();
    assert_eq!(host.get("/probe/var/probe_value").body, "from-env");
    let undeclared = host.get("/probe/var/greeting");
    assert_eq!(undeclared.status, 500);
    assert!(undeclared.body.contains("Undefined"), "{}", undeclared.body);
}

#[test]
fn components_without_grants_get_access_denied() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let kv = host.put("/denied/kv/default/k", "v");
    assert_eq!(kv.status, 500);
    assert!(kv.body.contains("AccessDenied"), "{}", kv.body);
    let sql = host.post("/denied/sql/default", "SELECT 1");
    assert_eq!(sql.status, 500);
    assert!(sql.body.contains("AccessDenied"), "{}", sql.body);
    // The granted twin of the same wasm works against the same files.
    assert_eq!(host.put("/probe/kv/default/k", "v").status, 200);
    assert_eq!(host.post("/probe/sql/default", "SELECT 1").status, 200);
}

#[test]
fn unconfigured_store_label_is_no_such_store() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    // `cache` is not in the probe's grants, so the grant check answers first.
    let reply = host.get("/probe/kv/cache/k");
    assert!(reply.body.contains("AccessDenied"), "{}", reply.body);
}

/// A one-shot HTTP server on loopback that answers `200 upstream-ok`.
fn one_shot_upstream() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 4096];
        let _ = stream.read(&mut buffer);
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nupstream-ok",
        );
    });
    (port, handle)
}

#[test]
fn outbound_http_only_to_allowed_hosts() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let (port, upstream) = one_shot_upstream();
    let allowed = host.get(&format!("/probe/outbound?url=http://127.0.0.1:{port}/"));
    assert_eq!(
        (allowed.status, allowed.body.as_str()),
        (200, "200 upstream-ok")
    );
    upstream.join().unwrap();

    // `localhost` is not `127.0.0.1` in the allow-list, and the other component has no hosts at all.
    let refused = host.get(&format!("/probe/outbound?url=http://localhost:{port}/"));
    assert_eq!(refused.status, 500);
    assert!(
        refused.body.to_lowercase().contains("denied"),
        "{}",
        refused.body
    );
    let refused = host.get(&format!("/denied/outbound?url=http://127.0.0.1:{port}/"));
    assert_eq!(refused.status, 500);
    assert!(
        refused.body.to_lowercase().contains("denied"),
        "{}",
        refused.body
    );
}
