//! Connections that send nothing, half a request, or nothing more after a response must not be held
//! open forever on any port the host serves (HTTP triggers, gateway, publish endpoint): each is
//! closed once the header-read timeout passes. Established WebSockets are not affected.

use e2e::HostConfig;
use e2e::app_manifest;
use e2e::cpu_time;
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

/// A peer that uses up the host's file descriptors must not make it spin: a failed accept leaves
/// the connection in the listen queue, and the accept loop retried it at once, so one core ran
/// flat out and the log grew by thousands of lines a second for as long as the peer held on.
/// Once the descriptors are free again, the host serves as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_out_of_file_descriptors_neither_spins_nor_floods_its_log() {
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let pid = host.pid();
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    // Room for a few more, then none: the connections below use up the rest.
    let limit = (open_files + 4).to_string();
    let set_limit = |limit: &str| {
        let status = std::process::Command::new("prlimit")
            // The soft limit only: raising a hard limit back needs a privilege the test may lack.
            .args([format!("--pid={pid}"), format!("--nofile={limit}:")])
            .status()
            .unwrap();
        assert!(status.success(), "prlimit failed");
    };
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    set_limit(&limit);
    let gateway = address(&host.gateway_url);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&gateway).await.unwrap());
    }
    // Wait until the host has met the limit, then watch it for a second.
    let failures = || host.logs().matches("accept failed").count();
    let deadline = tokio::time::Instant::now() + EOF_DEADLINE;
    while failures() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no accept failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu_before, failures_before) = (cpu_time(pid), failures());
    let window = Duration::from_secs(1);
    tokio::time::sleep(window).await;
    let (cpu, logged) = (cpu_time(pid) - cpu_before, failures() - failures_before);
    assert!(
        cpu < window / 4,
        "the host used {cpu:?} of CPU in {window:?} while out of file descriptors"
    );
    assert!(
        logged <= 20,
        "{logged} accept failures logged in {window:?}"
    );
    // Descriptors back: the connections held are served, and so are new ones.
    drop(held);
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .unwrap()
        .to_string();
    set_limit(&soft);
    drop(Device::connect(&host.gateway_url, "fd-user").await);
    assert_eq!(host.get("/health").status, 200);
}

/// Devices reconnecting all at once (after a deploy, a network blip) find the gateway's listen
/// queue with room: the kernel completes their connections while the host is busy, instead of
/// dropping the SYNs past 128 (the standard library's backlog), which costs each of those devices
/// a second or more before its SYN is sent again. With the host stopped, nothing drains the queue,
/// so what completes is exactly what it holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_connects_finds_room_in_the_listen_queue() {
    const BURST: usize = 1000;
    let host = HostConfig::new(app_manifest()).start().unwrap();
    let gateway = address(&host.gateway_url);
    host.signal("STOP");
    let connects: Vec<_> = (0..BURST)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(gateway)).await
            })
        })
        .collect();
    let mut connected = Vec::new();
    for connect in connects {
        if let Ok(Ok(stream)) = connect.await.unwrap() {
            connected.push(stream);
        }
    }
    host.signal("CONT");
    assert_eq!(connected.len(), BURST, "connections the kernel completed");
}
