#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Gossip membership in the node: a node joins through a seed and serves requests, a node
//! leaves and drops out of every ring, a restarted node keeps its membership, membership
//! converges across a one-way partition with bounded traffic, bucket properties spread by
//! gossip, and the failure detector marks a killed node down and up again.

mod node_support;

use bytes::Bytes;
use dynamo_core::NodeEvent;
use dynamo_core::membership::{MemberStatus, MembershipChange};
use dynamo_core::node::{BucketProps, Location, Node, NodeConfig};
use dynamo_core::proto::{AdminInfo, ClientRequest, ClientResponse, PeerMessage, QuorumKind};
use dynamo_core::proto::{OpId, RequestError};
use dynamo_core::version::{Context, VersioningMode};
use dynamo_core::{NodeId, Timestamp};
use engine_mem::MemEngine;
use node_support::*;

/// A fresh node with no founders and no seeds (it waits for an admin `Join`), added to the
/// cluster.
fn add_fresh(c: &mut Cluster<MemEngine>, name: &str, seed: u64) {
    let me = id(name);
    let mut config = NodeConfig::new(me.clone(), seed, Vec::new());
    config.addresses.insert(me.clone(), format!("{name}:7000"));
    let node = Node::new(config, mem(), c.now).unwrap();
    assert!(node.ring().is_none(), "no ring before joining");
    c.nodes.insert(me, node);
}

fn status(c: &mut Cluster<MemEngine>, at: &str) -> AdminInfo {
    match c.call(at, ClientRequest::Status) {
        ClientResponse::Admin(Ok(info)) => info,
        other => panic!("unexpected {other:?}"),
    }
}

/// The ring digest of every node, when they all have a ring and agree.
fn agreed_digest(c: &Cluster<MemEngine>) -> Option<u64> {
    let mut digests = c.nodes.values().map(|n| n.ring().map(|r| r.digest()));
    let first = digests.next()??;
    digests.all(|d| d == Some(first)).then_some(first)
}

/// Advances time in 100 ms steps until `done` holds (at most `max_ms`); returns the time
/// it took.
fn run_until(
    c: &mut Cluster<MemEngine>,
    max_ms: u64,
    mut done: impl FnMut(&Cluster<MemEngine>) -> bool,
) -> u64 {
    let start = c.now;
    while !done(c) {
        assert!(c.now.0 - start.0 < max_ms, "not done after {max_ms} ms");
        c.advance(100);
    }
    c.now.0 - start.0
}

fn member_status(node: &Node<MemEngine>, who: &str) -> Option<MemberStatus> {
    node.membership().state().member(&id(who)).map(|m| m.status)
}

fn join(c: &mut Cluster<MemEngine>, at: &str, seed: &str) -> AdminInfo {
    match c.call(at, ClientRequest::Join { seed: id(seed) }) {
        ClientResponse::Admin(Ok(info)) => info,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_node_joining_through_a_seed_gets_the_same_ring_everywhere_and_serves_requests() {
    let mut c = Cluster::mem(3, 11, BucketProps::default());
    add_fresh(&mut c, "n4", 99);

    // Without a ring, client requests are unavailable at once.
    assert_eq!(
        c.get("n4", "k").unwrap_err(),
        RequestError::Unavailable {
            needed: 2,
            answered: 0,
            op: QuorumKind::Read
        }
    );
    // The founders agree; the newcomer has no ring yet.
    assert_eq!(agreed_digest(&c), None);

    let info = join(&mut c, "n4", "n1");
    assert_eq!(info.node, id("n4"));
    let took = run_until(&mut c, 30_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes
                .values()
                .all(|n| member_status(n, "n4") == Some(MemberStatus::Valid))
    });
    println!("4 nodes agree on the ring {took} ms after the join");
    let ring = c.node("n1").ring().unwrap().clone();
    assert!(ring.contains_node(&id("n4")));
    assert!(!ring.partitions_owned_by(&id("n4")).is_empty());
    assert!(c.node("n1").membership().state().is_settled());

    // The newcomer coordinates and stores: its status, a write through it, and data it
    // holds as a replica.
    let st = status(&mut c, "n4");
    assert_eq!(st.status, Some(MemberStatus::Valid));
    assert_eq!(st.members.len(), 4);
    assert_eq!(st.ring_digest, Some(ring.digest()));
    assert_eq!(c.node("n4").peer_address(&id("n4")), Some("n4:7000"));
    let w = c.put("n4", "k", "v", Context::new()).unwrap();
    assert_eq!(values(&c.get("n2", "k").unwrap()), ["v"]);
    c.put("n1", "k", "v2", w.context).unwrap();
    assert_eq!(values(&c.get("n4", "k").unwrap()), ["v2"]);
    let mut held = 0;
    for i in 0..30 {
        let key = format!("key{i}");
        c.put("n1", &key, "x", Context::new()).unwrap();
        let owners = ring.preference_list_for_key(b"b", key.as_bytes(), 3);
        if owners.contains(&&id("n4")) {
            c.advance(10);
            assert!(
                c.node("n4")
                    .local_record(&Location::Data, b"b", key.as_bytes())
                    .unwrap()
                    .is_some(),
                "n4 stores {key}"
            );
            held += 1;
        }
    }
    assert!(held > 0, "n4 is a replica of some keys");
}

#[test]
fn a_node_joining_through_its_configured_seeds_needs_no_admin_command() {
    let mut c = Cluster::mem(3, 12, BucketProps::default());
    let mut config = NodeConfig::new(id("n4"), 5, Vec::new());
    config.seeds = vec![id("n2")];
    config.addresses.insert(id("n2"), "n2:7000".into());
    let node = Node::new(config, mem(), c.now).unwrap();
    // The driver can reach the seed before the node knows the cluster.
    assert_eq!(node.peer_address(&id("n2")), Some("n2:7000"));
    c.nodes.insert(id("n4"), node);
    c.settle();
    run_until(&mut c, 30_000, |c| {
        agreed_digest(c).is_some_and(|_| c.node("n4").membership().in_ring())
    });
    c.put("n4", "k", "v", Context::new()).unwrap();
}

#[test]
fn a_leaving_node_drops_out_of_every_ring() {
    leave_scenario("n3");
}

#[test]
fn the_claimant_leaving_hands_over_to_the_next_one() {
    leave_scenario("n1");
}

fn leave_scenario(leaver: &str) {
    let mut c = Cluster::mem(4, 13, BucketProps::default());
    let stayer = if leaver == "n2" { "n1" } else { "n2" };
    for i in 0..20 {
        c.put(stayer, &format!("k{i}"), "v", Context::new())
            .unwrap();
    }
    let info = match c.call(leaver, ClientRequest::Leave) {
        ClientResponse::Admin(Ok(info)) => info,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(info.status, Some(MemberStatus::Leaving));
    let took = run_until(&mut c, 30_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes.values().all(|n| {
                !n.ring().unwrap().contains_node(&id(leaver))
                    && member_status(n, leaver) == Some(MemberStatus::Exiting)
            })
    });
    println!("{leaver} out of every ring {took} ms after leave");
    assert!(
        c.events.iter().any(|(n, e)| *n == id(leaver)
            && *e
                == NodeEvent::Membership(MembershipChange::Status {
                    node: id(leaver),
                    from: Some(MemberStatus::Leaving),
                    to: MemberStatus::Exiting,
                })),
        "the leaving node finished its leave itself"
    );
    let claimant = if leaver == "n1" { "n2" } else { "n1" };
    for n in c.nodes.values() {
        assert_eq!(n.membership().state().claimant(), Some(&id(claimant)));
        assert_eq!(n.ring().unwrap().members().len(), 3);
    }
    // The remaining three serve every key (the leaver is not asked any more).
    c.cut.insert(id(leaver));
    for i in 0..20 {
        c.put(stayer, &format!("k{i}"), "w", Context::new())
            .unwrap();
    }
    // Leaving again is refused once exited.
    match c.call(leaver, ClientRequest::Leave) {
        ClientResponse::Admin(Err(RequestError::InvalidRequest(_))) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_restarted_node_comes_back_with_its_membership() {
    let mut c = Cluster::mem(3, 14, BucketProps::default());
    add_fresh(&mut c, "n4", 7);
    join(&mut c, "n4", "n1");
    run_until(&mut c, 30_000, |c| {
        agreed_digest(c).is_some_and(|_| c.node("n4").membership().in_ring())
    });
    // Bucket properties are part of the persisted state too.
    let props = BucketProps::new(2, 1, 1, VersioningMode::Dvv).unwrap();
    let resp = c.call(
        "n2",
        ClientRequest::SetBucketProps {
            bucket: Bytes::from_static(b"small"),
            props,
        },
    );
    assert_eq!(resp, ClientResponse::BucketProps(Ok(props)));
    run_until(&mut c, 30_000, |c| {
        c.nodes.values().all(|n| n.bucket_props(b"small") == props)
    });
    let before = c.node("n4").membership().state().clone();

    let node = c.nodes.remove(&id("n4")).unwrap();
    let config = node.config().clone();
    assert!(config.members.is_empty() && config.seeds.is_empty());
    let engine = node.into_engine();
    let restarted = Node::new(config, engine, c.now).unwrap();
    // The same state, but for the new epoch the node announces (it did not shut down
    // cleanly, so it writes as a new actor).
    let mut expected = before.clone();
    assert!(
        expected
            .set_epoch(&id("n4"), restarted.epoch().epoch)
            .unwrap()
    );
    assert_eq!(restarted.membership().state(), &expected);
    assert_eq!(restarted.membership().status(), Some(MemberStatus::Valid));
    assert_eq!(restarted.bucket_props(b"small"), props);
    c.nodes.insert(id("n4"), restarted);
    c.settle();
    c.put("n4", "k", "v", Context::new()).unwrap();
    assert_eq!(values(&c.get("n4", "k").unwrap()), ["v"]);

    // Restarted with a new address: the others learn it by gossip.
    let node = c.nodes.remove(&id("n4")).unwrap();
    let mut config = node.config().clone();
    config.addresses.insert(id("n4"), "n4:7001".into());
    let restarted = Node::new(config, node.into_engine(), c.now).unwrap();
    assert_eq!(restarted.peer_address(&id("n4")), Some("n4:7001"));
    c.nodes.insert(id("n4"), restarted);
    run_until(&mut c, 30_000, |c| {
        c.nodes
            .values()
            .all(|n| n.peer_address(&id("n4")) == Some("n4:7001"))
    });
    assert_eq!(
        c.node("n1").ring().map(|r| r.digest()),
        before.ring().map(|r| r.digest()),
        "an address is not a reason to move partitions"
    );
}

#[test]
fn membership_converges_across_a_one_way_partition_with_bounded_traffic() {
    let mut c = Cluster::mem(4, 15, BucketProps::default());
    add_fresh(&mut c, "n5", 3);
    // n3 hears everybody, nobody hears n3.
    for other in ["n1", "n2", "n4", "n5"] {
        c.blocked.insert((id("n3"), id(other)));
    }
    join(&mut c, "n5", "n1");
    let took = run_until(&mut c, 60_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes
                .values()
                .all(|n| member_status(n, "n5") == Some(MemberStatus::Valid))
    });
    println!("5 nodes agree {took} ms after the join, n3 muted");
    // Settled: the membership traffic is the gossip rounds and their answers, nothing more
    // (at most one round per node per second, each answered at most once).
    let per_10s = gossip_sent_over(&mut c, 10_000);
    println!("{per_10s} gossip messages in 10 s once settled");
    assert!(per_10s <= 5 * 10 * 2, "{per_10s} gossip messages in 10 s");
    assert!(agreed_digest(&c).is_some());
}

#[test]
fn bucket_properties_spread_by_gossip() {
    let mut c = Cluster::mem(3, 16, BucketProps::default());
    let props = BucketProps::new(3, 3, 1, VersioningMode::Lww).unwrap();
    let resp = c.call(
        "n1",
        ClientRequest::SetBucketProps {
            bucket: Bytes::from_static(b"b"),
            props,
        },
    );
    assert_eq!(resp, ClientResponse::BucketProps(Ok(props)));
    run_until(&mut c, 10_000, |c| {
        c.nodes.values().all(|n| n.bucket_props(b"b") == props)
    });
    // An invalid one is refused.
    let bad = BucketProps {
        n: 2,
        r: 3,
        w: 1,
        mode: VersioningMode::Dvv,
        durability: Default::default(),
    };
    let resp = c.call(
        "n2",
        ClientRequest::SetBucketProps {
            bucket: Bytes::from_static(b"b"),
            props: bad,
        },
    );
    assert!(matches!(
        resp,
        ClientResponse::BucketProps(Err(RequestError::InvalidRequest(_)))
    ));
}

#[test]
fn the_failure_detector_marks_a_killed_node_down_and_up_after_it_returns() {
    let mut c = Cluster::mem(3, 17, BucketProps::default());
    // Rebuild the nodes with the default threshold (2 timeouts).
    let names: Vec<NodeId> = c.nodes.keys().cloned().collect();
    for n in &names {
        let mut config = c.nodes[n].config().clone();
        config.timing.failure_threshold = 2;
        let node = Node::new(config, mem(), c.now).unwrap();
        c.nodes.insert(n.clone(), node);
    }
    // Kill n3: it hears nothing and says nothing.
    c.cut.insert(id("n3"));
    let down = |c: &Cluster<MemEngine>| {
        c.events
            .iter()
            .any(|(n, e)| *n == id("n1") && *e == NodeEvent::PeerDown(id("n3")))
    };
    c.put("n1", "a", "v", Context::new()).unwrap();
    c.advance(1_000);
    assert!(!down(&c), "one timeout is not a failure");
    assert!(c.node("n1").failure_detector().is_up(&id("n3")));
    c.put("n1", "b", "v", Context::new()).unwrap();
    c.advance(1_000);
    assert!(down(&c), "two timeouts are");
    let st = status(&mut c, "n1");
    let n3 = st.members.iter().find(|m| m.node == id("n3")).unwrap();
    assert!(!n3.up);
    assert!(n3.consecutive_timeouts >= 2);

    // While down it is skipped: writes no longer wait for it.
    let t = c.now;
    c.put("n1", "c", "v", Context::new()).unwrap();
    assert!(c.now.0 - t.0 < 1_000, "answered without waiting for n3");

    // It comes back (restarted on its engine): the next probe's pong marks it up.
    let node = c.nodes.remove(&id("n3")).unwrap();
    let config = node.config().clone();
    let engine = node.into_engine();
    c.nodes
        .insert(id("n3"), Node::new(config, engine, c.now).unwrap());
    c.cut.clear();
    run_until(&mut c, 5_000, |c| {
        c.events
            .iter()
            .any(|(n, e)| *n == id("n1") && *e == NodeEvent::PeerUp(id("n3")))
    });
    assert!(c.node("n1").failure_detector().is_up(&id("n3")));
    assert!(status(&mut c, "n1").members.iter().all(|m| m.up));
}

#[test]
fn only_gossip_is_accepted_from_unknown_nodes() {
    let mut c = Cluster::mem(3, 18, BucketProps::default());
    let stranger = id("x9");
    let op = OpId {
        origin: stranger.clone(),
        seq: 1,
    };
    let n1 = c.nodes.get_mut(&id("n1")).unwrap();
    n1.handle(
        Timestamp(c.now.0),
        dynamo_core::node::Input::Peer {
            from: stranger.clone(),
            message: PeerMessage::ReplicaGet {
                op,
                bucket: Bytes::from_static(b"b"),
                key: Bytes::from_static(b"k"),
                hinted_for: None,
            },
        },
    );
    let mut rejected = false;
    let mut answered = false;
    while let Some(out) = n1.poll_output() {
        match out {
            dynamo_core::node::Output::Event(NodeEvent::BadPeerMessage { from, .. }) => {
                rejected = from == stranger;
            }
            dynamo_core::node::Output::Send { to, .. } if to == stranger => answered = true,
            _ => {}
        }
    }
    assert!(rejected && !answered);
}

#[test]
fn a_newcomer_the_claimant_cannot_hear_is_admitted_through_another_seed() {
    let mut c = Cluster::mem(3, 19, BucketProps::default());
    add_fresh(&mut c, "n4", 4);
    // n1 (the claimant: smallest valid id) never hears n4; n4 hears n1.
    c.blocked.insert((id("n4"), id("n1")));
    join(&mut c, "n4", "n2");
    let took = run_until(&mut c, 60_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes
                .values()
                .all(|n| member_status(n, "n4") == Some(MemberStatus::Valid))
    });
    println!("admitted through n2 in {took} ms");
    assert_eq!(
        c.node("n4").membership().state().claimant(),
        Some(&id("n1"))
    );
    let gossip = gossip_sent_over(&mut c, 10_000);
    assert!(gossip <= 4 * 10 * 2, "{gossip} gossip messages in 10 s");
}

/// Gossip messages sent (delivered or not) while time advances by `ms`.
fn gossip_sent_over(c: &mut Cluster<MemEngine>, ms: u64) -> usize {
    let from = c.history.len();
    for _ in 0..ms / 100 {
        c.advance(100);
    }
    c.history[from..]
        .iter()
        .filter(|h| h.contains("-> Send {") && h.contains("message: Gossip {"))
        .count()
}

/// A join and a leave under duplication and reordering, with writes meanwhile; returns the
/// history.
fn churn(seed: u64) -> Vec<String> {
    let mut c = Cluster::mem(4, seed, BucketProps::default());
    c.reorder = true;
    c.dup_per_million = 200_000;
    add_fresh(&mut c, "n5", seed + 100);
    join(&mut c, "n5", "n2");
    let leave = c.submit("n4", ClientRequest::Leave);
    let mut acked = Vec::new();
    for i in 0..30 {
        let key = format!("k{i}");
        if c.put("n1", &key, "v", Context::new()).is_ok() {
            acked.push(key);
        }
    }
    assert!(matches!(
        c.replies.get(&leave),
        Some(ClientResponse::Admin(Ok(_)))
    ));
    run_until(&mut c, 60_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes.values().all(|n| {
                member_status(n, "n5") == Some(MemberStatus::Valid)
                    && member_status(n, "n4") == Some(MemberStatus::Exiting)
            })
    });
    let ring = c.node("n1").ring().unwrap();
    assert!(ring.contains_node(&id("n5")) && !ring.contains_node(&id("n4")));
    assert!(
        acked.len() >= 25,
        "{} of 30 writes acknowledged",
        acked.len()
    );
    c.history
}

#[test]
fn join_and_leave_under_duplication_and_reordering_converge_deterministically() {
    for seed in 0..10 {
        let a = churn(seed);
        if seed == 0 {
            assert_eq!(a, churn(seed), "same seed, same history");
        }
    }
}

#[test]
fn gossip_of_a_ring_with_another_partition_count_is_refused() {
    use dynamo_core::membership::ClusterState;
    use dynamo_core::ring::RingConfig;
    let mut c = Cluster::mem(3, 20, BucketProps::default());
    let other = ClusterState::new_cluster(
        RingConfig::new(32).unwrap(),
        [(id("z1"), None, String::new())],
    )
    .unwrap();
    let before = c.node("n1").membership().state().clone();
    let n1 = c.nodes.get_mut(&id("n1")).unwrap();
    n1.handle(
        c.now,
        dynamo_core::node::Input::Peer {
            from: id("z1"),
            message: PeerMessage::Gossip { state: other },
        },
    );
    let mut refused = false;
    while let Some(out) = n1.poll_output() {
        match out {
            dynamo_core::node::Output::Event(NodeEvent::BadPeerMessage { from, .. }) => {
                refused = from == id("z1");
            }
            dynamo_core::node::Output::Send { to, .. } => panic!("answered {to}"),
            _ => {}
        }
    }
    assert!(refused);
    assert_eq!(c.node("n1").membership().state(), &before);
}

#[test]
fn a_corrupt_stored_cluster_state_is_reported_and_the_node_starts_from_its_config() {
    use engine_api::{Durability, StorageEngine, WriteBatch};
    let engine = mem();
    let meta = engine.keyspace("meta").unwrap();
    let mut b = WriteBatch::new();
    b.put(
        meta,
        Bytes::from_static(b"cluster"),
        Bytes::from_static(b"\x01garbage"),
    );
    engine.write(&b, Durability::Sync).unwrap();
    let members = ids(3);
    let config = NodeConfig::new(id("n1"), 1, members.clone());
    let mut node = Node::new(config, engine, T0).unwrap();
    let mut reported = false;
    while let Some(out) = node.poll_output() {
        if let dynamo_core::node::Output::Event(NodeEvent::CorruptClusterState(_)) = out {
            reported = true;
        }
    }
    assert!(reported);
    let ring = node.ring().unwrap();
    assert_eq!(ring.members().len(), 3);
    assert_eq!(node.membership().status(), Some(MemberStatus::Valid));
}

#[test]
fn a_lone_node_that_joins_adopts_the_cluster_default_bucket_properties() {
    let mut c = Cluster::mem(3, 12, BucketProps::default());
    // n4 runs alone first, a cluster of one with n = r = w = 1.
    let me = id("n4");
    let mut config = NodeConfig::new(me.clone(), 5, vec![me.clone()]);
    config.default_bucket = BucketProps::new(1, 1, 1, VersioningMode::Dvv).unwrap();
    config.addresses.insert(me.clone(), "n4:7000".into());
    c.nodes
        .insert(me.clone(), Node::new(config, mem(), c.now).unwrap());
    assert_eq!(c.node("n4").bucket_props(b"b").n, 1);
    assert_eq!(
        c.node("n1").membership().state().default_props(),
        Some(&BucketProps::default())
    );

    join(&mut c, "n4", "n1");
    run_until(&mut c, 30_000, |c| {
        agreed_digest(c).is_some()
            && c.nodes
                .values()
                .all(|n| member_status(n, "n4") == Some(MemberStatus::Valid))
    });
    // It coordinates with the cluster's quorums, not its own start-up defaults.
    assert_eq!(c.node("n4").bucket_props(b"b"), BucketProps::default());
    assert_eq!(
        c.node("n4").bucket_props(b"any other"),
        BucketProps::default()
    );
    let w = c.put("n4", "k", "v", Context::new()).unwrap();
    assert_eq!(values(&c.get("n2", "k").unwrap()), ["v"]);
    assert!(!w.context.is_empty());
}

#[test]
fn the_cluster_defaults_change_everywhere_by_gossip() {
    let mut c = Cluster::mem(3, 13, BucketProps::default());
    let lww = BucketProps::new(3, 1, 1, VersioningMode::Lww).unwrap();
    let resp = c.call("n2", ClientRequest::SetDefaultProps { props: lww });
    assert_eq!(resp, ClientResponse::BucketProps(Ok(lww)));
    run_until(&mut c, 10_000, |c| {
        c.nodes.values().all(|n| n.bucket_props(b"any") == lww)
    });
    assert_eq!(
        c.call("n3", ClientRequest::GetDefaultProps),
        ClientResponse::BucketProps(Ok(lww))
    );
    let bad = BucketProps {
        n: 2,
        r: 3,
        w: 1,
        mode: VersioningMode::Dvv,
        durability: Default::default(),
    };
    assert!(matches!(
        c.call("n1", ClientRequest::SetDefaultProps { props: bad }),
        ClientResponse::BucketProps(Err(RequestError::InvalidRequest(_)))
    ));
}
