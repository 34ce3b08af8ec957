//! Deletes that stay deleted: tombstones are reaped only after their grace period, once every
//! replica holds them, and a write after a reap is never swallowed by a replica that still
//! holds the tombstone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;

use dynamo_core::node::{BucketProps, Location};
use dynamo_core::proto::PeerMessage;
use dynamo_core::version::Context;
use engine_mem::MemEngine;
use node_support::*;

const GRACE_MS: u64 = 2_000;

fn cluster(seed: u64) -> Cluster<MemEngine> {
    Cluster::mem_with(3, seed, BucketProps::default(), |c| {
        c.tombstones.grace_ms = GRACE_MS;
        c.tombstones.interval_ms = 50;
        // Few partitions, so that every one is scanned within the test's time.
        c.ring = dynamo_core::ring::RingConfig::new(8).unwrap();
    })
}

/// Lets `ms` pass in 50 ms steps (timers fire at their own pace).
fn run(c: &mut Cluster<MemEngine>, ms: u64) {
    for _ in 0..ms / 50 {
        c.advance(50);
    }
}

/// What each node stores for key `k`: `None` absent, `Some(true)` tombstones only,
/// `Some(false)` a live value.
fn stored(c: &Cluster<MemEngine>) -> Vec<Option<bool>> {
    ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            c.node(n)
                .local_record(&Location::Data, b"b", b"k")
                .unwrap()
                .map(|s| s.is_tombstone_only())
        })
        .collect()
}

fn reaped(c: &Cluster<MemEngine>) -> usize {
    c.events
        .iter()
        .filter(|(_, e)| matches!(e, dynamo_core::NodeEvent::TombstonesReaped { .. }))
        .count()
}

#[test]
fn a_tombstone_is_reaped_after_its_grace_on_every_replica() {
    let mut c = cluster(3);
    let w = c.put("n1", "k", "v", Context::new()).unwrap();
    c.delete("n1", "k", w.context).unwrap();
    run(&mut c, 200);
    assert_eq!(
        stored(&c),
        [Some(true); 3],
        "every replica holds the tombstone"
    );
    run(&mut c, GRACE_MS / 2);
    assert_eq!(stored(&c), [Some(true); 3], "kept during its grace");
    run(&mut c, 4 * GRACE_MS);
    assert_eq!(stored(&c), [None; 3], "reaped everywhere");
    assert!(reaped(&c) >= 3);
    assert!(c.get("n2", "k").unwrap().is_absent());
    // The key can be written again, and the new value is everywhere.
    c.put("n3", "k", "v2", Context::new()).unwrap();
    run(&mut c, 500);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(values(&c.get(n, "k").unwrap()), ["v2"]);
    }
}

#[test]
fn a_tombstone_stays_while_a_replica_lacks_it_and_the_value_does_not_come_back() {
    let mut c = cluster(4);
    let w = c.put("n1", "k", "v", Context::new()).unwrap();
    run(&mut c, 200);
    // n3 misses the delete and keeps the old value.
    c.cut.insert(id("n3"));
    c.delete("n1", "k", w.context).unwrap();
    run(&mut c, 4 * GRACE_MS);
    let s = stored(&c);
    assert_eq!(&s[..2], [Some(true); 2], "not reaped: n3 does not hold it");
    assert_eq!(s[2], Some(false));
    assert_eq!(reaped(&c), 0);
    // Healed: anti-entropy brings n3 the tombstone, then it is reaped everywhere, and the
    // old value never comes back.
    c.cut.clear();
    run(&mut c, 6 * GRACE_MS);
    assert_eq!(stored(&c), [None; 3]);
    for n in ["n1", "n2", "n3"] {
        let r = c.get(n, "k").unwrap();
        assert!(r.is_absent(), "{n}: {r:?}");
    }
}

#[test]
fn a_write_after_a_reap_survives_a_replica_that_missed_the_reap() {
    let mut c = cluster(5);
    let w = c.put("n1", "k", "v", Context::new()).unwrap();
    c.delete("n1", "k", w.context).unwrap();
    run(&mut c, 200);
    // Every Reap to one replica is lost: it keeps the tombstone with the old history.
    let partition = c.node("n1").ring().unwrap().partition_of(b"b", b"k");
    let first = c.node("n1").ring().unwrap().preference_list(partition, 3)[0].clone();
    let lagging = if first == id("n3") {
        id("n2")
    } else {
        id("n3")
    };
    let victim = lagging.clone();
    c.filter = Some(Box::new(move |_, to, m| {
        if *to == victim && matches!(m, PeerMessage::Reap { .. }) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    // Reaped, then copied back by anti-entropy from the lagging replica, and reaped again:
    // wait for a moment when some replica holds nothing while the lagging one still holds
    // the tombstone.
    let names = ["n1", "n2", "n3"];
    let lag = names.iter().position(|n| id(n) == lagging).unwrap();
    let mut empty = None;
    for _ in 0..200 {
        run(&mut c, 50);
        let s = stored(&c);
        if s[lag] == Some(true) {
            empty = s.iter().position(Option::is_none);
        }
        if empty.is_some() {
            break;
        }
    }
    let at = names[empty.expect("some replica reaped the tombstone")];
    assert!(reaped(&c) >= 1);
    c.filter = None;
    // A blind write at a replica without a record numbers its version afresh; the lagging
    // tombstone must not cover it.
    c.put(at, "k", "v2", Context::new()).unwrap();
    run(&mut c, 3_000);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(values(&c.get(n, "k").unwrap()), ["v2"], "read at {n}");
    }
    let local = c
        .node(lagging.as_str())
        .local_record(&Location::Data, b"b", b"k")
        .unwrap()
        .unwrap();
    assert_eq!(local.live().count(), 1, "the lagging replica holds v2 too");
}

#[test]
fn a_tombstone_naming_an_actor_that_did_not_retire_stays() {
    // The key's first replica proposes reaps; another replica coordinates the delete and
    // never scans for tombstones, so it never moves to a new epoch: its actor may still
    // number writes, and a tombstone naming it must stay.
    let probe = cluster(6);
    let ring = probe.node("n1").ring().unwrap();
    let first = ring.preference_list(ring.partition_of(b"b", b"k"), 3)[0].clone();
    let writer = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| id(n) != first)
        .unwrap();
    let mut c = Cluster::mem_with(3, 6, BucketProps::default(), |c| {
        c.tombstones.grace_ms = GRACE_MS;
        c.tombstones.interval_ms = if c.id == id(writer) { 0 } else { 50 };
        c.ring = dynamo_core::ring::RingConfig::new(8).unwrap();
    });
    let w = c.put(writer, "k", "v", Context::new()).unwrap();
    c.delete(writer, "k", w.context).unwrap();
    run(&mut c, 4 * GRACE_MS);
    assert_eq!(stored(&c), [Some(true); 3]);
    assert_eq!(reaped(&c), 0);
}

#[test]
fn a_tombstone_is_reaped_only_once_every_replica_holds_it_durably() {
    // n3 misses the delete and gets the tombstone later by read repair, which is written
    // buffered. Replicas answer a reap query, and the proposer reaps, only after a synced
    // commit: n3 crashing right after the reap (losing its unsynced writes) must not go back
    // to the old value, which anti-entropy or read repair would then spread again.
    let mut c = Cluster::mem_with(3, 7, BucketProps::default(), |c| {
        c.tombstones.grace_ms = GRACE_MS;
        c.tombstones.interval_ms = 50;
        c.ring = dynamo_core::ring::RingConfig::new(8).unwrap();
        // Only read repair brings n3 the tombstone, and nothing syncs it on a timer.
        c.timing.anti_entropy_interval_ms = 0;
        c.timing.flush_interval_ms = 600_000;
    });
    let w = c.put("n1", "k", "v", Context::new()).unwrap();
    run(&mut c, 200);
    c.cut.insert(id("n3"));
    c.delete("n1", "k", w.context).unwrap();
    c.cut.clear();
    run(&mut c, 2 * GRACE_MS);
    assert_eq!(stored(&c), [Some(true), Some(true), Some(false)]);
    assert_eq!(reaped(&c), 0, "n3 does not hold the tombstone");
    // A read repairs n3; wait for the reap there.
    assert!(c.get("n1", "k").unwrap().is_not_found());
    let mut reaped_on_n3 = false;
    for _ in 0..100 {
        c.advance(10);
        if stored(&c)[2].is_none() {
            reaped_on_n3 = true;
            break;
        }
    }
    assert!(reaped_on_n3, "reaped on n3: {:?}", stored(&c));
    // n3 loses power: what it did not sync is gone (restarted with the configuration it
    // ran with: `mem_with` changed it after the cluster was built).
    let config = c.node("n3").config().clone();
    c.configs.insert(id("n3"), config);
    c.node("n3").engine().simulate_crash();
    c.restart("n3");
    assert_ne!(
        stored(&c)[2],
        Some(false),
        "n3 went back to the deleted value"
    );
    run(&mut c, 3 * GRACE_MS);
    for n in ["n1", "n2", "n3"] {
        let r = c.get(n, "k").unwrap();
        assert!(r.is_not_found(), "{n}: {r:?}");
    }
}
