//! Riak's KV679: a node that lost its data must not reuse counters. Replays the scenario
//! on three replicas' sibling sets, with and without the epoch bump.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bytes::Bytes;
use dynamo_core::version::{Actor, ContentType, Context, EpochState, SiblingSet, VersioningMode};
use dynamo_core::{NodeId, Timestamp};

const A: usize = 0;

fn ct() -> ContentType {
    ContentType::new("text/plain").unwrap()
}

fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

/// Three replicas; `write` coordinates at replica `A` and replicates to all.
struct Cluster {
    replicas: [SiblingSet; 3],
}

impl Cluster {
    fn new(mode: VersioningMode) -> Self {
        Cluster {
            replicas: [
                SiblingSet::new(mode),
                SiblingSet::new(mode),
                SiblingSet::new(mode),
            ],
        }
    }

    /// A put coordinated by node A as `actor`, then sent to every replica (which merge it).
    fn write(&mut self, ctx: &Context, v: &'static str, actor: &Actor, t: u64) -> Context {
        let out = self.replicas[A]
            .apply_put(
                ctx,
                Bytes::from_static(v.as_bytes()),
                ct(),
                actor,
                Timestamp(t),
            )
            .unwrap();
        self.anti_entropy();
        out
    }

    /// Every replica merges every other one (twice around, so all converge).
    fn anti_entropy(&mut self) {
        for _ in 0..2 {
            for i in 0..3 {
                for j in 0..3 {
                    if i != j {
                        let other = self.replicas[j].clone();
                        self.replicas[i].merge(&other).unwrap();
                    }
                }
            }
        }
    }

    fn values(&self, i: usize) -> BTreeSet<&'static str> {
        self.replicas[i]
            .live()
            .map(|s| match s.bytes().as_ref() {
                b"w1" => "w1",
                b"w2" => "w2",
                b"w3" => "w3",
                b"w4" => "w4",
                other => panic!("unexpected value {other:?}"),
            })
            .collect()
    }

    /// All replicas agree, and hold these values.
    fn assert_converged(&self, expected: &[&'static str], why: &str) {
        for i in 0..3 {
            assert_eq!(self.replicas[i], self.replicas[0], "{why}: replicas differ");
            assert_eq!(
                self.values(i),
                expected.iter().copied().collect::<BTreeSet<_>>(),
                "{why}"
            );
        }
    }
}

/// How node A comes back after losing its data directory (meta keyspace included).
enum Restart {
    /// The fix: a new epoch chosen by `EpochState::on_start`.
    NewEpoch,
    /// The bug: A keeps writing as its old actor.
    SameActor,
}

/// Three writes by A, replicated; A's disk wiped; A coordinates w4 (blind, or after
/// reading replica B). Returns the cluster after anti-entropy.
fn scenario(mode: VersioningMode, restart: Restart, read_b_first: bool) -> Cluster {
    let epoch0 = EpochState::on_start(None, Timestamp(1_000), None);
    let a0 = epoch0.actor(node("a"));
    let mut cluster = Cluster::new(mode);
    let mut ctx = Context::new();
    for (i, v) in ["w1", "w2", "w3"].into_iter().enumerate() {
        ctx = cluster.write(&ctx, v, &a0, 1_000 + i as u64);
    }
    cluster.assert_converged(&["w3"], "before the wipe");

    // A loses everything: data and the stored epoch state.
    cluster.replicas[A] = SiblingSet::new(mode);
    let actor = match restart {
        Restart::NewEpoch => {
            let epoch1 = EpochState::on_start(None, Timestamp(5_000), None);
            assert_ne!(epoch1.epoch, epoch0.epoch);
            epoch1.actor(node("a"))
        }
        Restart::SameActor => a0,
    };
    let ctx = if read_b_first {
        cluster.replicas[1].context()
    } else {
        Context::new()
    };
    cluster.write(&ctx, "w4", &actor, 5_000);
    cluster
}

#[test]
fn with_epochs_no_write_is_silently_dropped() {
    for mode in [VersioningMode::Dvv, VersioningMode::VClock] {
        // A blind write is concurrent with w3: both are kept as siblings.
        scenario(mode, Restart::NewEpoch, false)
            .assert_converged(&["w3", "w4"], &format!("{mode:?}, blind write, new epoch"));
        // A write whose client had read w3 (from B) correctly supersedes it.
        scenario(mode, Restart::NewEpoch, true)
            .assert_converged(&["w4"], &format!("{mode:?}, read-then-write, new epoch"));
    }
}

#[test]
fn without_the_epoch_bump_the_new_write_is_lost() {
    for mode in [VersioningMode::Dvv, VersioningMode::VClock] {
        // The bug this test exists to catch: A numbers w4 with a counter that B and C have
        // already seen (A:1 <= A:3), so they treat w4 as obsolete and the merge drops it,
        // and A itself loses it on anti-entropy. The client was told the write succeeded.
        scenario(mode, Restart::SameActor, false)
            .assert_converged(&["w3"], &format!("{mode:?}, blind write, same actor"));
    }
}

#[test]
fn unclean_restart_with_meta_intact_also_moves_on() {
    // Not a wipe but a crash that may have lost buffered writes: the stored state is not
    // marked clean, so the node takes the next epoch even if its clock went back.
    let running = EpochState::on_start(None, Timestamp(1_000), None);
    let after_crash = EpochState::on_start(Some(running), Timestamp(10), None);
    assert!(after_crash.epoch > running.epoch);
    let clean = EpochState::on_start(Some(running.clean_shutdown()), Timestamp(10), None);
    assert_eq!(clean.epoch, running.epoch);
}
