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
