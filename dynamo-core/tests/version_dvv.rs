//! Dotted version vectors: writes replace exactly what their context saw, concurrent writers
//! never multiply siblings, and replicas converge on the causally maximal values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod version_support;

use std::collections::BTreeSet;

use bytes::Bytes;
use dynamo_core::Timestamp;
use dynamo_core::version::{ContentType, Context, DvvSet, SiblingSet, VersioningMode};
use proptest::prelude::*;
use version_support::{actor, dots_of, history, merge_all, play, value};

fn ct() -> ContentType {
    ContentType::new("text/plain").unwrap()
}

fn values(s: &SiblingSet) -> BTreeSet<Bytes> {
    s.siblings().map(|x| x.bytes().clone()).collect()
}

/// The values the model says must survive: every write whose dot no write's context
/// covered. `dots[i]` is the dot write `i` got.
fn model_alive(writes: &[(Bytes, Context)], dots: &[dynamo_core::version::Dot]) -> BTreeSet<Bytes> {
    writes
        .iter()
        .zip(dots)
        .filter(|(_, d)| !writes.iter().any(|(_, ctx)| ctx.covers(d)))
        .map(|((v, _), _)| v.clone())
        .collect()
}

proptest! {
    /// K clients write through one coordinator, each with the context of its previous
    /// operation (its last write's answer, or a fresh read), in any interleaving: there are
    /// never more than K siblings, and the siblings are exactly the writes no later context
    /// saw.
    #[test]
    fn k_writers_leave_at_most_k_siblings(
        k in 1usize..6,
        steps in prop::collection::vec((0usize..6, prop::bool::weighted(0.2)), 1..60),
    ) {
        let coordinator = actor(0);
        let mut set = SiblingSet::new(VersioningMode::Dvv);
        let mut ctx = vec![Context::new(); k];
        let mut writes = Vec::new();
        let mut dots = Vec::new();
        for (t, (w, read_first)) in steps.into_iter().enumerate() {
            let w = w % k;
            if read_first {
                ctx[w] = set.context();
            }
            let v = value(t, 4);
            writes.push((v.clone(), ctx[w].clone()));
            ctx[w] = set
                .apply_put(&ctx[w], v.clone(), ct(), &coordinator, Timestamp(t as u64))
                .unwrap();
            let dot = set.entries().iter().find(|(_, s)| *s.bytes() == v).unwrap().0.clone();
            dots.push(dot);
            prop_assert!(set.len() <= k, "{} siblings for {} writers", set.len(), k);
            prop_assert_eq!(values(&set), model_alive(&writes, &dots));
        }
    }

    /// A write whose context saw everything leaves exactly one value, whatever the history.
    #[test]
    fn a_context_that_saw_everything_leaves_one_value(ops in history(40)) {
        let played = play(VersioningMode::Dvv, &ops);
        let mut set = merge_all(&played.replicas);
        let ctx = set.context();
        set.apply_put(&ctx, Bytes::from_static(b"final"), ct(), &actor(1), Timestamp(9_999)).unwrap();
        prop_assert_eq!(set.len(), 1);
        prop_assert_eq!(set.siblings().next().unwrap().bytes(), &Bytes::from_static(b"final"));
        // ... and it wins on every replica once they merge it.
        for mut r in played.replicas {
            r.merge(&set).unwrap();
            prop_assert_eq!(values(&r), values(&set));
        }
    }

    /// Across replicas, in any order of writes and merges: once every replica has merged,
    /// the survivors are exactly the writes that no client context saw. Causally later
    /// writes replace earlier ones; concurrent ones are all kept; nothing else is lost.
    #[test]
    fn replicas_converge_on_the_causally_maximal_writes(ops in history(50)) {
        let played = play(VersioningMode::Dvv, &ops);
        let all = merge_all(&played.replicas);
        prop_assert_eq!(dots_of(&all), played.unseen_dots());
        // Every replica that merges the result ends up identical.
        for mut r in played.replicas {
            r.merge(&all).unwrap();
            prop_assert_eq!(&r, &all);
        }
    }

    /// Merging DVV sets is a semilattice join (on the generic container).
    #[test]
    fn dvv_merge_is_a_join(ops in history(40)) {
        let played = play(VersioningMode::Dvv, &ops);
        // The same dots and contexts in the generic container.
        let sets: Vec<DvvSet<Bytes>> = played.replicas.iter().map(|r| {
            DvvSet::from_parts(r.causal().clone(),
                r.entries().iter().map(|(d, x)| (d.clone(), x.bytes().clone())).collect())
                .unwrap()
        }).collect();
        let (a, b, c) = (&sets[0], &sets[1], &sets[2]);
        let m = |x: &DvvSet<Bytes>, y: &DvvSet<Bytes>| { let mut z = x.clone(); z.merge(y); z };
        prop_assert_eq!(m(a, b), m(b, a));
        prop_assert_eq!(m(&m(a, b), c), m(a, &m(b, c)));
        prop_assert_eq!(m(a, a), a.clone());
        prop_assert_eq!(m(a, b).len(), a.merged_len(b));
        prop_assert!(m(a, b).descends(a) && m(a, b).descends(b));
    }
}

#[test]
fn blind_writes_through_one_coordinator_are_all_kept() {
    // The case per-sibling vector clocks get wrong (see the VClock test in
    // version_siblings.rs): two clients, no context, same coordinator.
    let mut set = SiblingSet::new(VersioningMode::Dvv);
    let c1 = set
        .apply_put(
            &Context::new(),
            Bytes::from_static(b"a"),
            ct(),
            &actor(0),
            Timestamp(1),
        )
        .unwrap();
    set.apply_put(
        &Context::new(),
        Bytes::from_static(b"b"),
        ct(),
        &actor(0),
        Timestamp(2),
    )
    .unwrap();
    assert_eq!(set.len(), 2);
    // Client 1 writes again with the context of its own write: replaces "a" only.
    set.apply_put(
        &c1,
        Bytes::from_static(b"a2"),
        ct(),
        &actor(0),
        Timestamp(3),
    )
    .unwrap();
    let vals: BTreeSet<_> = values(&set);
    assert_eq!(
        vals,
        [Bytes::from_static(b"a2"), Bytes::from_static(b"b")]
            .into_iter()
            .collect()
    );
}
