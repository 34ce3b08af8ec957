#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Anti-entropy between replicas (paper §4.7): replicas that diverged converge through
//! Merkle exchanges, whose cost follows the differences, not the keys; a wiped replica is
//! refilled; exchanges survive message loss; a busy node defers them; deletes spread and stay.

mod node_support;

use bytes::Bytes;
use dynamo_core::antientropy::{AeKey, AeMessage, AeOutcome, AeReport, NodeIndex};
use dynamo_core::node::{BucketProps, Input, Location, Node, NodeConfig, NodeEvent, Output};
use dynamo_core::proto::{ClientRequest, PeerMessage};
use dynamo_core::record::KeyedRecord;
use dynamo_core::ring::{PartitionId, encode_storage_key};
use dynamo_core::version::Context;
use engine_api::{Durability, StorageEngine, WriteBatch};
use engine_mem::MemEngine;
use node_support::*;

/// Anti-entropy interval of these tests, in ms.
const INTERVAL: u64 = 10;

/// Three nodes, N=3 R=2 W=2 (every node replicates every partition, and no substitute exists,
/// so a write missed by a cut node reaches it only through anti-entropy), anti-entropy every
/// `INTERVAL` ms.
fn cluster(seed: u64, tweak: impl Fn(&mut NodeConfig)) -> Cluster<MemEngine> {
    Cluster::mem_with(3, seed, BucketProps::default(), |c| {
        c.timing.anti_entropy_interval_ms = INTERVAL;
        tweak(c);
    })
}

fn key(i: usize) -> String {
    format!("key{i}")
}

/// Writes keys `range` at n1 (no read, so no read repair).
fn write(c: &mut Cluster<MemEngine>, range: std::ops::Range<usize>, value: &str) {
    for i in range {
        c.put("n1", &key(i), value, Context::new()).unwrap();
    }
}

/// True when, for every partition, all its replicas have the same Merkle root.
fn trees_agree(c: &Cluster<MemEngine>) -> bool {
    let ring = c.node("n1").ring().unwrap().clone();
    ring.config().partition_ids().all(|p| {
        let roots: Vec<u64> = ring
            .preference_list(p, 3)
            .into_iter()
            .map(|n| c.nodes[n].merkle(p).map_or(0, |t| t.root()))
            .collect();
        roots.windows(2).all(|w| w[0] == w[1])
    })
}

/// Asserts every replica of every key in `range` holds the same (present) sibling set.
fn assert_records_agree(c: &Cluster<MemEngine>, range: std::ops::Range<usize>) {
    for i in range {
        let k = key(i);
        let sets: Vec<_> = c
            .nodes
            .values()
            .map(|n| {
                n.local_record(&Location::Data, b"b", k.as_bytes())
                    .unwrap()
                    .unwrap_or_else(|| panic!("{k} missing on {}", n.id()))
            })
            .collect();
        assert!(
            sets.windows(2).all(|w| w[0] == w[1]),
            "{k} differs: {sets:?}"
        );
    }
}

/// Advances time until every partition's replicas agree; returns the virtual ms it took.
fn run_until_converged(c: &mut Cluster<MemEngine>, loss_per_million: u32, limit_ms: u64) -> u64 {
    let start = c.now.0;
    while !trees_agree(c) {
        assert!(
            c.now.0 - start < limit_ms,
            "not converged after {limit_ms} ms"
        );
        c.advance_lossy(INTERVAL, loss_per_million);
    }
    c.now.0 - start
}

/// Reports of exchanges that repaired something.
fn repairing(c: &Cluster<MemEngine>) -> Vec<AeReport> {
    c.ae_reports()
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.keys_repaired > 0)
        .collect()
}

/// The cost bound of one exchange with `d` differing keys in a tree of fanout 16 and depth
/// 3: the root (1 hash), its 16 children, then at each of the two lower levels at most `d`
/// differing nodes sent and their `16·d` children returned.
fn hash_bound(d: usize) -> usize {
    17 + 34 * d
}

#[test]
fn diverged_replicas_converge_and_exchanges_cost_what_differs() {
    let mut c = cluster(1, |_| {});
    write(&mut c, 0..300, "v1");
    c.cut.insert(id("n3"));
    // n3 misses new keys and updates of old ones.
    write(&mut c, 300..340, "v1");
    write(&mut c, 0..20, "v2");
    c.cut.clear();
    assert!(!trees_agree(&c), "n3 diverged");
    let before = c.ae_reports().len();
    let took = run_until_converged(&mut c, 0, 60_000);
    assert_records_agree(&c, 0..340);
    let reports = &c.ae_reports()[before..];
    let fixes = repairing(&c);
    let repaired: usize = fixes.iter().map(|r| r.keys_repaired).sum();
    assert!(
        repaired >= 60,
        "the 60 differing keys were found ({repaired})"
    );
    for r in &fixes {
        assert_eq!(r.outcome, AeOutcome::Completed, "{r:?}");
        assert!(r.hashes <= hash_bound(r.keys_repaired), "{r:?}");
        // Descent (3 round trips), one key listing, one push: 10 messages.
        assert!(r.messages <= 10, "{r:?}");
        assert!(
            r.records_pushed + r.records_pulled >= r.keys_repaired,
            "{r:?}"
        );
    }
    for (_, r) in reports {
        if r.keys_repaired == 0 && r.outcome == AeOutcome::Completed {
            assert_eq!((r.messages, r.hashes), (2, 1), "equal roots: {r:?}");
        }
    }
    println!(
        "converged in {took} ms of virtual time, {} exchanges, {} repairing ({} keys)",
        reports.len(),
        fixes.len(),
        repaired
    );
}

/// The figure: for the same differences, exchanges cost the same whatever the number of keys.
#[test]
fn exchange_cost_grows_with_differences_not_keys() {
    println!("keys  diffs  repairing-exchanges  messages  hashes  keys-listed");
    for keys in [200usize, 2_000] {
        for diffs in [1usize, 10, 100] {
            let mut c = cluster(7, |_| {});
            write(&mut c, 0..keys, "v1");
            c.cut.insert(id("n3"));
            write(&mut c, 0..diffs, "v2");
            c.cut.clear();
            run_until_converged(&mut c, 0, 60_000);
            assert_records_agree(&c, 0..keys);
            let fixes = repairing(&c);
            let messages: usize = fixes.iter().map(|r| r.messages).sum();
            let hashes: usize = fixes.iter().map(|r| r.hashes).sum();
            let listed: usize = fixes.iter().map(|r| r.keys_listed).sum();
            let repaired: usize = fixes.iter().map(|r| r.keys_repaired).sum();
            println!(
                "{keys:5} {diffs:6} {:20} {messages:9} {hashes:7} {listed:12}",
                fixes.len()
            );
            // Each differing key is found once, or twice when two exchanges of its
            // partition (n3 with n1, n3 with n2) happen to overlap.
            assert!(
                (diffs..=2 * diffs).contains(&repaired),
                "{repaired} keys repaired for {diffs} differences"
            );
            // Independent of `keys`: at most 10 messages and hash_bound hashes per
            // partition with differences.
            assert!(
                messages <= 10 * diffs,
                "{messages} messages for {diffs} diffs"
            );
            let bound: usize = fixes.iter().map(|r| hash_bound(r.keys_repaired)).sum();
            assert!(hashes <= bound && bound <= hash_bound(1) * diffs);
        }
    }
}

#[test]
fn a_wiped_replica_is_refilled() {
    let mut c = cluster(2, |_| {});
    write(&mut c, 0..200, "v");
    c.restart_wiped("n3");
    assert!(
        c.node("n3")
            .local_record(&Location::Data, b"b", b"key0")
            .unwrap()
            .is_none()
    );
    run_until_converged(&mut c, 0, 60_000);
    assert_records_agree(&c, 0..200);
}

#[test]
fn exchanges_converge_under_message_loss() {
    for seed in 1..=4 {
        let mut c = cluster(seed, |c| c.anti_entropy.timeout_ms = 200);
        write(&mut c, 0..150, "v1");
        c.cut.insert(id("n3"));
        write(&mut c, 100..180, "v2");
        c.cut.clear();
        // 20% of all messages lost, 5% duplicated, all reordered, anti-entropy's included.
        c.dup_per_million = 50_000;
        c.reorder = true;
        let took = run_until_converged(&mut c, 200_000, 120_000);
        // Let the last pushes commit, lossless, then compare records.
        c.advance(INTERVAL);
        assert_records_agree(&c, 0..180);
        let abandoned: u64 = c
            .nodes
            .values()
            .map(|n| n.anti_entropy_stats().abandoned)
            .sum();
        assert!(abandoned > 0, "seed {seed}: loss abandoned some exchanges");
        println!("seed {seed}: converged in {took} ms, {abandoned} exchanges abandoned");
    }
}

#[test]
fn a_busy_node_defers_exchanges_and_refuses_to_serve() {
    let mut c = cluster(3, |c| {
        c.anti_entropy.max_open_operations = 4;
        // n2's exchanges with the cut n3 end quickly, so that some reach n1.
        c.anti_entropy.timeout_ms = 100;
        c.anti_entropy.max_retries = 0;
        c.timing.anti_entropy_interval_ms = 100;
    });
    c.cut.insert(id("n3"));
    // Ten reads that need all three replicas stay open at n1 until their timeout (1 s).
    for i in 0..10 {
        c.submit(
            "n1",
            ClientRequest::Get {
                bucket: Bytes::from_static(b"b"),
                key: Bytes::from(key(i)),
                r: Some(3),
            },
        );
    }
    c.settle();
    assert_eq!(c.node("n1").open_operations(), 10);
    for _ in 0..9 {
        c.advance(100);
    }
    let busy = c.node("n1").anti_entropy_stats();
    assert_eq!(busy.started, 0, "no exchange while busy");
    assert!(busy.deferred >= 8, "{busy:?}");
    assert!(busy.refused >= 1, "n2's requests refused: {busy:?}");
    let peer_busy = c
        .ae_reports()
        .iter()
        .filter(|(n, r)| *n == id("n2") && r.outcome == AeOutcome::PeerBusy)
        .count();
    assert!(peer_busy >= 1);
    // Once the reads timed out, n1 exchanges again.
    c.cut.clear();
    c.advance(1_000);
    assert_eq!(c.node("n1").open_operations(), 0);
    c.advance(500);
    assert!(c.node("n1").anti_entropy_stats().started > 0);
}

#[test]
fn deletes_spread_by_anti_entropy_and_are_not_reaped() {
    let mut c = cluster(4, |_| {});
    let w = c.put("n1", "gone", "v", Context::new()).unwrap();
    write(&mut c, 0..50, "v");
    c.cut.insert(id("n3"));
    c.delete("n1", "gone", w.context).unwrap();
    c.cut.clear();
    let live = c
        .node("n3")
        .local_record(&Location::Data, b"b", b"gone")
        .unwrap()
        .unwrap();
    assert!(!live.is_tombstone_only(), "n3 missed the delete");
    run_until_converged(&mut c, 0, 60_000);
    // Much later (past any reap delay), every replica still holds the tombstone: nothing
    // reaps a tombstone yet, so no replica can let an older live copy come back.
    c.advance(3 * 3_600_000);
    c.advance(INTERVAL);
    for n in c.nodes.values() {
        let set = n
            .local_record(&Location::Data, b"b", b"gone")
            .unwrap()
            .unwrap();
        assert!(set.is_tombstone_only(), "{}", n.id());
    }
    assert!(c.get("n3", "gone").unwrap().is_deleted());
    assert_records_agree(&c, 0..50);
}

#[test]
fn a_corrupt_record_is_restored_by_anti_entropy_after_restart() {
    let mut c = cluster(5, |_| {});
    write(&mut c, 0..30, "v");
    // Bit rot under n3's feet: the stored bytes of key7 no longer decode.
    let p = c.node("n3").ring().unwrap().partition_of(b"b", b"key7");
    let engine = c.node("n3").engine();
    let mut batch = WriteBatch::new();
    batch.put(
        engine.keyspace("data").unwrap(),
        encode_storage_key(p, b"b", b"key7").unwrap(),
        Bytes::from_static(b"\x01junk"),
    );
    engine.write(&batch, Durability::Sync).unwrap();
    // The running node's tree does not know; a restart rebuilds it from what is stored.
    c.restart_same_disk("n3");
    assert!(!trees_agree(&c));
    run_until_converged(&mut c, 0, 60_000);
    assert_records_agree(&c, 0..30);
    assert!(
        c.events
            .iter()
            .any(|(n, e)| *n == id("n3") && matches!(e, NodeEvent::CorruptRecord { .. }))
    );
}

#[test]
fn anti_entropy_runs_are_deterministic() {
    let run = || {
        let mut c = cluster(9, |c| c.anti_entropy.timeout_ms = 200);
        write(&mut c, 0..40, "v1");
        c.cut.insert(id("n2"));
        write(&mut c, 20..60, "v2");
        c.cut.clear();
        c.dup_per_million = 50_000;
        c.reorder = true;
        for _ in 0..300 {
            c.advance_lossy(INTERVAL, 100_000);
        }
        c.history
    };
    let (a, b) = (run(), run());
    assert!(a.iter().any(|h| h.contains("AntiEntropy(")));
    assert_eq!(a, b);
}

/// Feeds `message` from n2 to a lone node and returns what it sent back and emitted.
fn feed(node: &mut Node<MemEngine>, message: AeMessage) -> (Vec<AeMessage>, Vec<NodeEvent>) {
    node.handle(
        T0,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::AntiEntropy(message),
        },
    );
    node.handle(T0, Input::Tick);
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(out) = node.poll_output() {
        match out {
            Output::Send {
                message: PeerMessage::AntiEntropy(m),
                ..
            } => sent.push(m),
            Output::Event(e) => events.push(e),
            Output::Commit(commit) => node.run_commit(commit),
            _ => {}
        }
    }
    (sent, events)
}

#[test]
fn hostile_or_stale_exchange_messages_are_harmless() {
    let config = NodeConfig::new(id("n1"), 1, ids(3));
    let mut node = Node::new(config, mem(), T0).unwrap();
    while node.poll_output().is_some() {}
    let p = PartitionId(3);
    let node_at = |level, index| NodeIndex { level, index };
    // Nodes outside the tree, leaves, and one inner node named 5000 times.
    let mut nodes = vec![
        (node_at(9, 0), 1),
        (node_at(1, 99_999), 1),
        (node_at(3, 5), 1),
    ];
    nodes.extend((0..5_000).map(|_| (node_at(0, 0), 1)));
    let (sent, _) = feed(
        &mut node,
        AeMessage::Hashes {
            exchange: 1,
            partition: p,
            nodes,
        },
    );
    match &sent[..] {
        [AeMessage::Children { hashes, .. }] => {
            assert_eq!(hashes.len(), 16, "the root's children, once")
        }
        other => panic!("{other:?}"),
    }
    let (sent, _) = feed(
        &mut node,
        AeMessage::Keys {
            exchange: 2,
            partition: p,
            buckets: vec![u32::MAX, 5, 5],
        },
    );
    assert!(matches!(&sent[..], [AeMessage::KeyList { keys, .. }] if keys.is_empty()));
    let bad = |key: &[u8], record: &'static [u8]| KeyedRecord {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key),
        record: Bytes::from_static(record),
    };
    let (sent, events) = feed(
        &mut node,
        AeMessage::Push {
            exchange: 3,
            partition: p,
            records: vec![
                bad(b"k", b"\x01junk"),
                bad(&[b'x'; 600], b""),
                bad(b"", b""),
            ],
            want: vec![AeKey {
                bucket: Bytes::new(),
                key: Bytes::new(),
            }],
        },
    );
    assert!(matches!(&sent[..], [AeMessage::PushReply { records, .. }] if records.is_empty()));
    let bad_events = events
        .iter()
        .filter(|e| matches!(e, NodeEvent::BadPeerMessage { .. }))
        .count();
    assert_eq!(bad_events, 3, "{events:?}");
    assert!(
        node.local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );
    // Replies to no exchange of this node are ignored.
    let (sent, _) = feed(
        &mut node,
        AeMessage::Children {
            exchange: 77,
            partition: p,
            hashes: vec![(node_at(1, 0), 5)],
        },
    );
    assert!(sent.is_empty());
    assert_eq!(node.anti_entropy_stats().stale_replies, 1);
    assert_eq!(node.anti_entropy_stats().served, 3);
}

#[test]
fn a_bucket_with_fewer_replicas_is_not_spread_by_anti_entropy() {
    use dynamo_core::proto::ClientResponse;
    use dynamo_core::version::VersioningMode;
    let mut c = cluster(6, |_| {});
    let one = BucketProps::new(1, 1, 1, VersioningMode::Dvv).unwrap();
    let resp = c.call(
        "n1",
        ClientRequest::SetBucketProps {
            bucket: Bytes::from_static(b"one"),
            props: one,
        },
    );
    assert_eq!(resp, ClientResponse::BucketProps(Ok(one)));
    while !c.nodes.values().all(|n| n.bucket_props(b"one") == one) {
        c.advance(100);
    }
    for i in 0..40 {
        let resp = c.call(
            "n1",
            ClientRequest::Put {
                bucket: Bytes::from_static(b"one"),
                key: Bytes::from(key(i)),
                context: Context::new(),
                value: Bytes::from_static(b"v"),
                content_type: text(),
                w: None,
                dw: None,
                return_body: false,
            },
        );
        assert!(matches!(resp, ClientResponse::Put(Ok(_))), "{resp:?}");
    }
    // Several sweeps of every partition by every node.
    for _ in 0..3 * 256 {
        c.advance(INTERVAL);
    }
    for i in 0..40 {
        let holders = c
            .nodes
            .values()
            .filter(|n| {
                n.local_record(&Location::Data, b"one", key(i).as_bytes())
                    .unwrap()
                    .is_some()
            })
            .count();
        assert_eq!(holders, 1, "{} on {holders} nodes", key(i));
    }
}
