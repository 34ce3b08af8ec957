//! Scenario: 20% message loss, 5% duplication and delays of 1 to 40 ms (reordering) for 15 s under
//! load, then a clean network: nothing acknowledged lost, the cluster converges.
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_lossy_network -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn lossy_network() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::lossy_network)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("lossy network:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}
