//! Scenario: a primary of one key crashes mid-load and restarts 5 s later (disk kept, or cut back
//! to what was durable on odd seeds): its writes meanwhile go to substitutes as hints, which
//! must be delivered (hints drain); nothing acknowledged lost; replicas converge.
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_primary_crash -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn primary_crash() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::primary_crash)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("primary crash:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}
