//! Scenario: a primary's disk is wiped mid-load and it restarts at once (Riak's KV679): it must
//! write as a new actor so that no acknowledged write is silently superseded, and get its
//! data back; clocks skewed by up to ±500 ms.
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_disk_wipe -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn disk_wipe() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::disk_wipe)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("disk wipe:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}

/// The wiped node's clock also went back to the instant of its first start, so the epoch it
/// reads from its clock is the one it used before the wipe.
#[test]
fn disk_wipe_with_clock_set_back() {
    let summary = sweep(
        seeds_from_env(DEFAULT_SEEDS),
        scenario::disk_wipe_clock_back,
    )
    .into_result()
    .unwrap_or_else(|e| panic!("{e}"));
    println!("disk wipe, clock set back:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
}
