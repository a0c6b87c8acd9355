//! `--metrics-listen`: a Prometheus scrape before and after real traffic shows each family move,
//! and nothing in it names a user or carries a token.

use e2e::device::{Device, timestamp, token};
use e2e::metrics::{sample, scrape};
use e2e::{Host, HostConfig, app_manifest};
use serde_json::json;

/// Scrapes until `done` holds for the text (the gateway counts a socket's close after the client
/// has seen it); panics after a bounded number of scrapes.
fn scrape_until(url: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..500 {
        let text = scrape(url);
        if done(&text) {
            return text;
        }
        std::thread::yield_now();
    }
    panic!("the metrics never showed it:\n{}", scrape(url))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_with_traffic_and_carry_no_user_data() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_RATE_LIMIT_BURST", "4")
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1")
        .start_with_args(&["--metrics-listen", "127.0.0.1:0"])
        .unwrap();
    let url = host
        .metrics_url
        .clone()
        .expect("the host printed its metrics address");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let before = scrape(&url);
    let value = |text: &str, name: &str, labels: &[(&str, &str)]| sample(text, name, labels);
    let ws_ok = [("route", "/sync/ws"), ("status", "200")];
    // What the app reports of itself (x-app-metrics), counted by the generic mechanism.
    let app = |name| [("component", "coordinator"), ("name", name)];
    let (refusals, catch_ups) = (app("rate_limit_refusals"), app("catch_up_rows"));
    // The second device closes without a code: the app sees 1005 (no status).
    let closes = app("closes_1005");

    assert_eq!(host.get("/health").status, 200);
    let mut first = Device::connect(&host.gateway_url, "alice-metrics").await;
    let mut second = Device::connect(&host.gateway_url, "alice-metrics").await;
    first
        .send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(),
            "entry": {"id": "m1", "duration": 1}}))
        .await;
    first.recv_until("SYNC_RESPONSE").await;
    second.recv_until("ENTRY_CREATED").await;
    second
        .send(json!({"type": "SYNC_REQUEST", "timestamp": timestamp(), "lastSeq": 0}))
        .await;
    second.recv_until("SYNC_RESPONSE").await;
    // The burst (4) is spent: the rest are refused.
    let mut refused = 0;
    for _ in 0..4 {
        first
            .send(json!({"type": "PING", "timestamp": timestamp()}))
            .await;
    }
    for _ in 0..4 {
        if first.recv().await["code"] == "RATE_LIMITED" {
            refused += 1;
        }
    }
    assert!(refused > 0);
    second.close().await;

    let after = scrape_until(&url, |text| {
        value(text, "sync_host_gateway_closes_total", &[])
            > value(&before, "sync_host_gateway_closes_total", &[])
    });
    for (name, labels) in [
        ("sync_host_http_requests_total", &ws_ok[..]),
        (
            "sync_host_http_requests_total",
            &[("route", "/health"), ("status", "200")][..],
        ),
        (
            "sync_host_http_request_duration_seconds_count",
            &[("route", "/sync/ws")][..],
        ),
        (
            "sync_host_component_instantiations_total",
            &[("component", "coordinator")][..],
        ),
        ("sync_host_gateway_sockets_accepted_total", &[][..]),
        (
            "sync_host_gateway_app_calls_total",
            &[("outcome", "ok")][..],
        ),
        (
            "sync_host_gateway_publish_requests_total",
            &[("outcome", "published")][..],
        ),
        ("sync_host_gateway_published_items_total", &[][..]),
        (
            "sync_host_outbound_requests_total",
            &[("outcome", "2xx")][..],
        ),
        ("sync_host_sqlite_commits_total", &[][..]),
        ("sync_host_sqlite_flushes_total", &[("outcome", "ok")][..]),
        ("sync_host_sqlite_flush_batch_commits_count", &[][..]),
        ("sync_host_app_counter_total", &refusals[..]),
        ("sync_host_app_histogram_count", &catch_ups[..]),
        ("sync_host_app_counter_total", &closes[..]),
        ("sync_host_gateway_closes_total", &[][..]),
    ] {
        assert!(
            value(&after, name, labels) > value(&before, name, labels),
            "{name}{labels:?} did not move:\n{after}"
        );
    }
    assert_eq!(
        value(&after, "sync_host_gateway_sockets_accepted_total", &[])
            - value(&before, "sync_host_gateway_sockets_accepted_total", &[]),
        2.0
    );
    assert_eq!(value(&after, "sync_host_gateway_sockets_open", &[]), 1.0);
    assert!(
        value(&after, "sync_host_app_counter_total", &refusals)
            - value(&before, "sync_host_app_counter_total", &refusals)
            >= refused as f64
    );
    assert!(after.contains("# TYPE sync_host_component_instances_live gauge"));
    // No user id, connection id or token becomes a label.
    assert!(!after.contains("alice"), "{after}");
    assert!(!after.contains(first.welcome["connectionId"].as_str().unwrap()));
    assert!(!after.contains(&token("alice-metrics", 3600)[..20]));

    let agent = Host::agent();
    let other = agent.get(url.replace("/metrics", "/other")).call().unwrap();
    assert_eq!(other.status(), 404);
    let post = agent.post(&url).send("x").unwrap();
    assert_eq!(post.status(), 405);
}

#[test]
fn without_the_flag_there_is_no_metrics_endpoint() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .start()
        .unwrap();
    assert!(host.metrics_url.is_none());
}
