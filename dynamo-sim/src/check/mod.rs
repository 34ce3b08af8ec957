//! Invariant checkers: building blocks a scenario combines.
//!
//! - [`growset`]: the "no acknowledged write lost" workload — clients add unique elements to
//!   sets by read-modify-write with contexts, merging siblings by union — and its final check;
//! - [`convergence`]: every replica of every key holds the same value, hints drained,
//!   membership agreed, and a runner that measures the time to get there.

pub mod convergence;
pub mod growset;
