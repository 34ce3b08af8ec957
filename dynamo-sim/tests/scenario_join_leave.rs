//! Scenario: a node joins through a seed and another leaves, under load: each key ends held by
//! exactly its N owners in the new ring, nothing acknowledged lost, membership agreed.
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_join_leave -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn join_leave() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::join_leave)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("join leave:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}
