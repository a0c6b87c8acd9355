//! Scenario `instantiate`: a trivial component (the `route-echo` fixture: no host I/O) and
//! `/health` on the host — instantiate + handle time inside the host (from its request log) and
//! requests per second over HTTP — against a native hyper handler returning the same body.

use crate::stats::{Summary, summarize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Instantiate + handle durations of the host's last `count` requests for `path`, from its log
/// lines (`GET /health 200 0.420ms`).
pub fn in_host(logs: &str, path: &str, count: usize) -> Option<Summary> {
    let needle = format!("GET {path} 200 ");
    let mut samples: Vec<Duration> = logs
        .lines()
        .filter(|line| line.contains(&needle))
        .filter_map(|line| {
            line.rsplit(' ')
                .next()?
                .strip_suffix("ms")?
                .parse::<f64>()
                .ok()
        })
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect();
    let keep = samples.len().saturating_sub(count);
    summarize(&mut samples[keep..])
}

/// `count` sequential GETs of `url`, timed at the client.
pub fn sequential(url: &str, count: usize) -> anyhow::Result<Summary> {
    let agent = e2e::Host::agent();
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let mut reply = agent.get(url).call()?;
        reply.body_mut().read_to_vec()?;
        samples.push(started.elapsed());
    }
    summarize(&mut samples).ok_or_else(|| anyhow::anyhow!("no samples"))
}

/// Requests per second from `clients` threads looping GET `url` (keep-alive) for `seconds`.
pub fn load(url: &str, clients: usize, seconds: f64) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, done) = (url.to_string(), done.clone());
            std::thread::spawn(move || {
                let agent = e2e::Host::agent();
                while Instant::now() < stop {
                    if let Ok(mut reply) = agent.get(&url).call()
                        && reply.body_mut().read_to_vec().is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests;
