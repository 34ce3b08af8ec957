//! Vector clock laws, and what truncation can and cannot do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod version_support;

use dynamo_core::Timestamp;
use dynamo_core::version::{Actor, Causality, Entry, VClock};
use proptest::prelude::*;
use version_support::actor_e;

/// 8 actors: 4 nodes in 2 epochs.
fn pool(i: usize) -> Actor {
    actor_e(i % 4, (i / 4) as u64)
}

fn clock() -> impl Strategy<Value = VClock> {
    prop::collection::vec((0usize..8, 0u64..5, 0u64..20), 0..8).prop_map(|es| {
        VClock::from_entries(
            es.into_iter()
                .filter_map(|(a, c, t)| Entry::new(pool(a), c, Timestamp(t))),
        )
    })
}

/// The counters alone (timestamps do not take part in the order).
fn counters(c: &VClock) -> Vec<(Actor, u64)> {
    c.entries()
        .iter()
        .map(|e| (e.actor().clone(), e.counter()))
        .collect()
}

fn merged(a: &VClock, b: &VClock) -> VClock {
    let mut m = a.clone();
    m.merge(b);
    m
}

proptest! {
    #[test]
    fn descends_is_a_partial_order(a in clock(), b in clock(), c in clock()) {
        prop_assert!(a.descends(&a));
        if a.descends(&b) && b.descends(&a) {
            prop_assert_eq!(counters(&a), counters(&b));
        }
        if a.descends(&b) && b.descends(&c) {
            prop_assert!(a.descends(&c));
        }
        prop_assert!(a.descends(&VClock::new()));
    }

    #[test]
    fn relations_agree(a in clock(), b in clock()) {
        let rel = a.compare(&b);
        prop_assert_eq!(a.dominates(&b), rel == Causality::After);
        prop_assert_eq!(b.dominates(&a), rel == Causality::Before);
        prop_assert_eq!(a.concurrent(&b), rel == Causality::Concurrent);
        prop_assert_eq!(a.concurrent(&b), b.concurrent(&a));
        prop_assert_eq!(rel == Causality::Equal, counters(&a) == counters(&b));
        // descends <=> merging changes no counter
        prop_assert_eq!(a.descends(&b), counters(&merged(&a, &b)) == counters(&a));
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in clock(), b in clock(), c in clock()) {
        let ab = merged(&a, &b);
        prop_assert_eq!(&ab, &merged(&b, &a));
        prop_assert_eq!(merged(&ab, &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert!(ab.descends(&a) && ab.descends(&b));
        if c.descends(&a) && c.descends(&b) {
            prop_assert!(c.descends(&ab));
        }
    }

    #[test]
    fn increment_dominates(a in clock(), who in 0usize..8, now in 0u64..100) {
        let mut b = a.clone();
        let n = b.increment(&pool(who), Timestamp(now));
        prop_assert_eq!(n, a.get(&pool(who)) + 1);
        prop_assert!(b.dominates(&a));
    }

    /// Truncation drops the oldest entries and only forgets: the original descends the
    /// truncated clock.
    #[test]
    fn truncation_only_forgets_the_oldest(a in clock(), max in 0usize..8, keep in 0usize..8) {
        let mut t = a.clone();
        let dropped = t.truncate(max);
        prop_assert_eq!(t.len(), a.len().min(max));
        prop_assert_eq!(dropped, a.len() - t.len());
        prop_assert!(a.descends(&t));
        let oldest_kept = t.entries().iter().map(|e| (e.timestamp(), e.actor().clone())).min();
        for e in a.entries() {
            if t.entry(e.actor()).is_none() {
                prop_assert!(Some((e.timestamp(), e.actor().clone())) < oldest_kept || t.is_empty());
            } else {
                prop_assert_eq!(t.entry(e.actor()), Some(e));
            }
        }
        let mut k = a.clone();
        k.truncate_keeping(max, &pool(keep));
        prop_assert!(a.descends(&k));
        prop_assert_eq!(k.get(&pool(keep)), a.get(&pool(keep)));
        prop_assert!(k.len() <= max.max(usize::from(a.get(&pool(keep)) > 0)));
    }

    /// The safe direction: truncation may make a descendant look concurrent, never the
    /// reverse. A truncated clock that descends `b` proves the original did; so if `a` and
    /// `b` are concurrent (or `b` is newer), truncating `a` never makes it look like it
    /// descends `b`. And truncating an ancestor never hides it from a true descendant.
    #[test]
    fn truncation_never_invents_descent(a in clock(), b in clock(), max in 0usize..8, keep in 0usize..8) {
        let mut plain = a.clone();
        plain.truncate(max);
        let mut kept = a.clone();
        kept.truncate_keeping(max, &pool(keep));
        for t in [&plain, &kept] {
            if t.descends(&b) {
                prop_assert!(a.descends(&b));
            }
            if a.concurrent(&b) || b.dominates(&a) {
                prop_assert!(!t.descends(&b));
                prop_assert!(!t.dominates(&b));
            }
            if b.descends(&a) {
                prop_assert!(b.descends(t));
            }
        }
    }
}

/// One version of the history model: its full (never truncated) clock, and the clock the
/// store keeps (merged from truncated clocks, truncated keeping the writer's entry).
#[derive(Clone)]
struct Version {
    full: VClock,
    stored: VClock,
}

/// A random causal history: each step, an actor writes a version having seen a random
/// subset of earlier versions *and its own previous version* (each actor's writes are
/// causally ordered, as for a coordinator that knows what it wrote), with a timestamp from
/// a skewed clock (so the writer's entry is not always the newest).
fn causal_history() -> impl Strategy<Value = (usize, Vec<(usize, u64, u64)>)> {
    (
        1usize..4,
        prop::collection::vec((0usize..6, any::<u64>(), 0u64..40), 1..30),
    )
}

proptest! {
    /// With the writer's entry kept and actors causally ordered, even when *both* clocks
    /// are truncated, `stored(u)` descends `stored(v)` only if `u` truly descends `v`:
    /// truncation can make descendants look concurrent, but never makes a version look
    /// obsolete to one that did not see it.
    #[test]
    fn truncated_histories_never_invent_descent((max, steps) in causal_history()) {
        let mut versions: Vec<Version> = Vec::new();
        let mut last_of: Vec<Option<usize>> = vec![None; 6];
        for (who, seen_mask, skewed) in steps {
            let actor = pool(who);
            let now = Timestamp(skewed);
            let mut full = VClock::new();
            let mut stored = VClock::new();
            let seen = versions
                .iter()
                .enumerate()
                .filter(|(i, _)| seen_mask >> (i % 64) & 1 == 1 || Some(*i) == last_of[who]);
            for (_, v) in seen {
                full.merge(&v.full);
                stored.merge(&v.stored);
            }
            let counter = full.increment(&actor, now);
            stored.advance(&actor, counter, now);
            stored.truncate_keeping(max, &actor);
            last_of[who] = Some(versions.len());
            versions.push(Version { full, stored });
        }
        for u in &versions {
            for v in &versions {
                if u.stored.descends(&v.stored) {
                    prop_assert!(u.full.descends(&v.full));
                }
            }
        }
    }
}

#[test]
fn truncated_histories_do_make_descendants_look_concurrent() {
    // The model above, deterministically: a and b write, c writes having seen both, then c
    // writes again with the clock truncated to one entry: the new version still truly
    // descends a, but its stored clock no longer shows it.
    let (a, b, c) = (pool(0), pool(1), pool(2));
    let mut va = VClock::new();
    va.increment(&a, Timestamp(1));
    let mut vb = VClock::new();
    vb.increment(&b, Timestamp(2));
    let mut vc = va.clone();
    vc.merge(&vb);
    vc.increment(&c, Timestamp(3));
    let full = vc.clone();
    vc.truncate_keeping(1, &c);
    assert!(full.dominates(&va));
    assert_eq!(vc.compare(&va), Causality::Concurrent);
}
