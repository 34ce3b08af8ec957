#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Group commit: replica writes that arrive together share one engine batch, and are
//! acknowledged only after it returned.

mod node_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    drain_committing(node)
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
                    sync: true,
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

/// A confirmed member n1 of {n1, n2} with n=2, r=w=1, on a counting engine.
fn confirmed_pair() -> (Node<Counting>, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let (engine, writes) = Counting::new();
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
    (node, fail, writes)
}

/// The outputs of `node` without carrying out its commits: they stay in flight.
fn outputs_keeping_commits<E: engine_api::StorageEngine>(
    node: &mut Node<E>,
) -> (Vec<Output>, Vec<dynamo_core::node::Commit>) {
    let (mut out, mut commits) = (Vec::new(), Vec::new());
    while let Some(o) = node.poll_output() {
        match o {
            Output::Commit(c) => commits.push(c),
            other => out.push(other),
        }
    }
    (out, commits)
}

fn replica_puts(out: &[Output]) -> Vec<(OpId, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                message: PeerMessage::ReplicaPut { op, sync, .. },
                ..
            } => Some((op.clone(), *sync)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_coordinator_sends_to_replicas_as_it_stages_and_commits_off_its_thread() {
    let (mut node, _, writes) = confirmed_pair();
    let at_start = writes.load(Ordering::SeqCst);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(1),
            request: put_req("k", "v1", Context::new()),
        },
    );
    // The replica gets the new version at once, before any commit; asked to sync (`all`).
    let (out, commits) = outputs_keeping_commits(&mut node);
    assert!(commits.is_empty());
    assert_eq!(replica_puts(&out).len(), 1);
    assert!(replica_puts(&out)[0].1);

    // The tick hands the batch out; while it is in flight the node keeps serving: reads see
    // the write, a second write is staged for the next commit, and nothing is acknowledged.
    node.handle(T0, Input::Tick);
    let (out, mut commits) = outputs_keeping_commits(&mut node);
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].durability, engine_api::Durability::Sync);
    assert!(!out.iter().any(|o| matches!(o, Output::Reply { .. })));
    assert!(node.commit_in_flight());
    let staged = node
        .local_record(&Location::Data, b"b", b"k")
        .unwrap()
        .unwrap();
    assert_eq!(staged.live().count(), 1);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(2),
            request: put_req("other", "v2", Context::new()),
        },
    );
    node.handle(T0, Input::Tick);
    let (_, more) = outputs_keeping_commits(&mut node);
    assert!(more.is_empty(), "one commit in flight at a time");
    assert_eq!(
        writes.load(Ordering::SeqCst),
        at_start,
        "the driver applies it"
    );

    // The driver applies it (on any thread) and feeds the outcome: the local synced write is
    // the one durable acknowledgement the reply needs (w = 1).
    let commit = commits.remove(0);
    let result = commit.apply(node.engine());
    node.handle(
        T0,
        Input::Committed {
            id: commit.id,
            result,
        },
    );
    let (out, next) = outputs_keeping_commits(&mut node);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            id: ClientId(1),
            response: ClientResponse::Put(Ok(_)),
        }
    )));
    assert!(next.is_empty(), "the next commit waits for a tick");
    assert!(!node.commit_in_flight());
    assert_eq!(node.next_deadline(), Some(T0), "the second write is staged");
    node.handle(T0, Input::Tick);
    let (_, next) = outputs_keeping_commits(&mut node);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].batch.len(), 1, "the second write alone");
}

#[test]
fn a_failed_local_commit_moves_the_node_to_a_new_epoch() {
    let (mut node, fail, _) = confirmed_pair();
    let old_epoch = node.epoch().epoch;
    fail.store(true, Ordering::SeqCst);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(1),
            request: put_req("k", "v", Context::new()),
        },
    );
    let out = drain(&mut node);
    let sent = replica_puts(&out);
    assert_eq!(sent.len(), 1, "sent as it was staged");
    node.handle(T0, Input::Tick);
    let out = drain(&mut node);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::StorageFailed(_))))
    );
    // The dot sent out was numbered by the old actor, and the local copy is gone: the node
    // must never number it again, so it moved to a new epoch at once.
    assert!(out.iter().any(
        |o| matches!(o, Output::Event(NodeEvent::EpochStarted { epoch }) if *epoch > old_epoch)
    ));
    assert!(
        node.local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );
    // The replica's durable ack is a write quorum (w = 1, dw = 1) on its own.
    node.handle(
        T0,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::ReplicaPutAck {
                op: sent[0].0.clone(),
                result: Ok(()),
            },
        },
    );
    let out = drain(&mut node);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            id: ClientId(1),
            response: ClientResponse::Put(Ok(_)),
        }
    )));
    // The new epoch could not be persisted (the engine still fails): writes are refused.
    node.handle(
        T0,
        Input::Client {
            id: ClientId(2),
            request: put_req("k2", "v", Context::new()),
        },
    );
    let out = drain(&mut node);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            id: ClientId(2),
            response: ClientResponse::Put(Err(dynamo_core::proto::RequestError::Storage(_))),
        }
    )));
    assert!(replica_puts(&out).is_empty());

    // Once the engine works again the next tick persists the epoch, and writes go out as
    // the new actor.
    fail.store(false, Ordering::SeqCst);
    node.handle(T0, Input::Tick);
    drain(&mut node);
    let new_epoch = node.epoch().epoch;
    assert!(new_epoch > old_epoch);
    node.handle(
        T0,
        Input::Client {
            id: ClientId(3),
            request: put_req("k3", "v", Context::new()),
        },
    );
    let out = drain(&mut node);
    assert_eq!(replica_puts(&out).len(), 1);
    node.handle(T0, Input::Tick);
    drain(&mut node);
    let rec = node
        .local_record(&Location::Data, b"b", b"k3")
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.entries()
            .iter()
            .map(|(dot, _)| dot.actor.epoch())
            .collect::<Vec<_>>(),
        [new_epoch]
    );
    // The Merkle trees kept current through the failure match the ones rebuilt from the
    // engine by a restart (the digests of the lost versions were forgotten).
    let roots = |n: &Node<Counting>| -> Vec<(dynamo_core::ring::PartitionId, u64)> {
        n.config()
            .ring
            .partition_ids()
            .filter_map(|p| n.merkle(p).map(|t| (p, t.root())))
            .filter(|(_, root)| *root != 0)
            .collect()
    };
    let before = roots(&node);
    assert!(!before.is_empty());
    let config = node.config().clone();
    let reopened = Node::new(config, node.into_engine(), T0).unwrap();
    assert_eq!(roots(&reopened), before);
}

#[test]
fn merkle_trees_stay_exact_when_a_commit_fails_between_two_versions() {
    let (mut node, fail, _) = confirmed_pair();
    let write = |node: &mut Node<Counting>, id: u64, value: &str| {
        node.handle(
            T0,
            Input::Client {
                id: ClientId(id),
                request: put_req("k", value, Context::new()),
            },
        );
        node.handle(T0, Input::Tick);
        drain(node)
    };
    // v1 is committed; v2's commit fails (its digest must be forgotten); v3 replaces v1.
    write(&mut node, 1, "v1");
    fail.store(true, Ordering::SeqCst);
    write(&mut node, 2, "v2");
    fail.store(false, Ordering::SeqCst);
    node.handle(T0, Input::Tick);
    drain(&mut node);
    write(&mut node, 3, "v3");
    let p = node.config().ring.partition_of(b"b", b"k");
    let root = node.merkle(p).unwrap().root();
    let config = node.config().clone();
    let reopened = Node::new(config, node.into_engine(), T0).unwrap();
    assert_eq!(reopened.merkle(p).unwrap().root(), root);
}
