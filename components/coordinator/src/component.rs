//! The wasm adapter: Spin's SQLite and variables, the auth and rate-limit imports, and outbound
//! HTTP for publishing, behind the [`Services`] the handler uses.

// `generate_all`: the interfaces live in their own packages (`wit/deps`), not the worlds' package.
wit_bindgen::generate!({ path: "../../wit", world: "coordinator", generate_all });

use crate::config::Config;
use crate::grip_sig::GripSigConfig;
use crate::handler::{
    Coordinator, Headers, Identity, Outcome, RateDecision, RateVerdict, Reply, Services, WsRequest,
    json_reply,
};
use crate::sql::{Rows, Sql, SqlError, SqlValue};
use mirubato::auth::auth;
use mirubato::rate_limit::rate_limit;
use protocol::grip::{MAX_PUBLISH_BODY, PublishItem, PublishRequest};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Request, Response, send};
use spin_sdk::http_component;
use spin_sdk::{sqlite, variables};

struct SpinDb(sqlite::Connection);

impl Sql for SpinDb {
    fn execute(&self, statement: &str, parameters: &[SqlValue]) -> Result<Rows, SqlError> {
        let parameters: Vec<sqlite::Value> = parameters
            .iter()
            .map(|p| match p {
                SqlValue::Integer(i) => sqlite::Value::Integer(*i),
                SqlValue::Real(r) => sqlite::Value::Real(*r),
                SqlValue::Text(t) => sqlite::Value::Text(t.clone()),
                SqlValue::Blob(b) => sqlite::Value::Blob(b.clone()),
                SqlValue::Null => sqlite::Value::Null,
            })
            .collect();
        let result = self.0.execute(statement, &parameters).map_err(sql_error)?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        sqlite::Value::Integer(i) => SqlValue::Integer(i),
                        sqlite::Value::Real(r) => SqlValue::Real(r),
                        sqlite::Value::Text(t) => SqlValue::Text(t),
                        sqlite::Value::Blob(b) => SqlValue::Blob(b),
                        sqlite::Value::Null => SqlValue::Null,
                    })
                    .collect()
            })
            .collect())
    }
}

/// Spin's SQLite error, variant for variant (the store classifies it: `StoreError`).
fn sql_error(error: sqlite::Error) -> SqlError {
    match error {
        sqlite::Error::NoSuchDatabase => SqlError::NoSuchDatabase,
        sqlite::Error::AccessDenied => SqlError::AccessDenied,
        sqlite::Error::InvalidConnection => SqlError::InvalidConnection,
        sqlite::Error::DatabaseFull => SqlError::DatabaseFull,
        sqlite::Error::Io(text) => SqlError::Io(text),
    }
}

struct SpinServices {
    db: SpinDb,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Services for SpinServices {
    fn db(&self) -> &dyn Sql {
        &self.db
    }

    fn verify_user(&self, token: &str) -> Result<Identity, String> {
        auth::verify(token)
            .map(|claims| Identity {
                user_id: claims.user_id,
                expires_at: claims.expires_at,
            })
            .map_err(|e| format!("{e:?}"))
    }

    fn verify_broadcast(&self, token: &str) -> Result<(), String> {
        auth::verify_broadcast(token)
            .map(drop)
            .map_err(|e| format!("{e:?}"))
    }

    fn rate_limit(
        &self,
        _key: &str,
        stored_tat_us: Option<i64>,
        cost: u32,
    ) -> Result<RateVerdict, String> {
        rate_limit::decide(stored_tat_us, cost)
            .map(|verdict| RateVerdict {
                decision: RateDecision {
                    allowed: verdict.decision.allowed,
                    retry_after_ms: verdict.decision.retry_after_ms,
                },
                new_tat_us: verdict.new_tat_us,
            })
            .map_err(|e| format!("{e:?}"))
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn new_epoch(&self) -> String {
        // 128 bits from wasi:random (std seeds each `RandomState` from it): unguessable.
        (0..2)
            .map(|_| {
                let random = std::collections::hash_map::RandomState::new();
                format!(
                    "{:016x}",
                    std::hash::BuildHasher::hash_one(&random, now_ms())
                )
            })
            .collect()
    }
}

/// The handler's reply as Spin's response.
fn response(reply: Reply) -> Response {
    let mut response = Response::builder();
    response.status(reply.status);
    for (name, value) in reply.headers {
        response.header(name, value);
    }
    response.body(reply.body).build()
}

fn json_response(status: u16, body: serde_json::Value) -> Response {
    response(json_reply(status, body).reply)
}

/// The settings and the gateway's signing key; a 503 when either is misconfigured.
fn configuration() -> Result<(Config, GripSigConfig), Response> {
    let misconfigured = |error: &dyn std::fmt::Display| {
        eprintln!("coordinator: configuration error: {error}");
        json_response(503, json!({"error": format!("Misconfigured: {error}")}))
    };
    let config = Config::from_variables(|name| variables::get(name).ok())
        .map_err(|error| misconfigured(&error))?;
    let grip = GripSigConfig::parse(&config.grip_key, &config.grip_iss)
        .map_err(|error| misconfigured(&error))?;
    Ok((config, grip))
}

/// Publishes `items` to every gateway (each holds only its own clients), in order, in bodies of at
/// most [`MAX_PUBLISH_BODY`]. A failed body stops the rest for that gateway: a catch-up that
/// arrives with a hole and then its `SYNC_RESPONSE` would move the device's cursor past the hole,
/// one that stops short never does.
async fn publish(config: &Config, items: Vec<PublishItem>) {
    if items.is_empty() {
        return;
    }
    let bodies = PublishRequest::bodies(items, MAX_PUBLISH_BODY);
    for url in &config.grip_publish_urls {
        for body in &bodies {
            if !publish_body(config, url, body.clone()).await {
                break;
            }
        }
    }
}

/// One publish request; false when the gateway did not take it.
async fn publish_body(config: &Config, url: &str, body: Vec<u8>) -> bool {
    let length = body.len();
    let mut request = Request::post(format!("{url}/publish/"), body);
    // Pushpin's publish endpoint refuses chunked bodies (411): say the length up front.
    request
        .header("content-type", "application/json")
        .header("content-length", length.to_string());
    if !config.grip_publish_token.is_empty() {
        request.header(
            "authorization",
            format!("Bearer {}", config.grip_publish_token),
        );
    }
    // Committed and acknowledged already: devices catch up on the seq gap.
    match send::<_, Response>(request.build()).await {
        Ok(response) if *response.status() == 200 => true,
        Ok(response) => {
            eprintln!(
                "coordinator: publish to {url} answered {}",
                response.status()
            );
            false
        }
        Err(error) => {
            eprintln!("coordinator: publish to {url} failed: {error}");
            false
        }
    }
}

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let (config, grip) = match configuration() {
        Ok(configured) => configured,
        Err(refusal) => return refusal,
    };
    // Every header as it arrived, repeats kept: Spin's `Request` keeps only one value per name,
    // and a repeated `Origin` must be seen to be refused.
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .filter_map(|(name, value)| {
            Some((name.to_ascii_lowercase(), String::from_utf8(value).ok()?))
        })
        .collect();
    let method = req.method();
    let path_and_query = req.path_with_query().unwrap_or_default();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    let (path, query) = (path.to_string(), query.to_string());
    let Ok(body) = req.into_body().await else {
        return json_response(400, json!({"error": "Unreadable request body"}));
    };
    let services = match sqlite::Connection::open_default() {
        Ok(db) => SpinServices { db: SpinDb(db) },
        Err(error) => {
            // The error names the database and the cause, never request data.
            eprintln!("coordinator: storage unavailable: {error}");
            return json_response(503, json!({"error": "Storage unavailable"}));
        }
    };
    let coordinator = Coordinator {
        services: &services,
        config: &config,
        grip: Some(&grip),
    };
    let headers = Headers(&headers);
    let outcome: Outcome = match (method, path.as_str()) {
        (Method::Post, "/sync/ws") => coordinator.handle_ws(&WsRequest {
            query: &query,
            headers,
            body: &body,
        }),
        (_, "/sync/ws") => {
            return json_response(
                426,
                json!({"error": "Connect with a WebSocket through the gateway"}),
            );
        }
        (Method::Post, "/broadcast") => coordinator.handle_broadcast(&headers, &body),
        (_, "/broadcast") => return json_response(405, json!({"error": "Method not allowed"})),
        _ => return json_response(404, json!({"error": "Not found"})),
    };
    publish(&config, outcome.publishes).await;
    response(outcome.reply)
}
