//! A startup probe: when the app routes `/health`, the host asks it once as soon as it serves and
//! logs the answer, so a misconfiguration the app can see (a short `jwt_secret`, an unwritable
//! database) is reported at startup, not at the first user's request. A failed `config` check (an
//! unknown `environment`) cannot get better by waiting, so it stops startup.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

pub const HEALTH_PATH: &str = "/health";

/// The app's `/health` says its configuration is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{HEALTH_PATH} reports a configuration error: {0}")]
pub struct ConfigurationError(String);

/// Requests `GET /health` from the host at `address` and logs the outcome; `Err` when the app
/// reports a configuration error.
pub async fn report_health(address: SocketAddr) -> Result<(), ConfigurationError> {
    match fetch(address).await {
        Ok((200, _)) => tracing::info!("startup check: {HEALTH_PATH} is healthy"),
        Ok((status, body)) => {
            if let Some(why) = configuration_error(&body) {
                return Err(ConfigurationError(why));
            }
            tracing::warn!("startup check: {HEALTH_PATH} answered {status}: {body}")
        }
        Err(error) => tracing::warn!("startup check: {HEALTH_PATH} failed: {error:#}"),
    }
    Ok(())
}

/// Asks `app` for `GET /health` in process, before it serves anything (a reload's check), as a
/// request to `address` would; its status and body.
pub async fn ask_in_process(app: &crate::app::App, address: SocketAddr) -> (u16, String) {
    let request = Request::get(HEALTH_PATH)
        .header(hyper::header::HOST, address.to_string())
        .body(Empty::<Bytes>::new().map_err(
            |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
        ))
        .expect("a valid request");
    let response = crate::trigger::handle(app, request, address, address).await;
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(error) => format!("(the body failed: {error:?})"),
    };
    (status, body)
}

/// `checks.config` of a health body, when it is not `ok`.
fn configuration_error(body: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    let config = body.get("checks")?.get("config")?.as_str()?;
    (config != "ok").then(|| config.to_string())
}

async fn fetch(address: SocketAddr) -> anyhow::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(HEALTH_PATH)
        .header(hyper::header::HOST, address.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests;
