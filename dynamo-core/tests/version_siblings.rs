//! Sibling sets in every versioning mode: merge laws, read repair, tombstones, the sibling
//! cap, last-write-wins and the paper's vector clocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod version_support;

use std::collections::BTreeSet;

use bytes::Bytes;
use dynamo_core::Timestamp;
use dynamo_core::version::{
    Actor, ContentType, Context, Limits, SiblingSet, VClock, VersionError, VersioningMode,
};
use proptest::prelude::*;
use version_support::{actor, actor_e, dots_of, history, merge_all, mode, play};

fn ct() -> ContentType {
    ContentType::new("text/plain").unwrap()
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn put(set: &mut SiblingSet, ctx: &Context, v: &'static str, a: &Actor, t: u64) -> Context {
    set.apply_put(ctx, b(v), ct(), a, Timestamp(t)).unwrap()
}

fn values(s: &SiblingSet) -> BTreeSet<Bytes> {
    s.live().map(|x| x.bytes().clone()).collect()
}

fn merged(a: &SiblingSet, b: &SiblingSet) -> SiblingSet {
    let mut m = a.clone();
    m.merge(b).unwrap();
    m
}

proptest! {
    /// Replicas converge whatever the order, grouping or repetition of merges.
    #[test]
    fn merge_is_commutative_associative_idempotent(m in mode(), ops in history(40)) {
        let p = play(m, &ops);
        let (a, b, c) = (&p.replicas[0], &p.replicas[1], &p.replicas[2]);
        prop_assert_eq!(merged(a, b), merged(b, a));
        prop_assert_eq!(merged(&merged(a, b), c), merged(a, &merged(b, c)));
        prop_assert_eq!(merged(a, a), a.clone());
        prop_assert_eq!(merged(&merged(a, b), b), merged(a, b));
    }

    /// `descends` is what read repair needs: the merge descends its inputs, a set descends
    /// another exactly when merging it in changes nothing.
    #[test]
    fn descends_means_merge_changes_nothing(m in mode(), ops in history(40)) {
        let p = play(m, &ops);
        let (a, b) = (&p.replicas[0], &p.replicas[1]);
        let ab = merged(a, b);
        prop_assert!(ab.descends(a) && ab.descends(b) && a.descends(a));
        prop_assert_eq!(a.descends(b), merged(a, b) == *a);
        let all = merge_all(&p.replicas);
        for r in &p.replicas {
            // A replica needs repair exactly when it does not descend the merged read.
            prop_assert_eq!(r.descends(&all), *r == all);
        }
    }

    /// Merging never loses a value no write has seen: in DVV mode the survivors are exactly
    /// the unseen writes; in vector-clock mode every unseen write is kept unless a clock
    /// dominates it; in LWW mode exactly one write survives, the newest.
    #[test]
    fn what_survives_per_mode(m in mode(), ops in history(40)) {
        let p = play(m, &ops);
        let all = merge_all(&p.replicas);
        let unseen = p.unseen_dots();
        match m {
            VersioningMode::Dvv => prop_assert_eq!(dots_of(&all), unseen),
            VersioningMode::VClock => {
                // Survivors were never superseded by the clocks...
                for (_, s) in all.entries() {
                    prop_assert!(!all.siblings().any(|o| o.clock().dominates(s.clock())));
                }
                // ... and the context covers every write.
                for d in &p.dots {
                    prop_assert!(all.causal().covers(d));
                }
            }
            VersioningMode::Lww => {
                prop_assert_eq!(all.len(), usize::from(!p.dots.is_empty()));
                if let Some((d, s)) = all.entries().first() {
                    // The newest timestamp (the last write, timestamps grow) wins.
                    prop_assert_eq!(d, p.dots.last().unwrap());
                    prop_assert_eq!(s.timestamp(), all.siblings().map(|x| x.timestamp()).max().unwrap());
                }
            }
        }
    }

    /// Records with clocks truncated in vector-clock mode: no stored clock exceeds the limit
    /// (plus the writer's own entry, which is always kept).
    #[test]
    fn vclock_mode_truncates_clocks(ops in history(40)) {
        let p = play(VersioningMode::VClock, &ops);
        for r in &p.replicas {
            for (d, s) in r.entries() {
                prop_assert!(s.clock().len() <= 2);
                prop_assert_eq!(s.clock().get(&d.actor), d.counter);
            }
        }
    }
}

#[test]
fn put_with_full_context_replaces_everything_in_every_mode() {
    for m in [
        VersioningMode::VClock,
        VersioningMode::Dvv,
        VersioningMode::Lww,
    ] {
        let mut s = SiblingSet::new(m);
        put(&mut s, &Context::new(), "a", &actor(0), 1);
        put(&mut s, &Context::new(), "b", &actor(1), 2);
        let ctx = s.context();
        put(&mut s, &ctx, "c", &actor(2), 3);
        assert_eq!(values(&s), [b("c")].into_iter().collect(), "{m:?}");
    }
}

#[test]
fn the_paper_scenario_in_vclock_mode() {
    // Figure 3: Sx writes D1, D2; Sy and Sz write D3 and D4 from D2; Sx reconciles into D5.
    let (sx, sy, sz) = (actor(0), actor(1), actor(2));
    let mut s = SiblingSet::new(VersioningMode::VClock);
    let c1 = put(&mut s, &Context::new(), "D1", &sx, 1);
    let c2 = put(&mut s, &c1, "D2", &sx, 2);
    assert_eq!(values(&s), [b("D2")].into_iter().collect());
    let mut at_y = s.clone();
    let mut at_z = s.clone();
    put(&mut at_y, &c2, "D3", &sy, 3);
    put(&mut at_z, &c2, "D4", &sz, 4);
    s.merge(&at_y).unwrap();
    s.merge(&at_z).unwrap();
    assert_eq!(values(&s), [b("D3"), b("D4")].into_iter().collect());
    let ctx = s.context();
    assert_eq!(ctx.clock().get(&sx), 2);
    assert_eq!(ctx.clock().get(&sy), 1);
    assert_eq!(ctx.clock().get(&sz), 1);
    put(&mut s, &ctx, "D5", &sx, 5);
    assert_eq!(values(&s), [b("D5")].into_iter().collect());
    let d5: &VClock = s.siblings().next().unwrap().clock();
    assert_eq!((d5.get(&sx), d5.get(&sy), d5.get(&sz)), (3, 1, 1));
}

#[test]
fn vclock_mode_cannot_keep_blind_writes_through_one_coordinator() {
    // The documented limitation DVV removes: the second blind write gets {A:2}, which
    // claims to have seen {A:1}.
    let mut vc = SiblingSet::new(VersioningMode::VClock);
    put(&mut vc, &Context::new(), "x", &actor(0), 1);
    put(&mut vc, &Context::new(), "y", &actor(0), 2);
    assert_eq!(values(&vc), [b("y")].into_iter().collect());
    let mut dvv = SiblingSet::new(VersioningMode::Dvv);
    put(&mut dvv, &Context::new(), "x", &actor(0), 1);
    put(&mut dvv, &Context::new(), "y", &actor(0), 2);
    assert_eq!(values(&dvv), [b("x"), b("y")].into_iter().collect());
}

#[test]
fn tombstones_keep_history_and_do_not_resurrect() {
    for m in [VersioningMode::VClock, VersioningMode::Dvv] {
        let (a, bb) = (actor(0), actor(1));
        let mut r1 = SiblingSet::new(m);
        put(&mut r1, &Context::new(), "v", &a, 1);
        let mut r2 = r1.clone(); // replica 2 has "v" and will miss the delete
        let ctx = r1.context();
        r1.apply_delete(&ctx, &a, Timestamp(2)).unwrap();
        assert!(r1.is_tombstone_only(), "{m:?}");
        assert_eq!(r1.live().count(), 0);
        let t = r1.siblings().next().unwrap();
        assert!(t.is_tombstone() && t.data().is_none() && t.bytes().is_empty());
        assert_eq!(t.timestamp(), Timestamp(2));
        // Read repair / anti-entropy in either direction: the value stays deleted.
        r2.merge(&r1).unwrap();
        assert!(r2.is_tombstone_only(), "{m:?}");
        assert_eq!(merged(&r1, &r2), r1);
        // A put concurrent with the delete (context from before it) is kept beside it.
        let mut r3 = SiblingSet::new(m);
        let c = put(&mut r3, &Context::new(), "v0", &bb, 0);
        put(&mut r3, &c, "w", &bb, 3);
        r3.merge(&r1).unwrap();
        assert_eq!(values(&r3), [b("w")].into_iter().collect(), "{m:?}");
        assert!(r3.siblings().any(|s| s.is_tombstone()));
        assert!(!r3.is_tombstone_only());
        // A put after reading the tombstone replaces it.
        let ctx = r3.context();
        put(&mut r3, &ctx, "again", &a, 4);
        assert_eq!(r3.len(), 1);
        assert!(!SiblingSet::new(m).is_tombstone_only());
    }
}

#[test]
fn sibling_cap_is_an_error_never_a_silent_drop() {
    let limits = Limits {
        max_siblings: 3,
        ..Limits::default()
    };
    for m in [VersioningMode::VClock, VersioningMode::Dvv] {
        let mut s = SiblingSet::new(m).with_limits(limits);
        for i in 0..3u64 {
            put(&mut s, &Context::new(), "v", &actor_e(i as usize, 0), i);
        }
        assert_eq!(s.len(), 3);
        let before = s.clone();
        let err = s
            .apply_put(&Context::new(), b("four"), ct(), &actor(9), Timestamp(9))
            .unwrap_err();
        assert_eq!(err, VersionError::TooManySiblings { limit: 3, count: 4 });
        assert_eq!(s, before, "{m:?}: unchanged on error");
        assert!(
            s.apply_delete(&Context::new(), &actor(9), Timestamp(9))
                .is_err()
        );
        // A client that resolves them gets through.
        let ctx = s.context();
        put(&mut s, &ctx, "resolved", &actor(9), 10);
        assert_eq!(s.len(), 1);

        // Merges too: two replicas of 2 concurrent siblings each.
        let mut x = SiblingSet::new(m).with_limits(limits);
        let mut y = SiblingSet::new(m).with_limits(limits);
        for i in 0..2 {
            put(&mut x, &Context::new(), "x", &actor(i), 1);
            put(&mut y, &Context::new(), "y", &actor(i + 2), 1);
        }
        let before = x.clone();
        assert_eq!(
            x.merge(&y),
            Err(VersionError::TooManySiblings { limit: 3, count: 4 })
        );
        assert_eq!(x, before);
        x.merge_unbounded(&y).unwrap();
        assert_eq!(x.len(), 4);
    }
}

#[test]
fn lww_newest_timestamp_wins_with_a_deterministic_tie_break() {
    let mut s = SiblingSet::new(VersioningMode::Lww);
    put(&mut s, &Context::new(), "new", &actor(0), 20);
    // An older timestamp loses even though it is written later (clock skew): LWW's price.
    put(&mut s, &Context::new(), "old", &actor(1), 10);
    assert_eq!(values(&s), [b("new")].into_iter().collect());
    // Equal timestamps on two replicas: both pick the same winner, whatever the order.
    let mut r1 = SiblingSet::new(VersioningMode::Lww);
    let mut r2 = SiblingSet::new(VersioningMode::Lww);
    put(&mut r1, &Context::new(), "one", &actor(1), 30);
    put(&mut r2, &Context::new(), "two", &actor(2), 30);
    let w12 = merged(&r1, &r2);
    let w21 = merged(&r2, &r1);
    assert_eq!(w12, w21);
    assert_eq!(values(&w12), [b("two")].into_iter().collect()); // higher dot wins ties
    // A newer delete wins; an older one loses.
    let mut d = w12.clone();
    d.apply_delete(&Context::new(), &actor(0), Timestamp(31))
        .unwrap();
    assert!(d.is_tombstone_only());
    let mut e = w12.clone();
    e.apply_delete(&Context::new(), &actor(0), Timestamp(29))
        .unwrap();
    assert_eq!(values(&e), [b("two")].into_iter().collect());
}

#[test]
fn merging_different_modes_is_refused() {
    let mut a = SiblingSet::new(VersioningMode::Dvv);
    let b = SiblingSet::new(VersioningMode::Lww);
    assert_eq!(
        a.merge(&b),
        Err(VersionError::ModeMismatch {
            ours: VersioningMode::Dvv,
            theirs: VersioningMode::Lww
        })
    );
    assert!(!a.descends(&b));
    assert_eq!(SiblingSet::default().mode(), VersioningMode::Dvv);
}

#[test]
fn metadata_is_kept_per_sibling() {
    let mut s = SiblingSet::new(VersioningMode::Dvv);
    s.apply_put(
        &Context::new(),
        b("{}"),
        ContentType::new("application/json").unwrap(),
        &actor(0),
        Timestamp(7),
    )
    .unwrap();
    s.apply_put(
        &Context::new(),
        b("x"),
        ContentType::octet_stream(),
        &actor(1),
        Timestamp(8),
    )
    .unwrap();
    let mut types: Vec<_> = s
        .siblings()
        .map(|x| {
            (
                x.content_type().as_str().to_owned(),
                x.timestamp(),
                x.is_tombstone(),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("application/json".to_owned(), Timestamp(7), false),
            ("application/octet-stream".to_owned(), Timestamp(8), false)
        ]
    );
    assert!(ContentType::new("bad\ntype").is_err());
    assert!(ContentType::new("x".repeat(129)).is_err());
}
