//! Actor epochs: never reuse a counter after losing data (Riak's KV679).
//!
//! A coordinator numbers a key's new version one above the highest counter of its own actor
//! that it finds in its local copy. If the node lost that copy (disk replaced, data
//! directory wiped, or an unclean crash that dropped writes not yet synced), it would hand
//! out counters again that older clocks on other replicas already hold. Its new write would
//! then look *already seen* to those replicas and be dropped on merge, silently: Riak's
//! KV679 bug.
//!
//! The fix is to make the node a new actor whenever it may have forgotten: the actor is
//! `(node, epoch)`, and the epoch is stored durably in the node's meta keyspace. This module
//! is the pure decision; the node stores the [`EpochState`] (encoded with
//! [`crate::record::encode_epoch_state`]):
//!
//! 1. at start, [`EpochState::on_start`] with what the meta keyspace holds; persist the
//!    returned state (durably, before serving any write) and use its
//!    [`actor`](EpochState::actor);
//! 2. at a clean shutdown, after flushing the data, persist
//!    [`EpochState::clean_shutdown`].
//!
//! A clean restart keeps its epoch (no counter can have been lost); anything else (no state
//! because the disk was wiped, or no clean-shutdown mark because the process crashed) starts
//! a new epoch above every epoch this node could have used: above the stored one, above any
//! epoch of this node seen elsewhere in the cluster, and at least the current time in
//! milliseconds, so that a node with a blank disk still moves forward as long as its clock
//! does.
//!
//! Restoring a data directory from a backup must delete the epoch state (the data is older
//! than the counters the node issued since), and so must dropping a partition's data.

use crate::{NodeId, Timestamp};

use super::actor::Actor;

/// What a node keeps in its meta keyspace about its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochState {
    /// The epoch in use (or last used).
    pub epoch: u64,
    /// True only when written by a clean shutdown after all data was flushed.
    pub clean_shutdown: bool,
}

impl EpochState {
    /// The epoch to run with, given the state found in meta storage at start (`None` when
    /// there is none: a new node, or a wiped one), the current time, and the highest epoch of
    /// this node seen anywhere in the cluster if known. The result, marked not clean, must be
    /// persisted durably before the node coordinates any write.
    pub fn on_start(
        stored: Option<EpochState>,
        now: Timestamp,
        highest_seen: Option<u64>,
    ) -> EpochState {
        if let Some(s) = stored
            && s.clean_shutdown
            && highest_seen.is_none_or(|h| h <= s.epoch)
        {
            return EpochState {
                epoch: s.epoch,
                clean_shutdown: false,
            };
        }
        let floor = [
            stored.map(|s| s.epoch.saturating_add(1)),
            highest_seen.map(|h| h.saturating_add(1)),
            Some(now.millis()),
        ];
        EpochState {
            epoch: floor.into_iter().flatten().max().unwrap_or(0),
            clean_shutdown: false,
        }
    }

    /// The state to persist at a clean shutdown, after the data has been flushed.
    pub fn clean_shutdown(self) -> EpochState {
        EpochState {
            epoch: self.epoch,
            clean_shutdown: true,
        }
    }

    /// The actor this node writes as in this epoch.
    pub fn actor(&self, node: NodeId) -> Actor {
        Actor::new(node, self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_restart_keeps_the_epoch() {
        let running = EpochState::on_start(None, Timestamp(1_000), None);
        assert_eq!(running.epoch, 1_000);
        assert!(!running.clean_shutdown);
        let after = EpochState::on_start(Some(running.clean_shutdown()), Timestamp(5_000), None);
        assert_eq!(after.epoch, 1_000);
    }

    #[test]
    fn crash_starts_a_new_epoch_even_if_the_clock_went_back() {
        let running = EpochState {
            epoch: 9_000,
            clean_shutdown: false,
        };
        let next = EpochState::on_start(Some(running), Timestamp(10), None);
        assert_eq!(next.epoch, 9_001);
    }

    #[test]
    fn wiped_node_moves_past_what_the_cluster_saw() {
        let next = EpochState::on_start(None, Timestamp(10), Some(500));
        assert_eq!(next.epoch, 501);
        // A clean state older than what the cluster saw (a restored backup) is not trusted.
        let stale = EpochState {
            epoch: 400,
            clean_shutdown: true,
        };
        assert_eq!(
            EpochState::on_start(Some(stale), Timestamp(10), Some(500)).epoch,
            501
        );
    }

    #[test]
    fn actor_carries_the_epoch() {
        let s = EpochState {
            epoch: 7,
            clean_shutdown: false,
        };
        let a = s.actor(NodeId::new("n1").unwrap());
        assert_eq!(a.epoch(), 7);
        assert_eq!(a.node().as_str(), "n1");
    }
}
