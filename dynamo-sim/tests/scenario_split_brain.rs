//! Scenario: split brain. 5 nodes, N=3 R=W=2, split 2+3 for 30 simulated seconds under 6
//! concurrent grow-set clients, then healed: no acknowledged element lost, replicas agree,
//! hints drained, membership agreed, siblings only from concurrency. The same run in `lww`
//! mode loses acknowledged writes (the contrast Jepsen found in Riak).
//!
//! CI runs `DEFAULT_SEEDS` seeds; thousands on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_split_brain -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_core::version::VersioningMode;
use dynamo_sim::scenario::{split_brain, split_brain_dvv};
use dynamo_sim::{Summary, seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 100;

#[test]
fn split_brain_loses_nothing_with_dvv() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), split_brain_dvv)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("split brain 2+3 for 30 s, dvv:\n{summary}");
    assert_eq!(summary.lost_writes, 0);
    assert!(summary.acknowledged_writes > 0, "{summary}");
}

#[test]
fn split_brain_in_lww_mode_loses_acknowledged_writes() {
    let mut total = Summary::default();
    for seed in seeds_from_env(DEFAULT_SEEDS) {
        let (report, summary, _) = split_brain(seed, VersioningMode::Lww, 30_000);
        assert!(
            report.max_siblings <= 1,
            "seed {seed}: lww keeps no siblings: {report:?}"
        );
        total.merge(&summary);
    }
    println!("split brain 2+3 for 30 s, lww (the contrast):\n{total}");
    assert!(total.acknowledged_writes > 0, "{total}");
    assert!(
        total.lost_writes > 0,
        "last-writer-wins drops concurrent acknowledged writes: {total}"
    );
}
