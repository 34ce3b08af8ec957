//! Actors (who counts events) and dots (one event of one actor).

use std::fmt;

use crate::NodeId;

/// The identity that numbers write events in clocks: a node *in one epoch of its life*.
///
/// A node that loses its data (disk wiped, unclean crash with buffered writes lost) must not
/// number new events with counters that older clocks on other replicas already hold, or its
/// new writes would look already seen and be dropped (Riak's KV679 data-loss bug). It
/// therefore starts a new epoch, which makes it a new actor with fresh counters; see
/// [`super::epoch`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Actor {
    node: NodeId,
    epoch: u64,
}

impl Actor {
    /// The actor of `node` in `epoch`.
    pub fn new(node: NodeId, epoch: u64) -> Self {
        Actor { node, epoch }
    }

    /// The node this actor runs on.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The epoch of the node's life this actor stands for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/e{}", self.node, self.epoch)
    }
}

/// One event: the `counter`-th write numbered by `actor`.
///
/// Every version a coordinator creates gets a fresh dot, unique in the whole history of the
/// key (counters of one actor only grow, and a node that may have forgotten its counters
/// becomes a new [`Actor`]). A dot therefore names a version exactly, which is what lets a
/// context say "I saw *this* value" rather than "I saw everything up to here".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    /// Who numbered the event.
    pub actor: Actor,
    /// Its number, starting at 1.
    pub counter: u64,
}

impl Dot {
    /// The dot `(actor, counter)`.
    pub fn new(actor: Actor, counter: u64) -> Self {
        Dot { actor, counter }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.actor, self.counter)
    }
}
