//! `--runtime-config-file`: the shipped runtime configs run on `sync-host` and put the data where
//! they say; a mistake stops startup with a message naming it.

use e2e::device::{Device, timestamp};
use e2e::redis::Redis;
use e2e::{HostConfig, app_manifest, temporary_manifest, wasm, workspace_root};
use serde_json::json;
use std::path::Path;

/// Writes one mutation for `user` through `host` and waits for its ack.
async fn write_one(host: &e2e::Host, user: &str) {
    let mut device = Device::connect(&host.gateway_url, user).await;
    device
        .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
            "entry": {"id": "rc-1", "duration": 1}}))
        .await;
    let (ack, _) = device.recv_until("SYNC_RESPONSE").await;
    assert_eq!(ack["streamSeq"], 1, "{ack}");
}

fn rows_of(database: &Path, user: &str) -> i64 {
    rusqlite::Connection::open(database)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM entities WHERE user_id = ?1",
            [user],
            |row| row.get(0),
        )
        .unwrap()
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("deploy").join(name)).unwrap()
}

/// `deploy/runtime-config/files.toml`, unchanged, in an operator's directory: the key-value file
/// lands beside the config, the database under the working directory, and not in the state dir.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_files_config_puts_each_store_where_it_says() {
    let config_dir = tempfile::tempdir().unwrap();
    let work_dir = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("runtime-config.toml");
    std::fs::write(&config, shipped("runtime-config/files.toml")).unwrap();
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .current_dir(work_dir.path())
        .state_dir(state_dir.path())
        .start_with_args(&["--runtime-config-file", config.to_str().unwrap()])
        .unwrap();
    write_one(&host, "files-user").await;
    assert_eq!(
        rows_of(&work_dir.path().join("state/sqlite_db.db"), "files-user"),
        1
    );
    assert!(config_dir.path().join("state/sqlite_key_value.db").exists());
    assert!(!state_dir.path().join("sqlite_db.db").exists());
    assert!(!state_dir.path().join("sqlite_key_value.db").exists());
}

/// `deploy/runtime-config/redis.toml` with only its Redis URL pointed at this test's server: the
/// key-value store is Redis (`/health` reads it, and fails once Redis is gone), the database the
/// file, which holds the rate limiter's state too (since issue 25; it was in key-value).
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_redis_config_puts_key_value_in_redis() {
    let redis = Redis::start().unwrap();
    let text = shipped("runtime-config/redis.toml");
    assert!(text.contains("url = \"redis://127.0.0.1:6379\""));
    let work_dir = tempfile::tempdir().unwrap();
    let config = work_dir.path().join("runtime-config.toml");
    std::fs::write(&config, text.replace("redis://127.0.0.1:6379", &redis.url)).unwrap();
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .current_dir(work_dir.path())
        .start_with_args(&["--runtime-config-file", config.to_str().unwrap()])
        .unwrap();
    write_one(&host, "redis-user").await;
    let database = work_dir.path().join("state/sqlite_db.db");
    assert_eq!(rows_of(&database, "redis-user"), 1);
    let rate_state: i64 = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM rate_limits WHERE key = 'messages:redis-user'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rate_state, 1);
    assert!(!host.state_dir().join("sqlite_key_value.db").exists());
    let health = host.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    drop(redis);
    let health = host.get("/health");
    assert_eq!(health.status, 503, "{}", health.body);
    let checks: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert!(
        checks["checks"]["kv"]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{}",
        health.body
    );
}

fn refused_with(config_text: &str, manifest: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, config_text).unwrap();
    let (status, stderr) = HostConfig::new(manifest.to_path_buf())
        .through_pushpin(false)
        .run_expecting_failure_with_args(&["--runtime-config-file", config.to_str().unwrap()])
        .unwrap();
    assert!(!status.success());
    stderr
}

#[test]
fn a_mistake_in_the_runtime_config_stops_startup_and_is_named() {
    let turso_without_scheme = shipped("spinkube/runtime-config.toml").replace(
        "https://mirubato-sync-REPLACE.turso.io",
        "mirubato-sync-REPLACE.turso.io",
    );
    for (text, expected) in [
        (
            turso_without_scheme.as_str(),
            "[sqlite_database.default]: `url` must be an http://, https:// or libsql:// URL",
        ),
        (
            "[llm_compute]\ntype = \"spin\"\n",
            "`llm_compute` (LLM inferencing) is a Spin",
        ),
        ("[key_values]\n", "unknown table [key_values]"),
        (
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\ndb = 2\n",
            "[key_value_store.default]: unknown field `db`, expected `url`",
        ),
        (
            "[sqlite_database.default]\ntype = \"postgres\"\n",
            "[sqlite_database.default]: unknown variant `postgres`, expected `spin` or `libsql`",
        ),
        ("[sqlite_database.default\n", "is not valid TOML"),
    ] {
        let stderr = refused_with(text, &app_manifest());
        assert!(stderr.contains(expected), "{text}\n---\n{stderr}");
        // The Turso token in the SpinKube example never reaches the log.
        assert!(!stderr.contains("REPLACE-WITH-TURSO-TOKEN"), "{stderr}");
    }
    let (status, stderr) = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .run_expecting_failure_with_args(&["--runtime-config-file", "/nonexistent/rc.toml"])
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("cannot read runtime config /nonexistent/rc.toml"),
        "{stderr}"
    );
}

/// A component's label must be defined: Spin refuses to start otherwise, and so does this host.
#[test]
fn a_label_a_component_uses_must_be_defined() {
    let body = format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = {:?}\n\
         key_value_stores = [\"cache\"]\nsqlite_databases = [\"audit\"]\n",
        wasm("fixture_probe")
    );
    let (_dir, manifest) = temporary_manifest(&body);
    let stderr = refused_with("", &manifest);
    assert!(
        stderr.contains("unknown key_value_stores label \"cache\" for component \"c\""),
        "{stderr}"
    );
    let stderr = refused_with("[key_value_store.cache]\ntype = \"spin\"\n", &manifest);
    assert!(
        stderr.contains("uses SQLite database 'audit', which is not defined"),
        "{stderr}"
    );
}
