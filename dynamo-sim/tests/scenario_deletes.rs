//! Scenario: deletes under faults (issue 12, item 4). Clients put and delete (40% of writes)
//! on 4 keys, with a tombstone grace of a few seconds, under random fault episodes (crashes
//! with restarts, disk cut back or wiped, partitions, one-way blocks, hint holders down with
//! the node they hold hints for), each healed well within the grace. No value an
//! acknowledged delete covered may be read again once the grace has passed since the
//! delete's acknowledgement, the final reads agree, and every tombstone is reaped in the end
//! (`dynamo_sim::scenario::deletes`, `dynamo_sim::check::resurrection`).
//!
//! The contrast: a hint holder kept away longer than the grace *does* bring a deleted value
//! back (the documented limit of tombstone reaping), and the checker reports it; kept away
//! less than the grace, it does not.
//!
//! CI runs `DEFAULT_SEEDS` seeds; more on demand:
//! `SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_deletes -- --nocapture`
//! (a failure prints its seed; `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_sim::scenario::{self, DELETES_GRACE_MS};
use dynamo_sim::{seeds_from_env, sweep};

const DEFAULT_SEEDS: u64 = 50;

#[test]
fn deletes_under_faults() {
    let summary = sweep(seeds_from_env(DEFAULT_SEEDS), scenario::deletes)
        .into_result()
        .unwrap_or_else(|e| panic!("{e}"));
    println!("deletes under faults:\n{summary}");
    assert_eq!(summary.resurrections, 0);
    assert!(summary.acknowledged_deletes > 0, "{summary}");
    assert!(summary.acknowledged_writes > 0, "{summary}");
    assert!(summary.tombstones_reaped > 0, "{summary}");
    assert!(summary.max_staleness_ms < DELETES_GRACE_MS, "{summary}");
}

/// A seed replays exactly: the same figures twice.
#[test]
fn a_seed_replays_exactly() {
    let first = scenario::deletes(7).unwrap();
    assert_eq!(scenario::deletes(7), Ok(first));
}

/// A hint holder away for 8 s with a grace of 1 s: the tombstone is reaped while the holder
/// is away, and the value it delivers on its return is live again — the checker says so.
#[test]
fn a_hint_kept_away_past_the_grace_resurrects_and_the_checker_sees_it() {
    for seed in 0..3 {
        let (report, reaped) = scenario::deletes_hint_past_grace(seed, 1_000, 8_000).unwrap();
        assert!(reaped > 0, "seed {seed}: nothing reaped");
        assert!(
            !report.resurrections.is_empty(),
            "seed {seed}: no resurrection: {report:?}"
        );
        let e = report.check().unwrap_err();
        assert!(e.contains("read again"), "{e}");
    }
}

/// The same with a grace longer than the holder's absence: the tombstone is still there
/// when the hint comes back, and replaces the delivered value.
#[test]
fn a_hint_back_within_the_grace_does_not_resurrect() {
    for seed in 0..3 {
        let (report, _) = scenario::deletes_hint_past_grace(seed, 30_000, 8_000).unwrap();
        assert_eq!(report.check(), Ok(()), "seed {seed}");
        assert!(report.deletes_acknowledged > 0);
        assert!(report.reads > 5);
    }
}
