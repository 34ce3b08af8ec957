#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hinted handoff: hints kept by substitutes while a primary is unreachable are delivered
//! once it is back, land in its data, and are deleted only after its acknowledgement — also
//! under loss, duplication and reordering, across a restart of the substitute, and when a
//! newer write reaches the hint while a delivery is in flight.

mod node_support;

use std::collections::BTreeMap;

use dynamo_core::NodeId;
use dynamo_core::node::{BucketProps, Location, NodeEvent};
use dynamo_core::proto::PeerMessage;
use dynamo_core::version::{Context, SiblingSet};
use engine_mem::MemEngine;
use node_support::*;

const DOWN: &str = "n5";

fn pref_list(c: &Cluster<MemEngine>, key: &str) -> Vec<NodeId> {
    c.node("n1")
        .ring()
        .unwrap()
        .preference_list_for_key(b"b", key.as_bytes(), 3)
        .into_iter()
        .cloned()
        .collect()
}

/// Keys whose preference list includes `DOWN`, `count` of them, none starting with `avoid`.
fn keys_with_down(c: &Cluster<MemEngine>, count: usize) -> Vec<String> {
    (0..10_000)
        .map(|i| format!("key{i}"))
        .filter(|k| pref_list(c, k).contains(&id(DOWN)))
        .take(count)
        .collect()
}

/// Five nodes (N=3, R=W=2), `DOWN` cut off and known down by every other node: each of them
/// coordinated a write that `DOWN` left unanswered.
fn cluster_with_down_primary(seed: u64, max_in_flight: Option<usize>) -> Cluster<MemEngine> {
    let mut c = Cluster::mem(5, seed, BucketProps::default());
    if let Some(k) = max_in_flight {
        for n in ids(5) {
            c.configs.get_mut(&n).unwrap().handoff_max_in_flight = k;
            c.restart(n.as_str());
        }
    }
    c.cut.insert(id(DOWN));
    for coord in ["n1", "n2", "n3", "n4"] {
        let key = (0..10_000)
            .map(|i| format!("warm{i}"))
            .find(|k| {
                let pl = pref_list(&c, k);
                pl.contains(&id(coord)) && pl.contains(&id(DOWN))
            })
            .unwrap();
        c.put(coord, &key, "warm-up", Context::new()).unwrap();
        c.advance(1_500);
        assert!(
            !c.node(coord).failure_detector().is_up(&id(DOWN)),
            "{coord} sees {DOWN} down"
        );
    }
    c
}

/// Writes one value to each key (all succeed with W=2 despite the cut primary); returns the
/// hint each substitute holds for `DOWN`, per key.
fn write_hinted(c: &mut Cluster<MemEngine>, keys: &[String]) -> BTreeMap<String, SiblingSet> {
    for k in keys {
        c.put("n1", k, &format!("value of {k}"), Context::new())
            .unwrap();
    }
    hints_for_down(c, keys)
}

fn hints_for_down(c: &Cluster<MemEngine>, keys: &[String]) -> BTreeMap<String, SiblingSet> {
    let mut hints = BTreeMap::new();
    for k in keys {
        for (n, node) in &c.nodes {
            if let Some(set) = node
                .local_record(&Location::Hint(id(DOWN)), b"b", k.as_bytes())
                .unwrap()
            {
                assert!(
                    hints.insert(k.clone(), set).is_none(),
                    "one substitute per key ({n})"
                );
            }
        }
    }
    hints
}

fn hints_left(c: &Cluster<MemEngine>) -> usize {
    c.nodes.values().map(|n| n.hints_stored().unwrap()).sum()
}

/// Advances time until no node keeps a hint; returns the simulated ms it took.
fn drain(c: &mut Cluster<MemEngine>, limit_ms: u64) -> u64 {
    let start = c.now.0;
    while hints_left(c) > 0 {
        assert!(
            c.now.0 - start < limit_ms,
            "hints did not drain in {limit_ms} ms: {} left",
            hints_left(c)
        );
        c.advance(250);
    }
    c.now.0 - start
}

/// The primary's data holds every hinted write: its record descends each hint.
fn assert_primary_holds(c: &Cluster<MemEngine>, hints: &BTreeMap<String, SiblingSet>) {
    for (k, hint) in hints {
        let data = c
            .node(DOWN)
            .local_record(&Location::Data, b"b", k.as_bytes())
            .unwrap()
            .unwrap_or_else(|| panic!("{DOWN} has no data for {k}"));
        assert!(data.descends(hint), "{DOWN}'s record of {k} lacks the hint");
        let expected = format!("value of {k}");
        assert!(
            data.live().any(|s| s.bytes() == expected.as_bytes()),
            "{k}: the acknowledged value is live"
        );
    }
}

fn delivered_events(c: &Cluster<MemEngine>) -> usize {
    c.events
        .iter()
        .map(|(_, e)| match e {
            NodeEvent::HintsDelivered { to, count } if *to == id(DOWN) => *count,
            _ => 0,
        })
        .sum()
}

fn sends_of(c: &Cluster<MemEngine>, what: &str) -> usize {
    c.history
        .iter()
        .filter(|h| h.contains("-> Send") && h.contains(what))
        .count()
}

#[test]
fn hints_drain_to_the_primary_once_it_is_back() {
    let mut c = cluster_with_down_primary(11, None);
    let keys = keys_with_down(&c, 30);
    let hints = write_hinted(&mut c, &keys);
    assert_eq!(hints.len(), keys.len(), "every write left a hint");
    let pending: usize = c
        .nodes
        .values()
        .map(|n| {
            n.hints_pending()
                .unwrap()
                .get(&id(DOWN))
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(pending, keys.len(), "hints_pending counts them per target");
    // While the primary is unreachable (and known down), the hints stay.
    c.advance(5_000);
    assert_eq!(hints_left(&c), keys.len());
    assert_eq!(delivered_events(&c), 0);

    c.cut.clear();
    let took = drain(&mut c, 60_000);
    println!("30 hints drained in {took} ms of simulated time");
    assert_primary_holds(&c, &hints);
    assert_eq!(
        delivered_events(&c),
        keys.len(),
        "one delivery reported per hint"
    );
    for n in c.nodes.values() {
        assert!(n.hints_pending().unwrap().is_empty());
        assert_eq!(n.handoff().in_flight(), 0);
    }
    // Idle again: once drained, no node wakes up for handoff.
    let before = sends_of(&c, "HintDeliver");
    c.advance(10_000);
    assert_eq!(sends_of(&c, "HintDeliver"), before);
    // And reads see the values.
    for k in &keys {
        let r = c.get("n1", k).unwrap();
        assert_eq!(values(&r), [format!("value of {k}")]);
    }
}

#[test]
fn deliveries_are_throttled_per_target() {
    let mut c = cluster_with_down_primary(12, Some(2));
    let keys = keys_with_down(&c, 30);
    let hints = write_hinted(&mut c, &keys);
    // The substitute with the most hints.
    let holder = c
        .nodes
        .iter()
        .max_by_key(|(_, n)| n.hints_stored().unwrap())
        .map(|(k, _)| k.clone())
        .unwrap();
    let held_here = c.nodes[&holder].hints_stored().unwrap();
    assert!(held_here > 2, "{holder} holds {held_here} hints");
    // Hold every delivery: nothing is acknowledged, so at most 2 are in flight per holder.
    c.filter = Some(Box::new(|_, _, m| match m {
        PeerMessage::HintDeliver { .. } => Fate::Hold,
        _ => Fate::Deliver,
    }));
    c.cut.clear();
    for _ in 0..20 {
        c.advance(100);
        for n in c.nodes.values() {
            assert!(n.handoff().in_flight_to(&id(DOWN)) <= 2);
        }
    }
    let from_holder = c.held.iter().filter(|(f, _, _)| *f == holder).count();
    assert!(
        (1..=4).contains(&from_holder),
        "2 in flight, resent at most once after the timeout: {from_holder}"
    );
    assert_eq!(
        hints_left(&c),
        keys.len(),
        "nothing acknowledged, nothing deleted"
    );
    // Let them through: everything drains.
    c.filter = None;
    c.release_held();
    drain(&mut c, 120_000);
    assert_primary_holds(&c, &hints);
}

/// A filter under which `DOWN` reaches and is reached by `substitute` only, holding every
/// hint acknowledgement but the one of delivery `pass`.
fn only_through(substitute: &NodeId, pass: Option<u64>) -> Filter {
    let sub = substitute.clone();
    Box::new(move |from, to, m| {
        let down = id(DOWN);
        if (*from == down || *to == down) && *from != sub && *to != sub {
            return Fate::Drop;
        }
        match m {
            PeerMessage::HintAck { id } if Some(*id) != pass => Fate::Hold,
            _ => Fate::Deliver,
        }
    })
}

#[test]
fn a_write_during_a_delivery_keeps_the_hint_and_is_sent_again() {
    let mut c = cluster_with_down_primary(13, None);
    let keys = keys_with_down(&c, 1);
    let key = keys[0].clone();
    let first = write_hinted(&mut c, &keys);
    let substitute = c
        .nodes
        .iter()
        .find(|(_, n)| n.hints_stored().unwrap() > 0)
        .map(|(k, _)| k.clone())
        .unwrap();
    // The primary is reachable from the substitute only, and the acknowledgement is held
    // back: the delivery is in flight while the next write comes in.
    c.filter = Some(only_through(&substitute, None));
    c.cut.clear();
    while c.held.is_empty() {
        assert!(c.now.0 < T0.0 + 120_000, "no delivery");
        c.advance(100);
    }
    // The primary merged the first version (the ack is held back).
    let data = c
        .node(DOWN)
        .local_record(&Location::Data, b"b", key.as_bytes())
        .unwrap()
        .unwrap();
    assert!(data.descends(&first[&key]));
    // A newer write, with the context of the first: the coordinator still sees the primary
    // down, so the substitute's hint takes it.
    let ctx = c.get("n1", &key).unwrap().context;
    c.put("n1", &key, "second", ctx).unwrap();
    let second = hints_for_down(&c, &keys);
    assert_ne!(second[&key], first[&key]);
    assert!(
        second[&key]
            .live()
            .any(|s| s.bytes() == b"second".as_slice()),
        "the hint took the second write"
    );
    // The held acknowledgement arrives: the hint changed since it was sent, so it stays.
    // (Acknowledgements of later deliveries are held again.)
    let first_ack = match &c.held[..] {
        [(_, _, PeerMessage::HintAck { id })] => *id,
        other => panic!("{other:?}"),
    };
    c.filter = Some(only_through(&substitute, Some(first_ack)));
    c.release_held();
    c.settle();
    assert_eq!(c.nodes[&substitute].hints_stored().unwrap(), 1, "hint kept");
    assert_eq!(delivered_events(&c), 0);
    // It was sent again at once (the acknowledgement freed a slot): a new delivery.
    match &c.held[..] {
        [(_, _, PeerMessage::HintAck { id })] => assert_ne!(*id, first_ack),
        other => panic!("{other:?}"),
    }
    // Its acknowledgement deletes it.
    c.filter = None;
    c.release_held();
    drain(&mut c, 120_000);
    let data = c
        .node(DOWN)
        .local_record(&Location::Data, b"b", key.as_bytes())
        .unwrap()
        .unwrap();
    assert!(
        data.descends(&second[&key]),
        "the second write reached the primary"
    );
    let live: Vec<&[u8]> = data.live().map(|s| s.bytes().as_ref()).collect();
    assert_eq!(live, [b"second".as_slice()]);
}

#[test]
fn loss_duplication_and_reordering_still_drain_with_nothing_lost() {
    for seed in 0..6 {
        let mut c = cluster_with_down_primary(100 + seed, Some(3));
        let keys = keys_with_down(&c, 25);
        let hints = write_hinted(&mut c, &keys);
        assert_eq!(hints.len(), keys.len());
        c.loss_per_million = 200_000;
        c.dup_per_million = 200_000;
        c.reorder = true;
        c.cut.clear();
        let took = drain(&mut c, 600_000);
        println!("seed {seed}: drained in {took} ms with 20% loss and duplication");
        assert_primary_holds(&c, &hints);
        let ids: Vec<(String, u64)> = c
            .history
            .iter()
            .filter(|h| h.contains("-> Send") && h.contains("HintDeliver"))
            .map(|h| {
                let sender = h.split(' ').nth(1).unwrap().to_string();
                let i = h.find("id: ").unwrap() + 4;
                let id = h[i..]
                    .split(|ch: char| !ch.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                (sender, id)
            })
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "a node never reuses a delivery id");
    }
}

#[test]
fn a_substitute_restarted_on_its_engine_resumes_delivery() {
    let mut c = cluster_with_down_primary(14, None);
    let keys = keys_with_down(&c, 20);
    let hints = write_hinted(&mut c, &keys);
    let holders: Vec<String> = c
        .nodes
        .iter()
        .filter(|(_, n)| n.hints_stored().unwrap() > 0)
        .map(|(k, _)| k.to_string())
        .collect();
    assert!(!holders.is_empty());
    assert_eq!(sends_of(&c, "HintDeliver"), 0, "nothing delivered yet");
    // Every substitute restarts on its engine; its hints are still there.
    c.advance(1_000);
    for h in &holders {
        let before = c.node(h).hints_stored().unwrap();
        c.restart(h);
        assert_eq!(
            c.node(h).hints_stored().unwrap(),
            before,
            "{h} kept its hints"
        );
    }
    c.cut.clear();
    drain(&mut c, 60_000);
    assert_primary_holds(&c, &hints);
}

#[test]
fn a_restart_mid_delivery_ignores_the_old_acknowledgements() {
    let mut c = cluster_with_down_primary(15, None);
    let keys = keys_with_down(&c, 10);
    let hints = write_hinted(&mut c, &keys);
    // Deliveries reach the primary but their acknowledgements are held.
    c.filter = Some(Box::new(|_, _, m| match m {
        PeerMessage::HintAck { .. } => Fate::Hold,
        _ => Fate::Deliver,
    }));
    c.cut.clear();
    while c.held.is_empty() {
        assert!(c.now.0 < T0.0 + 120_000, "no delivery");
        c.advance(100);
    }
    let holders: Vec<NodeId> = c.held.iter().map(|(_, to, _)| to.clone()).collect();
    for h in &holders {
        if c.nodes[h].handoff().in_flight() > 0 {
            c.restart(h.as_str());
        }
    }
    // The old acknowledgements arrive at the restarted nodes: ignored (nothing in flight
    // has their ids), and delivery resumes.
    c.filter = None;
    c.release_held();
    c.settle();
    drain(&mut c, 60_000);
    assert_primary_holds(&c, &hints);
}

#[test]
fn a_foreign_or_duplicate_ack_deletes_nothing_more() {
    let mut c = cluster_with_down_primary(16, None);
    let keys = keys_with_down(&c, 5);
    let hints = write_hinted(&mut c, &keys);
    let before = hints_left(&c);
    // Deliveries are held on their way to the primary: they are in flight.
    c.filter = Some(Box::new(|_, _, m| match m {
        PeerMessage::HintDeliver { .. } => Fate::Hold,
        _ => Fate::Deliver,
    }));
    c.cut.clear();
    while c.held.is_empty() {
        assert!(c.now.0 < T0.0 + 120_000, "no delivery");
        c.advance(100);
    }
    let in_flight: Vec<(NodeId, u64)> = c
        .held
        .iter()
        .map(|(from, _, m)| match m {
            PeerMessage::HintDeliver { id, .. } => (from.clone(), *id),
            other => panic!("{other:?}"),
        })
        .collect();
    // Acknowledgements of those ids from a node that is not their target: ignored.
    for (holder, ack) in &in_flight {
        let foreign = ["n1", "n2", "n3", "n4"]
            .into_iter()
            .map(id)
            .find(|n| n != holder)
            .unwrap();
        let now = c.now;
        c.nodes.get_mut(holder).unwrap().handle(
            now,
            dynamo_core::node::Input::Peer {
                from: foreign,
                message: PeerMessage::HintAck { id: *ack },
            },
        );
    }
    c.settle();
    assert_eq!(hints_left(&c), before, "nothing deleted");
    // The real deliveries, each delivered twice: everything drains, nothing is lost.
    let copies = c.held.clone();
    c.held.extend(copies);
    c.filter = None;
    c.release_held();
    drain(&mut c, 60_000);
    assert_primary_holds(&c, &hints);
}

#[test]
fn a_corrupt_hint_is_dropped_and_an_undecodable_key_holds_nothing_back() {
    use dynamo_core::node::store::hint_prefix;
    use dynamo_core::ring::encode_storage_key;
    use engine_api::{Durability, StorageEngine, WriteBatch};

    let mut c = cluster_with_down_primary(17, Some(1));
    let keys = keys_with_down(&c, 6);
    let hints = write_hinted(&mut c, &keys);
    let holder = c
        .nodes
        .iter()
        .max_by_key(|(_, n)| n.hints_stored().unwrap())
        .map(|(k, _)| k.clone())
        .unwrap();
    // Two damaged entries for DOWN in the holder's engine: a record that does not decode,
    // and (sorting before every other hint of DOWN) a key that does not decode.
    let ring = c.nodes[&holder].ring().unwrap();
    let partition = ring.partition_of(b"b", b"corrupt-key");
    let mut bad_record = hint_prefix(&id(DOWN));
    bad_record.extend_from_slice(&encode_storage_key(partition, b"b", b"corrupt-key").unwrap());
    let mut bad_key = hint_prefix(&id(DOWN));
    bad_key.push(0);
    {
        let engine = c.nodes[&holder].engine();
        let ks = engine.keyspace("hints").unwrap();
        let mut batch = WriteBatch::new();
        batch.put(ks, bad_record, b"\xffnot a record".to_vec());
        batch.put(ks, bad_key, b"whatever".to_vec());
        engine.write(&batch, Durability::Sync).unwrap();
    }
    let before = hints_left(&c);
    c.cut.clear();
    let start = c.now.0;
    // Everything but the undecodable key drains (one delivery in flight at a time).
    while hints_left(&c) > 1 {
        assert!(c.now.0 - start < 60_000, "{} hints left", hints_left(&c));
        c.advance(250);
    }
    assert_eq!(before, keys.len() + 2);
    assert_eq!(
        c.nodes[&holder].hints_stored().unwrap(),
        1,
        "the undecodable key stays"
    );
    assert_primary_holds(&c, &hints);
    assert!(
        c.events.iter().any(|(n, e)| *n == holder
            && matches!(e, NodeEvent::CorruptRecord { location: Location::Hint(t), key, .. }
                if *t == id(DOWN) && key.as_ref() == b"corrupt-key")),
        "the corrupt hint is reported"
    );
    assert!(
        c.node(DOWN)
            .local_record(&Location::Data, b"b", b"corrupt-key")
            .unwrap()
            .is_none(),
        "nothing of it was delivered"
    );
}

#[test]
fn hints_for_a_node_that_left_the_ring_go_to_the_current_replicas() {
    use dynamo_core::proto::{ClientRequest, ClientResponse};

    let mut c = cluster_with_down_primary(18, None);
    let keys = keys_with_down(&c, 20);
    let hints = write_hinted(&mut c, &keys);
    // DOWN comes back only long enough to leave: no hint reaches it.
    c.filter = Some(Box::new(|_, to, m| match m {
        PeerMessage::HintDeliver { .. } if *to == id(DOWN) => Fate::Drop,
        _ => Fate::Deliver,
    }));
    c.cut.clear();
    match c.call(DOWN, ClientRequest::Leave) {
        ClientResponse::Admin(Ok(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    let start = c.now.0;
    while !c
        .nodes
        .values()
        .all(|n| !n.ring().unwrap().contains_node(&id(DOWN)))
    {
        assert!(c.now.0 - start < 30_000, "the leave did not complete");
        c.advance(250);
    }
    // Gone for good.
    c.cut.insert(id(DOWN));
    c.filter = None;
    let start = c.now.0;
    while c
        .nodes
        .iter()
        .filter(|(n, _)| **n != id(DOWN))
        .any(|(_, n)| n.hints_stored().unwrap() > 0)
    {
        assert!(
            c.now.0 - start < 60_000,
            "hints for a departed node never drained"
        );
        c.advance(250);
    }
    // Every hinted write reached the key's current replicas (the first directly, the
    // others through anti-entropy or a read).
    for (k, hint) in &hints {
        let pl = pref_list(&c, k);
        assert!(!pl.contains(&id(DOWN)));
        let holding = pl
            .iter()
            .filter(|n| {
                c.nodes[*n]
                    .local_record(&Location::Data, b"b", k.as_bytes())
                    .unwrap()
                    .is_some_and(|d| d.descends(hint))
            })
            .count();
        assert!(
            holding >= 1,
            "{k}: no current replica holds the hinted write"
        );
        let r = c.get("n1", k).unwrap();
        assert_eq!(values(&r), [format!("value of {k}")]);
    }
    assert_eq!(delivered_events(&c), keys.len());
}
