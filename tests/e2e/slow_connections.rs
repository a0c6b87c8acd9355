//! Connections that send nothing, half a request, or nothing more after a response must not be held
//! open forever on any port the host serves (HTTP triggers, gateway, publish endpoint): each is
//! closed once the header-read timeout passes. Established WebSockets are not affected.

use e2e::HostConfig;
use e2e::app_manifest;
use e2e::device::Device;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than the timeout the host is given, so only a host that never closes fails.
const EOF_DEADLINE: Duration = Duration::from_secs(30);

fn address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap().to_string()
}

/// Opens a connection, sends `bytes`, then reads until the server closes it; returns what the
/// server sent, or an error naming the case when it is still open at the deadline.
async fn closed_by_server(
    port: &'static str,
    address: String,
    bytes: &'static str,
) -> Result<String, String> {
    let case = format!("{port} after {bytes:?}");
    let mut stream = TcpStream::connect(&address)
        .await
        .map_err(|e| format!("{case}: {e}"))?;
    stream
        .write_all(bytes.as_bytes())
        .await
        .map_err(|e| format!("{case}: {e}"))?;
    let mut received = Vec::new();
    match tokio::time::timeout(EOF_DEADLINE, stream.read_to_end(&mut received)).await {
        Err(_) => Err(format!("{case}: still open after {EOF_DEADLINE:?}")),
        // A reset is a close too.
        Ok(_) => Ok(String::from_utf8_lossy(&received).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_half_sent_connections_are_closed_on_every_port() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SYNC_HOST_HEADER_READ_TIMEOUT_SECONDS", "1")
        .start()
        .unwrap();
    let mut device = Device::connect(&host.gateway_url, "alice").await;
    let ports = [
        (
            "HTTP triggers",
            address(&host.url),
            "GET /health HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        (
            "gateway",
            address(&host.gateway_url),
            "GET /health HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        (
            "publish",
            address(&host.publish_url),
            "GET /publish/ HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
    ];
    let mut cases = Vec::new();
    for (port, address, request) in ports {
        for bytes in ["", "GET /heal"] {
            cases.push((
                false,
                tokio::spawn(closed_by_server(port, address.clone(), bytes)),
            ));
        }
        // A whole request is answered; the idle keep-alive connection after it is closed too.
        cases.push((true, tokio::spawn(closed_by_server(port, address, request))));
    }
    let mut failures = Vec::new();
    for (answered, case) in cases {
        match case.await.unwrap() {
            Ok(received) if answered => assert!(received.starts_with("HTTP/1.1 "), "{received}"),
            Ok(_) => {}
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The WebSocket has been idle past the timeout, and still works.
    device.assert_nothing_pending().await;
}
