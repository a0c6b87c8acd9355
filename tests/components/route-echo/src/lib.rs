//! Fixture for the HTTP trigger: answers every request with the routing headers the host set
//! (`spin-*`: matched route, path info, `spin-path-match-<name>`, …) as one JSON object, so tests
//! see exactly what a component sees on Spin.

use serde_json::{Map, Value};
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let headers: Map<String, Value> = req
        .headers()
        .filter(|(name, _)| name.starts_with("spin-"))
        .map(|(name, value)| {
            let value = value.as_str().unwrap_or_default().to_string();
            (name.to_string(), Value::String(value))
        })
        .collect();
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Value::Object(headers).to_string())
        .build()
}
