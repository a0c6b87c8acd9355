//! Real Spin (`spin up`) in place of sync-host, for the suite's Spin pass (`E2E_HOST=spin`): the
//! unchanged spin.toml and the wasm built for every pass, behind real Pushpin (Spin has no
//! gateway). `E2E_SPIN_BIN` names the `spin` binary; scripts/test sets both for each Spin it finds.
//!
//! Spin is driven as its users drive it: `spin up --from spin.toml --listen … --state-dir …`,
//! variables as `SPIN_VARIABLE_*`, shared stores through `--runtime-config-file`. Only what a test
//! needs of sync-host alone (its embedded gateway, metrics, SIGUSR1 report, compile cache, its own
//! flags) has no Spin form; asking for it on Spin fails the test with the reason, so a test that
//! needs sync-host is listed as such in scripts/spin-pass (and `docs/hosts.md`) rather than passing
//! without having run.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether this test run's hosts are real Spin instead of sync-host.
pub fn enabled() -> bool {
    std::env::var("E2E_HOST").is_ok_and(|host| host == "spin")
}

/// The `spin` binary of this run: `$E2E_SPIN_BIN`, else `spin` on `PATH`.
pub fn binary() -> PathBuf {
    std::env::var_os("E2E_SPIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("spin"))
}

/// The `sync-host up` flags a Spin run can honour, and how: `--no-gateway` is what Spin always is;
/// `--runtime-config-file` is Spin's own flag. Anything else exists on sync-host only.
pub(crate) fn translate_args(extra: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    let mut rest = extra.iter();
    while let Some(&arg) = rest.next() {
        match arg {
            "--no-gateway" => {}
            "--runtime-config-file" => {
                let file = rest.next().expect("--runtime-config-file takes a path");
                args.extend(["--runtime-config-file".to_string(), file.to_string()]);
            }
            other => panic!(
                "`sync-host up {other}` has no Spin equivalent: this test needs sync-host \
                 (list it in scripts/spin-pass's sync-host-only tests and in docs/hosts.md)"
            ),
        }
    }
    args
}

/// `spin up` (`command` runs the `spin` binary) for `manifest` on `listen` (port 0: one of the
/// OS's choosing; Spin prints the address it bound in its "Serving" line), with its state (the
/// `default` SQLite and key-value files) in `state_dir`.
pub(crate) fn command(
    mut command: Command,
    manifest: &Path,
    state_dir: &Path,
    listen: &str,
) -> Command {
    // Its own process group, so that the app's process (`spin up` runs it as a child, `spin trigger
    // http`) is stopped with it (`Host::signal`).
    command.process_group(0);
    command
        .arg("up")
        .arg("--from")
        .arg(manifest)
        .args(["--listen", listen])
        .arg("--state-dir")
        .arg(state_dir)
        // One line per answered request, and nothing else: how a test tells which instance served
        // it, as sync-host's metrics tell it. Spin's other request lines at info level carry the
        // request's query string, where the WebSocket's token travels.
        .env("RUST_LOG", "spin_trigger_http::instrument=info")
        .env_remove("SPIN_VARIABLE_JWT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Requests a Spin instance has answered, from its log.
pub fn requests_answered(log: &str) -> usize {
    log.matches("Request finished, sending response").count()
}

/// What the components wrote to stderr, by file: Spin keeps it under `<state dir>/logs/`.
pub(crate) fn component_logs(state_dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("logs")) else {
        return Vec::new();
    };
    let mut logs: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with("_stderr.txt"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            )
        })
        .collect();
    logs.sort();
    logs
}
