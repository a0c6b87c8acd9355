//! Fixture HTTP component that imports `fixture:greeter/greet` and `fixture:greeter/farewell`,
//! satisfied by spin.toml dependencies. `GET /<route>/hello?<name>`, `GET /<route>/bye?<name>` and
//! `POST /<route>/count` call through to the dependency.

wit_bindgen::generate!({ path: "../wit", world: "greeter-client" });

use fixture::greeter::{farewell, greet};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let (status, body) = match (req.method(), req.path().rsplit('/').next()) {
        (Method::Get, Some("hello")) => (200, greet::hello(req.query())),
        (Method::Get, Some("bye")) => (200, farewell::goodbye(req.query())),
        (Method::Post, Some("count")) => match greet::count_call() {
            Ok(count) => (200, count.to_string()),
            Err(error) => (500, error),
        },
        _ => (404, "no such route".to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
