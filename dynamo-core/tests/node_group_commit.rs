#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Group commit: replica writes that arrive together share one engine batch, and are
//! acknowledged only after it returned.

mod node_support;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use dynamo_core::NodeEvent;
use dynamo_core::node::{Input, Location, Node, NodeConfig, Output};
use dynamo_core::proto::{ClientId, ClientResponse, OpId, PeerMessage};
use dynamo_core::record;
use dynamo_core::version::{Actor, Context, SiblingSet, VersioningMode};
use node_support::*;

fn record_by(actor: &str, value: &str) -> Bytes {
    let mut set = SiblingSet::new(VersioningMode::Dvv);
    set.apply_put(
        &Context::new(),
        Bytes::copy_from_slice(value.as_bytes()),
        text(),
        &Actor::new(id(actor), 1),
        T0,
    )
    .unwrap();
    Bytes::from(record::encode(&set).unwrap())
}

fn drain<E: engine_api::StorageEngine>(node: &mut Node<E>) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn acks(outputs: &[Output]) -> Vec<(u64, Result<(), String>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                message: PeerMessage::ReplicaPutAck { op, result },
                ..
            } => Some((op.seq, result.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn replica_puts_before_one_tick_make_one_engine_write() {
    let (engine, writes) = Counting::new();
    let members = vec![id("n1"), id("n2")];
    let mut node = Node::new(NodeConfig::new(id("n1"), 1, members), engine, T0).unwrap();
    drain(&mut node);
    let at_start = writes.load(Ordering::SeqCst);
    assert_eq!(at_start, 1, "the epoch is persisted once at start");

    // Five writes from n2 (two to the same key, by different actors), no tick yet.
    let keys = ["a", "b", "c", "d", "a"];
    for (seq, key) in keys.iter().enumerate() {
        let actor = if seq == 4 { "n3" } else { "n2" };
        node.handle(
            T0,
            Input::Peer {
                from: id("n2"),
                message: PeerMessage::ReplicaPut {
                    op: OpId {
                        origin: id("n2"),
                        seq: seq as u64,
                    },
                    bucket: Bytes::from_static(b"b"),
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    record: record_by(actor, key),
                    hinted_for: None,
                },
            },
        );
        assert!(
            acks(&drain(&mut node)).is_empty(),
            "no ack before the commit"
        );
    }
    assert_eq!(
        writes.load(Ordering::SeqCst),
        at_start,
        "nothing written yet"
    );
    assert_eq!(node.pending_writes(), 5);
    assert_eq!(node.next_deadline(), Some(T0), "asks to be ticked now");

    node.handle(T0, Input::Tick);
    let out = drain(&mut node);
    assert_eq!(
        writes.load(Ordering::SeqCst),
        at_start + 1,
        "one engine batch"
    );
    let acks = acks(&out);
    assert_eq!(acks.len(), 5);
    assert!(acks.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(
        acks.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(
        node.next_deadline(),
        Some(node.membership().next_deadline()),
        "nothing left but the next gossip round"
    );

    // Both concurrent writes to "a" survived the shared batch: two siblings.
    let a = node
        .local_record(&Location::Data, b"b", b"a")
        .unwrap()
        .unwrap();
    assert_eq!(a.len(), 2);
    // A second tick with nothing pending writes nothing.
    node.handle(T0, Input::Tick);
    assert_eq!(writes.load(Ordering::SeqCst), at_start + 1);
}

#[test]
fn a_coordinators_own_write_waits_for_the_commit() {
    let (engine, writes) = Counting::new();
    let me = id("n1");
    let mut config = NodeConfig::new(me.clone(), 1, vec![me]);
    config.default_bucket.n = 1;
    config.default_bucket.r = 1;
    config.default_bucket.w = 1;
    let mut node = Node::new(config, engine, T0).unwrap();
    drain(&mut node);
    let at_start = writes.load(Ordering::SeqCst);
    for i in 0..3 {
        node.handle(
            T0,
            Input::Client {
                id: ClientId(i),
                request: put_req(&format!("k{i}"), "v", Context::new()),
            },
        );
    }
    let before = drain(&mut node);
    assert!(
        !before.iter().any(|o| matches!(o, Output::Reply { .. })),
        "no reply before the write is durable"
    );
    node.handle(T0, Input::Tick);
    let after = drain(&mut node);
    let replies = after
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Reply {
                    response: ClientResponse::Put(Ok(_)),
                    ..
                }
            )
        })
        .count();
    assert_eq!(replies, 3);
    assert_eq!(writes.load(Ordering::SeqCst), at_start + 1);
    assert!(
        !after
            .iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::StorageFailed(_))))
    );
}

#[test]
fn a_failed_local_write_fails_the_request_and_sends_nothing() {
    let (engine, _) = Counting::new();
    let fail = engine.fail.clone();
    let mut config = NodeConfig::new(id("n1"), 1, vec![id("n1"), id("n2")]);
    config.default_bucket.n = 2;
    config.default_bucket.r = 1;
    config.default_bucket.w = 1;
    let ring = config.ring;
    let mut node = Node::new(config, engine, T0).unwrap();
    drain(&mut node);
    // A fresh node writes only once a peer told it which epoch the cluster saw it use.
    assert!(!node.epoch_confirmed());
    let founders = dynamo_core::membership::ClusterState::new_cluster(
        ring,
        [id("n1"), id("n2")].map(|n| (n, None, String::new())),
    )
    .unwrap();
    node.handle(
        T0,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::Gossip { state: founders },
        },
    );
    assert!(node.epoch_confirmed());
    drain(&mut node);
    fail.store(true, Ordering::SeqCst);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(1),
            request: put_req("k", "v", Context::new()),
        },
    );
    assert!(
        drain(&mut node).is_empty(),
        "nothing sent before the local commit"
    );
    node.handle(T0, Input::Tick);
    let out = drain(&mut node);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            response: ClientResponse::Put(Err(dynamo_core::proto::RequestError::Storage(_))),
            ..
        }
    )));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::StorageFailed(_))))
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send { .. })),
        "{out:?}"
    );
    assert!(
        node.local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );
    assert_eq!(node.open_operations(), 0);

    // Once the engine works again, the write is sent to the replica after the local commit.
    fail.store(false, Ordering::SeqCst);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(2),
            request: put_req("k", "v", Context::new()),
        },
    );
    assert!(drain(&mut node).is_empty());
    node.handle(T0, Input::Tick);
    let out = drain(&mut node);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send {
            message: PeerMessage::ReplicaPut { .. },
            ..
        }
    )));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            response: ClientResponse::Put(Ok(_)),
            ..
        }
    )));
}
