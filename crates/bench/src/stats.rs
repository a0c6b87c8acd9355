//! Latency summaries and the ratio format every figure is reported in.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Nearest-rank percentiles of `samples` (sorted in place); `None` when there are none.
pub fn summarize(samples: &mut [Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank =
        |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    Some(Summary {
        count: samples.len(),
        p50: rank(0.50),
        p95: rank(0.95),
        p99: rank(0.99),
        max: samples[samples.len() - 1],
    })
}

/// Least-squares slope of `y` over `x` for `points` (x, y); `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let spread: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    (spread > 0.0).then(|| {
        points
            .iter()
            .map(|p| (p.0 - mean_x) * (p.1 - mean_y))
            .sum::<f64>()
            / spread
    })
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `value` beside its baseline, e.g. `3.10 ms (×2.4 baseline 1.29 ms)`.
pub fn versus(value: Duration, baseline: Duration) -> String {
    format!(
        "{} (×{:.1} of baseline {})",
        ms(value),
        ratio(value.as_secs_f64(), baseline.as_secs_f64()),
        ms(baseline)
    )
}

pub fn ratio(value: f64, baseline: f64) -> f64 {
    if baseline == 0.0 {
        f64::INFINITY
    } else {
        value / baseline
    }
}

pub fn print_summary(label: &str, ours: &Summary, baseline: &Summary) {
    println!(
        "{label}: n={} p50 {} | p95 {} | p99 {} | max {}",
        ours.count,
        versus(ours.p50, baseline.p50),
        versus(ours.p95, baseline.p95),
        versus(ours.p99, baseline.p99),
        versus(ours.max, baseline.max),
    );
}

#[cfg(test)]
mod tests;
