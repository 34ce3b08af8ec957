//! A node of several shards ([`ShardedNode`]): requests land on the shard of their key's
//! partition and are answered; each shard's Merkle trees hold its own partitions only; a
//! failed commit in a follower moves the whole node to a new epoch, which gossip announces
//! only once every shard writes as it; messages route by partition or by the id their
//! shard chose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use dynamo_core::node::shard::{route_message, route_request, shard_of_id, shard_of_partition};
use dynamo_core::node::{Input, KEYSPACES, NodeConfig, Output, Shard, ShardedNode};
use dynamo_core::proto::{ClientId, ClientRequest, ClientResponse, OpId, PeerMessage};
use dynamo_core::ring::RingConfig;
use dynamo_core::version::{ContentType, Context};
use dynamo_core::{NodeId, Timestamp};
use engine_mem::MemEngine;

const SHARDS: u16 = 4;

fn one_node(shards: u16) -> ShardedNode<Arc<MemEngine>> {
    let me = NodeId::new("n1").unwrap();
    let mut config = NodeConfig::new(me.clone(), 7, vec![me]);
    config.default_bucket.n = 1;
    config.default_bucket.r = 1;
    config.default_bucket.w = 1;
    config.shard = Shard::new(0, shards);
    let engine = Arc::new(MemEngine::with_keyspaces(KEYSPACES).unwrap());
    ShardedNode::new(config, engine, Timestamp(1_000)).unwrap()
}

fn put(key: &str) -> ClientRequest {
    ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context: Context::default(),
        value: Bytes::from_static(b"v"),
        content_type: ContentType::octet_stream(),
        w: None,
        dw: None,
        return_body: false,
    }
}

/// Feeds `request`, then runs commits and ticks at `now` until the node is quiet; returns
/// the replies.
fn run(
    node: &mut ShardedNode<Arc<MemEngine>>,
    now: Timestamp,
    id: u64,
    request: ClientRequest,
) -> Vec<(ClientId, ClientResponse)> {
    node.handle(
        now,
        Input::Client {
            id: ClientId(id),
            request,
        },
    );
    settle(node, now)
}

fn settle(
    node: &mut ShardedNode<Arc<MemEngine>>,
    now: Timestamp,
) -> Vec<(ClientId, ClientResponse)> {
    let mut replies = Vec::new();
    for _ in 0..100 {
        while let Some(out) = node.poll_output() {
            match out {
                Output::Reply { id, response } => replies.push((id, response)),
                Output::Commit(c) => node.run_commit(c),
                _ => {}
            }
        }
        match node.next_deadline() {
            Some(t) if t <= now => node.handle(now, Input::Tick),
            _ => break,
        }
    }
    replies
}

#[test]
fn writes_land_on_the_shard_of_their_partition_and_are_answered() {
    let mut node = one_node(SHARDS);
    assert_eq!(node.count(), SHARDS);
    let ring = RingConfig::default();
    let mut used = std::collections::BTreeSet::new();
    for i in 0..64u64 {
        let key = format!("k{i}");
        let replies = run(&mut node, Timestamp(2_000 + i), i, put(&key));
        assert!(
            matches!(&replies[..], [(ClientId(id), ClientResponse::Put(Ok(_)))] if *id == i),
            "{key}: {replies:?}"
        );
        let p = ring.partition_of(b"b", key.as_bytes());
        let shard = shard_of_partition(p, SHARDS);
        used.insert(shard);
        // The key's Merkle tree is its shard's; no other shard has one for the partition.
        for (index, s) in node.shards().enumerate() {
            let has = s.merkle(p).is_some_and(|t| t.keys() > 0);
            assert_eq!(has, usize::from(shard) == index, "{key} in shard {index}");
        }
    }
    assert_eq!(
        used.len(),
        usize::from(SHARDS),
        "64 keys spread over every shard"
    );
    // And read back, each from its shard.
    for i in 0..64u64 {
        let get = ClientRequest::Get {
            bucket: Bytes::from_static(b"b"),
            key: Bytes::copy_from_slice(format!("k{i}").as_bytes()),
            r: None,
        };
        let replies = run(&mut node, Timestamp(3_000), 1_000 + i, get);
        match &replies[..] {
            [(_, ClientResponse::Get(Ok(r)))] => {
                assert_eq!(
                    r.values().collect::<Vec<_>>(),
                    vec![&Bytes::from_static(b"v")]
                );
            }
            other => panic!("k{i}: {other:?}"),
        }
    }
}

#[test]
fn a_failed_commit_in_a_follower_moves_every_shard_to_a_new_epoch() {
    let mut node = one_node(SHARDS);
    let me = node.id().clone();
    let before = node.epoch().epoch;
    let announced =
        |node: &ShardedNode<Arc<MemEngine>>| node.membership().state().member(&me).map(|m| m.epoch);
    assert_eq!(
        announced(&node),
        Some(before),
        "every shard adopted the first epoch"
    );
    // A key of a follower's partition; its commit fails.
    let ring = RingConfig::default();
    let key = (0..)
        .map(|i| format!("f{i}"))
        .find(|k| shard_of_partition(ring.partition_of(b"b", k.as_bytes()), SHARDS) == 2)
        .unwrap();
    let now = Timestamp(5_000);
    node.handle(
        now,
        Input::Client {
            id: ClientId(1),
            request: put(&key),
        },
    );
    node.handle(now, Input::Tick);
    let mut failed = None;
    let mut replies = Vec::new();
    while let Some(out) = node.poll_output() {
        match out {
            Output::Commit(c) if shard_of_id(c.id, SHARDS) == 2 => failed = Some(c.id),
            Output::Commit(c) => node.run_commit(c),
            Output::Reply { id, response } => replies.push((id, response)),
            _ => {}
        }
    }
    let id = failed.expect("the follower's group commit");
    node.handle(
        now,
        Input::Committed {
            id,
            result: Err("disk full".into()),
        },
    );
    replies.extend(settle(&mut node, now));
    assert!(
        matches!(&replies[..], [(ClientId(1), ClientResponse::Put(Err(_)))]),
        "{replies:?}"
    );
    let after = node.epoch().epoch;
    assert!(after > before, "the node moved on from epoch {before}");
    for (i, s) in node.shards().enumerate() {
        assert_eq!(s.epoch().epoch, after, "shard {i} writes as the new epoch");
        assert!(s.epoch_confirmed(), "shard {i} may write");
    }
    assert_eq!(
        announced(&node),
        Some(after),
        "announced once every shard adopted it"
    );
    // The follower writes again, as the new actor.
    let replies = run(&mut node, Timestamp(6_000), 2, put(&key));
    assert!(
        matches!(&replies[..], [(ClientId(2), ClientResponse::Put(Ok(_)))]),
        "{replies:?}"
    );
}

#[test]
fn messages_route_by_partition_or_by_the_id_their_shard_chose() {
    let ring = RingConfig::default();
    let key = Bytes::from_static(b"some-key");
    let bucket = Bytes::from_static(b"b");
    let owner = shard_of_partition(ring.partition_of(&bucket, &key), SHARDS);
    let replica_get = PeerMessage::ReplicaGet {
        op: OpId {
            origin: NodeId::new("n2").unwrap(),
            seq: 3,
        },
        bucket: bucket.clone(),
        key: key.clone(),
        hinted_for: None,
    };
    assert_eq!(route_message(&replica_get, ring, SHARDS), owner);
    let get = ClientRequest::Get {
        bucket,
        key,
        r: None,
    };
    assert_eq!(route_request(&get, ring, SHARDS), owner);
    // An answer goes back to the shard whose tag its id carries, whatever the counter.
    for shard in 0..SHARDS {
        for raw in [1u64, 2, 1_000, u64::MAX - 1] {
            let tagged = Shard::new(shard, SHARDS).tag(raw);
            let reply = PeerMessage::ReplicaPutAck {
                op: OpId {
                    origin: NodeId::new("n1").unwrap(),
                    seq: tagged,
                },
                result: Ok(()),
            };
            assert_eq!(route_message(&reply, ring, SHARDS), shard, "{raw}");
            assert_eq!(
                route_message(&PeerMessage::HintAck { id: tagged }, ring, SHARDS),
                shard
            );
        }
    }
    // Gossip, pings and admin requests: the control shard.
    assert_eq!(route_message(&PeerMessage::GossipPull, ring, SHARDS), 0);
    assert_eq!(
        route_message(&PeerMessage::Ping { nonce: 9 }, ring, SHARDS),
        0
    );
    assert_eq!(route_request(&ClientRequest::Status, ring, SHARDS), 0);
    // One shard: everything to shard 0.
    assert_eq!(route_message(&replica_get, ring, 1), 0);
}

#[test]
fn commits_of_several_shards_share_one_sync() {
    use dynamo_core::node::Commit;
    use engine_api::{Durability, StorageEngine, WriteBatch};
    let engine = MemEngine::with_keyspaces(KEYSPACES).unwrap();
    let data = engine.keyspace(KEYSPACES[0]).unwrap();
    let commit = |id: u64, key: &'static [u8], durability| {
        let mut batch = WriteBatch::new();
        batch.put(data, Bytes::from_static(key), Bytes::from_static(b"v"));
        Commit {
            id,
            batch,
            durability,
        }
    };
    // Buffered commits alone: a crash loses them.
    let alone = [
        commit(1, b"a", Durability::Buffered),
        commit(2, b"b", Durability::Buffered),
    ];
    assert!(
        Commit::apply_group(&alone, &engine)
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(engine.pending_undurable(), 2);
    engine.simulate_crash();
    assert_eq!(engine.get(data, b"a").unwrap(), None);
    // One of them asks for a sync: the group is durable, every commit answered Ok.
    let group = [
        commit(3, b"c", Durability::Sync),
        commit(4, b"d", Durability::Buffered),
        commit(5, b"e", Durability::Buffered),
    ];
    let results = Commit::apply_group(&group, &engine);
    assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
    assert_eq!(engine.pending_undurable(), 0, "one sync covered the group");
    engine.simulate_crash();
    for key in [&b"c"[..], b"d", b"e"] {
        assert!(engine.get(data, key).unwrap().is_some());
    }
}
