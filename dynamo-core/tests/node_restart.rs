#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Restarting a node on its engine: data kept, Merkle trees rebuilt identically, a new epoch
//! after an unclean stop and the same one after a clean stop.

mod node_support;

use dynamo_core::node::{BucketProps, Location, Node};
use dynamo_core::ring::PartitionId;
use dynamo_core::version::Context;
use dynamo_core::{NodeId, Timestamp};
use engine_mem::MemEngine;
use node_support::*;

fn restart(c: &mut Cluster<MemEngine>, name: &str, clean: bool) -> (u64, u64) {
    let at: Timestamp = c.now;
    let mut node = c.nodes.remove(&id(name)).unwrap();
    let before = node.epoch().epoch;
    if clean {
        node.shutdown(c.now).unwrap();
        while node.poll_output().is_some() {}
    }
    let config = node.config().clone();
    let engine = node.into_engine();
    let mut fresh = Node::new(config, engine, at).unwrap();
    while fresh.poll_output().is_some() {}
    let after = fresh.epoch().epoch;
    c.nodes.insert(id(name), fresh);
    (before, after)
}

fn roots(node: &Node<MemEngine>) -> Vec<(PartitionId, u64, u64)> {
    node.config()
        .ring
        .partition_ids()
        .filter_map(|p| node.merkle(p).map(|t| (p, t.root(), t.keys())))
        .collect()
}

#[test]
fn an_unclean_restart_keeps_data_rebuilds_trees_and_opens_a_new_epoch() {
    let mut c = Cluster::mem(3, 1, BucketProps::default());
    for i in 0..40 {
        c.put("n1", &format!("k{i}"), "v", Context::new()).unwrap();
    }
    let trees = roots(c.node("n2"));
    assert!(trees.len() > 10);
    assert_eq!(trees.iter().map(|t| t.2).sum::<u64>(), 40);
    c.advance(10);
    let (before, after) = restart(&mut c, "n2", false);
    assert!(after > before, "epoch {before} -> {after}");
    assert_eq!(
        roots(c.node("n2")),
        trees,
        "rebuilt trees equal the maintained ones"
    );
    let rec = c
        .node("n2")
        .local_record(&Location::Data, b"b", b"k7")
        .unwrap();
    assert!(rec.is_some());
    // The restarted node coordinates updates as its new actor.
    let r = c.get("n2", "k7").unwrap();
    c.put("n2", "k7", "v2", r.context).unwrap();
    assert_eq!(values(&c.get("n3", "k7").unwrap()), ["v2"]);
    let actor: &NodeId = c.node("n2").actor().node();
    assert_eq!(actor, &id("n2"));
}

#[test]
fn a_clean_restart_keeps_the_epoch() {
    let mut c = Cluster::mem(3, 1, BucketProps::default());
    c.put("n1", "k", "v", Context::new()).unwrap();
    c.advance(10);
    let (before, after) = restart(&mut c, "n3", true);
    assert_eq!(before, after);
    assert_eq!(values(&c.get("n3", "k").unwrap()), ["v"]);
}

#[test]
fn a_wiped_node_whose_clock_went_back_learns_its_old_epoch_before_it_writes() {
    let mut c = Cluster::mem(3, 1, BucketProps::default());
    c.put("n1", "k", "v", Context::new()).unwrap();
    let old = c.node("n1").epoch().epoch;
    // Gossip spreads the epoch n1 announced.
    c.advance(5_000);
    assert!(["n2", "n3"].iter().all(|n| {
        c.node(n)
            .membership()
            .state()
            .member(&id("n1"))
            .unwrap()
            .epoch
            == old
    }));
    // n1's disk is wiped and its clock set back to its first start: the clock alone gives
    // it the epoch it used before.
    let node = c.nodes.remove(&id("n1")).unwrap();
    let mut fresh = Node::new(node.config().clone(), mem(), Timestamp(old)).unwrap();
    while fresh.poll_output().is_some() {}
    assert_eq!(fresh.epoch().epoch, old);
    assert!(!fresh.epoch_confirmed());
    c.nodes.insert(id("n1"), fresh);
    // Its next write waits until a peer told it that epoch, then goes out as a new actor.
    let w = c.put("n1", "k", "v2", Context::new()).unwrap();
    let n1 = c.node("n1");
    assert!(n1.epoch_confirmed());
    assert!(
        n1.epoch().epoch > old,
        "epoch {} after {old}",
        n1.epoch().epoch
    );
    // The blind write did not replace the value written by the old actor: both are kept.
    let mut got = values(&c.get("n2", "k").unwrap());
    got.sort();
    assert_eq!(got, ["v", "v2"]);
    assert!(!w.context.is_empty());
}
