//! A startup probe: when the app routes `/health`, the host asks it once as soon as it serves and
//! logs the answer, so a misconfiguration the app can see (a short `jwt_secret`, an unwritable
//! database) is reported at startup, not at the first user's request.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

pub const HEALTH_PATH: &str = "/health";

/// Requests `GET /health` from the host at `address` and logs the outcome.
pub async fn report_health(address: SocketAddr) {
    match fetch(address).await {
        Ok((200, _)) => tracing::info!("startup check: {HEALTH_PATH} is healthy"),
        Ok((status, body)) => {
            tracing::warn!("startup check: {HEALTH_PATH} answered {status}: {body}")
        }
        Err(error) => tracing::warn!("startup check: {HEALTH_PATH} failed: {error:#}"),
    }
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
