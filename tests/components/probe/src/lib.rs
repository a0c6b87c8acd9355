//! Capability probe for host tests: exposes the Spin host APIs over HTTP so a test can drive
//! key-value, SQLite and variables and see the exact error a guest gets.
//!
//! - `GET|PUT|DELETE /probe/kv/<store>/<key>`: key-value (body = value).
//! - `POST /probe/sql/<database>`: runs the body as one statement; rows as JSON arrays.
//! - `GET /probe/var/<name>`: a component variable.
//! - `GET /probe/outbound?url=<url>`: outbound HTTP GET; the upstream status and body.
//!
//! Failures answer 500 with the guest-visible error in the body, e.g. `AccessDenied`.

use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::{key_value, sqlite, variables};

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (req.method(), segments.as_slice()) {
        (method, ["probe", "kv", store, key]) => key_value_route(method, store, key, req.body()),
        (Method::Post, ["probe", "sql", database]) => sql_route(database, req.body()),
        (Method::Get, ["probe", "var", name]) => variables::get(name).map_err(|e| format!("{e:?}")),
        (Method::Get, ["probe", "outbound"]) => outbound_route(req.query()).await,
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
        Method::Put => store.set(key, body).map(|()| "stored".into()).map_err(|e| format!("{e:?}")),
        Method::Delete => store.delete(key).map(|()| "deleted".into()).map_err(|e| format!("{e:?}")),
        _ => Err("unsupported method".into()),
    }
}

fn sql_route(label: &str, body: &[u8]) -> Result<String, String> {
    let connection = sqlite::Connection::open(label).map_err(|e| format!("{e:?}"))?;
    let statement = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let result = connection.execute(statement, &[]).map_err(|e| format!("{e:?}"))?;
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
    let response: Response = spin_sdk::http::send(request).await.map_err(|e| format!("{e}"))?;
    Ok(format!("{} {}", response.status(), String::from_utf8_lossy(response.body())))
}

fn reply(status: u16, body: String) -> Response {
    Response::builder().status(status).header("content-type", "text/plain").body(body).build()
}
