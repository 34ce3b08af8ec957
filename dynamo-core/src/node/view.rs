//! A minimal failure view over a static member list: which peers this node currently
//! believes reachable.
//!
//! A peer that leaves a request unanswered until its timeout is marked down; any message from
//! it marks it up again. Preference lists skip down peers (sloppy quorum). This is a stand-in:
//! the gossip membership (`membership.rs`) and the failure detector (`failure.rs`, with
//! thresholds and probes) replace it, behind the same three questions: who is a member, is a
//! peer up, and what changed.

use std::collections::BTreeSet;

use crate::ids::NodeId;

/// The static membership and the set of peers believed down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticView {
    me: NodeId,
    members: Vec<NodeId>,
    down: BTreeSet<NodeId>,
}

impl StaticView {
    /// A view of `members` (sorted here), all believed up.
    pub fn new(me: NodeId, mut members: Vec<NodeId>) -> Self {
        members.sort();
        members.dedup();
        StaticView {
            me,
            members,
            down: BTreeSet::new(),
        }
    }

    /// The members, sorted.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// True when `node` is believed reachable (this node always is).
    pub fn is_up(&self, node: &NodeId) -> bool {
        *node == self.me || !self.down.contains(node)
    }

    /// Marks `node` unreachable; true when that is a change.
    pub fn mark_down(&mut self, node: &NodeId) -> bool {
        *node != self.me && self.members.contains(node) && self.down.insert(node.clone())
    }

    /// Marks `node` reachable (a message arrived from it); true when that is a change.
    pub fn mark_up(&mut self, node: &NodeId) -> bool {
        self.down.remove(node)
    }
}
