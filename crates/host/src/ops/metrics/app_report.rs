//! The app's own report (`protocol::app_report`): taken off the response, so it never reaches a
//! gateway or client, and counted.

use super::{CloseCode, close_code, get};
use http::HeaderMap;
use protocol::app_report::{AppReport, HEADER};

/// Removes the report header from `headers` and counts what it says.
pub fn record_app_report(headers: &mut HeaderMap) {
    let mut report = AppReport::default();
    for value in headers.get_all(HEADER) {
        let entries = AppReport::parse(value.to_str().unwrap_or_default());
        report.rate_limited = report.rate_limited.saturating_add(entries.rate_limited);
        report.catch_ups.extend(entries.catch_ups);
        report.closes.extend(entries.closes);
    }
    headers.remove(HEADER);
    let metrics = get();
    metrics
        .rate_limit_refusals
        .inc_by(u64::from(report.rate_limited));
    for rows in report.catch_ups {
        metrics.catch_up_rows.observe(rows as f64);
    }
    for code in report.closes {
        metrics
            .app_closes
            .get_or_create(&CloseCode {
                code: close_code(code),
            })
            .inc();
    }
}
