//! Part of scenario `spin`: what a request costs each host before the app does anything, so that
//! what Spin costs the app can be told from what the app costs itself. One client awaiting each
//! response over one kept-alive HTTP connection straight to the host (no Pushpin), for `seconds`
//! per route. The fixture components (tests/fixtures/spin.toml):
//!
//! - `route-echo`, which touches no host interface: the host's floor per request (routing,
//!   instantiation, the response);
//! - `SELECT 1` on the `default` database: that floor plus opening the database (on Spin, a
//!   connection per request), through the SQLite interface the coordinator uses;
//! - one `INSERT` there: that plus a durable commit;
//! - `SELECT 1` run [`STATEMENTS`] times on one connection: with the single `SELECT 1`, what one
//!   more statement costs (the coordinator runs about fifteen per mutation);
//! - an outbound HTTP GET from the probe to the first route on the same host: with two of the
//!   first route, what a request out costs (the coordinator's publish is one).
//!
//! And the app (spin.toml):
//! - `/sync/ws` with a body that is not WebSocket events, refused with 400 before any host
//!   interface is called — the coordinator and the components composed into it instantiated, for
//!   nothing;
//! - `/sync/ws` applying one mutation (`ENTRY_CREATED`) on a connection opened once before, as a
//!   gateway sends it: the app's whole work for an ack, with its relay published to a sink that
//!   answers 200 and closes the connection, as Pushpin's publish endpoint does. Beside the round
//!   trip through Pushpin, it tells the app's cost on each host from the gateway's hop.

use crate::hosts::{Snapshot, Target, unlimited};
use e2e::{Host, HostConfig, app_manifest, fixture_manifest};
use protocol::ws_events::{self, Event, EventKind};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Statements per request in the last route.
pub const STATEMENTS: u32 = 20;

/// One route's figures on one host.
pub struct Floor {
    pub per_second: f64,
    pub host_cpu_ms_per_request: f64,
    pub written_kib_per_request: f64,
}

/// The seven routes on `target`, on fresh hosts.
pub fn measure(target: &Target, seconds: f64) -> anyhow::Result<[Floor; 7]> {
    let sink = publish_sink()?;
    let start = |manifest| {
        target
            .configure(unlimited(HostConfig::new(manifest)))
            .through_pushpin(false)
            .env("SPIN_VARIABLE_GRIP_PUBLISH_URL", &sink)
            .start_with_args(&["--no-gateway"])
    };
    let host = start(fixture_manifest())?;
    let agent = Host::agent();
    let post_times = |statement: &str, times: u32| -> anyhow::Result<()> {
        let mut response = agent
            .post(format!("{}/probe/sql-times/default?{times}", host.url))
            .send(statement)?;
        anyhow::ensure!(
            response.status() == 200,
            "{statement}: {} {}",
            response.status(),
            response.body_mut().read_to_string().unwrap_or_default()
        );
        Ok(())
    };
    let post = |statement: &str| post_times(statement, 1);
    // The coordinator's database is in WAL mode (it switches it on its first request).
    post("PRAGMA journal_mode = WAL")?;
    post("CREATE TABLE IF NOT EXISTS floor (n INTEGER)")?;
    let floor = run(&host, seconds, |_| {
        let mut response = agent.get(format!("{}/routes/floor", host.url)).call()?;
        anyhow::ensure!(
            response.status() == 200,
            "route-echo: {}",
            response.status()
        );
        response.body_mut().read_to_string()?;
        Ok(())
    })?;
    let read = run(&host, seconds, |_| post("SELECT 1"))?;
    let write = run(&host, seconds, |n| {
        post(&format!("INSERT INTO floor (n) VALUES ({n})"))
    })?;
    let statements = run(&host, seconds, |_| post_times("SELECT 1", STATEMENTS))?;
    let outbound = run(&host, seconds, |_| {
        let mut response = agent
            .get(format!(
                "{}/probe/outbound?url={}/routes/floor",
                host.url, host.url
            ))
            .call()?;
        let body = response.body_mut().read_to_string()?;
        anyhow::ensure!(
            response.status() == 200 && body.starts_with("200 "),
            "outbound: {} {body}",
            response.status()
        );
        Ok(())
    })?;
    drop(host);
    let app = start(app_manifest())?;
    let refused = run(&app, seconds, |_| {
        let mut response = agent
            .post(format!("{}/sync/ws", app.url))
            .header("content-type", "application/websocket-events")
            .send("not websocket events")?;
        anyhow::ensure!(response.status() == 400, "/sync/ws: {}", response.status());
        response.body_mut().read_to_string()?;
        Ok(())
    })?;
    let (user, connection) = ("floor", "floor-connection");
    let token = e2e::device::token(user, 3600);
    let events = |events: &[Event]| -> anyhow::Result<String> {
        let mut response = agent
            .post(format!("{}/sync/ws?userId={user}&token={token}", app.url))
            .header("content-type", "application/websocket-events")
            .header("connection-id", connection)
            .send(&ws_events::encode(events)[..])?;
        let body = response.body_mut().read_to_string()?;
        anyhow::ensure!(
            response.status() == 200,
            "/sync/ws: {} {body}",
            response.status()
        );
        Ok(body)
    };
    events(&[Event::new(EventKind::Open)])?;
    let mutation = run(&app, seconds, |n| {
        let frame = serde_json::json!({
            "type": "ENTRY_CREATED",
            "timestamp": e2e::device::timestamp(),
            "entry": {"id": format!("floor-{n}"), "notes": "floor"},
        });
        let body = events(&[Event::text(frame.to_string())])?;
        anyhow::ensure!(body.contains("Mutation applied"), "no ack: {body}");
        Ok(())
    })?;
    Ok([floor, read, write, statements, outbound, refused, mutation])
}

/// A publish endpoint that answers every request 200 and closes its connection, as Pushpin
/// 1.36's does, on a thread that lives as long as the bench; returns its base URL.
fn publish_sink() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Ok(url)
}

/// Sends `request` one after the other for `seconds`.
fn run(
    host: &Host,
    seconds: f64,
    mut request: impl FnMut(u64) -> anyhow::Result<()>,
) -> anyhow::Result<Floor> {
    let before = Snapshot::take(host);
    let started = Instant::now();
    let mut answered = 0u64;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        request(answered)?;
        answered += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let used = Snapshot::take(host).since(&before, host);
    let answered = answered.max(1) as f64;
    Ok(Floor {
        per_second: answered / elapsed,
        host_cpu_ms_per_request: used.host_cpu.as_secs_f64() * 1000.0 / answered,
        written_kib_per_request: used.host_write_bytes as f64 / 1024.0 / answered,
    })
}
