#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Preference lists, zones, and the sloppy-quorum extension with hint targets.

use std::collections::BTreeSet;

use dynamo_core::NodeId;
use dynamo_core::ring::{Member, PartitionId, Replica, Ring, RingConfig, Zone};
use proptest::prelude::*;

fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

fn nodes(names: &[&str]) -> Vec<NodeId> {
    names.iter().map(|n| node(n)).collect()
}

fn zone(z: &str) -> Zone {
    Zone::new(z).unwrap()
}

fn cfg(q: u32) -> RingConfig {
    RingConfig::new(q).unwrap()
}

/// Steps from `p` to the first partition owned by `n`, walking clockwise.
fn distance(ring: &Ring, p: PartitionId, n: &NodeId) -> usize {
    let q = ring.partition_count();
    (0..q)
        .position(|d| ring.owner(PartitionId((p.0 + d) % q)) == Some(n))
        .unwrap()
}

/// A ring whose partition i is owned by `pattern[i % pattern.len()]`.
fn patterned(q: u32, members: Vec<Member>, pattern: &[&str]) -> Ring {
    let owners: Vec<NodeId> = (0..q as usize)
        .map(|p| node(pattern[p % pattern.len()]))
        .collect();
    Ring::from_owners(cfg(q), members, &owners).unwrap()
}

#[test]
fn walks_clockwise_skipping_repeats() {
    let ring = patterned(
        8,
        nodes(&["a", "b", "c"])
            .into_iter()
            .map(Member::from)
            .collect(),
        &["a", "a", "b", "a", "c"],
    );
    // Owners: a a b a c a a b (partition 7 is b, then wrap to 0).
    assert_eq!(
        ring.preference_list(PartitionId(0), 3),
        nodes(&["a", "b", "c"]).iter().collect::<Vec<_>>()
    );
    assert_eq!(
        ring.preference_list(PartitionId(4), 2),
        [&node("c"), &node("a")]
    );
    assert_eq!(
        ring.preference_list(PartitionId(5), 3),
        nodes(&["a", "b", "c"]).iter().collect::<Vec<_>>()
    );
    assert_eq!(
        ring.preference_list(PartitionId(5), 10).len(),
        3,
        "only 3 nodes exist"
    );
    assert!(
        ring.preference_list(PartitionId(8), 3).is_empty(),
        "no such partition"
    );
    assert!(ring.preference_list(PartitionId(0), 0).is_empty());
}

#[test]
fn zones_are_distinct_while_enough_exist() {
    // a, b in zone x; c in y; d in z. Pattern a b c d.
    let members = vec![
        Member::in_zone(node("a"), zone("x")),
        Member::in_zone(node("b"), zone("x")),
        Member::in_zone(node("c"), zone("y")),
        Member::in_zone(node("d"), zone("z")),
    ];
    let ring = patterned(16, members, &["a", "b", "c", "d"]);
    assert_eq!(
        ring.preference_list(PartitionId(0), 3),
        [&node("a"), &node("c"), &node("d")]
    );
    // Four replicas need a second node of some zone: the nearest skipped one, in walk order.
    assert_eq!(
        ring.preference_list(PartitionId(0), 4),
        [&node("a"), &node("b"), &node("c"), &node("d")]
    );

    // Only two zones (d joins y): after covering x and y, the nearest node fills in.
    let two_zones = vec![
        Member::in_zone(node("a"), zone("x")),
        Member::in_zone(node("b"), zone("x")),
        Member::in_zone(node("c"), zone("y")),
        Member::in_zone(node("d"), zone("y")),
    ];
    let ring = patterned(16, two_zones, &["a", "b", "c", "d"]);
    assert_eq!(
        ring.preference_list(PartitionId(0), 3),
        [&node("a"), &node("b"), &node("c")]
    );
    assert_eq!(
        ring.preference_list(PartitionId(1), 3),
        [&node("b"), &node("c"), &node("d")]
    );
    assert_eq!(ring.zone_count(), 2);
}

#[test]
fn substitutes_stand_in_for_unreachable_primaries() {
    let all = nodes(&["a", "b", "c", "d", "e"]);
    let ring = patterned(
        16,
        all.iter().map(Member::from).collect(),
        &["a", "b", "c", "d", "e"],
    );
    let p = PartitionId(0);

    let up_all = ring.sloppy_preference_list(p, 3, |_| true);
    assert_eq!(
        up_all.iter().map(|r| r.node).collect::<Vec<_>>(),
        ring.preference_list(p, 3)
    );
    assert!(up_all.iter().all(|r| !r.is_fallback()));

    // b down: d takes b's slot and holds a hint for b.
    let one_down = ring.sloppy_preference_list(p, 3, |n| n.as_str() != "b");
    let got: Vec<(&str, Option<&str>)> = one_down
        .iter()
        .map(|r| (r.node.as_str(), r.stands_in_for.map(NodeId::as_str)))
        .collect();
    assert_eq!(got, [("a", None), ("d", Some("b")), ("c", None)]);

    // a and c down, d down too: e stands in for a, and nobody is left for c.
    let many_down = ring.sloppy_preference_list(p, 3, |n| n.as_str() == "b" || n.as_str() == "e");
    let got: Vec<(&str, Option<&str>)> = many_down
        .iter()
        .map(|r| (r.node.as_str(), r.stands_in_for.map(NodeId::as_str)))
        .collect();
    assert_eq!(got, [("e", Some("a")), ("b", None)]);

    assert!(ring.sloppy_preference_list(p, 3, |_| false).is_empty());
    assert!(
        ring.sloppy_preference_list(PartitionId(16), 3, |_| true)
            .is_empty()
    );
}

#[test]
fn substitutes_prefer_a_zone_without_replica() {
    // a(x) b(y) c(z) d(x) e(w). Primaries of 0: a b c. b down: d is nearer but its zone x
    // already holds a's replica; e's zone w holds none, so e stands in for b.
    let members = vec![
        Member::in_zone(node("a"), zone("x")),
        Member::in_zone(node("b"), zone("y")),
        Member::in_zone(node("c"), zone("z")),
        Member::in_zone(node("d"), zone("x")),
        Member::in_zone(node("e"), zone("w")),
    ];
    let ring = patterned(16, members, &["a", "b", "c", "d", "e"]);
    let got: Vec<(&str, Option<&str>)> = ring
        .sloppy_preference_list(PartitionId(0), 3, |n| n.as_str() != "b")
        .iter()
        .map(|r| (r.node.as_str(), r.stands_in_for.map(NodeId::as_str)))
        .collect();
    assert_eq!(got, [("a", None), ("e", Some("b")), ("c", None)]);
    // e down too: no unused zone is reachable, so the nearest reachable node, d, fills in.
    let got: Vec<(&str, Option<&str>)> = ring
        .sloppy_preference_list(PartitionId(0), 3, |n| !matches!(n.as_str(), "b" | "e"))
        .iter()
        .map(|r| (r.node.as_str(), r.stands_in_for.map(NodeId::as_str)))
        .collect();
    assert_eq!(got, [("a", None), ("d", Some("b")), ("c", None)]);
}

#[test]
fn replication_duty_is_balanced() {
    let all: Vec<NodeId> = (0..10).map(|i| node(&format!("n{i}"))).collect();
    let ring = Ring::new(cfg(256), all.clone()).unwrap();
    assert_eq!(ring.crowded_windows(3), 0);
    for n in &all {
        let owned = ring.partitions_owned_by(n).len();
        assert_eq!(ring.partitions_replicated_by(n, 3).len(), 3 * owned);
    }
}

#[test]
fn a_join_changes_replicas_only_for_the_newcomer() {
    let mut all: Vec<NodeId> = (0..10).map(|i| node(&format!("n{i}"))).collect();
    let ring = Ring::new(cfg(256), all.clone()).unwrap();
    let newcomer = node("n10");
    all.push(newcomer.clone());
    let next = ring.rebalance(all).unwrap();
    let changes = ring.replica_changes_to(&next, 3).unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c.added == [newcomer.clone()] && c.removed.len() == 1)
    );
    // The newcomer now holds 3 replicas per partition it owns.
    let owned = next.partitions_owned_by(&newcomer).len();
    assert_eq!(changes.len(), 3 * owned);
}

fn members_with_zones(s: usize, zones: usize) -> Vec<Member> {
    (0..s)
        .map(|i| {
            let n = node(&format!("m{i:02}"));
            if zones == 0 {
                Member::new(n)
            } else {
                Member::in_zone(n, zone(&format!("z{}", (i * 7 + 3) % zones)))
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn preference_lists_are_distinct_and_zone_diverse(
        s in 1usize..=40,
        zones in 0usize..=6,
        joins in 0usize..4,
        n in 1usize..=5,
        q_bits in 4u32..=9,
    ) {
        let members = members_with_zones(s + joins, zones);
        let mut ring = Ring::new(cfg(1 << q_bits), members[..s].to_vec()).unwrap();
        for j in 1..=joins {
            ring = ring.rebalance(members[..s + j].to_vec()).unwrap();
        }
        let owning = ring.ownership_counts().iter().filter(|(_, c)| *c > 0).count();
        let zone_of = |x: &NodeId| ring.member(x).unwrap().zone.clone().map_or(x.to_string(), |z| z.to_string());
        let owning_zones: BTreeSet<String> = ring.owners().map(|(_, x)| zone_of(x)).collect();
        for p in ring.config().partition_ids() {
            let list = ring.preference_list(p, n);
            prop_assert_eq!(list.len(), n.min(owning));
            prop_assert_eq!(Some(list[0]), ring.owner(p));
            let distinct: BTreeSet<&NodeId> = list.iter().copied().collect();
            prop_assert_eq!(distinct.len(), list.len());
            let zs: BTreeSet<String> = list.iter().map(|x| zone_of(x)).collect();
            prop_assert_eq!(zs.len(), n.min(owning_zones.len()));
            // In walk order.
            let d: Vec<usize> = list.iter().map(|x| distance(&ring, p, x)).collect();
            prop_assert!(d.windows(2).all(|w| w[0] < w[1]));
            if zones == 0 && ring.crowded_windows(n) == 0 {
                // Without zones and with distinct windows, the list is the next n owners.
                for (i, x) in list.iter().enumerate() {
                    prop_assert_eq!(ring.owner(PartitionId((p.0 + i as u32) % ring.partition_count())), Some(*x));
                }
            }
        }
    }

    #[test]
    fn sloppy_lists_pair_each_substitute_with_its_primary(
        s in 1usize..=30,
        zones in 0usize..=4,
        down_mask in any::<u64>(),
        n in 1usize..=4,
        q_bits in 3u32..=8,
    ) {
        let members = members_with_zones(s, zones);
        let ring = Ring::new(cfg(1 << q_bits), members.clone()).unwrap();
        let is_up = |x: &NodeId| {
            let i = members.iter().position(|m| m.node == *x).unwrap();
            down_mask >> (i % 64) & 1 == 0
        };
        for p in ring.config().partition_ids() {
            let primaries = ring.preference_list(p, n);
            let sloppy = ring.sloppy_preference_list(p, n, is_up);
            let nodes: BTreeSet<&NodeId> = sloppy.iter().map(|r| r.node).collect();
            prop_assert_eq!(nodes.len(), sloppy.len(), "distinct nodes");
            prop_assert!(sloppy.iter().all(|r| is_up(r.node)), "all reachable");
            let down: Vec<&NodeId> = primaries.iter().copied().filter(|x| !is_up(x)).collect();
            let up_count = primaries.len() - down.len();
            // Reachable primaries serve as themselves, in their own slots.
            let serving: Vec<&NodeId> = sloppy.iter().filter(|r| !r.is_fallback()).map(|r| r.node).collect();
            let up_primaries: Vec<&NodeId> = primaries.iter().copied().filter(|x| is_up(x)).collect();
            prop_assert_eq!(serving, up_primaries);
            // Substitutes are not primaries, and stand in for the first unreachable primaries.
            let subs: Vec<&Replica> = sloppy.iter().filter(|r| r.is_fallback()).collect();
            prop_assert!(subs.iter().all(|r| !primaries.contains(&r.node)));
            let hinted: Vec<&NodeId> = subs.iter().map(|r| r.stands_in_for.unwrap()).collect();
            prop_assert_eq!(&hinted[..], &down[..subs.len()]);
            // As many substitutes as reachable non-primaries allow.
            let spare = ring.members().iter().filter(|m| {
                is_up(&m.node) && !primaries.contains(&&m.node) && !ring.partitions_owned_by(&m.node).is_empty()
            }).count();
            prop_assert_eq!(subs.len(), down.len().min(spare));
            prop_assert_eq!(sloppy.len(), up_count + subs.len());
            // Slot order: entry i is primary i or its stand-in.
            let slots: Vec<&NodeId> = sloppy.iter().map(|r| r.stands_in_for.unwrap_or(r.node)).collect();
            let filled: Vec<&NodeId> = primaries.iter().copied().filter(|x| slots.contains(x)).collect();
            prop_assert_eq!(slots, filled);
            if zones == 0 {
                // Without zones the substitutes are the nearest reachable non-primaries.
                let mut nearest: Vec<&NodeId> = ring.members().iter().map(|m| &m.node)
                    .filter(|x| is_up(x) && !primaries.contains(x) && !ring.partitions_owned_by(x).is_empty())
                    .collect();
                nearest.sort_by_key(|x| distance(&ring, p, x));
                let sub_nodes: Vec<&NodeId> = subs.iter().map(|r| r.node).collect();
                prop_assert_eq!(&sub_nodes[..], &nearest[..subs.len()]);
            }
        }
    }
}
