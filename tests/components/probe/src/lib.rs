//! Capability probe for host tests: exposes the Spin host APIs over HTTP so a test can drive
//! key-value, SQLite and variables and see the exact error a guest gets.
//!
//! Routes, below whatever route prefix the manifest mounts it on:
//! - `GET|PUT|DELETE …/kv/<store>/<key>`: key-value (body = value).
//! - `POST …/sql/<database>`: runs the body as one statement; rows as JSON arrays.
//! - `POST …/sql-times/<database>?<n>`: runs the body `n` times on one connection; the last rows
//!   (the bench's measure of one statement's cost on a host).
//! - `GET …/var/<name>`: a component variable.
//! - `GET …/outbound?url=<url>`: outbound HTTP GET; the upstream status and body.
//! - `GET …/slow?<ms>`: answers after `ms` milliseconds, having first set key `slow-started`.
//!
//! Failures answer 500 with the guest-visible error in the body, e.g. `AccessDenied`.

use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::{key_value, sqlite, variables};

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    // The first segment is the manifest's route prefix; the same wasm serves several of them.
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').skip(1).collect();
    let result = match (req.method(), segments.as_slice()) {
        (method, ["kv", store, key]) => key_value_route(method, store, key, req.body()),
        (Method::Post, ["sql", database]) => sql_route(database, req.body(), 1),
        (Method::Post, ["sql-times", database]) => match req.query().parse() {
            Ok(times) => sql_route(database, req.body(), times),
            Err(_) => Err("the query must be a count of runs".into()),
        },
        (Method::Get, ["var", name]) => variables::get(name).map_err(|e| format!("{e:?}")),
        (Method::Get, ["outbound"]) => outbound_route(req.query()).await,
        (Method::Get, ["slow"]) => slow_route(req.query()),
        _ => return reply(404, "no such probe route".into()),
    };
    match result {
        Ok(body) => reply(200, body),
        Err(error) => reply(500, error),
    }
}

fn key_value_route(method: &Method, label: &str, key: &str, body: &[u8]) -> Result<String, String> {
    let store = key_value::Store::open(label).map_err(|e| format!("{e:?}"))?;
    match method {
        Method::Get => match store.get(key).map_err(|e| format!("{e:?}"))? {
            Some(value) => Ok(String::from_utf8_lossy(&value).into_owned()),
            None => Err("NotFound".into()),
        },
        Method::Put => store
            .set(key, body)
            .map(|()| "stored".into())
            .map_err(|e| format!("{e:?}")),
        Method::Delete => store
            .delete(key)
            .map(|()| "deleted".into())
            .map_err(|e| format!("{e:?}")),
        _ => Err("unsupported method".into()),
    }
}

fn sql_route(label: &str, body: &[u8], times: u32) -> Result<String, String> {
    let connection = sqlite::Connection::open(label).map_err(|e| format!("{e:?}"))?;
    let statement = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let mut result = connection
        .execute(statement, &[])
        .map_err(|e| format!("{e:?}"))?;
    for _ in 1..times {
        result = connection
            .execute(statement, &[])
            .map_err(|e| format!("{e:?}"))?;
    }
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|row| Value::Array(row.values.iter().map(sql_value_json).collect()))
        .collect();
    Ok(json!({"columns": result.columns, "rows": rows}).to_string())
}

fn sql_value_json(value: &sqlite::Value) -> Value {
    match value {
        sqlite::Value::Integer(i) => json!(i),
        sqlite::Value::Real(r) => json!(r),
        sqlite::Value::Text(t) => json!(t),
        sqlite::Value::Blob(b) => json!(b),
        sqlite::Value::Null => Value::Null,
    }
}

async fn outbound_route(query: &str) -> Result<String, String> {
    let url = query.strip_prefix("url=").ok_or("missing url")?;
    let request = Request::get(url);
    let response: Response = spin_sdk::http::send(request)
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(format!(
        "{} {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    ))
}

fn slow_route(query: &str) -> Result<String, String> {
    let millis: u64 = query.parse().map_err(|_| "query must be milliseconds")?;
    let store = key_value::Store::open_default().map_err(|e| format!("{e:?}"))?;
    store
        .set("slow-started", b"1")
        .map_err(|e| format!("{e:?}"))?;
    std::thread::sleep(std::time::Duration::from_millis(millis));
    Ok(format!("slept {millis}ms"))
}

fn reply(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
