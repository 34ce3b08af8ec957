#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Listing slices at the node: read here when the node is a replica of the partition, else
//! asked of the first live replica, and of the next one when that replica does not answer
//! in time; keys whose versions are all tombstones are left out.

mod node_support;

use bytes::Bytes;
use dynamo_core::NodeId;
use dynamo_core::listing::{Cursor, Item, Scope, Slice, SliceRequest};
use dynamo_core::node::BucketProps;
use dynamo_core::proto::{ClientRequest, ClientResponse, RequestError};
use dynamo_core::ring::PartitionId;
use dynamo_core::version::Context;
use engine_mem::MemEngine;
use node_support::*;

/// Keys `k0..k199` written through n1; returns the cluster, a partition holding some of
/// them whose preference list leaves out n5, that list, and the keys written there.
fn cluster() -> (Cluster<MemEngine>, PartitionId, Vec<NodeId>, Vec<String>) {
    let mut c = Cluster::mem(5, 7, BucketProps::default());
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    for k in &keys {
        c.put("n1", k, "v", Context::new()).unwrap();
    }
    let ring = c.node("n1").ring().unwrap().clone();
    let (partition, list) = keys
        .iter()
        .map(|k| ring.partition_of(b"b", k.as_bytes()))
        .map(|p| {
            let list: Vec<NodeId> = ring.preference_list(p, 3).into_iter().cloned().collect();
            (p, list)
        })
        .find(|(_, list)| !list.contains(&id("n5")))
        .unwrap();
    let mut here: Vec<String> = keys
        .into_iter()
        .filter(|k| ring.partition_of(b"b", k.as_bytes()) == partition)
        .collect();
    here.sort();
    (c, partition, list, here)
}

fn slice(
    c: &mut Cluster<MemEngine>,
    at: &str,
    partition: PartitionId,
) -> Result<Slice, RequestError> {
    let request = ClientRequest::ListSlice(SliceRequest {
        partition,
        scope: Scope::Keys {
            bucket: Bytes::from_static(b"b"),
        },
        after: Cursor::Start,
        max: 1_000,
    });
    match c.call(at, request) {
        ClientResponse::ListSlice(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

fn names(s: &Slice) -> Vec<String> {
    s.items
        .iter()
        .map(|Item(b)| String::from_utf8(b.to_vec()).unwrap())
        .collect()
}

#[test]
fn a_node_without_the_partition_asks_a_replica_and_the_next_one_when_it_is_silent() {
    let (mut c, partition, list, keys) = cluster();
    // From a replica of the partition, and from n5 through the first replica.
    let here = slice(&mut c, &list[0].to_string(), partition).unwrap();
    assert_eq!(names(&here), keys);
    assert_eq!(here.next, None);
    assert_eq!(names(&slice(&mut c, "n5", partition).unwrap()), keys);
    // The first replica goes silent: n5 waits for it until the request timeout, then asks
    // the next replica, and learns that the first is down.
    c.cut.insert(list[0].clone());
    let start = c.now;
    assert_eq!(names(&slice(&mut c, "n5", partition).unwrap()), keys);
    assert!(c.now.0 > start.0, "it waited for the silent replica");
    assert!(!c.node("n5").failure_detector().is_up(&list[0]));
    // Known down, it is not asked again: answered at once.
    let start = c.now;
    assert_eq!(names(&slice(&mut c, "n5", partition).unwrap()), keys);
    assert_eq!(c.now, start);
    // Every replica silent: unavailable, not an empty listing.
    for n in &list[1..] {
        c.cut.insert(n.clone());
    }
    let e = slice(&mut c, "n5", partition).unwrap_err();
    assert!(matches!(e, RequestError::Unavailable { .. }), "{e:?}");
}

#[test]
fn deleted_keys_are_left_out_and_a_small_budget_resumes_where_it_stopped() {
    let (mut c, partition, list, keys) = cluster();
    let coord = list[0].to_string();
    let gone = &keys[0];
    let read = c.get(&coord, gone).unwrap();
    c.delete(&coord, gone, read.context).unwrap();
    let mut listed = Vec::new();
    let mut after = Cursor::Start;
    loop {
        let request = ClientRequest::ListSlice(SliceRequest {
            partition,
            scope: Scope::Keys {
                bucket: Bytes::from_static(b"b"),
            },
            after: after.clone(),
            max: 1,
        });
        let s = match c.call(&coord, request) {
            ClientResponse::ListSlice(r) => r.unwrap(),
            other => panic!("unexpected {other:?}"),
        };
        assert!(s.items.len() <= 1, "a budget of one record");
        listed.extend(names(&s));
        match s.next {
            Some(Item(last)) => after = Cursor::After(last),
            None => break,
        }
    }
    assert_eq!(listed, keys[1..]);
}
