//! A minimal failure view over a static member list: which peers this node currently
//! believes reachable.
//!
//! A peer that leaves a request unanswered until its timeout is marked down; any message from
//! it marks it up again. Down peers are pinged every probe interval so that one that recovers
//! is noticed even if it has nothing to say. Preference lists skip down peers (sloppy
//! quorum). This is a stand-in:
//! the gossip membership (`membership.rs`) and the failure detector (`failure.rs`, with
//! thresholds and probes) replace it, behind the same three questions: who is a member, is a
//! peer up, and what changed.

use std::collections::BTreeSet;

use crate::ids::{NodeId, Timestamp};

/// The static membership and the set of peers believed down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticView {
    me: NodeId,
    members: Vec<NodeId>,
    down: BTreeSet<NodeId>,
    next_probe: Option<Timestamp>,
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
            next_probe: None,
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

    /// Marks `node` unreachable at `now`, scheduling a probe `probe_ms` later if none is;
    /// true when that is a change.
    pub fn mark_down(&mut self, node: &NodeId, now: Timestamp, probe_ms: u64) -> bool {
        let changed =
            *node != self.me && self.members.contains(node) && self.down.insert(node.clone());
        if changed && self.next_probe.is_none() {
            self.next_probe = Some(Timestamp(now.0.saturating_add(probe_ms)));
        }
        changed
    }

    /// The peers believed down.
    pub fn down(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.down.iter()
    }

    /// When down peers are due to be probed next (`None` when every peer is up).
    pub fn next_probe(&self) -> Option<Timestamp> {
        self.next_probe.filter(|_| !self.down.is_empty())
    }

    /// The peers to ping now, if the probe is due; schedules the next one `probe_ms` later.
    pub fn due_probes(&mut self, now: Timestamp, probe_ms: u64) -> Vec<NodeId> {
        match self.next_probe() {
            Some(t) if t <= now => {
                self.next_probe = Some(Timestamp(now.0.saturating_add(probe_ms)));
                self.down.iter().cloned().collect()
            }
            _ => {
                if self.down.is_empty() {
                    self.next_probe = None;
                }
                Vec::new()
            }
        }
    }

    /// Marks `node` reachable (a message arrived from it); true when that is a change.
    pub fn mark_up(&mut self, node: &NodeId) -> bool {
        let changed = self.down.remove(node);
        if self.down.is_empty() {
            self.next_probe = None;
        }
        changed
    }
}
