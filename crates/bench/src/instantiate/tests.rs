use super::*;

#[test]
fn reads_durations_from_request_log_lines() {
    let logs = "x INFO request: GET /health 200 0.42ms\nx INFO request: GET /sync/ws 200 1.00ms\n\
                    x INFO request: GET /health 200 1.58ms\nx INFO request: GET /health 503 9.00ms\n";
    let s = in_host(logs, "/health", 10).unwrap();
    assert_eq!(s.count, 2);
    assert_eq!(s.p50, Duration::from_secs_f64(0.00042));
    assert_eq!(s.max, Duration::from_secs_f64(0.00158));
    assert_eq!(in_host(logs, "/health", 1).unwrap().count, 1);
    assert!(in_host(logs, "/other", 1).is_none());
}
