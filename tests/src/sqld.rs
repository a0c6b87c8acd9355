//! A real libSQL server (`sqld` 0.24.33, shipped beside the repository in `../shared/libsql/`) on a
//! port of its own — on loopback, or in a network namespace of the test's — for the tests of
//! instances that share a database but no disk.

use crate::netns::{Netns, address_in, command_in};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `sqld` binary: `$E2E_SQLD`, else what `../shared/libsql/install` unpacks (it prints
/// `sqld <path>`).
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("E2E_SQLD") {
                return PathBuf::from(path);
            }
            let install = crate::workspace_root().join("../shared/libsql/install");
            let output = Command::new(&install)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("{}: {e} (or set E2E_SQLD)", install.display()));
            assert!(output.status.success(), "{} failed", install.display());
            let printed = String::from_utf8_lossy(&output.stdout);
            let path = printed
                .lines()
                .find_map(|line| line.strip_prefix("sqld "))
                .unwrap_or_else(|| panic!("{} printed no `sqld <path>`", install.display()));
            PathBuf::from(path.trim())
        })
        .clone()
}

pub struct Sqld {
    child: Child,
    /// `http://<address>:<port>`: Hrana over HTTP, no authentication.
    pub url: String,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl Sqld {
    /// Starts `sqld` on loopback with a fresh database directory, and waits until it answers.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_in(None)
    }

    /// [`Sqld::start`] inside `namespace`, listening on its inside address.
    pub fn start_in(namespace: Option<&Netns>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::pushpin::five_ports()[0];
        let address = address_in(namespace);
        let child = command_in(namespace, &binary())
            .arg("--db-path")
            .arg(dir.path().join("data"))
            .args(["--http-listen-addr", &format!("{address}:{port}")])
            .args(["--no-welcome"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sqld")?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let mut sqld = Self {
            child,
            url: format!("http://{address}:{port}"),
            agent,
            _dir: dir,
        };
        sqld.await_health()?;
        Ok(sqld)
    }

    /// `sqld` prints its banner before it listens, so readiness is its `/health` answering.
    fn await_health(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("sqld exited ({status}) before it served");
            }
            let health = self.agent.get(format!("{}/health", self.url)).call();
            if matches!(&health, Ok(response) if response.status() == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("sqld did not answer /health within 30 s: {health:?}");
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Runs `sql` with text parameters `?1…` in a stream of its own; the rows, each value as JSON
    /// (an integer as a number, text as a string, NULL as null).
    pub fn query(&self, sql: &str, parameters: &[&str]) -> anyhow::Result<Vec<Vec<Value>>> {
        let args: Vec<Value> = (parameters.iter())
            .map(|text| json!({"type": "text", "value": text}))
            .collect();
        let body = json!({"requests": [
            {"type": "execute", "stmt": {"sql": sql, "args": args}},
            {"type": "close"},
        ]});
        let mut response = (self.agent.post(format!("{}/v2/pipeline", self.url)))
            .header("content-type", "application/json")
            .send(body.to_string())
            .context("sqld /v2/pipeline")?;
        let answer: Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        let result = &answer["results"][0];
        if result["type"] != "ok" {
            bail!("sqld refused {sql:?}: {answer}");
        }
        let rows = result["response"]["result"]["rows"]
            .as_array()
            .context("no rows")?;
        Ok(rows
            .iter()
            .map(|row| {
                let values = row.as_array().map(Vec::as_slice).unwrap_or_default();
                values.iter().map(hrana_value).collect()
            })
            .collect())
    }
}

/// A Hrana value as plain JSON: integers travel as decimal strings.
fn hrana_value(value: &Value) -> Value {
    match value["type"].as_str() {
        Some("integer") => (value["value"].as_str())
            .and_then(|text| text.parse::<i64>().ok())
            .map_or(Value::Null, Value::from),
        Some("null") | None => Value::Null,
        _ => value["value"].clone(),
    }
}

impl Drop for Sqld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
