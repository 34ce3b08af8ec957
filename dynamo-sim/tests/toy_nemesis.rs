//! The grow-set workload on toy nodes under a random fault schedule (partitions both ways and
//! one way, crashes with restarts that keep, crash or wipe the disk, clock skew, loss,
//! duplication, reordering), over many seeds. It shows the whole harness working end to end
//! and is the template for the real node's scenarios.
//!
//! Thousands of seeds, printing the first failing one:
//! `SIM_SEEDS=10000 cargo test -p dynamo-sim --release --test toy_nemesis -- --ignored long_run --nocapture`
//! Replay one, with its history written out:
//! `SIM_SEED=<seed> SIM_HISTORY=/tmp/h.txt cargo test -p dynamo-sim --release --test toy_nemesis -- --ignored long_run --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod toy;

use dynamo_sim::check::convergence::{check_replicas_agree, run_until_converged};
use dynamo_sim::check::growset::{GrowSet, GrowSetConfig};
use dynamo_sim::{
    HistoryMode, NemesisConfig, NetConfig, SimConfig, StartKind, Summary, history_mode,
    random_schedule, seeds_from_env, sweep, write_history_if_asked,
};
use toy::{ToyConfig, cluster_with};

const NODES: usize = 5;

fn scenario(seed: u64, history: HistoryMode) -> Result<Summary, String> {
    let mut config = SimConfig::new(seed);
    config.history = history;
    config.keep_events = false;
    config.net = NetConfig {
        min_delay: 1,
        max_delay: 30,
        loss_per_million: 100_000,
        duplicate_per_million: 50_000,
    };
    // W = 3 of 5, so that with at most 2 disks wiped an acknowledged write survives somewhere.
    let toy = ToyConfig {
        w: 3,
        ..ToyConfig::default()
    };
    let mut sim = cluster_with(config, NODES, &toy);
    let nemesis = NemesisConfig {
        max_down: 2,
        max_skew: 2_000,
        restart_kinds: vec![StartKind::Restart, StartKind::AfterCrash, StartKind::Wiped],
        ..NemesisConfig::default()
    };
    let plan = random_schedule(sim.rng(), NODES, 500, 15_000, &nemesis);
    sim.schedule_all(plan);
    let mut grow = GrowSet::new(
        GrowSetConfig {
            clients: 8,
            keys: 3,
            stop_at: 15_000,
            ..GrowSetConfig::default()
        },
        &mut sim,
    );
    grow.start(&mut sim);
    grow.run(&mut sim, 15_000);
    let outcome = (|| {
        // Every fault is repaired at 15 s; gossip then converges the replicas.
        let converged = run_until_converged(&mut sim, 30_000, 100, |d| {
            check_replicas_agree(d, Some(NODES))
        })?;
        let report = grow.final_check(&mut sim, 5_000);
        let mut summary = sim.summary();
        summary.max_time_to_converge_ms = Some(converged);
        report.fill(&mut summary);
        report.check()?;
        Ok(summary)
    })();
    if let Ok(Some(path)) = write_history_if_asked(sim.history()) {
        println!("history of seed {seed} written to {path}");
    }
    outcome
}

#[test]
fn toy_cluster_under_random_faults() {
    let report = sweep(seeds_from_env(5), |s| scenario(s, history_mode()));
    let summary = report.into_result().unwrap_or_else(|e| panic!("{e}"));
    println!("toy cluster under random faults:\n{summary}");
    assert!(summary.acknowledged_writes > 0);
    for kind in ["crash", "heal"] {
        assert!(summary.faults.contains_key(kind), "{:?}", summary.faults);
    }
}

#[test]
fn replays_are_exact() {
    let a = scenario(3, HistoryMode::Digest).unwrap();
    assert!(a.history_entries > 10_000, "{a}");
    assert_eq!(a, scenario(3, HistoryMode::Digest).unwrap());
    assert_ne!(
        a.history_digest,
        scenario(4, HistoryMode::Digest).unwrap().history_digest
    );
}

#[test]
#[ignore = "long: run explicitly, see the file's documentation"]
fn long_run() {
    let seeds = seeds_from_env(1_000);
    let started = std::time::Instant::now();
    let report = sweep(seeds.clone(), |s| scenario(s, history_mode()));
    let elapsed = started.elapsed();
    match report.into_result() {
        Ok(summary) => println!("seeds {seeds:?} passed in {elapsed:.1?}\n{summary}"),
        Err(e) => panic!("{e}"),
    }
}
