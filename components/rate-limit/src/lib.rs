//! `components/rate-limit`: exports `mirubato:rate-limit/rate-limit`, a generic cell rate algorithm
//! (GCRA) per key with its one number of state — the theoretical arrival time (TAT) — kept outside
//! the instance, because a Spin instance keeps no memory between requests: by the caller (`decide`:
//! the coordinator keeps it in its database, in the request's own transaction) or in the `default`
//! key-value store (`check`, described below).
//!
//! Configuration (component variables): `rate_limit_per_minute` (1000 local, 100 staging and
//! production) and `rate_limit_burst`, default [`gcra::DEFAULT_BURST`].
//!
//! Store growth: one entry per key ever checked (`ratelimit:<key>` → a decimal TAT, under 40 bytes
//! of value). An entry whose TAT has passed means "idle": it costs nothing, is read as absent and
//! is overwritten by the next check, so no sweep is needed for correctness; the count of entries is
//! bounded by the number of distinct keys (users and connection-attempt keys), never by traffic.
//!
//! Concurrency: key-value offers no compare-and-swap, so a check is read-TAT, decide, write-TAT.
//! Callers that race on one key can each read the same TAT and each be allowed: with N concurrent
//! callers at most N − 1 extra requests get through per race window, and the last write wins (the
//! stored TAT then undercounts). `tests/e2e/rate_limit.rs` measures it: 8 callers on one key as
//! fast as they can for 2 s through `sync-host` on 2 cores (~7,300 checks) got 11–13 grants where a
//! serial limiter grants 11–12 (burst 10 + 1/s) — at most 1–2 extra. The window is short because
//! each check is two quick host calls; a remote store (Redis) widens it.

pub mod gcra;

#[cfg(target_arch = "wasm32")]
mod component;
