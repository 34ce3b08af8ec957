//! Membership operations one by one: founding, join, the claimant's rule, leave and exit,
//! bucket properties, errors, two claimants publishing rings of the same version, and the
//! gossip schedule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod membership_support;

use std::time::Duration;

use bytes::Bytes;
use dynamo_core::membership::{
    BucketProps, ClusterState, DEFAULT_GOSSIP_INTERVAL, Gossiper, MemberStatus, MembershipError,
    UNREACHABLE_EVERY, parse_versioning_mode, versioning_mode_name,
};
use dynamo_core::ring::{RingConfig, Zone};
use dynamo_core::rng::Rng;
use dynamo_core::version::VersioningMode;
use dynamo_core::{NodeId, Timestamp};
use membership_support::id;

fn cfg() -> RingConfig {
    RingConfig::new(64).unwrap()
}

fn founders(names: &[&str]) -> ClusterState {
    ClusterState::new_cluster(
        cfg(),
        names.iter().map(|n| (id(n), None, format!("{n}:7000"))),
    )
    .unwrap()
}

fn status(s: &ClusterState, n: &str) -> MemberStatus {
    s.member(&id(n)).unwrap().status
}

#[test]
fn founders_agree_whatever_the_order() {
    let x = founders(&["c", "a", "b"]);
    let y = founders(&["a", "b", "c"]);
    assert_eq!(x, y);
    assert_eq!(x.ring_version(), 1);
    assert_eq!(x.claimant(), Some(&id("a")));
    assert!(x.is_settled());
    assert_eq!(x.address(&id("b")), Some("b:7000"));
    assert_eq!(x.ring().unwrap().members().len(), 3);
    let dup = ClusterState::new_cluster(
        cfg(),
        vec![
            (id("a"), None, String::new()),
            (id("a"), None, String::new()),
        ],
    );
    assert_eq!(dup, Err(MembershipError::DuplicateMember(id("a"))));
    assert!(ClusterState::new_cluster(cfg(), Vec::new()).is_err());
}

#[test]
fn join_is_admitted_by_the_claimant_only() {
    let mut cluster = founders(&["b", "c"]);
    let joiner =
        ClusterState::joining(id("a"), Some(Zone::new("z1").unwrap()), "a:7000".into()).unwrap();
    assert!(joiner.ring().is_none());
    assert_eq!(joiner.claimant(), None);

    // The seed merges the join request; a non-claimant does nothing with it.
    let out = cluster.merge(&joiner);
    assert!(out.changed && out.sender_behind && !out.ring_changed);
    assert!(!cluster.is_settled());
    assert_eq!(cluster.claim(&id("c")).unwrap(), Default::default());
    assert_eq!(status(&cluster, "a"), MemberStatus::Joining);

    // The claimant (b, the smallest Valid; a is only Joining) admits it.
    assert_eq!(cluster.claimant(), Some(&id("b")));
    let claimed = cluster.claim(&id("b")).unwrap();
    assert!(claimed.ring_changed);
    assert_eq!(claimed.added, vec![id("a")]);
    assert_eq!(claimed.admitted, vec![id("a")]);
    assert!(claimed.removed.is_empty());
    assert_eq!(cluster.ring_version(), 2);
    assert_eq!(status(&cluster, "a"), MemberStatus::Valid);
    assert_eq!(cluster.member(&id("a")).unwrap().version, 2);
    let ring = cluster.ring().unwrap();
    assert_eq!(
        ring.member(&id("a")).unwrap().zone,
        Some(Zone::new("z1").unwrap())
    );
    assert!(cluster.is_settled());
    // a is now the claimant, with nothing to do.
    assert_eq!(cluster.claimant(), Some(&id("a")));
    assert_eq!(cluster.claim(&id("a")).unwrap(), Default::default());

    // The joiner adopts the cluster's state whole.
    let mut j = joiner.clone();
    j.merge(&cluster);
    assert_eq!(j, cluster);
}

#[test]
fn start_join_forgets_the_old_cluster() {
    let mut alone = founders(&["x"]);
    alone
        .set_bucket_props(Bytes::from_static(b"b"), BucketProps::default())
        .unwrap();
    alone.start_join(&id("x")).unwrap();
    assert!(alone.ring().is_none());
    assert_eq!(alone.ring_version(), 0);
    assert!(alone.buckets().is_empty());
    assert_eq!(alone.members().len(), 1);
    let me = alone.member(&id("x")).unwrap();
    assert_eq!((me.status, me.version), (MemberStatus::Joining, 2));
    assert_eq!(me.address, "x:7000");

    let mut cluster = founders(&["a", "b"]);
    cluster.merge(&alone);
    cluster.claim(&id("a")).unwrap();
    assert!(cluster.ring().unwrap().contains_node(&id("x")));
    assert_eq!(
        ClusterState::joining(id("y"), None, String::new())
            .unwrap()
            .start_join(&id("x")),
        Err(MembershipError::NotAMember(id("x")))
    );
}

#[test]
fn leave_then_exit() {
    let mut s = founders(&["a", "b", "c"]);
    // Not Leaving yet: cannot exit.
    assert!(matches!(
        s.finish_leave(&id("c")),
        Err(MembershipError::WrongStatus { .. })
    ));
    s.leave(&id("c")).unwrap();
    s.leave(&id("c")).unwrap(); // idempotent
    assert_eq!(s.member(&id("c")).unwrap().version, 2);
    assert_eq!(status(&s, "c"), MemberStatus::Leaving);
    // Still in the ring until the claimant acts.
    assert_eq!(
        s.finish_leave(&id("c")),
        Err(MembershipError::StillInRing(id("c")))
    );
    let claimed = s.claim(&id("a")).unwrap();
    assert_eq!(claimed.removed, vec![id("c")]);
    assert!(claimed.added.is_empty() && claimed.admitted.is_empty());
    assert!(!s.ring().unwrap().contains_node(&id("c")));
    // The ring moved c's partitions, nothing else.
    let before = founders(&["a", "b", "c"]);
    let moves = before
        .ring()
        .unwrap()
        .transfers_to(s.ring().unwrap())
        .unwrap();
    assert!(moves.iter().all(|t| t.from == id("c")));
    assert_eq!(
        moves.len(),
        before.ring().unwrap().partitions_owned_by(&id("c")).len()
    );

    s.finish_leave(&id("c")).unwrap();
    s.finish_leave(&id("c")).unwrap(); // idempotent
    assert_eq!(status(&s, "c"), MemberStatus::Exiting);
    assert!(s.is_settled());
    assert_eq!(
        s.gossip_peers(&id("a")).cloned().collect::<Vec<_>>(),
        vec![id("b")]
    );
    assert!(matches!(
        s.leave(&id("c")),
        Err(MembershipError::WrongStatus { .. })
    ));
    assert_eq!(
        s.leave(&id("zz")),
        Err(MembershipError::NotAMember(id("zz")))
    );
    // The tombstone wins over the stale Valid entry of a node that missed all this.
    let mut stale = founders(&["a", "b", "c"]);
    stale.merge(&s);
    assert_eq!(stale, s);
}

#[test]
fn the_last_valid_node_cannot_be_left_without_a_claimant() {
    let mut s = founders(&["a"]);
    s.leave(&id("a")).unwrap();
    assert_eq!(s.claimant(), None);
    // Nobody may change the ring: a stays in it and cannot exit.
    assert_eq!(s.claim(&id("a")).unwrap(), Default::default());
    assert_eq!(
        s.finish_leave(&id("a")),
        Err(MembershipError::StillInRing(id("a")))
    );
}

#[test]
fn update_self_bumps_only_on_change() {
    let mut s = founders(&["a", "b"]);
    assert!(!s.update_self(&id("b"), None, "b:7000".into()).unwrap());
    assert!(
        s.update_self(&id("b"), Some(Zone::new("z2").unwrap()), "b:7001".into())
            .unwrap()
    );
    assert_eq!(s.member(&id("b")).unwrap().version, 2);
    assert_eq!(s.address(&id("b")), Some("b:7001"));
    // A zone change is a ring change for the claimant.
    assert!(!s.is_settled());
    assert!(s.claim(&id("a")).unwrap().ring_changed);
    assert!(s.is_settled());
    assert!(matches!(
        s.update_self(&id("a"), None, "x".repeat(5000)),
        Err(MembershipError::InvalidState(_))
    ));
}

#[test]
fn bucket_props_are_validated_and_versioned() {
    assert_eq!(
        BucketProps::default(),
        BucketProps::new(3, 2, 2, VersioningMode::Dvv).unwrap()
    );
    for (n, r, w) in [
        (0, 0, 0),
        (3, 4, 2),
        (3, 2, 4),
        (3, 0, 2),
        (3, 2, 0),
        (65, 1, 1),
    ] {
        assert!(
            matches!(
                BucketProps::new(n, r, w, VersioningMode::Dvv),
                Err(MembershipError::InvalidBucketProps(_))
            ),
            "{n} {r} {w}"
        );
    }
    let mut s = founders(&["a"]);
    let b = Bytes::from_static(b"users");
    assert_eq!(s.bucket_props(&b), None);
    let p = BucketProps::new(5, 3, 3, VersioningMode::Lww).unwrap();
    assert_eq!(s.set_bucket_props(b.clone(), p).unwrap(), 1);
    assert_eq!(
        s.set_bucket_props(b.clone(), BucketProps::default())
            .unwrap(),
        2
    );
    assert_eq!(s.bucket_props(&b), Some(&BucketProps::default()));
    let bad = BucketProps {
        n: 1,
        r: 2,
        w: 1,
        mode: VersioningMode::Dvv,
        durability: Default::default(),
    };
    assert!(s.set_bucket_props(b, bad).is_err());

    for mode in [
        VersioningMode::VClock,
        VersioningMode::Dvv,
        VersioningMode::Lww,
    ] {
        assert_eq!(
            parse_versioning_mode(versioning_mode_name(mode)).unwrap(),
            mode
        );
    }
    assert_eq!(parse_versioning_mode("LWW").unwrap(), VersioningMode::Lww);
    assert!(parse_versioning_mode("crdt").is_err());
    // Serde refuses invalid props.
    let json = r#"{"n":2,"r":3,"w":1,"mode":"dvv"}"#;
    assert!(serde_json::from_str::<BucketProps>(json).is_err());
    let json = r#"{"n":2,"r":1,"w":1,"mode":"nope"}"#;
    assert!(serde_json::from_str::<BucketProps>(json).is_err());
}

/// States made apart, each with its own claimant: a believes the cluster is {a, b}, c
/// believes it is {c, d} plus a and b whose admission it never saw.
#[test]
fn two_claimants_with_equal_ring_versions_converge() {
    let base = founders(&["e", "f"]);
    let mut left = base.clone();
    let mut right = base.clone();
    left.merge(&ClusterState::joining(id("a"), None, "a".into()).unwrap());
    left.merge(&ClusterState::joining(id("b"), None, "b".into()).unwrap());
    right.merge(&ClusterState::joining(id("c"), None, "c".into()).unwrap());
    right.merge(&ClusterState::joining(id("d"), None, "d".into()).unwrap());
    assert!(left.claim(&id("e")).unwrap().ring_changed);
    assert!(right.claim(&id("e")).unwrap().ring_changed);
    assert_eq!(left.ring_version(), right.ring_version());
    assert_ne!(left.ring(), right.ring());
    // Now a and c are both claimants of their side, and would act independently.
    assert_eq!(left.claimant(), Some(&id("a")));
    assert_eq!(right.claimant(), Some(&id("c")));

    let mut l2 = left.clone();
    l2.merge(&right);
    let mut r2 = right.clone();
    r2.merge(&left);
    assert_eq!(l2, r2, "one winner on both sides");
    let winner = l2.ring().unwrap().clone();
    assert!(winner == *left.ring().unwrap() || winner == *right.ring().unwrap());
    // One claimant now, which adds the members the winning ring misses.
    assert_eq!(l2.claimant(), Some(&id("a")));
    assert!(!l2.is_settled());
    let out = l2.claim(&id("a")).unwrap();
    assert!(out.ring_changed && !out.added.is_empty());
    assert!(l2.is_settled());
    let owners: Vec<NodeId> = l2
        .ring()
        .unwrap()
        .members()
        .iter()
        .map(|m| m.node.clone())
        .collect();
    assert_eq!(owners, ["a", "b", "c", "d", "e", "f"].map(id));
    // Only the missing members' shares moved: the rebalance started from the winner.
    let moves = winner.transfers_to(l2.ring().unwrap()).unwrap();
    assert!(moves.iter().all(|t| !winner.contains_node(&t.to)));
}

#[test]
fn gossiper_schedules_rounds_and_picks_reachable_peers() {
    let me = id("a");
    let peers = ["a", "b", "c", "d"].map(id);
    let mut g = Gossiper::new(DEFAULT_GOSSIP_INTERVAL, Timestamp(500));
    assert_eq!(g.interval(), Duration::from_secs(1));
    assert_eq!(g.next_deadline(), Timestamp(500));
    let mut rng = Rng::seeded(9);
    assert_eq!(
        g.poll(Timestamp(499), &me, &peers, |_| true, &mut rng),
        None
    );
    let mut seen = std::collections::BTreeMap::new();
    let mut now = 500;
    for _ in 0..300 {
        let p = g
            .poll(Timestamp(now), &me, &peers, |p| *p != id("d"), &mut rng)
            .unwrap();
        *seen.entry(p).or_insert(0) += 1;
        assert_eq!(g.next_deadline(), Timestamp(now + 1000));
        // Not due again before the interval.
        assert_eq!(
            g.poll(Timestamp(now + 999), &me, &peers, |_| true, &mut rng),
            None
        );
        now += 1000;
    }
    // Never itself; the unreachable peer exactly every UNREACHABLE_EVERY-th round (so that a
    // node cut off one way still hears of changes); the reachable ones uniformly otherwise.
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        vec![id("b"), id("c"), id("d")]
    );
    assert_eq!(seen[&id("d")], 300 / UNREACHABLE_EVERY as i32, "{seen:?}");
    assert!(
        [id("b"), id("c")]
            .iter()
            .all(|p| (85..140).contains(&seen[p])),
        "{seen:?}"
    );
    // No reachable peer, in a round that is not for unreachable ones: skipped but rescheduled.
    assert_eq!(
        g.poll(Timestamp(now), &me, &peers, |_| false, &mut rng),
        None
    );
    assert_eq!(g.next_deadline(), Timestamp(now + 1000));
    g.hurry(Timestamp(now + 10));
    assert_eq!(g.next_deadline(), Timestamp(now + 10));
    // Same seed, same choices.
    let picks = |seed| {
        let mut g = Gossiper::new(Duration::from_millis(10), Timestamp(0));
        let mut r = Rng::seeded(seed);
        (0..20)
            .map(|i| g.poll(Timestamp(i * 10), &me, &peers, |_| true, &mut r))
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(3), picks(3));
}

#[test]
fn a_node_that_left_can_come_back_with_a_wiped_disk() {
    let mut cluster = founders(&["a", "b", "c"]);
    cluster.leave(&id("c")).unwrap();
    cluster.claim(&id("a")).unwrap();
    cluster.finish_leave(&id("c")).unwrap();
    assert_eq!(cluster.member(&id("c")).unwrap().version, 3);

    // c restarts with nothing and asks to join: its fresh entry loses to the tombstone.
    let mut fresh = ClusterState::joining(id("c"), None, "c:7000".into()).unwrap();
    cluster.merge(&fresh);
    fresh.merge(&cluster);
    assert_eq!(status(&fresh, "c"), MemberStatus::Exiting);
    // So it renews its request above the tombstone; the claimant admits it.
    assert!(fresh.rejoin(&id("c")).unwrap());
    assert!(!fresh.rejoin(&id("c")).unwrap(), "only from Exiting");
    cluster.merge(&fresh);
    assert_eq!(status(&cluster, "c"), MemberStatus::Joining);
    cluster.claim(&id("a")).unwrap();
    assert_eq!(status(&cluster, "c"), MemberStatus::Valid);
    assert!(cluster.ring().unwrap().contains_node(&id("c")));
    assert_eq!(
        fresh.rejoin(&id("zz")),
        Err(MembershipError::NotAMember(id("zz")))
    );
}

#[test]
fn a_restarted_member_with_a_wiped_disk_finds_its_place_again() {
    let mut cluster = founders(&["a", "b"]);
    cluster.merge(&ClusterState::joining(id("c"), None, "c:7000".into()).unwrap());
    cluster.claim(&id("a")).unwrap();
    // c lost its state and asks to join again through a seed: the cluster's entry (Valid,
    // version 2) wins over its fresh request, and nothing moves.
    let mut fresh = ClusterState::joining(id("c"), None, "c:7000".into()).unwrap();
    let version = cluster.ring_version();
    cluster.merge(&fresh);
    fresh.merge(&cluster);
    assert!(!fresh.rejoin(&id("c")).unwrap());
    assert_eq!(fresh, cluster);
    assert_eq!(status(&fresh, "c"), MemberStatus::Valid);
    assert_eq!(cluster.claim(&id("a")).unwrap(), Default::default());
    assert_eq!(cluster.ring_version(), version);
}
