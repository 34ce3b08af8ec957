//! Vector clocks, as in the Dynamo paper (§4.4).
//!
//! A vector clock is a list of `(actor, counter)` pairs; each entry also remembers the
//! timestamp of the actor's last update, used only to choose which entries to drop when the
//! clock grows too long. Entries with counter 0 are never stored: a missing actor counts 0.
//!
//! # Order
//!
//! Clock `a` **descends** clock `b` when every counter of `a` is at least the matching counter
//! of `b` (`a ≥ b` pointwise): the version `a` was written with knowledge of everything `b`
//! knew, so `b` is obsolete once `a` exists. A clock descends itself. `a` **dominates** `b`
//! when it descends `b` and they differ (`a > b`). Two clocks are **concurrent** when neither
//! descends the other: the writes happened without knowledge of each other, and both values
//! must be kept as siblings until a client reconciles them. Timestamps play no part in the
//! order.
//!
//! # Truncation
//!
//! Like the paper, a clock longer than a threshold (default
//! [`VClock::DEFAULT_MAX_ENTRIES`] = 10) drops its entries with the oldest timestamps.
//! Truncation only ever *forgets*: the truncated clock is descended by the original. Hence:
//!
//! - a truncated clock that descends some clock `b` proves that the original descended `b`
//!   too; if `a` and `b` are concurrent, truncating `a` never makes `a` look like it descends
//!   `b`. Truncation can make a descendant look concurrent (a false sibling, which a client
//!   then resolves), **never the reverse**;
//! - but forgetting makes a clock look *older*: another clock may appear to descend the
//!   truncated one when it did not descend the original. [`VClock::truncate_keeping`] keeps
//!   the entry of the actor that just wrote the version (its *dot*), which a clock that never
//!   saw the version cannot match when each actor's writes are causally ordered. Without that
//!   discipline, truncation can lose a concurrent version, which is one reason the default
//!   versioning mode is dotted version vectors ([`super::dvv`]), which never truncate.
//!
//! Both statements are property-tested in `tests/version_vclock.rs`.

use crate::Timestamp;

use super::actor::{Actor, Dot};

/// One entry of a [`VClock`]: how many events `actor` has numbered, and when the last one
/// happened.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    actor: Actor,
    counter: u64,
    timestamp: Timestamp,
}

impl Entry {
    /// Builds an entry; `None` when `counter` is 0 (absent actors count 0 and are not stored).
    pub fn new(actor: Actor, counter: u64, timestamp: Timestamp) -> Option<Self> {
        (counter > 0).then_some(Entry {
            actor,
            counter,
            timestamp,
        })
    }

    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The number of the actor's latest event, at least 1.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// When that latest event happened (the coordinator's clock), used for truncation.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The dot of the actor's latest event.
    pub fn dot(&self) -> Dot {
        Dot::new(self.actor.clone(), self.counter)
    }

    /// Merges another entry of the same actor: the larger counter wins with its timestamp;
    /// on equal counters the larger timestamp wins, so that merging is commutative.
    fn absorb(&mut self, other: &Entry) {
        if (other.counter, other.timestamp) > (self.counter, self.timestamp) {
            self.counter = other.counter;
            self.timestamp = other.timestamp;
        }
    }
}

/// How two clocks relate; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Causality {
    /// Same counters for every actor.
    Equal,
    /// The left clock is dominated by the right one: it happened before.
    Before,
    /// The left clock dominates the right one: it happened after.
    After,
    /// Neither descends the other.
    Concurrent,
}

/// A vector clock: per actor, the number of its events this version has seen.
///
/// Kept sorted by actor, without zero counters, so that equal clocks are equal values.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VClock {
    entries: Vec<Entry>,
}

impl VClock {
    /// The paper's truncation threshold: at most this many entries are kept by default.
    pub const DEFAULT_MAX_ENTRIES: usize = 10;

    /// The empty clock, descended by every clock.
    pub fn new() -> Self {
        VClock::default()
    }

    /// Builds a clock from entries in any order; duplicate actors are merged.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut clock = VClock::new();
        for e in entries {
            clock.absorb_entry(&e);
        }
        clock
    }

    /// True when no actor has a counter.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of actors with a non-zero counter.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, sorted by actor.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry of `actor`, if its counter is not 0.
    pub fn entry(&self, actor: &Actor) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.actor.cmp(actor))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The counter of `actor` (0 when absent).
    pub fn get(&self, actor: &Actor) -> u64 {
        self.entry(actor).map_or(0, |e| e.counter)
    }

    /// True when this clock has seen the event `dot`, as far as a clock can tell
    /// (`self[actor] ≥ counter`).
    pub fn covers(&self, dot: &Dot) -> bool {
        self.get(&dot.actor) >= dot.counter
    }

    /// Records a new event of `actor` at time `now` and returns its counter: what the
    /// coordinator of a write does to the clock of the version it creates.
    pub fn increment(&mut self, actor: &Actor, now: Timestamp) -> u64 {
        let counter = self.get(actor).saturating_add(1);
        self.advance(actor, counter, now);
        counter
    }

    /// Raises the counter of `actor` to `counter` (stamped `now`) if it is lower; a lower or
    /// equal `counter` changes nothing. A zero counter is ignored.
    pub fn advance(&mut self, actor: &Actor, counter: u64, now: Timestamp) {
        if let Some(e) = Entry::new(actor.clone(), counter, now) {
            self.absorb_entry(&e);
        }
    }

    fn absorb_entry(&mut self, e: &Entry) {
        match self.entries.binary_search_by(|x| x.actor.cmp(&e.actor)) {
            Ok(i) => self.entries[i].absorb(e),
            Err(i) => self.entries.insert(i, e.clone()),
        }
    }

    /// True when this clock has seen everything `other` has (`self ≥ other` pointwise).
    pub fn descends(&self, other: &VClock) -> bool {
        // Both lists are sorted by actor: walk them together.
        let mut mine = self.entries.iter().peekable();
        for theirs in &other.entries {
            loop {
                match mine.peek() {
                    Some(m) if m.actor < theirs.actor => {
                        mine.next();
                    }
                    Some(m) if m.actor == theirs.actor => {
                        if m.counter < theirs.counter {
                            return false;
                        }
                        break;
                    }
                    _ => return false,
                }
            }
        }
        true
    }

    /// True when this clock descends `other` and differs from it (`self > other`).
    pub fn dominates(&self, other: &VClock) -> bool {
        self.descends(other) && !other.descends(self)
    }

    /// True when neither clock descends the other.
    pub fn concurrent(&self, other: &VClock) -> bool {
        !self.descends(other) && !other.descends(self)
    }

    /// How this clock relates to `other`.
    pub fn compare(&self, other: &VClock) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        }
    }

    /// The least clock that descends both: the pointwise maximum. Commutative, associative
    /// and idempotent.
    pub fn merge(&mut self, other: &VClock) {
        if other.entries.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.entries.len().max(other.entries.len()));
        let mut a = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut b = other.entries.iter().peekable();
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.actor.cmp(&y.actor) {
                    std::cmp::Ordering::Less => out.extend(a.next()),
                    std::cmp::Ordering::Greater => out.extend(b.next().cloned()),
                    std::cmp::Ordering::Equal => {
                        if let (Some(mut x), Some(y)) = (a.next(), b.next()) {
                            x.absorb(y);
                            out.push(x);
                        }
                    }
                },
                (Some(_), None) => out.extend(a.next()),
                (None, Some(_)) => out.extend(b.next().cloned()),
                (None, None) => break,
            }
        }
        self.entries = out;
    }

    /// Drops entries, oldest timestamp first (ties broken by actor), until at most
    /// `max_entries` remain; returns how many were dropped. See the
    /// [module documentation](self) for what truncation can and cannot do.
    pub fn truncate(&mut self, max_entries: usize) -> usize {
        self.truncate_inner(max_entries, None)
    }

    /// Like [`truncate`](Self::truncate), but never drops the entry of `keep` (the actor
    /// that wrote the version), so that the version's own event stays visible; the result
    /// may then hold one entry even when `max_entries` is 0.
    pub fn truncate_keeping(&mut self, max_entries: usize, keep: &Actor) -> usize {
        self.truncate_inner(max_entries, Some(keep))
    }

    fn truncate_inner(&mut self, max_entries: usize, keep: Option<&Actor>) -> usize {
        if self.entries.len() <= max_entries {
            return 0;
        }
        let mut order: Vec<usize> = (0..self.entries.len())
            .filter(|&i| Some(&self.entries[i].actor) != keep)
            .collect();
        order.sort_by(|&i, &j| {
            let (x, y) = (&self.entries[i], &self.entries[j]);
            (x.timestamp, &x.actor).cmp(&(y.timestamp, &y.actor))
        });
        let excess = self.entries.len() - max_entries;
        let mut drop = vec![false; self.entries.len()];
        for &i in order.iter().take(excess) {
            drop[i] = true;
        }
        let before = self.entries.len();
        let mut i = 0;
        self.entries.retain(|_| {
            let keep_it = !drop[i];
            i += 1;
            keep_it
        });
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    fn actor(name: &str) -> Actor {
        Actor::new(NodeId::new(name).unwrap(), 0)
    }

    fn clock(pairs: &[(&str, u64, u64)]) -> VClock {
        VClock::from_entries(
            pairs
                .iter()
                .filter_map(|&(a, c, t)| Entry::new(actor(a), c, Timestamp(t))),
        )
    }

    #[test]
    fn increment_counts_per_actor() {
        let mut c = VClock::new();
        assert_eq!(c.increment(&actor("a"), Timestamp(5)), 1);
        assert_eq!(c.increment(&actor("a"), Timestamp(6)), 2);
        assert_eq!(c.increment(&actor("b"), Timestamp(7)), 1);
        assert_eq!(c.get(&actor("a")), 2);
        assert_eq!(c.entry(&actor("a")).unwrap().timestamp(), Timestamp(6));
        assert_eq!(c.get(&actor("z")), 0);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn paper_figure_3() {
        // D1 [Sx,1] -> D2 [Sx,2] -> D3 [Sx,2][Sy,1] and D4 [Sx,2][Sz,1] -> D5 [Sx,3][Sy,1][Sz,1]
        let (sx, sy, sz) = (actor("sx"), actor("sy"), actor("sz"));
        let mut d1 = VClock::new();
        d1.increment(&sx, Timestamp(1));
        let mut d2 = d1.clone();
        d2.increment(&sx, Timestamp(2));
        let mut d3 = d2.clone();
        d3.increment(&sy, Timestamp(3));
        let mut d4 = d2.clone();
        d4.increment(&sz, Timestamp(4));
        assert!(d2.dominates(&d1));
        assert_eq!(d3.compare(&d4), Causality::Concurrent);
        let mut d5 = d3.clone();
        d5.merge(&d4);
        d5.increment(&sx, Timestamp(5));
        assert_eq!(d5, clock(&[("sx", 3, 5), ("sy", 1, 3), ("sz", 1, 4)]));
        assert!(d5.dominates(&d3) && d5.dominates(&d4) && d5.dominates(&d1));
        assert_eq!(d1.compare(&d5), Causality::Before);
        assert_eq!(d5.compare(&d5.clone()), Causality::Equal);
    }

    #[test]
    fn empty_clock_is_the_bottom() {
        let c = clock(&[("a", 1, 1)]);
        assert!(c.descends(&VClock::new()));
        assert!(c.dominates(&VClock::new()));
        assert!(VClock::new().descends(&VClock::new()));
        assert!(!VClock::new().descends(&c));
    }

    #[test]
    fn merge_takes_maximum_with_its_timestamp() {
        let mut a = clock(&[("a", 3, 30), ("b", 1, 10)]);
        let b = clock(&[("a", 2, 99), ("b", 4, 40), ("c", 1, 5)]);
        a.merge(&b);
        assert_eq!(a, clock(&[("a", 3, 30), ("b", 4, 40), ("c", 1, 5)]));
    }

    #[test]
    fn truncate_drops_oldest_first() {
        let mut c = clock(&[("a", 1, 30), ("b", 1, 10), ("c", 1, 20), ("d", 1, 40)]);
        assert_eq!(c.truncate(2), 2);
        assert_eq!(c, clock(&[("a", 1, 30), ("d", 1, 40)]));
        assert_eq!(c.truncate(5), 0);
    }

    #[test]
    fn truncate_keeping_spares_the_writer() {
        let mut c = clock(&[("a", 1, 30), ("b", 1, 10), ("c", 1, 20)]);
        c.truncate_keeping(1, &actor("b"));
        assert_eq!(c, clock(&[("b", 1, 10)]));
        c.truncate_keeping(0, &actor("b"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn truncation_can_make_a_descendant_look_concurrent() {
        // b = {x:1}, a = b + y:1 + z:1 dominates b; truncating a to 2 entries drops x
        // (oldest), and a no longer looks like it descends b.
        let b = clock(&[("x", 1, 1)]);
        let mut a = b.clone();
        a.increment(&actor("y"), Timestamp(2));
        a.increment(&actor("z"), Timestamp(3));
        assert!(a.dominates(&b));
        a.truncate(2);
        assert_eq!(a.compare(&b), Causality::Concurrent);
    }

    #[test]
    fn truncating_the_ancestor_without_the_dot_can_invert_the_order() {
        // The danger the dot-keeping rule avoids: a = {x:2, y:5} written by x after
        // b = {x:1, y:5}; truncating a to one entry by age drops x, leaving {y:5}, which b
        // now dominates: the newer write would look obsolete.
        let b = clock(&[("x", 1, 1), ("y", 5, 2)]);
        let mut a = b.clone();
        a.advance(&actor("x"), 2, Timestamp(0)); // the writer's clock ran behind
        let mut plain = a.clone();
        plain.truncate(1);
        assert!(b.dominates(&plain));
        let mut kept = a.clone();
        kept.truncate_keeping(1, &actor("x"));
        assert!(!b.descends(&kept));
    }
}
