#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Forwarding to a coordinator, and the sloppy quorum: substitutes keep hints.

mod node_support;

use dynamo_core::NodeId;
use dynamo_core::node::{BucketProps, Location};
use dynamo_core::proto::{ClientResponse, QuorumKind, RequestError};
use dynamo_core::version::Context;
use engine_mem::MemEngine;
use node_support::*;

fn five() -> Cluster<MemEngine> {
    Cluster::mem(5, 3, BucketProps::default())
}

/// A key whose preference list (N=3) leaves out `outsider`, and that list.
fn key_outside(c: &Cluster<MemEngine>, outsider: &str) -> (String, Vec<NodeId>) {
    let ring = c.node("n1").ring().unwrap();
    (0..1000)
        .map(|i| format!("key{i}"))
        .find_map(|k| {
            let pl: Vec<NodeId> = ring
                .preference_list_for_key(b"b", k.as_bytes(), 3)
                .into_iter()
                .cloned()
                .collect();
            (!pl.contains(&id(outsider))).then_some((k, pl))
        })
        .unwrap()
}

fn forwards(c: &Cluster<MemEngine>) -> usize {
    c.history
        .iter()
        .filter(|h| h.contains("-> Send") && h.contains("Forward {"))
        .count()
}

#[test]
fn a_node_outside_the_preference_list_forwards() {
    let mut c = five();
    let (key, pl) = key_outside(&c, "n1");
    c.put("n1", &key, "v", Context::new()).unwrap();
    assert_eq!(forwards(&c), 1);
    assert!(
        c.node("n1")
            .local_record(&Location::Data, b"b", key.as_bytes())
            .unwrap()
            .is_none(),
        "the forwarding node stores nothing"
    );
    for n in &pl {
        let rec = c.nodes[n]
            .local_record(&Location::Data, b"b", key.as_bytes())
            .unwrap();
        assert!(rec.is_some(), "replica {n}");
    }
    let r = c.get("n1", &key).unwrap();
    assert_eq!(values(&r), ["v"]);
    assert_eq!(forwards(&c), 2);
}

#[test]
fn a_forward_to_a_silent_coordinator_times_out() {
    let mut c = five();
    let (key, pl) = key_outside(&c, "n1");
    c.cut.insert(pl[0].clone());
    let start = c.now;
    let e = c.put("n1", &key, "v", Context::new()).unwrap_err();
    assert_eq!(
        e,
        RequestError::Unavailable {
            needed: 2,
            answered: 0,
            op: QuorumKind::Write
        }
    );
    assert!(c.now.0 - start.0 >= 2_500, "waited for the forward timeout");
    assert!(!c.node("n1").failure_detector().is_up(&pl[0]));
    // The next request routes round the silent node.
    c.put("n1", &key, "v", Context::new()).unwrap();
}

#[test]
fn with_a_primary_down_a_substitute_keeps_a_hint() {
    let mut c = five();
    let (key, pl) = key_outside(&c, "n5");
    let coord = pl[0].to_string();
    let down = pl[2].clone();
    c.cut.insert(down.clone());
    // The first write succeeds with two primaries; its timeout marks the third down.
    let w = c.put(&coord, &key, "v1", Context::new()).unwrap();
    c.advance(2_000);
    assert!(!c.nodes[&pl[0]].failure_detector().is_up(&down));
    // The second write goes to a substitute, as a hint for the down primary.
    c.put(&coord, &key, "v2", w.context).unwrap();
    let substitutes: Vec<&NodeId> = c
        .nodes
        .keys()
        .filter(|n| !pl.contains(n))
        .filter(|n| {
            c.nodes[*n]
                .local_record(&Location::Hint(down.clone()), b"b", key.as_bytes())
                .unwrap()
                .is_some()
        })
        .collect();
    assert_eq!(substitutes.len(), 1, "exactly one substitute holds a hint");
    let s = substitutes[0];
    assert!(
        c.nodes[s]
            .local_record(&Location::Data, b"b", key.as_bytes())
            .unwrap()
            .is_none(),
        "a hint is not data"
    );
    let hint = c.nodes[s]
        .local_record(&Location::Hint(down.clone()), b"b", key.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(hint.live().count(), 1);
    assert_eq!(c.nodes[s].hints_stored().unwrap(), 1);
    // Reads use the substitute too, and see the latest value.
    let r = c.get(&coord, &key).unwrap();
    assert_eq!(values(&r), ["v2"]);
    // Any message from the down node marks it up again.
    c.cut.clear();
    match c.call(&down.to_string(), get_req(&key)) {
        ClientResponse::Get(Ok(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(c.nodes[&pl[0]].failure_detector().is_up(&down));
}

/// Reads `key` at `coord` (whatever the answer) until `done` holds, at most 600 times.
fn reading_until(
    c: &mut Cluster<MemEngine>,
    coord: &str,
    key: &str,
    mut done: impl FnMut(&Cluster<MemEngine>) -> bool,
) {
    for _ in 0..600 {
        if done(c) {
            return;
        }
        c.call(coord, get_req(key));
    }
    panic!("the condition never held");
}

/// Advances time in 100 ms steps until `done` holds (at most a simulated minute).
fn until(c: &mut Cluster<MemEngine>, mut done: impl FnMut(&Cluster<MemEngine>) -> bool) {
    for _ in 0..600 {
        if done(c) {
            return;
        }
        c.advance(100);
    }
    panic!("the condition never held");
}

/// Cuts off `nodes` and reads `key` at `coord` until `coord` sees them all down (a node
/// learns a peer is down from requests it does not answer).
fn cut_off(c: &mut Cluster<MemEngine>, nodes: &[NodeId], coord: &str, key: &str) {
    for p in nodes {
        c.cut.insert(p.clone());
    }
    let coord_id = id(coord);
    reading_until(c, coord, key, |c| {
        nodes
            .iter()
            .all(|p| !c.nodes[&coord_id].failure_detector().is_up(p))
    });
}
#[test]
fn with_every_primary_cut_off_substitutes_take_the_write_and_number_it_safely() {
    let mut c = five();
    // A key whose three primaries are all on the other side of a 3+2 split.
    let (key, pl) = (0..1000)
        .map(|i| format!("key{i}"))
        .find_map(|k| {
            let pl: Vec<NodeId> = c
                .node("n1")
                .ring()
                .unwrap()
                .preference_list_for_key(b"b", k.as_bytes(), 3)
                .into_iter()
                .cloned()
                .collect();
            (!pl.contains(&id("n4")) && !pl.contains(&id("n5"))).then_some((k, pl))
        })
        .unwrap();
    cut_off(&mut c, &pl, "n4", &key);
    // W = 2 with two reachable nodes: the write succeeds on the minority side.
    c.put("n4", &key, "v1", Context::new()).unwrap();
    for s in ["n4", "n5"] {
        assert_eq!(c.node(s).hints_stored().unwrap(), 1, "{s} keeps a hint");
    }
    // Healed: the hints reach the primaries and are deleted.
    c.cut.clear();
    until(&mut c, |c| {
        ["n4", "n5"]
            .iter()
            .all(|s| c.node(s).hints_stored().unwrap() == 0)
    });
    let epoch_before = c.node("n4").epoch().epoch;
    // Cut off again: a blind write at the same substitute, with nothing left of its first
    // version here. A reused dot would make the two writes one; they are concurrent, so
    // both must survive as siblings.
    cut_off(&mut c, &pl, "n4", &key);
    c.put("n4", &key, "v2", Context::new()).unwrap();
    assert!(
        c.node("n4").epoch().epoch > epoch_before,
        "the substitute moved to a new actor after its hints were delivered"
    );
    c.cut.clear();
    until(&mut c, |c| {
        ["n4", "n5"]
            .iter()
            .all(|s| c.node(s).hints_stored().unwrap() == 0)
    });
    let r = c.get(&pl[0].to_string(), &key).unwrap();
    let mut got = values(&r);
    got.sort();
    assert_eq!(got, ["v1", "v2"]);
}

#[test]
fn a_write_with_fewer_reachable_nodes_than_its_quorum_is_refused_before_it_is_applied() {
    let mut c = five();
    let (key, _) = key_outside(&c, "n5");
    let others: Vec<NodeId> = ["n1", "n2", "n3", "n4"].into_iter().map(id).collect();
    cut_off(&mut c, &others, "n5", &key);
    let start = c.now;
    let e = c.put("n5", &key, "v", Context::new()).unwrap_err();
    assert_eq!(
        e,
        RequestError::Unavailable {
            needed: 2,
            answered: 0,
            op: QuorumKind::Write
        }
    );
    assert_eq!(c.now, start, "refused at once, not at the timeout");
    assert_eq!(
        c.node("n5").hints_stored().unwrap(),
        0,
        "nothing was applied"
    );
}
