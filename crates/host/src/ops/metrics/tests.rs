use super::*;
use protocol::app_report::HEADER as APP_METRICS_HEADER;

#[test]
fn a_client_chosen_close_code_does_not_become_a_label() {
    assert_eq!(close_code(4002), "4002");
    assert_eq!(close_code(4999), "other");
    assert_eq!(close_code(3000), "other");
}

#[test]
fn the_app_report_is_counted_and_removed_from_the_response() {
    let metrics = get();
    let refusals = metrics.rate_limit_refusals.get();
    let evictions = metrics
        .app_closes
        .get_or_create(&CloseCode { code: "4002" })
        .get();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        APP_METRICS_HEADER,
        "rate-limited=2; catch-up=40; close=4002".parse().unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    record_app_report(&mut headers);
    assert!(headers.get(APP_METRICS_HEADER).is_none(), "never forwarded");
    assert!(headers.get("content-type").is_some());
    assert!(metrics.rate_limit_refusals.get() >= refusals + 2);
    let after = metrics
        .app_closes
        .get_or_create(&CloseCode { code: "4002" })
        .get();
    assert!(after > evictions);
    let text = metrics.encode();
    assert!(text.contains("sync_host_catch_up_rows_bucket"), "{text}");
    assert!(
        text.contains("sync_host_app_closes_total{code=\"4002\"}"),
        "{text}"
    );
}
