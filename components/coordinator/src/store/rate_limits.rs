//! Each rate-limit key's state: its GCRA theoretical arrival time (µs since the Unix epoch). Read
//! and written inside the transaction that holds the write lock (`handler::gate`). One row per
//! key ever charged (users' message and connect keys); a row whose time has passed means an idle
//! key, so rows are never swept.

use super::Result;
use super::transaction::{first_i64, run};
use crate::sql::Sql;

/// The stored state of `key`; none for a key never charged.
pub fn tat(db: &dyn Sql, key: &str) -> Result<Option<i64>> {
    let rows = run(
        db,
        "SELECT tat_us FROM rate_limits WHERE key = ?",
        &[key.into()],
    )?;
    Ok(first_i64(&rows))
}

pub fn set_tat(db: &dyn Sql, key: &str, tat_us: i64) -> Result<()> {
    run(
        db,
        "INSERT INTO rate_limits (key, tat_us) VALUES (?, ?)
         ON CONFLICT (key) DO UPDATE SET tat_us = excluded.tat_us",
        &[key.into(), tat_us.into()],
    )
    .map(drop)
}
