use super::*;

fn full_report() -> AppReport {
    AppReport {
        rate_limited: 2,
        catch_ups: vec![150, 0],
        closes: vec![4002, 1008],
    }
}

#[test]
fn a_report_is_its_header_value() {
    assert_eq!(
        full_report().encode(),
        "rate_limit_refusals_total=2; catch_up_rows=150; catch_up_rows=0; \
         closes_4002_total=1; closes_1008_total=1"
    );
    assert_eq!(AppReport::default().encode(), "");
    assert!(AppReport::default().is_empty());
    assert!(!full_report().is_empty());
}

/// Every entry is what the header's readers take: a valid name, `=`, and for a counter
/// (`…_total`) a non-negative integer, for a histogram a non-negative number.
#[test]
fn every_entry_follows_the_header_format() {
    let encoded = full_report().encode();
    for entry in encoded.split(';') {
        let (name, number) = entry.trim().split_once('=').expect("name=number");
        assert!(valid_name(name), "{name}");
        if name.ends_with("_total") {
            assert!(number.parse::<u64>().is_ok(), "{entry}");
        } else {
            assert!(number.parse::<f64>().is_ok_and(|n| n >= 0.0), "{entry}");
        }
    }
    for code in [1000, 1008, 1009, 4001, 4002, u16::MAX] {
        assert!(valid_name(&closes_total(code)), "{code}");
    }
}

#[test]
fn names_are_lowercase_words_of_at_most_64_bytes() {
    for name in ["a", "catch_up_rows", "closes_4002_total", &"x".repeat(64)] {
        assert!(valid_name(name), "{name}");
    }
    for name in [
        "",
        "4002_total",
        "_total",
        "Catch_up_rows",
        "catch-up",
        "catch up",
        "rows=1",
        "rows;",
        "é",
        &"x".repeat(65),
    ] {
        assert!(!valid_name(name), "{name}");
    }
}

#[test]
fn a_close_code_a_client_chose_does_not_become_a_name() {
    assert_eq!(closes_total(4002), "closes_4002_total");
    assert_eq!(closes_total(1000), "closes_1000_total");
    for chosen in [3000, 4999, 4003, 1015] {
        assert_eq!(closes_total(chosen), "closes_other_total", "{chosen}");
    }
}
