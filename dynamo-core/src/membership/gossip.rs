//! When to gossip and to whom.

use std::time::Duration;

use crate::rng::Rng;
use crate::{NodeId, Timestamp};

/// The paper's gossip period: one exchange with a random peer every second.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_secs(1);

/// Every this many rounds, gossip goes to a peer marked unreachable, if there is one.
///
/// A node that can receive but not send (a one-way partition) is marked down by every peer,
/// since it never answers; if gossip went only to reachable peers, it would learn no
/// membership change until the cut healed. Pushing to it now and then keeps it current, at the
/// cost of one message every few rounds while a peer is down.
pub const UNREACHABLE_EVERY: u64 = 4;

/// Schedules gossip: every `interval`, one peer chosen uniformly at random (from the
/// caller's seeded [`Rng`]) among the reachable ones — and every [`UNREACHABLE_EVERY`]th round
/// among the unreachable ones, if any. Pure: the caller passes `now` and asks
/// [`Gossiper::next_deadline`] when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossiper {
    interval_ms: u64,
    next_at: Timestamp,
    rounds: u64,
}

impl Gossiper {
    /// A gossiper whose first round is due at `now`. A zero interval counts as 1 ms.
    pub fn new(interval: Duration, now: Timestamp) -> Self {
        let interval_ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Gossiper {
            interval_ms,
            next_at: now,
            rounds: 0,
        }
    }

    /// The interval between rounds.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// When the next round is due.
    pub fn next_deadline(&self) -> Timestamp {
        self.next_at
    }

    /// Makes the next round due at `now` (e.g. right after a local change worth spreading).
    pub fn hurry(&mut self, now: Timestamp) {
        self.next_at = self.next_at.min(now);
    }

    /// When a round is due at `now`: schedules the next one `interval` later and returns the
    /// peer to send the local state to — one of `peers`, never `me`, for which `reachable`
    /// holds, chosen with `rng`. Returns `None` when no round is due, or when no peer is
    /// reachable (the round is skipped).
    pub fn poll<'a, I>(
        &mut self,
        now: Timestamp,
        me: &NodeId,
        peers: I,
        reachable: impl Fn(&NodeId) -> bool,
        rng: &mut Rng,
    ) -> Option<NodeId>
    where
        I: IntoIterator<Item = &'a NodeId>,
    {
        if now < self.next_at {
            return None;
        }
        self.next_at = Timestamp(now.0.saturating_add(self.interval_ms));
        self.rounds = self.rounds.wrapping_add(1);
        let mut others: Vec<&NodeId> = peers.into_iter().filter(|p| *p != me).collect();
        others.sort();
        others.dedup();
        let (up, down): (Vec<&NodeId>, Vec<&NodeId>) =
            others.into_iter().partition(|p| reachable(p));
        let candidates = if self.rounds.is_multiple_of(UNREACHABLE_EVERY) && !down.is_empty() {
            down
        } else {
            up
        };
        rng.choose(&candidates).map(|p| (*p).clone())
    }
}
