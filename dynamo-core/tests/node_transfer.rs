#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Partition transfers (paper §4.9): a joining node receives the partitions it now
//! replicates and the old holders drop what they no longer replicate; a leaving node hands
//! its partitions over before it exits; transfers survive message loss and a restart of the
//! sender, resuming from their cursor; progress is visible while they run.

mod node_support;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use dynamo_core::NodeEvent;
use dynamo_core::NodeId;
use dynamo_core::membership::MemberStatus;
use dynamo_core::node::{BucketProps, Location, Node, NodeConfig};
use dynamo_core::proto::{AdminInfo, ClientRequest, ClientResponse, PeerMessage};
use dynamo_core::ring::{PartitionId, RingConfig};
use dynamo_core::transfer::TransferProgress;
use dynamo_core::version::Context;
use engine_mem::MemEngine;
use node_support::*;

const KEYS: usize = 240;

/// Small rings and batches, so that every transfer takes several batches.
fn configure(config: &mut NodeConfig) {
    config.ring = RingConfig::new(16).unwrap();
    config.transfer.batch_records = 4;
    config.transfer.max_in_flight = 2;
}

fn cluster(n: usize, seed: u64) -> Cluster<MemEngine> {
    let mut c = Cluster::mem_with(n, seed, BucketProps::default(), configure);
    for i in 0..KEYS {
        c.put("n1", &key(i), &format!("v{i}"), Context::new())
            .unwrap();
    }
    c
}

fn key(i: usize) -> String {
    format!("k{i}")
}

/// A fresh node (no founders) added to the cluster; it joins through `seed`.
fn join_fresh(c: &mut Cluster<MemEngine>, name: &str, seed: &str) {
    let me = id(name);
    let mut config = NodeConfig::new(me.clone(), 77, Vec::new());
    configure(&mut config);
    config.timing.failure_threshold = 1;
    c.configs.insert(me.clone(), config.clone());
    let node = Node::new(config, mem(), c.now).unwrap();
    c.nodes.insert(me, node);
    match c.call(name, ClientRequest::Join { seed: id(seed) }) {
        ClientResponse::Admin(Ok(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
}

fn status(c: &mut Cluster<MemEngine>, at: &str) -> AdminInfo {
    match c.call(at, ClientRequest::Status) {
        ClientResponse::Admin(Ok(info)) => info,
        other => panic!("unexpected {other:?}"),
    }
}

/// The nodes holding (bucket "b", `k`) in their data.
fn holders(c: &Cluster<MemEngine>, k: &str) -> BTreeSet<NodeId> {
    c.nodes
        .iter()
        .filter(|(_, n)| {
            n.local_record(&Location::Data, b"b", k.as_bytes())
                .unwrap()
                .is_some()
        })
        .map(|(m, _)| m.clone())
        .collect()
}

/// The nodes of the key's preference list in the ring of `at`.
fn owners(c: &Cluster<MemEngine>, at: &str, k: &str) -> BTreeSet<NodeId> {
    let ring = c.node(at).ring().unwrap();
    ring.preference_list_for_key(b"b", k.as_bytes(), 3)
        .into_iter()
        .cloned()
        .collect()
}

/// Every node has the same ring, of the `members` named, and no transfer pending, and every
/// key is held by exactly the nodes of its preference list.
fn settled(c: &Cluster<MemEngine>, at: &str, members: &[&str]) -> bool {
    let want: BTreeSet<NodeId> = members.iter().map(|m| id(m)).collect();
    let Some(ring) = c.node(at).ring() else {
        return false;
    };
    let have: BTreeSet<NodeId> = ring.members().iter().map(|m| m.node.clone()).collect();
    let digest = ring.digest();
    have == want
        && c.nodes
            .values()
            .all(|n| n.ring().map(|r| r.digest()) == Some(digest) && n.transfers().pending() == 0)
        && (0..KEYS).all(|i| holders(c, &key(i)) == owners(c, at, &key(i)))
}

/// A filter that lets `allowed` `TransferAck`s through and holds the others (so that
/// transfers stall half-way), and counts the records of delivered batches per (sender,
/// partition, receiver).
fn hold_acks(c: &mut Cluster<MemEngine>, allowed: Rc<Cell<u64>>, sent: Rc<RefCell<Sent>>) {
    c.filter = Some(Box::new(move |from, to, m| match m {
        PeerMessage::TransferAck(_) if allowed.get() == 0 => Fate::Hold,
        PeerMessage::TransferAck(_) => {
            allowed.set(allowed.get().saturating_sub(1));
            Fate::Deliver
        }
        PeerMessage::TransferBatch(b) => {
            *sent
                .borrow_mut()
                .entry((from.clone(), b.partition, to.clone()))
                .or_default() += b.records.len() as u64;
            Fate::Deliver
        }
        _ => Fate::Deliver,
    }));
}

/// Records sent per (sender, partition, receiver).
type Sent = BTreeMap<(NodeId, PartitionId, NodeId), u64>;

/// A node with an outgoing transfer under way: some records acknowledged, not done.
fn under_way(c: &Cluster<MemEngine>) -> Option<(NodeId, TransferProgress)> {
    c.nodes.iter().find_map(|(name, n)| {
        n.transfer_progress()
            .into_iter()
            .find(|t| t.keys_sent > 0 && !t.done)
            .map(|t| (name.clone(), t))
    })
}

fn run_until(
    c: &mut Cluster<MemEngine>,
    max_ms: u64,
    mut done: impl FnMut(&mut Cluster<MemEngine>) -> bool,
) -> u64 {
    let start = c.now;
    while !done(c) {
        assert!(c.now.0 - start.0 < max_ms, "not done after {max_ms} ms");
        c.advance(100);
    }
    c.now.0 - start.0
}

fn every_key_readable(c: &mut Cluster<MemEngine>, at: &str) {
    for i in 0..KEYS {
        let r = c.get(at, &key(i)).unwrap();
        assert_eq!(values(&r), vec![format!("v{i}")], "key {i}");
    }
}

fn count_events(c: &Cluster<MemEngine>, f: impl Fn(&NodeEvent) -> bool) -> usize {
    c.events.iter().filter(|(_, e)| f(e)).count()
}

#[test]
fn a_joining_node_receives_its_partitions_and_old_holders_drop_theirs() {
    let mut c = cluster(3, 21);
    for i in 0..KEYS {
        assert_eq!(holders(&c, &key(i)).len(), 3, "3 nodes, n = 3: all hold it");
    }
    // Acks are held once a transfer is under way, so that transfers stall half-way.
    // A few acks go through, then transfers stall half-way.
    let allowed = Rc::new(Cell::new(3u64));
    let sent = Rc::new(RefCell::new(Sent::new()));
    hold_acks(&mut c, allowed.clone(), sent.clone());
    join_fresh(&mut c, "n4", "n1");
    run_until(&mut c, 60_000, |c| under_way(c).is_some());
    c.advance(100);
    // Progress is visible while transfers run: in Status and in events.
    let (sender, t) = under_way(&c).unwrap();
    let info = status(&mut c, sender.as_str());
    assert!(info.transfers_pending.unwrap() > 0);
    assert!(info.transfers.contains(&t), "{t:?} in {:?}", info.transfers);
    println!(
        "join: {sender} sending partition {:?} to {} at {} keys",
        t.partition, t.to, t.keys_sent
    );
    allowed.set(u64::MAX);
    c.release_held();
    let took = run_until(&mut c, 60_000, |c| {
        settled(c, "n1", &["n1", "n2", "n3", "n4"])
    });
    println!("join: transfers settled {took} ms after the stall");
    let n4 = id("n4");
    let ring = c.node("n4").ring().unwrap().clone();
    let mine: Vec<PartitionId> = ring.partitions_replicated_by(&n4, 3);
    assert!(!mine.is_empty());
    let mut got = 0;
    for i in 0..KEYS {
        let p = ring.partition_of(b"b", key(i).as_bytes());
        let held = holders(&c, &key(i));
        assert_eq!(held.len(), 3, "key {i} held by exactly N nodes");
        assert_eq!(held.contains(&n4), mine.contains(&p), "key {i}");
        got += usize::from(held.contains(&n4));
    }
    assert!(got > 0);
    assert!(count_events(&c, |e| matches!(e, NodeEvent::TransferProgress { .. })) > 0);
    assert!(count_events(&c, |e| matches!(e, NodeEvent::TransferDone { .. })) > 0);
    assert!(count_events(&c, |e| matches!(e, NodeEvent::PartitionDropped { .. })) > 0);
    every_key_readable(&mut c, "n4");
}

#[test]
fn a_leaving_node_hands_its_partitions_over_then_exits() {
    let mut c = cluster(4, 22);
    let leaver = id("n3");
    let before = (0..KEYS)
        .filter(|i| holders(&c, &key(*i)).contains(&leaver))
        .count();
    assert!(before > 0);
    match c.call("n3", ClientRequest::Leave) {
        ClientResponse::Admin(Ok(info)) => assert_eq!(info.status, Some(MemberStatus::Leaving)),
        other => panic!("unexpected {other:?}"),
    }
    let took = run_until(&mut c, 60_000, |c| {
        c.nodes.values().all(|n| {
            n.membership().state().member(&leaver).map(|m| m.status) == Some(MemberStatus::Exiting)
        }) && settled(c, "n1", &["n1", "n2", "n4"])
    });
    println!("leave: n3 exited with its partitions handed over {took} ms after leave");
    // The leaver finished its leave only after its transfers were done.
    let done_at = c
        .events
        .iter()
        .rposition(|(n, e)| *n == leaver && matches!(e, NodeEvent::TransferDone { .. }))
        .expect("the leaver completed transfers");
    let exit_at = c
        .events
        .iter()
        .position(|(n, e)| {
            *n == leaver
                && matches!(e, NodeEvent::Membership(dynamo_core::membership::MembershipChange::Status { node, to: MemberStatus::Exiting, .. }) if *node == leaver)
        })
        .expect("the leaver exited");
    assert!(
        done_at < exit_at,
        "exit after the last transfer was confirmed"
    );
    for i in 0..KEYS {
        let held = holders(&c, &key(i));
        assert_eq!(held.len(), 3, "key {i}");
        assert!(!held.contains(&leaver), "the leaver dropped key {i}");
    }
    c.cut.insert(leaver);
    every_key_readable(&mut c, "n1");
}

#[test]
fn transfers_complete_despite_lost_batches_and_acks() {
    let mut c = cluster(3, 23);
    let seen = Rc::new(RefCell::new(0u64));
    let dropped = Rc::new(RefCell::new(0u64));
    {
        let (seen, dropped) = (seen.clone(), dropped.clone());
        c.filter = Some(Box::new(move |_, _, m| {
            if matches!(
                m,
                PeerMessage::TransferBatch(_) | PeerMessage::TransferAck(_)
            ) {
                *seen.borrow_mut() += 1;
                // Lose one transfer message in three.
                if *seen.borrow() % 3 == 0 {
                    *dropped.borrow_mut() += 1;
                    return Fate::Drop;
                }
            }
            Fate::Deliver
        }));
    }
    join_fresh(&mut c, "n4", "n2");
    let took = run_until(&mut c, 120_000, |c| {
        settled(c, "n1", &["n1", "n2", "n3", "n4"])
    });
    println!(
        "loss: settled {took} ms after the join; {} transfer messages, {} lost",
        seen.borrow(),
        dropped.borrow()
    );
    assert!(*dropped.borrow() > 0);
    c.filter = None;
    every_key_readable(&mut c, "n4");
}

#[test]
fn duplicated_and_reordered_transfer_messages_are_harmless() {
    let mut c = cluster(3, 24);
    c.dup_per_million = 300_000;
    c.reorder = true;
    join_fresh(&mut c, "n4", "n3");
    let took = run_until(&mut c, 120_000, |c| {
        settled(c, "n1", &["n1", "n2", "n3", "n4"])
    });
    println!("duplication and reordering: settled {took} ms after the join");
    c.dup_per_million = 0;
    every_key_readable(&mut c, "n2");
}

#[test]
fn a_sender_restarted_mid_transfer_resumes_from_its_cursor() {
    let mut c = cluster(3, 25);
    // A few acks go through, then transfers stall half-way.
    let allowed = Rc::new(Cell::new(3u64));
    let sent = Rc::new(RefCell::new(Sent::new()));
    hold_acks(&mut c, allowed.clone(), sent.clone());
    join_fresh(&mut c, "n4", "n1");
    // Wait for a sender with a transfer under way, then stall it (its acks are held).
    let mut victim = None;
    run_until(&mut c, 60_000, |c| {
        victim = under_way(c);
        victim.is_some()
    });
    let (name, t) = victim.unwrap();
    println!(
        "restart: {name} restarted with partition {:?} to {} at {} keys",
        t.partition, t.to, t.keys_sent
    );
    c.advance(100);
    c.restart_same_disk(name.as_str());
    // The acks held were meant for the earlier run: stale, ignored.
    allowed.set(u64::MAX);
    c.release_held();
    // The restarted node knows where it was.
    let resumed = c
        .node(name.as_str())
        .transfer_progress()
        .into_iter()
        .find(|x| x.partition == t.partition && x.to == t.to)
        .expect("the transfer was persisted");
    assert!(resumed.keys_sent >= t.keys_sent);
    let before = sent.borrow().clone();
    let took = run_until(&mut c, 60_000, |c| {
        settled(c, "n1", &["n1", "n2", "n3", "n4"])
    });
    println!("restart: settled {took} ms after the restart");
    // Resumed from its cursor: what went out after the restart is less than the partition.
    let k = (name.clone(), t.partition, t.to.clone());
    let after = sent.borrow().get(&k).copied().unwrap_or(0) - before.get(&k).copied().unwrap_or(0);
    let ring = c.node("n1").ring().unwrap().clone();
    let total = (0..KEYS)
        .filter(|i| ring.partition_of(b"b", key(*i).as_bytes()) == t.partition)
        .count() as u64;
    println!("restart: {after} records sent after the restart, of {total} in the partition");
    assert!(after < total, "the transfer did not start over");
    c.filter = None;
    every_key_readable(&mut c, "n4");
}

#[test]
fn data_held_by_a_node_that_does_not_replicate_it_goes_to_its_owners_then_is_dropped() {
    let mut c = cluster(4, 26);
    // A record of a key nobody has yet, written on a throwaway single node.
    let props = BucketProps {
        n: 1,
        r: 1,
        w: 1,
        ..BucketProps::default()
    };
    let mut other = Cluster::mem_with(1, 5, props, configure);
    other.put("n1", "stray", "s", Context::new()).unwrap();
    let set = other
        .node("n1")
        .local_record(&Location::Data, b"b", b"stray")
        .unwrap()
        .unwrap();
    let record = bytes::Bytes::from(dynamo_core::record::encode(&set).unwrap());
    let owners_of = owners(&c, "n1", "stray");
    assert_eq!(owners_of.len(), 3);
    let outsider = c
        .nodes
        .keys()
        .find(|n| !owners_of.contains(*n))
        .unwrap()
        .clone();
    let from = owners_of.iter().next().unwrap().clone();
    // As a stale coordinator's repair would: it lands in the outsider's data.
    let now = c.now;
    let node = c.nodes.get_mut(&outsider).unwrap();
    node.handle(
        now,
        dynamo_core::Input::Peer {
            from,
            message: PeerMessage::Repair {
                bucket: "b".into(),
                key: "stray".into(),
                record,
            },
        },
    );
    while node.poll_output().is_some() {}
    c.settle();
    assert_eq!(holders(&c, "stray"), BTreeSet::from([outsider.clone()]));
    let took = run_until(&mut c, 30_000, |c| holders(c, "stray") == owners_of);
    println!("stray: {outsider} handed the record to its owners in {took} ms");
    assert!(
        c.events.iter().any(
            |(n, e)| *n == outsider && matches!(e, NodeEvent::PartitionDropped { keys: 1, .. })
        ),
        "the outsider dropped it"
    );
    let r = c.get("n1", "stray").unwrap();
    assert_eq!(values(&r), vec!["s".to_owned()]);
}

/// An encoded record of (`b`, `k`) = `v`, written on a throwaway single node.
fn foreign_record(k: &str, v: &str) -> bytes::Bytes {
    let props = BucketProps {
        n: 1,
        r: 1,
        w: 1,
        ..BucketProps::default()
    };
    let mut other = Cluster::mem_with(1, 5, props, configure);
    other.put("n1", k, v, Context::new()).unwrap();
    let set = other
        .node("n1")
        .local_record(&Location::Data, b"b", k.as_bytes())
        .unwrap()
        .unwrap();
    bytes::Bytes::from(dynamo_core::record::encode(&set).unwrap())
}

#[test]
fn a_write_reaching_a_leaving_sender_mid_transfer_is_sent_again_before_the_drop() {
    let mut c = cluster(4, 27);
    let allowed = Rc::new(Cell::new(4u64));
    let sent = Rc::new(RefCell::new(Sent::new()));
    hold_acks(&mut c, allowed.clone(), sent.clone());
    let leaver = id("n2");
    match c.call("n2", ClientRequest::Leave) {
        ClientResponse::Admin(Ok(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    run_until(&mut c, 60_000, |c| {
        c.node("n2")
            .transfer_progress()
            .iter()
            .any(|t| t.keys_sent > 0 && !t.done)
    });
    let t = c
        .node("n2")
        .transfer_progress()
        .into_iter()
        .find(|t| t.keys_sent > 0 && !t.done)
        .unwrap();
    // Writes to that partition reach the leaver after its pass began (a coordinator with
    // a stale ring): five new keys, sorting before every key sent so far.
    let ring = c.node("n2").ring().unwrap().clone();
    let late: Vec<String> = (0..)
        .map(|i| format!("a-late{i}"))
        .filter(|k| ring.partition_of(b"b", k.as_bytes()) == t.partition)
        .take(5)
        .collect();
    let from = id("n1");
    for k in &late {
        let record = foreign_record(k, "late");
        let now = c.now;
        let node = c.nodes.get_mut(&leaver).unwrap();
        node.handle(
            now,
            dynamo_core::Input::Peer {
                from: from.clone(),
                message: PeerMessage::Repair {
                    bucket: "b".into(),
                    key: bytes::Bytes::copy_from_slice(k.as_bytes()),
                    record,
                },
            },
        );
        while node.poll_output().is_some() {}
    }
    allowed.set(u64::MAX);
    c.release_held();
    let took = run_until(&mut c, 60_000, |c| {
        c.nodes.values().all(|n| {
            n.membership().state().member(&leaver).map(|m| m.status) == Some(MemberStatus::Exiting)
        }) && settled(c, "n1", &["n1", "n3", "n4"])
            && late.iter().all(|k| holders(c, k) == owners(c, "n1", k))
    });
    println!("late writes: the leaver exited {took} ms after they arrived; none lost");
    c.cut.insert(leaver);
    for k in &late {
        let r = c.get("n1", k).unwrap();
        assert_eq!(values(&r), vec!["late".to_owned()], "{k}");
    }
}
