use super::*;

#[test]
fn nearest_rank_percentiles() {
    let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
    let s = summarize(&mut samples).unwrap();
    assert_eq!(
        (s.p50, s.p95, s.p99, s.max),
        (
            Duration::from_millis(50),
            Duration::from_millis(95),
            Duration::from_millis(99),
            Duration::from_millis(100),
        )
    );
    assert_eq!(summarize(&mut []), None);
    let one = summarize(&mut [Duration::from_millis(7)]).unwrap();
    assert_eq!(one.p50, Duration::from_millis(7));
}

#[test]
fn least_squares_slope() {
    let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
    assert!((slope(&line).unwrap() - 3.0).abs() < 1e-9);
    let noisy = [(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 4.0)];
    assert!((slope(&noisy).unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(slope(&[(1.0, 5.0)]), None);
    assert_eq!(slope(&[]), None);
}

#[test]
fn ratios() {
    assert_eq!(ratio(3.0, 1.5), 2.0);
    assert!(ratio(1.0, 0.0).is_infinite());
    assert_eq!(
        versus(Duration::from_millis(2), Duration::from_millis(1)),
        "2.00 ms (×2.0 of baseline 1.00 ms)"
    );
}
