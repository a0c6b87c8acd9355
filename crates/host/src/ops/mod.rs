//! Running the process: its allocator, metrics and startup self-check.

pub mod allocator;
pub mod metrics;
pub mod self_check;
