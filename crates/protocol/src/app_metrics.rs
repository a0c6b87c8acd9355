//! What one request of the app did that only the app knows — rate-limit refusals, catch-up sizes,
//! connections it closed — reported to `sync-host` in a response header, which the host counts in
//! its metrics and removes. Elsewhere (on Spin, behind Pushpin) the header is unused.
//!
//! The value is `name=number` entries separated by `;`, e.g. `rate-limited=1; catch-up=150;
//! close=4002`. Readers ignore names they do not know and entries that do not parse.

/// The response header carrying the report.
pub const HEADER: &str = "x-sync-app-report";

/// Most entries of one kind a reader takes from one header: a request cannot inflate a metric
/// beyond what one request can do.
pub const MAX_ENTRIES: usize = 64;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppReport {
    /// Frames or connections refused for the rate limit.
    pub rate_limited: u32,
    /// Rows sent by each catch-up.
    pub catch_ups: Vec<u64>,
    /// Close codes of connections the app closed.
    pub closes: Vec<u16>,
}

impl AppReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The header value; empty when there is nothing to report.
    pub fn encode(&self) -> String {
        let mut entries = Vec::new();
        if self.rate_limited > 0 {
            entries.push(format!("rate-limited={}", self.rate_limited));
        }
        entries.extend(self.catch_ups.iter().map(|rows| format!("catch-up={rows}")));
        entries.extend(self.closes.iter().map(|code| format!("close={code}")));
        entries.join("; ")
    }

    /// Reads a header value, ignoring what it does not understand.
    pub fn parse(value: &str) -> Self {
        let mut report = Self::default();
        for entry in value.split(';') {
            let Some((name, number)) = entry.split_once('=') else {
                continue;
            };
            let number = number.trim();
            match name.trim() {
                "rate-limited" => {
                    if let Ok(n) = number.parse::<u32>() {
                        report.rate_limited = report
                            .rate_limited
                            .saturating_add(n)
                            .min(MAX_ENTRIES as u32);
                    }
                }
                "catch-up" if report.catch_ups.len() < MAX_ENTRIES => {
                    report.catch_ups.extend(number.parse::<u64>().ok());
                }
                "close" if report.closes.len() < MAX_ENTRIES => {
                    report.closes.extend(number.parse::<u16>().ok());
                }
                _ => {}
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_its_header() {
        let report = AppReport {
            rate_limited: 2,
            catch_ups: vec![150, 0],
            closes: vec![4002],
        };
        assert_eq!(
            report.encode(),
            "rate-limited=2; catch-up=150; catch-up=0; close=4002"
        );
        assert_eq!(AppReport::parse(&report.encode()), report);
        assert_eq!(AppReport::default().encode(), "");
    }

    #[test]
    fn unknown_or_broken_entries_are_ignored_and_counts_are_capped() {
        let report = AppReport::parse(
            "user=alice; close=x; catch-up=-1; rate-limited=99999999999; close=1000",
        );
        assert_eq!(report.closes, [1000]);
        assert!(report.catch_ups.is_empty());
        assert_eq!(
            report.rate_limited, 0,
            "an unparsable number counts nothing"
        );
        let flood = "close=1000;".repeat(1000);
        assert_eq!(AppReport::parse(&flood).closes.len(), MAX_ENTRIES);
        assert_eq!(
            AppReport::parse("rate-limited=1000").rate_limited,
            MAX_ENTRIES as u32
        );
    }
}
