//! Scenario: node 0 can receive but not send for 20 s under load: membership still converges
//! (a bucket change made on node 2 during the cut reaches node 0), the network carries a
//! bounded number of messages per second (at most 3 times the healthy rate: no livelock of
//! retries or gossip answers), and after the heal everything converges.
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_one_way_partition -- --include-ignored --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

/// The whole scenario, membership during the cut included.
#[test]
fn one_way_partition() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::one_way_partition)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("one way partition:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}

/// The same runs without the check of membership during the cut: bounded traffic during
/// the cut, and every check after the heal (membership agreement included).
#[test]
fn one_way_partition_no_livelock_and_heals() {
    let summary = sweep(
        seeds_from_env(DEFAULT_SEEDS),
        scenario::one_way_partition_after_heal,
    )
    .into_result()
    .unwrap_or_else(|e| panic!("{e}"));
    println!("one way partition (membership checked after the heal):\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}
