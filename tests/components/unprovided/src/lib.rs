//! Fixture importing the Spin 2.0 interfaces sync-host does not provide: `GET …/<interface>`
//! (`redis`, `mqtt`, `postgres`, `mysql`, `llm`) calls it and answers 200 with the error the guest
//! got (`Debug` form), or 500 if the call unexpectedly succeeded. That the component serves at all
//! shows it instantiated.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::{llm, mqtt, mysql, pg, redis};

/// A loopback address nothing listens on: on Spin the call would fail to connect or be denied.
const ADDRESS: &str = "127.0.0.1:9";

fn outcome<T, E: std::fmt::Debug>(result: Result<T, E>) -> (u16, String) {
    match result {
        Ok(_) => (500, "the call succeeded".into()),
        Err(error) => (200, format!("{error:?}")),
    }
}

#[http_component]
fn handle(req: Request) -> Response {
    let (status, body) = match req.path().rsplit('/').next().unwrap_or_default() {
        "redis" => outcome(redis::Connection::open(&format!("redis://{ADDRESS}"))),
        "mqtt" => outcome(mqtt::Connection::open(
            &format!("mqtt://{ADDRESS}"),
            "user",
            "password",
            30,
        )),
        "postgres" => outcome(pg::Connection::open(&format!("postgres://{ADDRESS}/db"))),
        "mysql" => outcome(mysql::Connection::open(&format!("mysql://{ADDRESS}/db"))),
        "llm" => outcome(llm::infer(llm::InferencingModel::Llama2Chat, "hello")),
        _ => (404, "no such interface".into()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
