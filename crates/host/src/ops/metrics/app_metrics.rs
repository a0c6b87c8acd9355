//! Metrics an app reports about itself, through a mechanism any app can use: its response carries
//! the header [`HEADER`], `name=number` entries separated by `;` (`refusals_total=1; rows=150`).
//! A name ending in `_total` is a counter the number is added to; any other name is a histogram
//! the number is observed in. The host counts them per component, as
//! `sync_host_app_counter_total{component, name}` and `sync_host_app_histogram{component, name}`,
//! and removes the header, so it never reaches a gateway or client.
//!
//! An app's names are bounded like every other label: at most [`MAX_NAMES`] distinct component
//! and name pairs per process, names of `[a-z][a-z0-9_]*` up to 64 bytes; entries past the bound,
//! or that do not parse, are dropped and counted in `sync_host_app_metrics_dropped_total`.

use crate::locks::lock;
use http::HeaderMap;
use prometheus_client::encoding::EncodeLabelSet;
use std::collections::HashSet;
use std::sync::Mutex;

/// The response header an app reports in.
pub const HEADER: &str = "x-app-metrics";
/// Distinct component and name pairs kept per process.
pub const MAX_NAMES: usize = 32;
/// Entries read from one response.
const MAX_ENTRIES: usize = 64;
const MAX_NAME_BYTES: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppMetricLabels {
    pub component: String,
    pub name: String,
}

/// The pairs admitted so far.
#[derive(Default)]
pub struct Admitted(Mutex<HashSet<(String, String)>>);

impl Admitted {
    fn admit(&self, component: &str, name: &str) -> bool {
        let mut admitted = lock(&self.0);
        let key = (component.to_string(), name.to_string());
        admitted.contains(&key) || (admitted.len() < MAX_NAMES && admitted.insert(key))
    }
}

/// One entry of the header.
#[derive(Debug, PartialEq)]
enum Entry<'a> {
    Counter(&'a str, u64),
    Observation(&'a str, f64),
}

fn parse_entry(entry: &str) -> Option<Entry<'_>> {
    let (name, number) = entry.split_once('=')?;
    let (name, number) = (name.trim(), number.trim());
    let valid = name.len() <= MAX_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return None;
    }
    match name.strip_suffix("_total") {
        Some(counter) if !counter.is_empty() => Some(Entry::Counter(counter, number.parse().ok()?)),
        Some(_) => None,
        None => {
            let value: f64 = number.parse().ok()?;
            (value.is_finite() && value >= 0.0).then_some(Entry::Observation(name, value))
        }
    }
}

/// Removes the report header from `headers` and counts what it says for `component`.
pub fn record(component: &str, headers: &mut HeaderMap) {
    let values: Vec<_> = headers.get_all(HEADER).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    headers.remove(HEADER);
    let metrics = super::get();
    let entries = values
        .iter()
        .flat_map(|value| value.to_str().unwrap_or_default().split(';'))
        .filter(|entry| !entry.trim().is_empty())
        .take(MAX_ENTRIES);
    for entry in entries {
        let parsed = parse_entry(entry);
        let name = match &parsed {
            Some(Entry::Counter(name, _) | Entry::Observation(name, _)) => *name,
            None => "",
        };
        if parsed.is_none() || !metrics.app_admitted.admit(component, name) {
            metrics.app_metrics_dropped.inc();
            continue;
        }
        let labels = AppMetricLabels {
            component: component.to_string(),
            name: name.to_string(),
        };
        match parsed {
            Some(Entry::Counter(_, n)) => {
                metrics.app_counters.get_or_create(&labels).inc_by(n);
            }
            Some(Entry::Observation(_, value)) => {
                metrics.app_histograms.get_or_create(&labels).observe(value);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
