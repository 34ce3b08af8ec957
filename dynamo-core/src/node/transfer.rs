//! The node's side of partition transfers ([`crate::transfer`]): the ring-change hook that
//! starts transfers, the rounds that send batches and drop handed-off partitions, the
//! receiver that merges batches and acknowledges them after its group commit.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;
use engine_api::{Direction, KeyRange, Snapshot, StorageEngine};

use super::store::{KEYSPACES, KeyAt, Location, Store, Waiter};
use super::{Node, NodeConfig, NodeEvent, Output};
use crate::ids::{NodeId, Timestamp};
use crate::proto::PeerMessage;
use crate::record::{self, KeyedRecord};
use crate::ring::{PartitionId, decode_storage_key, partition_key_range};
use crate::transfer::{
    InFlight, META_TRANSFERS, Outgoing, PersistedTransfer, TransferAck, TransferBatch,
    TransferProgress, Transfers, decode_transfers, encode_transfers,
};

/// Builds the transfer state at start from the table persisted in `meta` (a table that does
/// not decode is reported and dropped: the round's check for data this node does not
/// replicate starts the transfers again).
pub(super) fn load<E: StorageEngine>(
    config: &NodeConfig,
    store: &Store<E>,
    now: Timestamp,
    outputs: &mut std::collections::VecDeque<Output>,
) -> Result<Transfers, super::StoreError> {
    let persisted = match store.load_meta(&transfers_key(config.shard.index))? {
        None => Vec::new(),
        Some(b) => match decode_transfers(&b) {
            Ok(t) => t,
            Err(e) => {
                outputs.push_back(Output::Event(NodeEvent::StorageFailed(e.to_string())));
                Vec::new()
            }
        },
    };
    let shard = config.shard;
    let persisted = persisted
        .into_iter()
        .filter(|t| shard.owns(t.partition))
        .collect();
    Ok(Transfers::new(config.transfer, now, persisted))
}

/// The `meta` key of shard `index`'s outgoing transfers: shard 0 keeps
/// [`META_TRANSFERS`] (a node of one shard is shard 0), shard k `transfers/k`.
fn transfers_key(index: u16) -> Vec<u8> {
    let mut key = META_TRANSFERS.to_vec();
    if index > 0 {
        key.extend_from_slice(format!("/{index}").as_bytes());
    }
    key
}

/// At the start of a node of `count` shards (before its shards load their transfers):
/// regroups the persisted transfers of every shard key — written by a run with maybe another
/// shard count — by the shard that owns each partition now. An undecodable table is left to
/// the shard that reads it (which reports it).
pub(super) fn split_persisted<E: StorageEngine>(
    store: &Store<E>,
    count: u16,
) -> Result<(), super::StoreError> {
    use super::shard::{MAX_SHARDS, shard_of_partition};
    let mut tables = Vec::new();
    for index in 0..MAX_SHARDS {
        if let Some(b) = store.load_meta(&transfers_key(index))?
            && let Ok(t) = decode_transfers(&b)
        {
            tables.push((index, t));
        }
    }
    let in_place = tables.iter().all(|(index, entries)| {
        *index < count
            && entries
                .iter()
                .all(|t| shard_of_partition(t.partition, count) == *index)
    });
    if in_place {
        return Ok(());
    }
    let all: Vec<PersistedTransfer> = tables.iter().flat_map(|(_, t)| t.clone()).collect();
    let indexes: BTreeSet<u16> = tables.iter().map(|(i, _)| *i).chain(0..count).collect();
    for index in indexes {
        let mine: Vec<PersistedTransfer> = all
            .iter()
            .filter(|t| shard_of_partition(t.partition, count) == index)
            .cloned()
            .collect();
        store.persist_meta(&transfers_key(index), Bytes::from(encode_transfers(&mine)))?;
    }
    Ok(())
}

impl<E: StorageEngine> Node<E> {
    /// Every outgoing partition transfer and its progress (partition, receiver, records
    /// acknowledged, done), for admin status and tests.
    pub fn transfer_progress(&self) -> Vec<TransferProgress> {
        self.transfers.progress()
    }

    /// The transfer state (pacing, batches in flight).
    pub fn transfers(&self) -> &Transfers {
        &self.transfers
    }

    /// Every outgoing transfer is confirmed by its receiver.
    pub(super) fn transfers_all_done(&self) -> bool {
        self.transfers.pending() == 0
    }

    /// The preference list of `partition` in the ring in force (empty without a ring).
    fn transfer_list(&self, partition: PartitionId) -> Vec<NodeId> {
        let n = self.widest_n();
        self.membership.state().ring().map_or_else(Vec::new, |r| {
            r.preference_list(partition, n)
                .into_iter()
                .cloned()
                .collect()
        })
    }

    /// The Merkle root of the partition's data here, `None` when there is none.
    fn partition_root(&self, partition: PartitionId) -> Option<u64> {
        self.store
            .merkle(partition)
            .filter(|t| t.keys() > 0)
            .map(|t| t.root())
    }

    fn persist_transfers(&mut self) {
        let bytes = Bytes::from(encode_transfers(&self.transfers.persisted()));
        let key = transfers_key(self.config.shard.index);
        if let Err(e) = self.store.persist_meta(&key, bytes) {
            self.emit(NodeEvent::StorageFailed(e.to_string()));
        }
    }

    fn start_transfer(&mut self, partition: PartitionId, to: NodeId) -> bool {
        if to == self.config.id
            || self
                .transfers
                .outgoing
                .contains_key(&(partition, to.clone()))
        {
            return false;
        }
        let id = self.transfers.fresh_id();
        let pass_root = self.partition_root(partition);
        self.transfers.outgoing.insert(
            (partition, to),
            Outgoing {
                id,
                acked: None,
                sent: None,
                sent_last: false,
                in_flight: Default::default(),
                next_seq: 0,
                keys_sent: 0,
                pass_root,
                done: false,
                retry_at: self.now,
            },
        );
        self.transfers.refill = true;
        true
    }

    /// The ring-change hook: compares the ring in force with the one transfers were last
    /// computed for and starts the transfers the change requires; drops transfers to nodes
    /// no longer in their partition's list; starts transfers of data this node holds but
    /// does not replicate.
    pub(super) fn transfers_ring_check(&mut self) {
        let Some(ring) = self.membership.state().ring().cloned() else {
            return;
        };
        let me = self.config.id.clone();
        let n = self.widest_n();
        let mut changed = false;
        let prev = self.transfers.ring.replace(ring.clone());
        if let Some(prev) = prev.filter(|p| p.digest() != ring.digest())
            && let Ok(changes) = prev.replica_changes_to(&ring, n)
        {
            for change in changes {
                if !self.config.shard.owns(change.partition)
                    || change.added.is_empty()
                    || self.partition_root(change.partition).is_none()
                {
                    continue;
                }
                let sender = if change.removed.is_empty() {
                    prev.preference_list(change.partition, n).contains(&&me)
                } else {
                    change.removed.contains(&me)
                };
                if sender {
                    for to in change.added {
                        changed |= self.start_transfer(change.partition, to);
                    }
                }
            }
        }
        // Transfers to nodes no longer in their partition's list are moot.
        let keys: Vec<(PartitionId, NodeId)> = self.transfers.outgoing.keys().cloned().collect();
        for (p, to) in keys {
            if !ring.preference_list(p, n).contains(&&to) {
                self.transfers.outgoing.remove(&(p, to));
                changed = true;
            }
        }
        // Data here that this node does not replicate and hands to nobody: to the owners.
        let handed: BTreeSet<PartitionId> =
            self.transfers.outgoing.keys().map(|(p, _)| *p).collect();
        for p in ring.config().partition_ids() {
            if !self.config.shard.owns(p) || handed.contains(&p) || self.partition_root(p).is_none()
            {
                continue;
            }
            let list: Vec<NodeId> = ring.preference_list(p, n).into_iter().cloned().collect();
            if list.contains(&me) {
                continue;
            }
            for to in list {
                changed |= self.start_transfer(p, to);
            }
        }
        if changed {
            self.persist_transfers();
        }
    }

    /// On tick: expires unacknowledged batches (the transfer resumes from its cursor), runs
    /// the periodic round (ring check, drops), and sends batches where there is room.
    pub(super) fn transfer_tick(&mut self) {
        let now = self.now;
        self.transfers.now = now;
        let timeout = self.transfers.config.timeout_ms;
        for o in self.transfers.outgoing.values_mut() {
            if o.in_flight.iter().any(|b| b.deadline <= now) {
                o.in_flight.clear();
                o.sent = o.acked.clone();
                o.sent_last = false;
                o.retry_at = Timestamp(now.0.saturating_add(timeout));
            }
        }
        if self.transfers.next_round <= now {
            self.transfers.next_round =
                Timestamp(now.0.saturating_add(self.transfers.config.interval_ms));
            self.transfers.refill = true;
            self.transfers_ring_check();
            self.transfer_drops();
        }
        if std::mem::take(&mut self.transfers.refill) {
            self.transfer_send();
        }
    }

    /// Drops the partitions whose transfers are all done and that this node does not
    /// replicate; forgets finished transfers of partitions it still replicates.
    fn transfer_drops(&mut self) {
        let mut by_partition: BTreeMap<PartitionId, Vec<NodeId>> = BTreeMap::new();
        for (p, to) in self.transfers.outgoing.keys() {
            by_partition.entry(*p).or_default().push(to.clone());
        }
        let mut changed = false;
        let ring_version = self.membership.state().ring_version();
        self.transfers.held.retain(|_, v| *v > ring_version);
        for (p, tos) in by_partition {
            if self.transfers.held.contains_key(&p) {
                continue; // a newer ring gives it to this node: wait for it
            }
            let all_done = tos.iter().all(|to| {
                self.transfers
                    .outgoing
                    .get(&(p, to.clone()))
                    .is_some_and(|o| o.done)
            });
            if !all_done {
                continue;
            }
            changed = true;
            if self.transfer_list(p).contains(&self.config.id) {
                for to in tos {
                    self.transfers.outgoing.remove(&(p, to));
                }
                continue;
            }
            let root = self.partition_root(p);
            let stale: Vec<NodeId> = tos
                .iter()
                .filter(|to| {
                    self.transfers
                        .outgoing
                        .get(&(p, (*to).clone()))
                        .is_some_and(|o| o.pass_root != root)
                })
                .cloned()
                .collect();
            if !stale.is_empty() {
                // Written since the pass began: another pass before dropping.
                for to in stale {
                    if let Some(o) = self.transfers.outgoing.get_mut(&(p, to)) {
                        restart_pass(o, root);
                    }
                }
                self.transfers.refill = true;
                continue;
            }
            match self.drop_partition(p) {
                Ok(keys) => {
                    for to in tos {
                        self.transfers.outgoing.remove(&(p, to));
                    }
                    self.emit(NodeEvent::PartitionDropped { partition: p, keys });
                }
                Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
            }
        }
        if changed {
            self.persist_transfers();
        }
    }

    /// Stages the deletion of every committed record of `partition` (one group commit) that
    /// no staged write changed. Returns how many.
    fn drop_partition(&mut self, partition: PartitionId) -> Result<u64, super::StoreError> {
        let entries = self.scan_partition(partition, None, usize::MAX, usize::MAX)?;
        let mut count = 0;
        for (k, v) in entries {
            let Ok(sk) = decode_storage_key(&k) else {
                continue;
            };
            let at = KeyAt {
                partition,
                bucket: sk.bucket,
                key: sk.key,
            };
            let current = self.store.read(&Location::Data, at)?;
            if current.raw.as_ref() == Some(&v) {
                self.store
                    .stage_delete(&Location::Data, at, &current, Waiter::Nobody)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Committed `data` entries of `partition` after `after`, in key order: at most `max`
    /// entries and about `max_bytes` of values (at least one entry).
    pub(super) fn scan_partition(
        &self,
        partition: PartitionId,
        after: Option<&Bytes>,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, super::StoreError> {
        let engine = self.store.engine();
        let data = engine.keyspace(KEYSPACES[0])?;
        let mut range: KeyRange = partition_key_range(partition);
        if let Some(a) = after {
            range.start = Bound::Excluded(a.to_vec());
        }
        let snap = engine.snapshot()?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for item in snap.scan(data, range, Direction::Forward)? {
            if out.len() >= max || (bytes >= max_bytes && !out.is_empty()) {
                break;
            }
            let (k, v) = item?;
            bytes = bytes.saturating_add(v.len());
            out.push((k, v));
        }
        Ok(out)
    }

    /// Sends batches, within each transfer's window and the round's record budget, to
    /// receivers the failure detector reports up.
    fn transfer_send(&mut self) {
        if self.ops.len() > self.transfers.config.max_open_operations {
            // Foreground first: the next round tries again.
            return;
        }
        let mut budget = self.transfers.config.records_per_tick;
        let keys: Vec<(PartitionId, NodeId)> = self.transfers.outgoing.keys().cloned().collect();
        for key in keys {
            if budget == 0 {
                // The next ack or round goes on.
                break;
            }
            if !self.failure.is_up(&key.1) {
                continue;
            }
            while let Some(o) = self.transfers.outgoing.get(&key) {
                if o.done
                    || o.sent_last
                    || o.retry_at > self.now
                    || o.in_flight.len() >= self.transfers.config.max_in_flight
                    || budget == 0
                {
                    break;
                }
                match self.send_batch(&key, &mut budget) {
                    Ok(()) => {}
                    Err(e) => {
                        self.emit(NodeEvent::StorageFailed(e.to_string()));
                        break;
                    }
                }
            }
        }
    }

    fn send_batch(
        &mut self,
        key: &(PartitionId, NodeId),
        budget: &mut usize,
    ) -> Result<(), super::StoreError> {
        let (partition, to) = key.clone();
        let Some(o) = self.transfers.outgoing.get(key) else {
            return Ok(());
        };
        let sent = o.sent.clone();
        let want = self.transfers.config.batch_records.min(*budget);
        let mut entries = self.scan_partition(
            partition,
            sent.as_ref(),
            want + 1,
            self.transfers.config.batch_bytes,
        )?;
        let last = entries.len() <= want;
        entries.truncate(want);
        let end = entries.last().map(|(k, _)| k.clone()).or(sent);
        let mut records = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Ok(sk) = decode_storage_key(&k) else {
                continue;
            };
            let bucket = Bytes::copy_from_slice(sk.bucket);
            let rkey = Bytes::copy_from_slice(sk.key);
            if let Err(error) = record::decode_shared(&v) {
                // Anti-entropy and read repair restore it from the other replicas.
                self.emit(NodeEvent::CorruptRecord {
                    location: Location::Data,
                    bucket,
                    key: rkey,
                    error,
                });
                continue;
            }
            records.push(KeyedRecord {
                bucket,
                key: rkey,
                record: v,
            });
        }
        *budget = budget.saturating_sub(records.len().max(1));
        let deadline = Timestamp(self.now.0.saturating_add(self.transfers.config.timeout_ms));
        let Some(o) = self.transfers.outgoing.get_mut(key) else {
            return Ok(());
        };
        let seq = o.next_seq;
        o.next_seq += 1;
        o.sent = end.clone();
        o.sent_last = last;
        o.in_flight.push_back(InFlight {
            seq,
            end: end.clone(),
            count: records.len() as u64,
            last,
            acked: false,
            deadline,
        });
        let batch = TransferBatch {
            transfer: o.id,
            seq,
            partition,
            records,
            cursor: end.unwrap_or_default(),
            last,
            ring_version: self.membership.state().ring_version(),
        };
        self.send(to, PeerMessage::TransferBatch(batch));
        Ok(())
    }

    /// A [`TransferBatch`] from `from`: merge every record through group commit; the ack goes
    /// out once that commit is synced. A batch with a bad record is not acknowledged (the
    /// sender retries; the record is reported).
    pub(super) fn transfer_batch_received(&mut self, from: NodeId, batch: TransferBatch) {
        let mut ok = true;
        for r in &batch.records {
            if self.config.ring.partition_of(&r.bucket, &r.key) != batch.partition {
                self.emit(NodeEvent::BadPeerMessage {
                    from: from.clone(),
                    reason: "transfer record outside its partition".into(),
                });
                ok = false;
                continue;
            }
            ok &= self
                .replica_merge(
                    &from,
                    &Location::Data,
                    &r.bucket,
                    &r.key,
                    &r.record,
                    Waiter::Nobody,
                )
                .is_ok();
        }
        if !ok {
            return;
        }
        // The sender routes with a newer ring in which this node holds the partition (a
        // partition handed back after a leave, say): keep it until this node's ring caught up.
        if batch.ring_version > self.membership.state().ring_version() {
            let held = self.transfers.held.entry(batch.partition).or_default();
            *held = (*held).max(batch.ring_version);
        }
        let ack = TransferAck {
            transfer: batch.transfer,
            seq: batch.seq,
            partition: batch.partition,
            cursor: batch.cursor,
            last: batch.last,
        };
        // Acknowledged once synced (its sender may drop the partition; the ack's waiter makes
        // the commit a synced one): records that changed nothing may still be in a buffered
        // commit.
        self.store.wait(Waiter::TransferAck { to: from, ack });
    }

    /// A [`TransferAck`] from `from`: moves the cursor over the batches acknowledged in
    /// order, persists it, reports progress; at the end of a pass, completes the transfer
    /// (or starts another pass if the partition changed and this node drops it). Acks that
    /// match no batch in flight are ignored.
    pub(super) fn transfer_ack_received(&mut self, from: NodeId, ack: TransferAck) {
        let key = (ack.partition, from.clone());
        let replicates = self.transfer_list(ack.partition).contains(&self.config.id);
        let root = self.partition_root(ack.partition);
        let Some(o) = self.transfers.outgoing.get_mut(&key) else {
            return;
        };
        if o.id != ack.transfer || o.done {
            return;
        }
        let Some(b) = o.in_flight.iter_mut().find(|b| b.seq == ack.seq) else {
            return;
        };
        b.acked = true;
        let mut advanced = false;
        let mut pass_end = false;
        while o.in_flight.front().is_some_and(|b| b.acked) {
            if let Some(b) = o.in_flight.pop_front() {
                o.acked = b.end;
                o.keys_sent += b.count;
                advanced = true;
                pass_end |= b.last;
            }
        }
        let mut done = false;
        if pass_end {
            if replicates || root == o.pass_root {
                o.done = true;
                done = true;
            } else {
                // Written since the pass began: another pass before dropping.
                restart_pass(o, root);
            }
        }
        let keys_sent = o.keys_sent;
        self.transfers.refill = true;
        if advanced {
            self.persist_transfers();
            self.emit(NodeEvent::TransferProgress {
                partition: ack.partition,
                to: from.clone(),
                keys_sent,
            });
        }
        if done {
            self.emit(NodeEvent::TransferDone {
                partition: ack.partition,
                to: from,
                keys_sent,
            });
            // Finishing a transfer may complete a leave.
            self.apply_membership(Default::default(), None);
        }
    }

    /// Partitions with an outgoing transfer not done yet.
    pub fn partitions_transferring(&self) -> BTreeSet<PartitionId> {
        self.transfers
            .outgoing
            .iter()
            .filter(|(_, o)| !o.done)
            .map(|((p, _), _)| *p)
            .collect()
    }
}

/// Starts the pass of `o` over from the start of the partition, with `root` as its root.
fn restart_pass(o: &mut Outgoing, root: Option<u64>) {
    o.acked = None;
    o.sent = None;
    o.sent_last = false;
    o.in_flight.clear();
    o.pass_root = root;
    o.done = false;
}
