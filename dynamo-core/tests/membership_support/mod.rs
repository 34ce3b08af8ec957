//! Shared helpers for the membership tests: node ids, and arbitrary cluster states built
//! through the serde form (so that they cover states no API sequence would produce, such as
//! equal versions with different contents).
#![allow(dead_code)]

use std::collections::BTreeMap;

use dynamo_core::NodeId;
use dynamo_core::membership::ClusterState;
use dynamo_core::ring::{Ring, RingConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

pub fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

pub const POOL: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];

pub fn small_config() -> RingConfig {
    RingConfig::new(16).unwrap()
}

fn subset(mask: u8) -> Vec<NodeId> {
    POOL.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| id(n))
        .collect()
}

/// (node, status, version, zone, address) indices.
type MemberSpec = (usize, usize, u64, Option<usize>, usize);
/// (name, version, (n, r, w, mode)).
type BucketSpec = (usize, u64, (u8, u8, u8, usize));

/// Generated description of a state.
#[derive(Debug, Clone)]
pub struct StateSpec {
    members: Vec<MemberSpec>,
    ring: Option<(u64, u8, u8)>,
    buckets: Vec<BucketSpec>,
}

pub fn state_spec() -> impl Strategy<Value = StateSpec> {
    let member = (
        0..5usize,
        0..4usize,
        0..4u64,
        proptest::option::of(0..2usize),
        0..2usize,
    );
    let ring = proptest::option::of((1..4u64, 1..32u8, 1..32u8));
    let props = (1..4u8, 0..4u8, 0..4u8, 0..3usize);
    let bucket = (0..3usize, 0..3u64, props);
    (
        proptest::collection::vec(member, 0..7),
        ring,
        proptest::collection::vec(bucket, 0..4),
    )
        .prop_map(|(members, ring, buckets)| StateSpec {
            members,
            ring,
            buckets,
        })
}

const STATUS: [&str; 4] = ["joining", "valid", "leaving", "exiting"];
const ZONES: [&str; 2] = ["z1", "z2"];
const ADDRS: [&str; 2] = ["10.0.0.1:7000", "10.0.0.2:7000"];
const MODES: [&str; 3] = ["vclock", "dvv", "lww"];

/// Builds the state (via its serde form); quorum values are clamped to be valid.
pub fn build(spec: &StateSpec) -> ClusterState {
    let mut members: BTreeMap<String, Value> = BTreeMap::new();
    for &(node, status, version, zone, addr) in &spec.members {
        members.insert(
            POOL[node].to_owned(),
            json!({
                "status": STATUS[status],
                "version": version,
                "zone": zone.map(|z| ZONES[z]),
                "address": ADDRS[addr],
            }),
        );
    }
    let (ring, ring_version) = match spec.ring {
        None => (Value::Null, 0),
        Some((version, mask, prev)) => {
            let first = Ring::new(small_config(), subset(prev)).unwrap();
            let ring = first.rebalance(subset(mask)).unwrap();
            for m in ring.members() {
                members.entry(m.node.to_string()).or_insert_with(
                    || json!({"status": "valid", "version": 0, "zone": null, "address": ADDRS[0]}),
                );
            }
            (serde_json::to_value(&ring).unwrap(), version)
        }
    };
    let mut buckets: BTreeMap<usize, Value> = BTreeMap::new();
    for &(name, version, (n, r, w, mode)) in &spec.buckets {
        let r = r.clamp(1, n);
        let w = w.clamp(1, n);
        buckets.insert(
            name,
            json!({
                "name": format!("bucket{name}").into_bytes(),
                "version": version,
                "props": {"n": n, "r": r, "w": w, "mode": MODES[mode]},
            }),
        );
    }
    let v = json!({
        "members": members.into_iter().collect::<Vec<_>>(),
        "ring": ring,
        "ring_version": ring_version,
        "buckets": buckets.into_values().collect::<Vec<_>>(),
    });
    serde_json::from_value(v).unwrap()
}

pub fn merged(a: &ClusterState, b: &ClusterState) -> ClusterState {
    let mut x = a.clone();
    x.merge(b);
    x
}
