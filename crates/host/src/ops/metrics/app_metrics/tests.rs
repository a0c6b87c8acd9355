use super::*;

#[test]
fn entries_are_counters_by_suffix_and_observations_otherwise() {
    assert_eq!(
        parse_entry(" refusals_total=2"),
        Some(Entry::Counter("refusals", 2))
    );
    assert_eq!(
        parse_entry("rows = 150"),
        Some(Entry::Observation("rows", 150.0))
    );
    for bad in [
        "Rows=1",
        "rows",
        "rows=-1",
        "rows=NaN",
        "refusals_total=1.5",
        "_total=1",
        "a-b=1",
        "rows=inf",
    ] {
        assert_eq!(parse_entry(bad), None, "{bad}");
    }
    assert_eq!(parse_entry(&format!("{}=1", "a".repeat(65))), None);
}

#[test]
fn the_report_is_counted_per_component_and_removed_from_the_response() {
    let metrics = super::super::get();
    let labels = |name: &str| AppMetricLabels {
        component: "reporter".into(),
        name: name.into(),
    };
    let before = metrics
        .app_counters
        .get_or_create(&labels("refusals"))
        .get();
    let dropped = metrics.app_metrics_dropped.get();
    let mut headers = HeaderMap::new();
    headers.insert(HEADER, "refusals_total=2; rows=40; Bad=1".parse().unwrap());
    headers.append(HEADER, "refusals_total=1".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    record("reporter", &mut headers);
    assert!(headers.get(HEADER).is_none(), "never forwarded");
    assert!(headers.get("content-type").is_some());
    assert_eq!(
        metrics
            .app_counters
            .get_or_create(&labels("refusals"))
            .get(),
        before + 3
    );
    assert!(metrics.app_metrics_dropped.get() > dropped);
    let text = metrics.encode();
    assert!(
        text.contains(r#"sync_host_app_histogram_count{component="reporter",name="rows"}"#),
        "{text}"
    );
}

#[test]
fn names_past_the_bound_are_dropped_not_kept() {
    let admitted = Admitted::default();
    for index in 0..MAX_NAMES {
        assert!(admitted.admit("c", &format!("n{index}")));
    }
    assert!(!admitted.admit("c", "one_more"));
    assert!(admitted.admit("c", "n0"), "an admitted name stays admitted");
}
