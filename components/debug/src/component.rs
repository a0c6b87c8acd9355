//! The wasm export: variables in, the page's files or a development token out.

use crate::rules::{self, Setting};
use protocol::environment::Environment;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::{http_component, variables};

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
/// The `clients/typescript` package's browser bundle (its `npm run build`).
const CLIENT: &str = include_str!("../../../clients/typescript/dist/browser/sync-client.js");

#[http_component]
fn handle(req: Request) -> Response {
    let variable = |name: &str| variables::get(name).unwrap_or_default();
    let environment = match Environment::parse(&variable("environment")) {
        Ok(environment) => environment,
        Err(error) => return json_response(503, json!({"error": error.to_string()})),
    };
    let setting = match Setting::parse(&variable("debug_page")) {
        Ok(setting) => setting,
        Err(error) => return json_response(503, json!({"error": error})),
    };
    if !setting.served(environment) {
        return json_response(404, json!({"error": "Not found"}));
    }
    let path = req.path().trim_end_matches('/');
    match (req.method(), path) {
        (Method::Get, "/debug") => file("text/html; charset=utf-8", PAGE),
        (Method::Get, "/debug/page.js") => file("text/javascript; charset=utf-8", SCRIPT),
        (Method::Get, "/debug/sync-client.js") => file("text/javascript; charset=utf-8", CLIENT),
        (Method::Get, "/debug/config") => json_response(
            200,
            json!({"environment": environment.as_str(), "mint": rules::can_mint(environment)}),
        ),
        (Method::Post, "/debug/dev-token") => {
            let client = req.header("spin-client-addr").and_then(|v| v.as_str());
            if let Err(refusal) = rules::minting_allowed(environment, client) {
                return json_response(403, json!({"error": refusal}));
            }
            mint(req.body(), &variable)
        }
        (
            _,
            "/debug"
            | "/debug/page.js"
            | "/debug/sync-client.js"
            | "/debug/config"
            | "/debug/dev-token",
        ) => json_response(405, json!({"error": "Method not allowed"})),
        _ => json_response(404, json!({"error": "Not found"})),
    }
}

fn mint(body: &[u8], variable: &dyn Fn(&str) -> String) -> Response {
    let user = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("userId").and_then(Value::as_str).map(str::to_string));
    let Some(user) = user else {
        return json_response(400, json!({"error": "Body must be {\"userId\": \"...\"}"}));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match rules::dev_token(
        &variable("jwt_secret"),
        &user,
        now,
        &variable("jwt_audience"),
        &variable("jwt_issuer"),
    ) {
        Ok(token) => json_response(200, json!({"token": token, "expiresAt": now + 3600})),
        Err(error) => json_response(400, json!({"error": error})),
    }
}

fn file(content_type: &str, body: &'static str) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        // The page talks only to this app and its gateway.
        .header("x-content-type-options", "nosniff")
        .body(body)
        .build()
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
