//! Startup and lifecycle of the real host: manifest and configuration errors stop it with a clear
//! message, `--build` runs build commands, requests are logged without query strings, and SIGTERM
//! lets in-flight requests finish.

use e2e::{Host, HostConfig, app_manifest, fixture_manifest, wasm};
use std::path::{Path, PathBuf};

fn write_manifest(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("spin.toml");
    std::fs::write(
        &path,
        format!("spin_manifest_version = 2\n[application]\nname = \"t\"\n{body}"),
    )
    .unwrap();
    path
}

fn expect_refusal(config: HostConfig, expected: &[&str]) {
    let (status, stderr) = config.run_expecting_failure().unwrap();
    assert!(!status.success(), "exit status {status}");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{stderr}"
        );
    }
}

#[test]
fn missing_required_variable_stops_startup_naming_it() {
    expect_refusal(
        HostConfig::new(app_manifest()).without_env("SPIN_VARIABLE_JWT_SECRET"),
        &["jwt_secret", "SPIN_VARIABLE_JWT_SECRET"],
    );
}

#[test]
fn unknown_manifest_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"x.wasm\"\nkey_value_store = [\"default\"]\n",
    );
    expect_refusal(HostConfig::new(manifest), &["key_value_store"]);
}

#[test]
fn unsupported_spin_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"x.wasm\"\nfiles = [\"static/*\"]\n",
    );
    expect_refusal(
        HostConfig::new(manifest),
        &["component.x.files", "does not implement"],
    );
}

#[test]
fn missing_component_file_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"nowhere.wasm\"\n",
    );
    expect_refusal(HostConfig::new(manifest), &["nowhere.wasm", "--build"]);
}

#[test]
fn build_flag_runs_build_commands_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"p\"\n[component.p]\nsource = \"built/probe.wasm\"\n[component.p.build]\ncommand = \"mkdir -p built && cp {} built/probe.wasm\"\n",
            wasm("fixture_probe").display()
        ),
    );
    let host = HostConfig::new(manifest.clone())
        .start_with_args(&["--build"])
        .unwrap();
    assert!(dir.path().join("built/probe.wasm").exists());
    assert_eq!(host.get("/probe/var/anything").status, 500); // served by the freshly built copy
    drop(host);
    expect_refusal_without_build(manifest);
}

/// Without --build nothing is built: a missing output stays missing.
fn expect_refusal_without_build(manifest: PathBuf) {
    std::fs::remove_dir_all(manifest.parent().unwrap().join("built")).unwrap();
    expect_refusal(HostConfig::new(manifest), &["built/probe.wasm"]);
}

#[test]
fn each_request_is_logged_once_without_its_query_string() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let reply = host.get("/probe/var/probe_value?token=super-secret-token-value");
    assert_eq!(reply.status, 200);
    let logs = host.wait_for_log("GET /probe/var/probe_value 200");
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("/probe/var/probe_value"))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(
        lines[0].trim_end().ends_with("ms"),
        "no duration: {}",
        lines[0]
    );
    assert!(
        !logs.contains("super-secret-token-value"),
        "a query string reached the log:\n{logs}"
    );
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let url = format!("{}/probe/slow?1500", host.url);
    let slow = std::thread::spawn(move || {
        let mut response = Host::agent().get(&url).call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    });
    // Wait for the event "the guest is running": it sets `slow-started` before sleeping.
    let mut attempts = 0;
    while host.get("/probe/kv/default/slow-started").status != 200 {
        attempts += 1;
        assert!(attempts < 2000, "the slow request never started");
        std::thread::yield_now();
    }
    host.signal("TERM");
    let (status, body) = slow.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "slept 1500ms"));
    let exit = host.wait();
    assert!(exit.success(), "host exited with {exit}");
}

/// The app's own spin.toml as it was when real Spin 3.6.3 and 4.0.2 refused it: a variable whose
/// second-to-last word starts with a digit. sync-host must refuse it as Spin does, naming it.
#[test]
fn an_identifier_spin_refuses_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(app_manifest())
        .unwrap()
        .replace("grip_publish_url_second", "grip_publish_url_2");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    expect_refusal(
        HostConfig::new(path),
        &["`grip_publish_url_2`", "must start with an ASCII letter"],
    );
}

/// Spin refuses an `allowed_outbound_hosts` entry that renders empty (at load from the defaults);
/// an unused gateway is `http://none.invalid` instead, and sync-host refuses the empty entry too.
#[test]
fn an_outbound_host_entry_that_renders_empty_stops_startup() {
    expect_refusal(
        HostConfig::new(app_manifest()).env("SPIN_VARIABLE_GRIP_PUBLISH_URL_SECOND", ""),
        &["allowed_outbound_hosts"],
    );
}

/// A host that hangs before serving, printing nothing, must fail the test that started it with the
/// host's log, not block it: here its build command never ends. The harness used to check its
/// deadline only after the host printed a line, so this test hung.
#[test]
fn a_host_that_hangs_silently_at_startup_fails_the_test_instead_of_blocking_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"{}\"\n\
             [component.x.build]\ncommand = \"sleep 600\"\n",
            wasm("fixture_route_echo").display()
        ),
    );
    let started = std::time::Instant::now();
    let error = HostConfig::new(manifest)
        .through_pushpin(false)
        .startup_deadline(std::time::Duration::from_secs(3))
        .start_with_args(&["--build"])
        .err()
        .expect("a host whose build never ends cannot serve");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "it waited {:?}",
        started.elapsed()
    );
    assert!(
        error
            .to_string()
            .contains("printed no Serving line within 3s"),
        "{error}"
    );
}
