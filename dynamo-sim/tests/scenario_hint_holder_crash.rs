//! Scenario: the substitute holding hints for a crashed primary crashes before delivering them and
//! comes back wiped (even seeds) or cut back to what was durable (odd seeds): anti-entropy
//! repairs the primary; nothing acknowledged lost (only the hint holder lost its disk: fewer
//! than W acknowledging replicas).
//!
//! Each seed also checks that every replica of every key ends with the same sibling set,
//! siblings only from concurrent writes, hints drained and membership agreed
//! (`dynamo_sim::scenario::settle`). CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_hint_holder_crash -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario;
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn hint_holder_crash() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::hint_holder_crash)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("hint holder crash:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}
