//! Invariant checkers: building blocks a scenario combines.
//!
//! - [`growset`]: the "no acknowledged write lost" workload — clients add unique elements to
//!   sets by read-modify-write with contexts, merging siblings by union — and its final check;
//! - [`convergence`]: every replica of every key holds the same value, hints drained,
//!   membership agreed, and a runner that measures the time to get there;
//! - [`resurrection`]: the delete-heavy workload — clients put unique values and delete with
//!   the contexts they read — and its checker: no value an acknowledged delete covered is
//!   read again once the staleness allowance has passed.

pub mod convergence;
pub mod growset;
pub mod resurrection;
