//! Hinted handoff (paper §4.6): a substitute that kept writes for an unreachable node delivers
//! them once that node is reachable again, and drops each hint only after the intended node
//! acknowledged holding it durably.
//!
//! # How it works
//!
//! A substitute keeps a hint in the `hints` keyspace under `be16(len(target)) ++ target ++
//! data key` (see [`store`](super::store)), so the hints for one node are one range.
//! [`Handoff`] pages through them:
//!
//! - **Rounds.** Every `interval` (and whenever an acknowledgement frees a slot), for each
//!   intended node the failure view reports reachable, it sends
//!   [`PeerMessage::HintDeliver`] for hints not already in flight, at most `max_in_flight`
//!   per target, resuming after the last hint looked at (round-robin, so that a hint the
//!   target never acknowledges, or a key that does not decode, cannot starve the others).
//! - **Delivery.** The target merges the record into its data through group commit and
//!   answers [`PeerMessage::HintAck`] only once that commit is durable.
//! - **Acknowledgement.** The substitute deletes the hint — through group commit — only if the
//!   stored record is byte-for-byte the one it sent. A write merged into the hint meanwhile
//!   makes it differ: the hint is kept and sent again in a later round, so that write is not
//!   lost.
//! - **Loss.** A delivery unanswered after `timeout` is forgotten (the hint becomes eligible
//!   again); the target is then tried less often (exponential backoff up to 32 intervals,
//!   reset by any acknowledgement).
//!
//! Duplicated, reordered and lost messages are harmless: the target merges (idempotent), an
//! acknowledgement names a delivery by an id unique to this node, and an acknowledgement for a
//! delivery no longer in flight (already acknowledged, timed out, or from before a restart) is
//! ignored. Ids start at the node's start time in milliseconds times 2^20, so a restarted node
//! does not reuse the ids of an earlier run (unless that run sent more than 2^20 deliveries per
//! millisecond it ran, or the clock went back between runs).
//!
//! **A target that left.** While the intended node is in the ring, its hints go to it alone,
//! when the failure view reports it reachable. Once it has left the ring (a leave completed
//! while it was unreachable) they go to the key's current replicas instead: to the first
//! reachable one, or — when this node is one of them — into this node's own data, the hint
//! deleted in the same batch. Anti-entropy spreads the key to the other replicas.
//!
//! Hints live in the engine, so they survive a restart; a node restarted on its engine runs a
//! round at once and resumes delivery.
//!
//! Rounds happen only while hints may exist: when a round finds none, handoff sleeps until the
//! store reports a new hint write ([`Store::hint_writes`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;
use engine_api::{KeyRange, StorageEngine, prefix_successor};

use super::store::{KeyAt, Location, Store, StoreError, Waiter, hint_prefix};
use super::{NodeEvent, Output};
use crate::ids::{NodeId, Timestamp};
use crate::proto::PeerMessage;
use crate::ring::{PartitionId, decode_storage_key};

/// Default number of deliveries in flight per target.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Longest backoff after unanswered deliveries, in rounds (`interval` × 2^5).
const MAX_BACKOFF_SHIFT: u32 = 5;

/// How handoff paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoffConfig {
    /// Time between delivery rounds, ms (0 is taken as 1).
    pub interval_ms: u64,
    /// Deliveries awaiting acknowledgement per target (0 is taken as 1): the throttle that
    /// keeps handoff from flooding a node that just came back.
    pub max_in_flight: usize,
    /// How long a delivery may stay unacknowledged before it is sent again, ms.
    pub timeout_ms: u64,
    /// The node's shard this handoff runs in: it delivers the hints of the shard's
    /// partitions only, and tags its delivery ids with the shard.
    pub shard: super::Shard,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            interval_ms: 1_000,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            timeout_ms: 1_000,
            shard: super::Shard::default(),
        }
    }
}

/// Where a hint goes now, as the node's ring and failure view see it (the node answers for
/// each hint with [`Handoff::poll`]'s `route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Send it to this node: the intended node while it is in the ring, else a current
    /// replica of the key.
    Node(NodeId),
    /// This node is now a replica of the key (the intended node left the ring): merge the
    /// hint into the local data.
    Local,
    /// Nobody to send it to now (the node is unreachable): keep it.
    Wait,
}

/// The routing question handoff asks the node: where the hint kept for `target` of a key in
/// `partition` and `bucket` goes now.
pub type Route<'a> = &'a dyn Fn(&NodeId, PartitionId, &[u8]) -> Destination;

/// One delivery awaiting its acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    /// The node the hint is kept for.
    target: NodeId,
    /// The node it was sent to (the target, or a current replica if the target left).
    dest: NodeId,
    /// The hint's engine key.
    hint_key: Bytes,
    partition: PartitionId,
    bucket: Bytes,
    key: Bytes,
    /// The record as sent (and as stored when sent).
    record: Bytes,
    deadline: Timestamp,
}

/// Per intended node: what is in flight, where the last round stopped, backoff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Target {
    /// Engine keys of the hints in flight.
    in_flight: BTreeSet<Bytes>,
    /// Engine key of the last hint looked at by a round.
    cursor: Option<Bytes>,
    /// Consecutive rounds whose deliveries went unanswered.
    failures: u32,
    /// No delivery before this time (backoff).
    retry_at: Timestamp,
}

/// The hinted-handoff state of one node; see the [module documentation](self).
///
/// Sans-IO like the node: the node calls [`poll`](Self::poll) on every tick,
/// [`acked`](Self::acked) on every [`PeerMessage::HintAck`], and adds
/// [`next_deadline`](Self::next_deadline) to its own. A hint's deletion is staged with a
/// [`Waiter::HintDeleted`], which the node counts once its commit succeeded.
#[derive(Debug, Clone)]
pub struct Handoff {
    config: HandoffConfig,
    next_id: u64,
    now: Timestamp,
    /// Hints may exist: rounds are scheduled.
    active: bool,
    next_round: Timestamp,
    /// [`Store::hint_writes`] when last looked at.
    seen_hint_writes: u64,
    in_flight: BTreeMap<u64, InFlight>,
    targets: BTreeMap<NodeId, Target>,
    /// Targets to top up at the next poll (an acknowledgement freed a slot).
    refill: BTreeSet<NodeId>,
}

impl Handoff {
    /// Handoff for a node starting at `now`: it looks for hints at its first poll (hints kept
    /// before a restart are delivered without waiting for a new write).
    pub fn new(mut config: HandoffConfig, now: Timestamp) -> Self {
        config.interval_ms = config.interval_ms.max(1);
        config.max_in_flight = config.max_in_flight.max(1);
        Handoff {
            config,
            next_id: now.millis().saturating_mul(1 << 20),
            now,
            active: true,
            next_round: now,
            seen_hint_writes: 0,
            in_flight: BTreeMap::new(),
            targets: BTreeMap::new(),
            refill: BTreeSet::new(),
        }
    }

    /// The pacing in force.
    pub fn config(&self) -> &HandoffConfig {
        &self.config
    }

    /// When handoff next needs a poll: now when an acknowledgement freed a slot, else the
    /// earliest delivery timeout or the next round while hints may exist; `None` when idle.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if !self.refill.is_empty() {
            return Some(self.now);
        }
        self.in_flight
            .values()
            .map(|f| f.deadline)
            .chain(self.active.then_some(self.next_round))
            .min()
    }

    /// Deliveries awaiting acknowledgement, to all targets.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Deliveries awaiting acknowledgement from `target`.
    pub fn in_flight_to(&self, target: &NodeId) -> usize {
        self.targets.get(target).map_or(0, |t| t.in_flight.len())
    }

    /// Expires unanswered deliveries and, when a round is due (or acknowledgements freed
    /// slots), sends deliveries for the hints of every target, each where `route` says
    /// (merging locally those whose target left the ring when this node now holds the key).
    /// Call after the group commit of a tick, so that the scan sees the latest hints.
    /// Returns the messages to send and events (a corrupt hint is reported and dropped).
    pub fn poll<E: StorageEngine>(
        &mut self,
        now: Timestamp,
        store: &mut Store<E>,
        route: impl Fn(&NodeId, PartitionId, &[u8]) -> Destination,
    ) -> Vec<Output> {
        self.now = now;
        let mut out = Vec::new();
        self.expire(now);
        if store.hint_writes() != self.seen_hint_writes {
            self.seen_hint_writes = store.hint_writes();
            if !self.active {
                self.active = true;
                self.next_round = Timestamp(now.0.saturating_add(self.config.interval_ms));
            }
        }
        let round = self.active && self.next_round <= now;
        let refill = std::mem::take(&mut self.refill);
        let targets: Vec<NodeId> = if round {
            self.next_round = Timestamp(now.0.saturating_add(self.config.interval_ms));
            match targets_with_hints(store) {
                Ok(t) => {
                    if t.is_empty() {
                        self.active = false;
                    }
                    t
                }
                Err(e) => {
                    out.push(Output::Event(NodeEvent::StorageFailed(e.to_string())));
                    return out;
                }
            }
        } else {
            refill.into_iter().collect()
        };
        for target in targets {
            if let Err(e) = self.fill(&target, now, store, &route, &mut out) {
                out.push(Output::Event(NodeEvent::StorageFailed(e.to_string())));
            }
        }
        out
    }

    /// Handles `HintAck { id }` from `from`: when it answers a delivery in flight and the hint
    /// is unchanged since it was sent, stages the hint's deletion (reported as
    /// [`NodeEvent::HintsDelivered`] once committed); a hint that changed meanwhile is kept and
    /// sent again. Stale, duplicated or misdirected acknowledgements are ignored.
    pub fn acked<E: StorageEngine>(
        &mut self,
        now: Timestamp,
        from: &NodeId,
        id: u64,
        store: &mut Store<E>,
    ) -> Vec<Output> {
        self.now = now;
        match self.in_flight.get(&id) {
            Some(f) if f.dest == *from => {}
            _ => return Vec::new(),
        }
        let Some(f) = self.in_flight.remove(&id) else {
            return Vec::new();
        };
        if let Some(t) = self.targets.get_mut(&f.target) {
            t.in_flight.remove(&f.hint_key);
            t.failures = 0;
            t.retry_at = now;
        }
        self.refill.insert(f.target.clone());
        let loc = Location::Hint(f.target.clone());
        let at = KeyAt {
            partition: f.partition,
            bucket: &f.bucket,
            key: &f.key,
        };
        let target = f.target;
        let result = store.read(&loc, at).and_then(|current| {
            if current.raw.as_ref() == Some(&f.record) {
                store.stage_delete(&loc, at, &current, Waiter::HintDeleted { target })?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Vec::new(),
            Err(e) => vec![Output::Event(NodeEvent::StorageFailed(e.to_string()))],
        }
    }

    /// Forgets deliveries past their deadline; their targets back off.
    fn expire(&mut self, now: Timestamp) {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut failed = BTreeSet::new();
        for id in expired {
            if let Some(f) = self.in_flight.remove(&id) {
                if let Some(t) = self.targets.get_mut(&f.target) {
                    t.in_flight.remove(&f.hint_key);
                }
                failed.insert(f.target);
            }
        }
        for target in failed {
            if let Some(t) = self.targets.get_mut(&target) {
                let shift = t.failures.min(MAX_BACKOFF_SHIFT);
                t.failures = t.failures.saturating_add(1);
                let wait = self.config.interval_ms.saturating_mul(1 << shift);
                t.retry_at = Timestamp(now.0.saturating_add(wait));
            }
        }
    }

    /// Sends deliveries to `target` up to its in-flight limit, resuming after its cursor.
    fn fill<E: StorageEngine>(
        &mut self,
        target: &NodeId,
        now: Timestamp,
        store: &mut Store<E>,
        route: Route<'_>,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let limit = self.config.max_in_flight;
        let state = self.targets.entry(target.clone()).or_default();
        if now < state.retry_at || state.in_flight.len() >= limit {
            return Ok(());
        }
        let prefix = hint_prefix(target);
        let end = match prefix_successor(&prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        let mut ranges = Vec::with_capacity(2);
        match &state.cursor {
            Some(c) => {
                ranges.push(KeyRange {
                    start: Bound::Excluded(c.to_vec()),
                    end,
                });
                ranges.push(KeyRange {
                    start: Bound::Included(prefix.clone()),
                    end: Bound::Included(c.to_vec()),
                });
            }
            None => ranges.push(KeyRange {
                start: Bound::Included(prefix.clone()),
                end,
            }),
        }
        for range in ranges {
            let room = limit.saturating_sub(self.in_flight_to(target));
            if room == 0 {
                break;
            }
            // Enough keys to fill the room even if every one in flight comes first.
            let want = room + self.in_flight_to(target);
            let mut keys = Vec::new();
            let shard = self.config.shard;
            store.visit_hints(range, |k, _| {
                // Another shard's partitions are its to deliver.
                let theirs = k
                    .get(prefix.len()..)
                    .and_then(|dk| decode_storage_key(dk).ok())
                    .is_some_and(|sk| !shard.owns(sk.partition));
                if !theirs {
                    keys.push(k);
                }
                keys.len() < want
            })?;
            for k in keys {
                if self.in_flight_to(target) >= limit {
                    break;
                }
                // The cursor passes every key looked at, sent or not, so that keys that
                // cannot be sent (in flight, undecodable) never hold the others back.
                let state = self.targets.entry(target.clone()).or_default();
                state.cursor = Some(k.clone());
                if state.in_flight.contains(&k) {
                    continue;
                }
                self.deliver(target, k, &prefix, now, store, route, out)?;
            }
        }
        Ok(())
    }

    /// Sends the hint at engine key `k` where `route` says (if it is still there and
    /// decodes), or merges it into the local data.
    #[allow(clippy::too_many_arguments)]
    fn deliver<E: StorageEngine>(
        &mut self,
        target: &NodeId,
        k: Bytes,
        prefix: &[u8],
        now: Timestamp,
        store: &mut Store<E>,
        route: Route<'_>,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let Some(data_key) = k.get(prefix.len()..) else {
            return Ok(());
        };
        let Ok(sk) = decode_storage_key(data_key) else {
            // Not a key this node writes; leave it alone.
            return Ok(());
        };
        let loc = Location::Hint(target.clone());
        let at = KeyAt {
            partition: sk.partition,
            bucket: sk.bucket,
            key: sk.key,
        };
        let current = store.read(&loc, at)?;
        if let Some(error) = current.corrupt.clone() {
            // Undeliverable: drop it (anti-entropy restores the key from the replicas).
            store.stage_delete(&loc, at, &current, Waiter::Nobody)?;
            out.push(Output::Event(NodeEvent::CorruptRecord {
                location: loc,
                bucket: Bytes::copy_from_slice(sk.bucket),
                key: Bytes::copy_from_slice(sk.key),
                error,
            }));
            return Ok(());
        }
        let Some(record) = current.raw.clone() else {
            // Deleted by a staged write (delivered meanwhile).
            return Ok(());
        };
        let dest = match route(target, sk.partition, sk.bucket) {
            Destination::Wait => return Ok(()),
            Destination::Node(d) => d,
            Destination::Local => {
                // The intended node left the ring and this node now holds the key: the hint
                // becomes data here, its deletion in the same batch (atomic).
                if let Some(set) = &current.set {
                    store.merge_in(&Location::Data, at, set, Waiter::Nobody)?;
                    let waiter = Waiter::HintDeleted {
                        target: target.clone(),
                    };
                    store.stage_delete(&loc, at, &current, waiter)?;
                }
                return Ok(());
            }
        };
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.config.shard.tag(self.next_id);
        let bucket = Bytes::copy_from_slice(sk.bucket);
        let key = Bytes::copy_from_slice(sk.key);
        out.push(Output::Send {
            to: dest.clone(),
            message: PeerMessage::HintDeliver {
                id,
                bucket: bucket.clone(),
                key: key.clone(),
                record: record.clone(),
            },
        });
        let state = self.targets.entry(target.clone()).or_default();
        state.in_flight.insert(k.clone());
        self.in_flight.insert(
            id,
            InFlight {
                target: target.clone(),
                dest,
                hint_key: k.clone(),
                partition: sk.partition,
                bucket,
                key,
                record,
                deadline: Timestamp(now.0.saturating_add(self.config.timeout_ms)),
            },
        );
        Ok(())
    }
}

/// The nodes this node keeps hints for (committed hints), each found by one seek: after the
/// first hint of a target the scan jumps past that target's prefix.
///
/// # Errors
/// [`StoreError::Engine`] when the scan fails.
pub fn targets_with_hints<E: StorageEngine>(store: &Store<E>) -> Result<Vec<NodeId>, StoreError> {
    let mut targets = Vec::new();
    let mut start: Bound<Vec<u8>> = Bound::Unbounded;
    loop {
        let mut first = None;
        store.visit_hints(
            KeyRange {
                start: start.clone(),
                end: Bound::Unbounded,
            },
            |k, _| {
                first = Some(k);
                false
            },
        )?;
        let Some(k) = first else {
            return Ok(targets);
        };
        let prefix = match target_of(&k) {
            Some((target, len)) => {
                targets.push(target);
                k.get(..len).unwrap_or(&k[..]).to_vec()
            }
            // A key that names no node: step over it alone.
            None => k.to_vec(),
        };
        match prefix_successor(&prefix) {
            Some(next) => start = Bound::Included(next),
            None => return Ok(targets),
        }
    }
}

/// Hints kept here per target node (committed hints), for status pages.
///
/// # Errors
/// [`StoreError::Engine`] when the scan fails.
pub fn pending<E: StorageEngine>(store: &Store<E>) -> Result<BTreeMap<NodeId, usize>, StoreError> {
    let mut counts = BTreeMap::new();
    for target in targets_with_hints(store)? {
        let mut n = 0usize;
        store.visit_hints(KeyRange::prefix(&hint_prefix(&target)), |_, _| {
            n += 1;
            true
        })?;
        counts.insert(target, n);
    }
    Ok(counts)
}

/// The target named by a hint key and the length of its prefix, if the key is well formed.
fn target_of(k: &[u8]) -> Option<(NodeId, usize)> {
    let len = u16::from_be_bytes([*k.first()?, *k.get(1)?]) as usize;
    let name = k.get(2..2 + len)?;
    let name = std::str::from_utf8(name).ok()?;
    let target = NodeId::new(name).ok()?;
    Some((target, 2 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_key_names_its_target() {
        let n = NodeId::new("node-7").unwrap_or_else(|_| unreachable!());
        let mut k = hint_prefix(&n);
        let len = k.len();
        k.extend_from_slice(b"rest of the key");
        assert_eq!(target_of(&k), Some((n, len)));
        assert_eq!(target_of(&[0, 9, b'a']), None, "truncated");
        assert_eq!(target_of(&[0]), None);
    }

    #[test]
    fn idle_handoff_sleeps_and_ids_start_at_the_start_time() {
        let mut h = Handoff::new(HandoffConfig::default(), Timestamp(5));
        assert_eq!(
            h.next_deadline(),
            Some(Timestamp(5)),
            "looks for hints at once"
        );
        h.active = false;
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.next_id, 5 << 20);
    }
}
