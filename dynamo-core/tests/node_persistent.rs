#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The node over a persistent engine (redb): acknowledged writes are on disk, and a node
//! reopened from its directory comes back with its data, its trees and a new epoch.

mod node_support;

use dynamo_core::node::{BucketProps, KEYSPACES, Location, Node};
use dynamo_core::version::Context;
use engine_api::{EngineConfig, StorageEngine};
use engine_redb::RedbEngine;
use node_support::*;

#[test]
fn a_node_reopened_from_disk_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        RedbEngine::open(&EngineConfig::new(dir.path().join(name), KEYSPACES)).unwrap()
    };
    let mut c = Cluster::new(3, 9, BucketProps::default(), |n| open(n.as_str()));
    for i in 0..25 {
        c.put("n1", &format!("k{i}"), &format!("v{i}"), Context::new())
            .unwrap();
    }
    let node = c.nodes.remove(&id("n2")).unwrap();
    let config = node.config().clone();
    let epoch = node.epoch().epoch;
    let p = node.ring().unwrap().partition_of(b"b", b"k3");
    let root = node.merkle(p).unwrap().root();
    drop(node); // closes the engine, as a crash of the process would

    c.advance(10);
    let mut reopened = Node::new(config, open("n2"), c.now).unwrap();
    while reopened.poll_output().is_some() {}
    assert!(reopened.epoch().epoch > epoch);
    assert_eq!(reopened.merkle(p).unwrap().root(), root);
    for i in 0..25 {
        let rec = reopened
            .local_record(&Location::Data, b"b", format!("k{i}").as_bytes())
            .unwrap()
            .unwrap();
        let v: Vec<_> = rec.live().map(|s| s.bytes().clone()).collect();
        assert_eq!(v, [bytes::Bytes::from(format!("v{i}"))]);
    }
    c.nodes.insert(id("n2"), reopened);
    assert_eq!(values(&c.get("n2", "k7").unwrap()), ["v7"]);
}
