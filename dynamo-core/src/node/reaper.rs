//! Tombstone reaping: deletes that stay deleted, and do not stay forever.
//!
//! A delete writes a tombstone that keeps the key's causal history, so that older copies of
//! the value (on a replica that missed the delete, in a hint) are recognised as superseded
//! wherever they meet it. Removing the tombstone removes that history, so it happens only
//! when it can no longer matter:
//!
//! 1. **After a grace period** (`TombstoneConfig::grace_ms`): every sibling is a tombstone
//!    written at least that long ago. Copies kept away longer than that (a replica or hint
//!    holder cut off for longer) may bring the value back — the same contract as Cassandra's
//!    `gc_grace_seconds`.
//! 2. **Once every replica holds it, durably:** the key's first replica (the only one that
//!    proposes) asks the others with `ReapQuery` whether they hold a record with the same
//!    digest; only if all of them do does it send `Reap`, and each replica deletes the key
//!    only if its record still has that digest (a write since then is kept). Each replica
//!    answers, and the proposer sends `Reap`, only after a synced commit: a tombstone that
//!    came by read repair or anti-entropy is written buffered, and a crash that lost it after
//!    the reap would leave the value it replaced, live, on that replica.
//! 3. **When every actor in its history has retired** (announced a newer epoch in the
//!    cluster state). After the reap, a write to the key starts its counters afresh; a
//!    replica that missed the `Reap` still holds the tombstone, whose clock would cover those
//!    reused dots and silently drop the new write (KV679 again). Dots of a newer epoch are
//!    never covered. A node moves to a new epoch itself when it finds a tombstone past its
//!    grace naming its current actor, at most once per grace period.
//!
//! Each round reads at most `max_scanned_per_round` records of one partition this node
//! replicates, going on from where the last round stopped (partitions round-robin), so the
//! cost is spread like anti-entropy's and a large partition never stalls the node.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use engine_api::StorageEngine;

use super::store::{Location, StoreError, Waiter, record_digest};
use super::{Node, NodeEvent};
use crate::ids::{NodeId, Timestamp};
use crate::proto::{PeerMessage, ReapKey};
use crate::record;
use crate::ring::{PartitionId, decode_storage_key};
use crate::version::{Actor, EpochState, SiblingSet};

/// The reaper's state in a node.
#[derive(Debug)]
pub(super) struct Reaper {
    /// When the next round is due (`None`: reaping is off).
    next_due: Option<Timestamp>,
    /// Round-robin position among the partitions this node replicates.
    cursor: usize,
    /// The storage key the scan of the current partition stopped after (`None`: the
    /// partition's start).
    scan_after: Option<Bytes>,
    /// Rounds this node proposed, awaiting replies.
    rounds: BTreeMap<u64, Round>,
    next_id: u64,
    /// When this node last moved to a new epoch to retire its actor.
    last_rotation: Timestamp,
}

/// One proposal: keys asked to every other replica.
#[derive(Debug)]
struct Round {
    keys: Vec<ReapKey>,
    /// Replicas still to answer.
    waiting: BTreeSet<NodeId>,
    /// Replicas asked (the `Reap` goes to them).
    asked: Vec<NodeId>,
    /// Per key: held by every replica that answered so far.
    held: Vec<bool>,
    deadline: Timestamp,
}

impl Reaper {
    pub(super) fn new(now: Timestamp) -> Self {
        Reaper {
            next_due: Some(now),
            cursor: 0,
            scan_after: None,
            rounds: BTreeMap::new(),
            next_id: 0,
            last_rotation: now,
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.rounds
            .values()
            .map(|r| r.deadline)
            .chain(self.next_due)
            .min()
    }
}

/// A tombstone found in a scan.
struct Candidate {
    key: ReapKey,
    /// Its replicas, this node first when it proposes.
    replicas: Vec<NodeId>,
}

impl<E: StorageEngine> Node<E> {
    /// On tick: expires rounds, and runs a scan when one is due.
    pub(super) fn reap_tick(&mut self) {
        let now = self.now;
        self.reaper.rounds.retain(|_, r| r.deadline > now);
        let interval = self.config.tombstones.interval_ms;
        if interval == 0 {
            self.reaper.next_due = None;
            return;
        }
        if self.reaper.next_due.is_none_or(|d| d > now) {
            return;
        }
        self.reaper.next_due = Some(Timestamp(now.0.saturating_add(interval)));
        // Foreground work first, and no reaping while partitions move (replica sets change).
        if self.ops.len() > self.config.anti_entropy.max_open_operations
            || !self.transfers_all_done()
        {
            return;
        }
        let n = self.widest_n();
        let me = self.config.id.clone();
        let Some(ring) = self.membership.state().ring() else {
            return;
        };
        let shard = self.config.shard;
        let mut partitions = ring.partitions_replicated_by(&me, n);
        partitions.retain(|p| shard.owns(*p));
        if partitions.is_empty() {
            return;
        }
        let partition = partitions[self.reaper.cursor % partitions.len()];
        match self.reap_scan(partition) {
            Ok((candidates, names_me, after)) => {
                // The partition's end: the next round takes the next partition.
                if after.is_none() {
                    self.reaper.cursor = self.reaper.cursor.wrapping_add(1);
                }
                self.reaper.scan_after = after;
                if names_me {
                    self.retire_actor();
                }
                self.propose(candidates);
            }
            Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
        }
    }

    /// Scans the next records of `partition` (after the last round's cursor): the
    /// tombstones past their grace that this node proposes (it is first in their preference
    /// list and every actor in them retired), whether some tombstone past its grace names this
    /// node's current actor, and where the scan stopped (`None` at the partition's end).
    fn reap_scan(
        &self,
        partition: PartitionId,
    ) -> Result<(Vec<Candidate>, bool, Option<Bytes>), StoreError> {
        let mut out = Vec::new();
        let mut names_me = false;
        let Some(ring) = self.membership.state().ring() else {
            return Ok((out, names_me, None));
        };
        let cutoff = self.now.0.saturating_sub(self.config.tombstones.grace_ms);
        let budget = self.config.tombstones.max_scanned_per_round.max(1);
        // A cursor left in another partition (the ring changed) starts this one afresh.
        let from = self
            .reaper
            .scan_after
            .as_ref()
            .filter(|a| decode_storage_key(a).is_ok_and(|sk| sk.partition == partition));
        let entries = self.scan_partition(partition, from, budget, usize::MAX)?;
        let after = (entries.len() >= budget)
            .then(|| entries.last().map(|(k, _)| k.clone()))
            .flatten();
        for (k, v) in &entries {
            let Ok(sk) = decode_storage_key(k) else {
                continue;
            };
            let Ok(set) = record::decode(v) else {
                continue; // corrupt: read repair and anti-entropy deal with it
            };
            if sk.partition != partition
                || !set.is_tombstone_only()
                || set.siblings().any(|s| s.timestamp().0 > cutoff)
            {
                continue;
            }
            if actors_of(&set).any(|a| *a == self.actor) {
                names_me = true;
            }
            let n = usize::from(self.bucket_props(sk.bucket).n);
            let replicas: Vec<NodeId> = ring
                .preference_list(partition, n)
                .into_iter()
                .cloned()
                .collect();
            if replicas.first() != Some(&self.config.id)
                || !actors_of(&set).all(|a| self.retired(a))
            {
                continue;
            }
            out.push(Candidate {
                key: ReapKey {
                    bucket: Bytes::copy_from_slice(sk.bucket),
                    key: Bytes::copy_from_slice(sk.key),
                    digest: record_digest(v),
                },
                replicas,
            });
            if out.len() >= self.config.tombstones.max_keys_per_round.max(1) {
                // Go on from this key next round.
                return Ok((out, names_me, Some(k.clone())));
            }
        }
        Ok((out, names_me, after))
    }

    /// Whether `actor` will never number another write: its node announced a newer epoch.
    fn retired(&self, actor: &Actor) -> bool {
        if *actor.node() == self.config.id {
            return actor.epoch() < self.epoch.epoch;
        }
        self.membership
            .state()
            .member(actor.node())
            .is_some_and(|m| m.epoch > actor.epoch())
    }

    /// Moves this node to a new epoch so that tombstones naming its current actor can go;
    /// at most once per grace period (each epoch adds an entry to the clocks it writes).
    fn retire_actor(&mut self) {
        let grace = self.config.tombstones.grace_ms;
        if !self.epoch_confirmed() || self.now.0 < self.reaper.last_rotation.0.saturating_add(grace)
        {
            return;
        }
        if !self.config.shard.is_control() {
            // The epoch is the control shard's to move.
            self.reaper.last_rotation = self.now;
            self.request_epoch();
            return;
        }
        let next = EpochState::on_start(None, self.now, Some(self.epoch.epoch));
        if let Err(e) = self.store.persist_epoch(&next) {
            self.emit(NodeEvent::StorageFailed(e.to_string()));
            return;
        }
        self.reaper.last_rotation = self.now;
        self.epoch = next;
        self.actor = next.actor(self.config.id.clone());
        self.emit(NodeEvent::EpochStarted { epoch: next.epoch });
        self.mark_view_dirty();
        self.announce_epoch();
    }

    /// Asks the other replicas of each candidate whether they hold the same tombstone; with
    /// no other replica, reaps at once.
    fn propose(&mut self, candidates: Vec<Candidate>) {
        let mut groups: BTreeMap<Vec<NodeId>, Vec<ReapKey>> = BTreeMap::new();
        for c in candidates {
            let others: Vec<NodeId> = c
                .replicas
                .into_iter()
                .filter(|r| *r != self.config.id)
                .collect();
            groups.entry(others).or_default().push(c.key);
        }
        for (others, keys) in groups {
            if others.is_empty() {
                self.reap_apply(&keys);
                continue;
            }
            if !others.iter().all(|p| self.failure.is_up(p)) {
                continue; // every replica must answer; try again next round
            }
            self.reaper.next_id += 1;
            let id = self.config.shard.tag(self.reaper.next_id);
            for peer in &others {
                self.send(
                    peer.clone(),
                    PeerMessage::ReapQuery {
                        id,
                        keys: keys.clone(),
                    },
                );
            }
            let deadline = Timestamp(
                self.now
                    .0
                    .saturating_add(self.config.timing.request_timeout_ms),
            );
            self.reaper.rounds.insert(
                id,
                Round {
                    held: vec![true; keys.len()],
                    keys,
                    waiting: others.iter().cloned().collect(),
                    asked: others,
                    deadline,
                },
            );
        }
    }

    /// A `ReapQuery`: which of `keys` this node holds with the same record digest, answered
    /// once a synced commit made them durable (a tombstone that reached this node by read
    /// repair or anti-entropy is written buffered; lost in a crash after the reap, it would
    /// leave the value it replaced, which would then come back).
    pub(super) fn reap_query(&mut self, from: NodeId, id: u64, keys: &[ReapKey]) {
        let held = keys.iter().map(|k| self.holds(k)).collect();
        self.store.wait(Waiter::ReapReply { to: from, id, held });
    }

    /// A `ReapReply` to a round this node proposed: once every replica answered, reaps the
    /// keys all of them hold, here and there.
    pub(super) fn reap_reply(&mut self, from: &NodeId, id: u64, held: &[bool]) {
        let Some(round) = self.reaper.rounds.get_mut(&id) else {
            return; // expired, or a duplicate after completion
        };
        if !round.waiting.remove(from) {
            return;
        }
        for (i, h) in round.held.iter_mut().enumerate() {
            *h &= held.get(i).copied().unwrap_or(false);
        }
        if !round.waiting.is_empty() {
            return;
        }
        let Some(round) = self.reaper.rounds.remove(&id) else {
            return;
        };
        let keys: Vec<ReapKey> = round
            .keys
            .into_iter()
            .zip(round.held)
            .filter_map(|(k, h)| h.then_some(k))
            .collect();
        if keys.is_empty() {
            return;
        }
        // This node's own records must be durable too before anyone deletes (see
        // `reap_query`).
        self.store.wait(Waiter::Reap {
            peers: round.asked,
            keys,
        });
    }

    /// Carries out a reap every replica agreed to, once this node's records are durable:
    /// `Reap` to the other replicas, and the keys deleted here.
    pub(super) fn reap_now(&mut self, peers: Vec<NodeId>, keys: &[ReapKey]) {
        for peer in peers {
            self.send(
                peer,
                PeerMessage::Reap {
                    keys: keys.to_vec(),
                },
            );
        }
        self.reap_apply(keys);
    }

    /// Deletes each of `keys` whose record still has the proposed digest.
    pub(super) fn reap_apply(&mut self, keys: &[ReapKey]) {
        let mut count = 0;
        for k in keys {
            // Keys come from a peer: checked like any replica request's.
            let Ok(at) = self.key_at(&k.bucket, &k.key) else {
                continue;
            };
            let Ok(old) = self.store.read(&Location::Data, at) else {
                continue;
            };
            if old.raw.as_deref().map(record_digest) != Some(k.digest) {
                continue;
            }
            if self
                .store
                .stage_delete(&Location::Data, at, &old, Waiter::Nobody)
                .is_ok()
            {
                count += 1;
            }
        }
        if count > 0 {
            self.emit(NodeEvent::TombstonesReaped { count });
        }
    }

    fn holds(&self, k: &ReapKey) -> bool {
        self.key_at(&k.bucket, &k.key)
            .ok()
            .and_then(|at| self.store.read(&Location::Data, at).ok())
            .and_then(|s| s.raw)
            .is_some_and(|raw| record_digest(&raw) == k.digest)
    }
}

/// Every actor named anywhere in `set`: its causal context, and each sibling's dot and clock.
fn actors_of(set: &SiblingSet) -> impl Iterator<Item = &Actor> + '_ {
    let causal = set.causal();
    causal
        .clock()
        .entries()
        .iter()
        .map(|e| e.actor())
        .chain(causal.cloud().map(|(d, _)| &d.actor))
        .chain(set.entries().iter().map(|(d, _)| &d.actor))
        .chain(
            set.siblings()
                .flat_map(|s| s.clock().entries().iter().map(|e| e.actor())),
        )
}
