use super::*;

const SECOND: i64 = 1_000_000;
const LIMIT: Limit = Limit {
    per_minute: 60,
    burst: 10,
};

/// Runs `count` requests of cost 1 at `now`, threading the TAT; returns how many were allowed.
fn burst_at(tat: &mut Option<i64>, now: i64, count: u32) -> u32 {
    let mut allowed = 0;
    for _ in 0..count {
        let (decision, next) = decide(*tat, now, 1, LIMIT).unwrap();
        if decision.allowed {
            allowed += 1;
            *tat = next;
        }
    }
    allowed
}

#[test]
fn burst_is_allowed_at_once_then_refused() {
    let mut tat = None;
    let now = 1_000 * SECOND;
    let (first, next) = decide(tat, now, 1, LIMIT).unwrap();
    assert_eq!(
        first,
        Decision {
            allowed: true,
            remaining: 9,
            retry_after_ms: 0
        }
    );
    tat = next;
    assert_eq!(burst_at(&mut tat, now, 20), 9);
    let (refused, next) = decide(tat, now, 1, LIMIT).unwrap();
    assert_eq!(
        refused,
        Decision {
            allowed: false,
            remaining: 0,
            retry_after_ms: 1000
        }
    );
    assert_eq!(next, None);
}

#[test]
fn steady_rate_after_the_burst() {
    let mut tat = None;
    let start = 1_000 * SECOND;
    assert_eq!(burst_at(&mut tat, start, 10), 10);
    // One more each second, never two.
    for second in 1..=120 {
        assert_eq!(
            burst_at(&mut tat, start + second * SECOND, 3),
            1,
            "second {second}"
        );
    }
}

#[test]
fn retry_after_is_exact_and_honoured() {
    let mut tat = None;
    let now = 5_000 * SECOND;
    burst_at(&mut tat, now, 10);
    let later = now + 250_000; // 250 ms into the wait
    let (refused, _) = decide(tat, later, 1, LIMIT).unwrap();
    assert_eq!(refused.retry_after_ms, 750);
    let at = later + refused.retry_after_ms as i64 * 1000;
    assert!(decide(tat, at, 1, LIMIT).unwrap().0.allowed);
    assert!(!decide(tat, at - 1, 1, LIMIT).unwrap().0.allowed);
}

#[test]
fn idle_key_starts_fresh() {
    let mut tat = None;
    let now = 9_000 * SECOND;
    burst_at(&mut tat, now, 10);
    // After the whole burst has drained, a stale TAT is worth nothing.
    assert_eq!(burst_at(&mut tat, now + 60 * SECOND, 20), 10);
}

#[test]
fn clock_going_backwards_never_loosens_the_limit() {
    let mut tat = None;
    let now = 9_000 * SECOND;
    burst_at(&mut tat, now, 10);
    let earlier = now - 30 * SECOND;
    let (decision, _) = decide(tat, earlier, 1, LIMIT).unwrap();
    assert!(!decision.allowed);
    assert_eq!(decision.retry_after_ms, 31_000);
}

#[test]
fn cost_above_one() {
    let now = 100 * SECOND;
    let (decision, tat) = decide(None, now, 4, LIMIT).unwrap();
    assert_eq!((decision.allowed, decision.remaining), (true, 6));
    let (decision, tat) = decide(tat, now, 6, LIMIT).unwrap();
    assert_eq!((decision.allowed, decision.remaining), (true, 0));
    let (refused, _) = decide(tat, now, 3, LIMIT).unwrap();
    assert_eq!(refused.retry_after_ms, 3000);
    assert_eq!(
        decide(None, now, 11, LIMIT),
        Err(GcraError::InvalidCost(11))
    );
    assert_eq!(decide(None, now, 0, LIMIT), Err(GcraError::InvalidCost(0)));
}

#[test]
fn fast_limit_keeps_sub_millisecond_precision() {
    let limit = Limit {
        per_minute: 1000,
        burst: 1,
    };
    let (_, tat) = decide(None, 0, 1, limit).unwrap();
    let (refused, _) = decide(tat, 1, 1, limit).unwrap();
    assert_eq!(refused.retry_after_ms, 60); // 59.999 ms rounds up
}

#[test]
fn configuration_parsing() {
    assert_eq!(
        Limit::parse(Some("100"), None, None).unwrap(),
        Limit {
            per_minute: 100,
            burst: DEFAULT_BURST
        }
    );
    assert_eq!(
        Limit::parse(Some(" 60 "), Some("10"), Some("production")).unwrap(),
        LIMIT
    );
    assert!(matches!(
        Limit::parse(Some("0"), None, None),
        Err(GcraError::Misconfigured(_))
    ));
    assert!(matches!(
        Limit::parse(Some("fast"), None, None),
        Err(GcraError::Misconfigured(_))
    ));
    // Not set: the environment's default.
    let per_minute = |raw, environment| Limit::parse(raw, None, environment).map(|l| l.per_minute);
    assert_eq!(per_minute(None, None), Ok(1000));
    assert_eq!(per_minute(Some(" "), Some("staging")), Ok(100));
    assert_eq!(per_minute(None, Some("production")), Ok(100));
    assert!(matches!(
        per_minute(None, Some("prod")),
        Err(GcraError::Misconfigured(_))
    ));
    assert!(matches!(
        Limit::parse(Some("60"), Some("-1"), None),
        Err(GcraError::Misconfigured(_))
    ));
}
