//! The rate-limit component through the real host (GCRA on the real key-value store), driven by
//! `tests/components/sync-probe` at `rate_limit_per_minute = 60`, `rate_limit_burst = 10`.

use e2e::{Host, HostConfig, fixture_manifest};
use serde_json::Value;
use std::time::{Duration, Instant};

fn check(host: &Host, key: &str, cost: u32) -> Value {
    let reply = host.post(&format!("/sync-probe/check?{key}&{cost}"), "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn allowed(host: &Host, key: &str) -> bool {
    check(host, key, 1)["allowed"].as_bool().unwrap()
}

#[test]
fn burst_then_the_configured_rate_over_a_minute() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    // The burst, and one more for every second the 30 checks took (on a loaded machine that can
    // be several): bounds that follow from the limit, whatever the speed.
    let started = Instant::now();
    let in_first_instant = (0..30).filter(|_| allowed(&host, "steady")).count();
    let refills = started.elapsed().as_secs_f64().floor() as usize;
    assert!(
        (10..=11 + refills).contains(&in_first_instant),
        "{in_first_instant} allowed in the first {refills} s"
    );

    // The following 60 s, asking every 50 ms (20× the allowed rate); a bounded, self-stopping loop.
    let window = Duration::from_secs(60);
    let start = Instant::now();
    let mut allowed_in_window = 0;
    let mut asked = 0;
    while start.elapsed() < window {
        asked += 1;
        if allowed(&host, "steady") {
            allowed_in_window += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(asked > 600, "only {asked} requests were sent");
    // One a second, measured over the window as it really ran.
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        (seconds * 0.9..=seconds + 1.0).contains(&(allowed_in_window as f64)),
        "{allowed_in_window} allowed in {seconds:.1} s (expected one a second, at most 10% fewer)"
    );
}

#[test]
fn retry_after_is_honoured() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let refused = (0..20)
        .map(|_| check(&host, "patient", 1))
        .find(|d| d["allowed"] == false)
        .unwrap();
    let wait = refused["retryAfterMs"].as_u64().unwrap();
    assert!((1..=1000).contains(&wait), "retry after {wait} ms");
    assert_eq!(refused["remaining"], 0);
    // Waiting is the subject of this test, not synchronisation.
    std::thread::sleep(Duration::from_millis(wait));
    assert!(
        allowed(&host, "patient"),
        "refused again after waiting {wait} ms"
    );
}

#[test]
fn keys_are_independent_and_state_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    // One a minute: nothing refills while the test runs, however slowly it runs.
    let slow = || {
        HostConfig::new(fixture_manifest())
            .state_dir(state.path())
            .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1")
    };
    let host = slow().start().unwrap();
    assert_eq!((0..10).filter(|_| allowed(&host, "a")).count(), 10);
    assert!(!allowed(&host, "a"));
    assert!(allowed(&host, "b"), "key b is limited by key a's traffic");
    host.stop();
    let host = slow().start().unwrap();
    assert!(!allowed(&host, "a"), "a restart forgot the exhausted burst");
}

#[test]
fn cost_and_configuration_errors_are_typed() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    assert_eq!(check(&host, "heavy", 4)["remaining"], 6);
    let reply = host.post("/sync-probe/check?heavy&11", "");
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (500, Some("invalid-cost"))
    );
    drop(host);
    let host = HostConfig::new(fixture_manifest())
        .env("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "0")
        .start()
        .unwrap();
    let reply = host.post("/sync-probe/check?k&1", "");
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (500, Some("misconfigured"))
    );
}

/// Key-value has no compare-and-swap, so concurrent checks of one key race (see the component's
/// docs). Eight callers on one key, as fast as they can for 2 s: this measures how far over the
/// limit they get and bounds it by the race: never more than one extra grant per caller per
/// allowed request.
#[test]
fn concurrent_callers_on_one_key() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let url = host.url.clone();
    let start = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = Host::agent();
                let (mut allowed, mut asked) = (0u32, 0u32);
                while start.elapsed() < Duration::from_secs(2) {
                    let mut response = agent
                        .post(format!("{url}/sync-probe/check?shared&1"))
                        .send("")
                        .unwrap();
                    let decision: Value =
                        serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                            .unwrap();
                    asked += 1;
                    allowed += u32::from(decision["allowed"] == true);
                }
                (allowed, asked)
            })
        })
        .collect();
    let results: Vec<(u32, u32)> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    let elapsed = start.elapsed().as_secs_f64();
    let allowed: u32 = results.iter().map(|r| r.0).sum();
    let asked: u32 = results.iter().map(|r| r.1).sum();
    // Sequentially: the burst of 10 plus one per second.
    let limit = 10.0 + elapsed.floor();
    println!(
        "8 concurrent callers, {asked} checks in {elapsed:.2} s: {allowed} allowed, limit {limit}, over by {:.0} ({:.0}%)",
        allowed as f64 - limit,
        (allowed as f64 - limit) / limit * 100.0
    );
    assert!(asked > 100, "only {asked} checks were made");
    assert!(
        allowed as f64 >= limit - 1.0,
        "{allowed} allowed: the limit under-admits"
    );
    assert!(
        allowed as f64 <= limit * 8.0,
        "{allowed} allowed: worse than eight uncoordinated limiters"
    );
}
