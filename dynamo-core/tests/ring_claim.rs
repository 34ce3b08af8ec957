#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Ownership: balance, minimal movement, determinism and spacing of the ring's claim.

use std::collections::BTreeMap;

use dynamo_core::NodeId;
use dynamo_core::ring::{Member, Ring, RingConfig, RingError, Zone};
use proptest::prelude::*;

fn node(i: usize) -> NodeId {
    NodeId::new(format!("node-{i}")).unwrap()
}

fn cfg(q: u32) -> RingConfig {
    RingConfig::new(q).unwrap()
}

fn counts(ring: &Ring) -> BTreeMap<NodeId, usize> {
    ring.ownership_counts()
        .into_iter()
        .map(|(n, c)| (n.clone(), c))
        .collect()
}

/// Every member owns floor(Q/S) or ceil(Q/S) partitions.
fn assert_balanced(ring: &Ring) {
    let q = ring.partition_count() as usize;
    let s = ring.members().len();
    let (lo, hi) = (q / s, q.div_ceil(s));
    for (n, c) in ring.ownership_counts() {
        assert!(
            lo <= c && c <= hi,
            "{n} owns {c}, want {lo}..={hi} (Q={q}, S={s})"
        );
    }
    assert_eq!(ring.owners().count(), q);
}

/// The fewest partitions any balanced ring over `new` members can move from `old`: the
/// departed members' partitions, plus each staying member's excess over its target, where the
/// `Q mod S` larger targets go to the members holding most (the best choice).
fn optimal_moves(old: &Ring, new_members: &[NodeId]) -> usize {
    let q = old.partition_count() as usize;
    let s = new_members.len();
    let before = counts(old);
    let orphans: usize = before
        .iter()
        .filter(|(n, _)| !new_members.contains(n))
        .map(|(_, c)| c)
        .sum();
    let mut held: Vec<usize> = new_members
        .iter()
        .map(|n| before.get(n).copied().unwrap_or(0))
        .collect();
    held.sort_unstable_by(|a, b| b.cmp(a));
    let (f, r) = (q / s, q % s);
    let excess: usize = held
        .iter()
        .enumerate()
        .map(|(i, &h)| h.saturating_sub(if i < r { f + 1 } else { f }))
        .sum();
    orphans + excess
}

/// Checks a membership change: balance, optimal movement, and that partitions only flow from
/// departed or shrinking members to growing ones.
fn check_change(old: &Ring, new: &Ring, new_members: &[NodeId]) {
    assert_balanced(new);
    let moves = old.transfers_to(new).unwrap();
    assert_eq!(moves.len(), optimal_moves(old, new_members));
    let (before, after) = (counts(old), counts(new));
    for t in &moves {
        let from_before = before[&t.from];
        let from_after = after.get(&t.from).copied().unwrap_or(0);
        assert!(
            from_after < from_before,
            "{} gave {} but did not shrink",
            t.from,
            t.partition
        );
        let to_before = before.get(&t.to).copied().unwrap_or(0);
        assert!(
            after[&t.to] > to_before,
            "{} got {} but did not grow",
            t.to,
            t.partition
        );
    }
}

#[test]
fn single_join_moves_the_optimum_only_to_the_newcomer() {
    for q in [64u32, 256, 1024] {
        let mut ring = Ring::new(cfg(q), [node(0)]).unwrap();
        for s in 1..=100usize {
            let members: Vec<NodeId> = (0..=s).map(node).collect();
            let next = ring.rebalance(members.clone()).unwrap();
            let moves = ring.transfers_to(&next).unwrap();
            assert_eq!(moves.len(), q as usize / (s + 1), "Q={q} S={s}");
            assert!(moves.iter().all(|t| t.to == node(s)));
            check_change(&ring, &next, &members);
            ring = next;
        }
    }
}

#[test]
fn single_leave_moves_only_the_leavers_partitions() {
    for q in [64u32, 256, 1024] {
        for s in [2usize, 3, 4, 7, 10, 33, 100] {
            let members: Vec<NodeId> = (0..s).map(node).collect();
            let ring = Ring::new(cfg(q), members.clone()).unwrap();
            for leaver in [0, s / 2, s - 1] {
                let rest: Vec<NodeId> = members
                    .iter()
                    .filter(|n| **n != node(leaver))
                    .cloned()
                    .collect();
                let next = ring.rebalance(rest.clone()).unwrap();
                let moves = ring.transfers_to(&next).unwrap();
                assert_eq!(moves.len(), ring.partitions_owned_by(&node(leaver)).len());
                assert!(moves.iter().all(|t| t.from == node(leaver)));
                check_change(&ring, &next, &rest);
            }
        }
    }
}

#[test]
fn unchanged_membership_moves_nothing() {
    let members: Vec<NodeId> = (0..7).map(node).collect();
    let ring = Ring::new(cfg(256), members.clone()).unwrap();
    let same = ring.rebalance(members).unwrap();
    assert_eq!(same, ring);
    assert!(ring.transfers_to(&same).unwrap().is_empty());
}

#[test]
fn first_rings_have_distinct_windows_when_nodes_outnumber_the_target() {
    // target_n = 4 (the default): with S > 4 every 4 consecutive partitions have 4 nodes.
    for q in [256u32, 1024] {
        for s in 5..=100usize {
            let ring = Ring::new(cfg(q), (0..s).map(node)).unwrap();
            assert_balanced(&ring);
            assert_eq!(ring.crowded_windows(4), 0, "Q={q} S={s}");
        }
    }
}

#[test]
fn grown_rings_keep_distinct_windows() {
    // Measured property of the claim (see examples/ring_figures.rs): a cluster grown one join
    // at a time has every 3-window distinct from 4 nodes on.
    for q in [256u32, 1024] {
        let mut ring = Ring::new(cfg(q), [node(0)]).unwrap();
        for s in 2..=100usize {
            ring = ring.rebalance((0..s).map(node)).unwrap();
            if s >= 4 {
                assert_eq!(ring.crowded_windows(3), 0, "Q={q} S={s}");
            }
        }
    }
}

#[test]
fn more_nodes_than_partitions() {
    let ring = Ring::new(cfg(4), (0..10).map(node)).unwrap();
    assert_balanced(&ring);
    assert_eq!(
        ring.ownership_counts()
            .iter()
            .filter(|(_, c)| *c == 1)
            .count(),
        4
    );
    assert_eq!(
        ring.preference_list(dynamo_core::ring::PartitionId(0), 3)
            .len(),
        3
    );
    let one = Ring::new(cfg(1), (0..3).map(node)).unwrap();
    assert_eq!(
        one.preference_list(dynamo_core::ring::PartitionId(0), 3)
            .len(),
        1
    );
}

#[test]
fn member_lists_are_validated() {
    assert_eq!(
        Ring::new(cfg(64), Vec::<NodeId>::new()),
        Err(RingError::NoMembers)
    );
    assert_eq!(
        Ring::new(cfg(64), [node(1), node(2), node(1)]),
        Err(RingError::DuplicateMember(node(1)))
    );
    let ring = Ring::new(cfg(64), [node(1)]).unwrap();
    assert_eq!(
        ring.rebalance(Vec::<NodeId>::new()),
        Err(RingError::NoMembers)
    );
    let other = Ring::new(cfg(128), [node(1)]).unwrap();
    assert_eq!(
        ring.transfers_to(&other),
        Err(RingError::PartitionCountMismatch(64, 128))
    );
}

#[test]
fn rings_travel_as_json_and_are_checked_on_arrival() {
    let members: Vec<Member> = (0..6)
        .map(|i| Member::in_zone(node(i), Zone::new(format!("z{}", i % 3)).unwrap()))
        .collect();
    let ring = Ring::new(cfg(64), members).unwrap();
    let json = serde_json::to_string(&ring).unwrap();
    let back: Ring = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ring);
    assert_eq!(back.digest(), ring.digest());

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    type Spoil = Box<dyn Fn(&mut serde_json::Value)>;
    let bad_cases: Vec<Spoil> = vec![
        Box::new(|v| {
            v["owners"]
                .as_array_mut()
                .unwrap()
                .pop()
                .map(|_| ())
                .unwrap()
        }),
        Box::new(|v| v["owners"][3] = 6.into()),
        Box::new(|v| v["config"]["partitions"] = 65.into()),
        Box::new(|v| v["members"].as_array_mut().unwrap().swap(0, 1)),
        Box::new(|v| {
            let first = v["members"][0].clone();
            v["members"][1] = first;
        }),
        Box::new(|v| v["members"] = serde_json::json!([])),
        Box::new(|v| v["members"][0]["zone"] = "not a zone!".into()),
    ];
    for (i, spoil) in bad_cases.iter().enumerate() {
        let mut bad = v.clone();
        spoil(&mut bad);
        assert!(
            serde_json::from_value::<Ring>(bad).is_err(),
            "case {i} accepted"
        );
    }
    v["owners"][0] = 1.into();
    assert!(
        serde_json::from_value::<Ring>(v).is_ok(),
        "any valid ownership is accepted"
    );
}

#[test]
fn explicit_ownership() {
    let owners: Vec<NodeId> = (0..8).map(|p| node(p % 3)).collect();
    let ring = Ring::from_owners(cfg(8), (0..3).map(node), &owners).unwrap();
    assert_eq!(
        ring.owner(dynamo_core::ring::PartitionId(4)),
        Some(&node(1))
    );
    assert_eq!(ring.owner(dynamo_core::ring::PartitionId(8)), None);
    assert!(matches!(
        Ring::from_owners(cfg(8), (0..2).map(node), &owners),
        Err(RingError::InvalidOwnership(_))
    ));
    assert!(matches!(
        Ring::from_owners(cfg(16), (0..3).map(node), &owners),
        Err(RingError::InvalidOwnership(_))
    ));
}

/// A membership change: join `k` new nodes, or remove the members at the given picks.
#[derive(Debug, Clone)]
enum Change {
    Join(usize),
    Leave(Vec<usize>),
    JoinAndLeave(usize, usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => Just(Change::Join(1)),
        4 => any::<usize>().prop_map(|i| Change::Leave(vec![i])),
        1 => (2usize..5).prop_map(Change::Join),
        1 => proptest::collection::vec(any::<usize>(), 2..4).prop_map(Change::Leave),
        1 => (1usize..3, any::<usize>()).prop_map(|(j, l)| Change::JoinAndLeave(j, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn balance_and_minimal_movement_over_membership_histories(
        q_bits in prop::sample::select(vec![4u32, 6, 8, 10]),
        start in 1usize..=100,
        changes in proptest::collection::vec(change(), 1..12),
    ) {
        let q = 1u32 << q_bits;
        let mut next_id = start;
        let mut members: Vec<NodeId> = (0..start).map(node).collect();
        let mut ring = Ring::new(cfg(q), members.clone()).unwrap();
        assert_balanced(&ring);
        for c in changes {
            let mut new_members = members.clone();
            let mut joiners = Vec::new();
            let (join, leave) = match c {
                Change::Join(k) => (k, vec![]),
                Change::Leave(picks) => (0, picks),
                Change::JoinAndLeave(k, pick) => (k, vec![pick]),
            };
            for pick in leave {
                if new_members.len() > 1 {
                    new_members.remove(pick % new_members.len());
                }
            }
            for _ in 0..join {
                if new_members.len() < 100 {
                    joiners.push(node(next_id));
                    new_members.push(node(next_id));
                    next_id += 1;
                }
            }
            let next = ring.rebalance(new_members.clone()).unwrap();
            check_change(&ring, &next, &new_members);
            let moves = ring.transfers_to(&next).unwrap();
            let leavers: Vec<&NodeId> = members.iter().filter(|n| !new_members.contains(n)).collect();
            if leavers.is_empty() && !joiners.is_empty() {
                // Pure joins: nothing moves between two nodes that both stay.
                prop_assert!(moves.iter().all(|t| joiners.contains(&t.to)));
            }
            if joiners.is_empty() && !leavers.is_empty() {
                prop_assert!(moves.iter().all(|t| leavers.contains(&&t.from)));
            }
            // Determinism: the same change from the same ring, members in another order.
            let mut shuffled = new_members.clone();
            shuffled.reverse();
            shuffled.rotate_left(new_members.len() / 3);
            prop_assert_eq!(&ring.rebalance(shuffled).unwrap(), &next);
            ring = next;
            members = new_members;
        }
    }

    #[test]
    fn first_ring_ignores_member_order(s in 1usize..=60, rot in any::<usize>(), q_bits in 2u32..=10) {
        let members: Vec<NodeId> = (0..s).map(node).collect();
        let mut other = members.clone();
        other.reverse();
        other.rotate_left(rot % s);
        let a = Ring::new(cfg(1 << q_bits), members).unwrap();
        let b = Ring::new(cfg(1 << q_bits), other).unwrap();
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(a, b);
    }
}
