//! Dotted version vector sets: exact causality for a key's concurrent values.
//!
//! # Why not plain vector clocks
//!
//! With one vector clock per version (the paper's scheme, [`super::vclock`]), a coordinator
//! that numbers the events of many clients cannot say "this value is event `A:2`, written
//! without having seen `A:1`": the clock `{A:2}` claims everything up to 2. Two clients
//! writing concurrently through the same node therefore either overwrite each other, or (with
//! one clock for the whole object, as Riak 1.x did) keep piling up siblings that every later
//! write inherits: *sibling explosion*.
//!
//! # The structure
//!
//! A DVV set, the structure Riak 2.0 adopted (Almeida, Baquero, Gonçalves et al., "Dotted
//! Version Vectors", and the `dvvset` library), keeps for one key:
//!
//! - a **causal context** ([`Context`]): every write event this replica knows of, and
//! - the **values**, each tagged with the [`Dot`] of the write that created it.
//!
//! A value is live while it is in the list; an event the context covers but the list lacks
//! has been superseded. The rules:
//!
//! - **update** (a put coordinated here, carrying the client's context `ctx`): drop exactly
//!   the values whose dot `ctx` covers (the client saw them, its write replaces them), add
//!   `ctx` to the causal context, number the new value with a fresh dot (one above the highest
//!   counter of the coordinating actor known here) and add it. A write without context drops
//!   nothing; a write whose context saw everything leaves one value. `K` clients that each
//!   write with the context of their previous operation leave at most `K` values, however
//!   their writes interleave.
//! - **merge** (two replicas' sets): keep a value if both sides have it, or if the other side
//!   has not seen its dot; drop it if the other side has seen it and no longer has it. Union
//!   the contexts. This is the join of a semilattice: commutative, associative, idempotent.
//!
//! The coordinator must know every dot its actor ever issued for the key, which it does as
//! long as it keeps its data: a node that may have lost some must use a new
//! [epoch](super::epoch), that is, a new actor.

use crate::Timestamp;

use super::actor::{Actor, Dot};
use super::context::Context;

/// A dotted version vector set over values of type `T`; see the
/// [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DvvSet<T> {
    causal: Context,
    /// Sorted by dot; every dot is covered by `causal`.
    entries: Vec<(Dot, T)>,
}

impl<T> Default for DvvSet<T> {
    fn default() -> Self {
        DvvSet {
            causal: Context::new(),
            entries: Vec::new(),
        }
    }
}

impl<T> DvvSet<T> {
    /// An empty set: no value, nothing seen.
    pub fn new() -> Self {
        DvvSet::default()
    }

    /// Builds a set from its parts, or `None` when they break the invariants (a dot not
    /// covered by the context, or a dot twice). Used by decoders.
    pub fn from_parts(causal: Context, mut entries: Vec<(Dot, T)>) -> Option<Self> {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let unique = entries.windows(2).all(|w| w[0].0 != w[1].0);
        let covered = entries.iter().all(|(d, _)| causal.covers(d));
        (unique && covered).then_some(DvvSet { causal, entries })
    }

    /// The causal context: every event this set knows of, live or superseded. This is the
    /// context to hand to a client that read all the values.
    pub fn context(&self) -> &Context {
        &self.causal
    }

    /// The live values with their dots, sorted by dot.
    pub fn entries(&self) -> &[(Dot, T)] {
        &self.entries
    }

    /// The live values, sorted by dot.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no value is live (the context may still remember superseded events).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many values an [`update`](Self::update) with `ctx` would keep, before adding its
    /// own: lets a caller enforce a cap before changing anything.
    pub fn surviving(&self, ctx: &Context) -> usize {
        self.entries.iter().filter(|(d, _)| !ctx.covers(d)).count()
    }

    /// The dot an update by `actor` with `ctx` would give its value: one above the highest
    /// counter of `actor` known here or in `ctx`.
    pub fn next_dot(&self, ctx: &Context, actor: &Actor) -> Dot {
        let counter = self
            .causal
            .max_counter(actor)
            .max(ctx.max_counter(actor))
            .saturating_add(1);
        Dot::new(actor.clone(), counter)
    }

    /// A write coordinated by `actor` at `now`, by a client that had seen `ctx`: drops the
    /// values `ctx` covers, records `ctx`, adds `value` under a fresh dot, and returns that
    /// dot.
    pub fn update(&mut self, ctx: &Context, actor: &Actor, now: Timestamp, value: T) -> Dot {
        let dot = self.next_dot(ctx, actor);
        self.entries.retain(|(d, _)| !ctx.covers(d));
        self.causal.merge(ctx);
        self.causal.add(dot.clone(), now);
        self.insert(dot.clone(), value);
        dot
    }

    pub(crate) fn insert(&mut self, dot: Dot, value: T) {
        match self.entries.binary_search_by(|(d, _)| d.cmp(&dot)) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (dot, value)),
        }
    }

    pub(crate) fn retain(&mut self, keep: impl FnMut(&(Dot, T)) -> bool) {
        self.entries.retain(keep);
    }

    pub(crate) fn causal_mut(&mut self) -> &mut Context {
        &mut self.causal
    }
}

impl<T: Clone + Ord> DvvSet<T> {
    /// The number of values a [`merge`](Self::merge) with `other` would leave.
    pub fn merged_len(&self, other: &Self) -> usize {
        let mut n = 0;
        join_entries(&self.entries, &other.entries, |d, mine, theirs| {
            match (mine, theirs) {
                (Some(_), Some(_)) => n += 1,
                (Some(_), None) => n += usize::from(!other.causal.covers(d)),
                (None, Some(_)) => n += usize::from(!self.causal.covers(d)),
                (None, None) => {}
            }
        });
        n
    }

    /// Merges another replica's set into this one; see the [module documentation](self).
    ///
    /// Should the same dot carry different values on the two sides (impossible unless a node
    /// reused counters, the bug [epochs](super::epoch) prevent), the larger value is kept so
    /// that merging stays commutative.
    pub fn merge(&mut self, other: &Self) {
        let mut out = Vec::with_capacity(self.entries.len().max(other.entries.len()));
        join_entries(&self.entries, &other.entries, |d, mine, theirs| {
            let keep = match (mine, theirs) {
                (Some(a), Some(b)) => Some(if b > a { b } else { a }),
                (Some(a), None) => (!other.causal.covers(d)).then_some(a),
                (None, Some(b)) => (!self.causal.covers(d)).then_some(b),
                (None, None) => None,
            };
            if let Some(v) = keep {
                out.push((d.clone(), v.clone()));
            }
        });
        self.entries = out;
        self.causal.merge(&other.causal);
    }

    /// True when this set already knows everything `other` knows: merging `other` in would
    /// change nothing. A replica whose set does not descend the merged result of a read
    /// needs read repair.
    pub fn descends(&self, other: &Self) -> bool {
        if !self.causal.descends(&other.causal) {
            return false;
        }
        let mut merged = self.clone();
        merged.merge(other);
        merged == *self
    }
}

/// Walks two dot-sorted lists together, calling `f(dot, left, right)` once per dot.
fn join_entries<'a, T>(
    a: &'a [(Dot, T)],
    b: &'a [(Dot, T)],
    mut f: impl FnMut(&'a Dot, Option<&'a T>, Option<&'a T>),
) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some((da, va)), Some((db, vb))) => match da.cmp(db) {
                std::cmp::Ordering::Less => {
                    f(da, Some(va), None);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    f(db, None, Some(vb));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    f(da, Some(va), Some(vb));
                    i += 1;
                    j += 1;
                }
            },
            (Some((da, va)), None) => {
                f(da, Some(va), None);
                i += 1;
            }
            (None, Some((db, vb))) => {
                f(db, None, Some(vb));
                j += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    fn actor(name: &str) -> Actor {
        Actor::new(NodeId::new(name).unwrap(), 0)
    }

    fn values(s: &DvvSet<&'static str>) -> Vec<&'static str> {
        let mut v: Vec<_> = s.values().copied().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn blind_writes_are_siblings() {
        let a = actor("a");
        let mut s = DvvSet::new();
        s.update(&Context::new(), &a, Timestamp(1), "x");
        s.update(&Context::new(), &a, Timestamp(2), "y");
        assert_eq!(values(&s), ["x", "y"]);
        let ctx = s.context().clone();
        s.update(&ctx, &a, Timestamp(3), "z");
        assert_eq!(values(&s), ["z"]);
    }

    #[test]
    fn a_write_replaces_only_what_its_context_saw() {
        let a = actor("a");
        let mut s = DvvSet::new();
        let d1 = s.update(&Context::new(), &a, Timestamp(1), "x");
        s.update(&Context::new(), &a, Timestamp(2), "y");
        let mut saw_x = Context::new();
        saw_x.add(d1, Timestamp(1));
        s.update(&saw_x, &a, Timestamp(3), "x2");
        assert_eq!(values(&s), ["x2", "y"]);
    }

    #[test]
    fn merge_drops_what_the_other_side_superseded() {
        let (a, b) = (actor("a"), actor("b"));
        let mut ra = DvvSet::new();
        ra.update(&Context::new(), &a, Timestamp(1), "v1");
        let mut rb = ra.clone();
        let ctx = rb.context().clone();
        rb.update(&ctx, &b, Timestamp(2), "v2");
        ra.update(&Context::new(), &a, Timestamp(3), "v3");
        let mut m = ra.clone();
        m.merge(&rb);
        assert_eq!(values(&m), ["v2", "v3"]);
        assert_eq!(m.merged_len(&rb), 2);
        let mut m2 = rb.clone();
        m2.merge(&ra);
        assert_eq!(m, m2);
        assert!(m.descends(&ra) && m.descends(&rb) && !ra.descends(&rb));
    }

    #[test]
    fn from_parts_checks_invariants() {
        let a = actor("a");
        let dot = Dot::new(a, 1);
        assert!(DvvSet::from_parts(Context::new(), vec![(dot.clone(), 1)]).is_none());
        let mut ctx = Context::new();
        ctx.add(dot.clone(), Timestamp(0));
        assert!(
            DvvSet::from_parts(ctx.clone(), vec![(dot.clone(), 1), (dot.clone(), 2)]).is_none()
        );
        assert!(DvvSet::from_parts(ctx, vec![(dot, 1)]).is_some());
    }
}
