//! The causal context: the set of write events a client (or a replica) has seen.
//!
//! A client that reads a key receives, besides the values, a context naming every version it
//! has just seen. When it writes back, it hands the context in; the coordinator then knows
//! exactly which versions the new value replaces (those the context has seen) and which it
//! must keep beside it as siblings (those written concurrently, unseen by the client). This
//! is the paper's "context" (§4.4), made exact.
//!
//! A context is a set of [dots](Dot) (write events), stored compactly as
//!
//! - a **version vector** ([`VClock`]): `actor → n` meaning "events 1..=n of `actor`", and
//! - a **dot cloud**: isolated events above the vector (`actor:n+2` without `actor:n+1`),
//!   which a client collects when it writes without reading first: it has seen its own write
//!   but not the events numbered before it by the same coordinator.
//!
//! The representation is normalised (cloud dots that the vector covers are dropped, dots
//! contiguous with the vector are folded into it), so equal sets of events are equal values.
//! The same type serves all three versioning modes: under vector clocks only the vector part
//! is used; dotted version vectors use both; last-write-wins keeps it only so that clients
//! always get a token.
//!
//! On the wire a context is an opaque, versioned and checksummed base64 token:
//! [`Context::to_token`] and [`Context::from_token`].

use std::collections::BTreeMap;

use crate::Timestamp;

use super::actor::{Actor, Dot};
use super::vclock::VClock;

/// A set of write events seen; see the [module documentation](self).
///
/// The empty context (the default) is what a client without a previous read sends: it has
/// seen nothing, so its write replaces nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Context {
    clock: VClock,
    cloud: BTreeMap<Dot, Timestamp>,
}

impl Context {
    /// The empty context: nothing seen.
    pub fn new() -> Self {
        Context::default()
    }

    /// The context that has seen exactly the events a vector clock counts.
    pub fn from_clock(clock: VClock) -> Self {
        Context {
            clock,
            cloud: BTreeMap::new(),
        }
    }

    /// Builds a context from a vector and isolated dots (with the time of each event);
    /// the result is normalised.
    pub fn from_parts(clock: VClock, dots: impl IntoIterator<Item = (Dot, Timestamp)>) -> Self {
        let mut ctx = Context::from_clock(clock);
        for (dot, ts) in dots {
            ctx.insert_dot(dot, ts);
        }
        ctx.normalize();
        ctx
    }

    /// The version-vector part: per actor, the contiguous prefix of events seen.
    pub fn clock(&self) -> &VClock {
        &self.clock
    }

    /// The isolated events above the vector, in order, with the time each happened.
    pub fn cloud(&self) -> impl ExactSizeIterator<Item = (&Dot, Timestamp)> + '_ {
        self.cloud.iter().map(|(d, t)| (d, *t))
    }

    /// True when no event has been seen.
    pub fn is_empty(&self) -> bool {
        self.clock.is_empty() && self.cloud.is_empty()
    }

    /// Size of the representation: vector entries plus isolated dots.
    pub fn len(&self) -> usize {
        self.clock.len() + self.cloud.len()
    }

    /// True when the event `dot` has been seen.
    pub fn covers(&self, dot: &Dot) -> bool {
        self.clock.covers(dot) || self.cloud.contains_key(dot)
    }

    /// The highest counter of `actor` seen (0 if none): a coordinator numbers its next event
    /// one above the highest it knows of, so that the new dot is fresh.
    pub fn max_counter(&self, actor: &Actor) -> u64 {
        let in_cloud = self
            .cloud
            .range(Dot::new(actor.clone(), 0)..=Dot::new(actor.clone(), u64::MAX))
            .next_back()
            .map_or(0, |(d, _)| d.counter);
        self.clock.get(actor).max(in_cloud)
    }

    /// Adds one event, which happened at `timestamp`.
    pub fn add(&mut self, dot: Dot, timestamp: Timestamp) {
        self.insert_dot(dot, timestamp);
        self.normalize();
    }

    /// True when every event of `other` has been seen by `self`.
    pub fn descends(&self, other: &Context) -> bool {
        // Normalised: the vector of `self` is followed by a gap for every actor, so the
        // cloud cannot extend it and the vectors must compare directly.
        self.clock.descends(&other.clock) && other.cloud.keys().all(|d| self.covers(d))
    }

    /// Adds every event of `other` (set union). Commutative, associative and idempotent.
    pub fn merge(&mut self, other: &Context) {
        self.clock.merge(&other.clock);
        for (dot, ts) in &other.cloud {
            self.insert_dot(dot.clone(), *ts);
        }
        self.normalize();
    }

    fn insert_dot(&mut self, dot: Dot, ts: Timestamp) {
        if dot.counter == 0 || self.clock.covers(&dot) {
            return;
        }
        let slot = self.cloud.entry(dot).or_insert(ts);
        *slot = (*slot).max(ts);
    }

    /// Drops cloud dots the vector covers and folds contiguous ones into it.
    fn normalize(&mut self) {
        if self.cloud.is_empty() {
            return;
        }
        let cloud = std::mem::take(&mut self.cloud);
        for (dot, ts) in cloud {
            let have = self.clock.get(&dot.actor);
            if dot.counter <= have {
                continue;
            }
            if dot.counter == have + 1 {
                self.clock.advance(&dot.actor, dot.counter, ts);
            } else {
                self.cloud.insert(dot, ts);
            }
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

    fn dot(name: &str, n: u64) -> Dot {
        Dot::new(actor(name), n)
    }

    #[test]
    fn dots_fold_into_the_vector_when_contiguous() {
        let mut c = Context::new();
        c.add(dot("a", 3), Timestamp(3));
        assert_eq!(c.clock().get(&actor("a")), 0);
        assert!(c.covers(&dot("a", 3)) && !c.covers(&dot("a", 2)));
        assert_eq!(c.max_counter(&actor("a")), 3);
        c.add(dot("a", 1), Timestamp(1));
        c.add(dot("a", 2), Timestamp(2));
        assert_eq!(c.clock().get(&actor("a")), 3);
        assert_eq!(
            c.clock().entry(&actor("a")).unwrap().timestamp(),
            Timestamp(3)
        );
        assert_eq!(c.cloud().len(), 0);
    }

    #[test]
    fn descends_is_set_inclusion() {
        let mut small = Context::new();
        small.add(dot("a", 2), Timestamp(0));
        let mut big = Context::new();
        big.add(dot("a", 1), Timestamp(0));
        assert!(!big.descends(&small) && !small.descends(&big));
        big.add(dot("a", 2), Timestamp(0));
        assert!(big.descends(&small) && !small.descends(&big));
        assert!(big.descends(&Context::new()));
    }

    #[test]
    fn merge_is_union() {
        let mut x = Context::new();
        x.add(dot("a", 1), Timestamp(1));
        x.add(dot("b", 3), Timestamp(3));
        let mut y = Context::new();
        y.add(dot("b", 1), Timestamp(1));
        y.add(dot("b", 2), Timestamp(2));
        let mut xy = x.clone();
        xy.merge(&y);
        let mut yx = y.clone();
        yx.merge(&x);
        assert_eq!(xy, yx);
        assert_eq!(xy.clock().get(&actor("b")), 3);
        assert!(
            xy.cloud()
                .all(|(d, _)| d.counter > xy.clock().get(&d.actor) + 1)
        );
        assert!(xy.descends(&x) && xy.descends(&y));
    }
}
