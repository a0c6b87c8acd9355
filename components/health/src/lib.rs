//! `GET`/`HEAD /health` (docs/protocol.md §1): reports the service and whether the `default` SQLite
//! database and the `default` key-value store really answer, and whether auth is configured
//! (`jwt_secret` set and long enough), and whether the coordinator's settings are usable
//! (`environment` one of the three, a `grip_key` fit for it, numbers that are numbers). Any failed
//! check makes it a 503; the host's startup probe stops startup on a failed `config` check.

// `generate_all`: the interfaces live in their own packages (`wit/deps`), not the worlds' package.
wit_bindgen::generate!({ path: "../../wit", world: "health", generate_all });

use mirubato::auth::auth;

use protocol::environment::{Environment, or_default};
use protocol::settings::Config;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::{key_value, sqlite, variables};
use std::time::SystemTime;

/// The name the Mirubato frontend and monitors know this service by.
const SERVICE: &str = "sync-worker";

#[http_component]
fn handle(req: Request) -> Response {
    match req.method() {
        Method::Get => health_response(false),
        Method::Head => health_response(true),
        _ => Response::builder()
            .status(405)
            .header("content-type", "application/json")
            .header("allow", "GET, HEAD")
            .body(json!({"error": "Method not allowed"}).to_string())
            .build(),
    }
}

fn health_response(head_only: bool) -> Response {
    let raw_environment = variables::get("environment").unwrap_or_default();
    let environment = Environment::parse(&raw_environment);
    let checks = [
        ("config", check_config()),
        ("sqlite", check_sqlite()),
        ("kv", check_key_value()),
        ("auth", check_auth()),
    ];
    let healthy = checks.iter().all(|(_, result)| result.is_ok());
    let checks: serde_json::Map<String, Value> = checks
        .into_iter()
        .map(|(name, result)| {
            (
                name.to_string(),
                Value::String(result.err().unwrap_or_else(|| "ok".into())),
            )
        })
        .collect();
    let body = json!({
        "service": SERVICE,
        "status": if healthy { "healthy" } else { "unhealthy" },
        "timestamp": protocol::timestamp::iso8601(SystemTime::now()),
        // The effective environment, and the API this deployment pairs with (never called).
        "environment": environment.as_ref().map_or(raw_environment.as_str(), |e| e.as_str()),
        "apiUrl": environment
            .as_ref()
            .ok()
            .map(|e| or_default(variables::get("api_url").ok(), e.api_url())),
        "version": env!("CARGO_PKG_VERSION"),
        "checks": checks,
    });
    let body = if head_only {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    Response::builder()
        .status(if healthy { 200 } else { 503 })
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

/// The coordinator's settings, by the coordinator's own rules (the messages name the variable and
/// never show a secret's value).
fn check_config() -> Result<(), String> {
    Config::from_variables(|name| variables::get(name).ok())
        .map(drop)
        .map_err(|e| format!("error: {e}"))
}

/// Asks the auth component whether its secret and settings are usable.
fn check_auth() -> Result<(), String> {
    auth::check_configuration().map_err(|error| match error {
        auth::AuthError::SecretMisconfigured(why) => format!("error: {why}"),
        other => format!("error: {other:?}"),
    })
}

/// Runs a real query on the `default` database, so an unopenable or corrupt file fails it.
fn check_sqlite() -> Result<(), String> {
    let connection = sqlite::Connection::open_default().map_err(|e| format!("error: {e}"))?;
    connection
        .execute("SELECT count(*) FROM sqlite_master", &[])
        .map(|_| ())
        .map_err(|e| format!("error: {e}"))
}

/// Opens the `default` store and reads a key from it: an unopenable or corrupt store fails it.
/// Nothing is written: a write per probe would cost a durable commit on every monitor's request.
fn check_key_value() -> Result<(), String> {
    let store = key_value::Store::open_default().map_err(|e| format!("error: {e}"))?;
    store
        .exists("health:probe")
        .map(drop)
        .map_err(|e| format!("error: read failed: {e}"))
}
