//! The node's side of anti-entropy (paper §4.7): when to start an exchange and with whom,
//! answering a peer's requests from the local Merkle trees and store, and feeding replies to
//! the initiator's state machine ([`crate::antientropy::exchange`], which documents the
//! protocol and its costs).
//!
//! Every `anti_entropy_interval_ms` (when not 0) a node picks, round-robin, the next
//! partition it replicates (`ring.partitions_replicated_by(me, n)`, `n` the largest of the
//! default and known bucket props) and, round-robin over the visits of that partition, one of its other
//! replicas that the failure view considers up. At most one exchange is in flight; none
//! starts while the node coordinates more than `max_open_operations` operations (it is
//! counted as deferred and retried one interval later), and a responder in that state
//! answers `Busy`. Records received are merged through the group-commit path like any
//! replica write, which keeps the Merkle trees current.

use std::collections::BTreeSet;

use engine_api::{Direction, Snapshot, StorageEngine};

use super::store::{KEYSPACES, KeyAt, Location, StoreError, Waiter, record_digest};
use super::{MAX_CLIENT_KEY_LEN, Node, NodeEvent};
use crate::antientropy::exchange::{MAX_REQUEST_ITEMS, children_of_differing};
use crate::antientropy::{
    AeKey, AeMessage, AeOutcome, AeStats, Exchange, KeyDigest, MerkleTree, Step,
};
use crate::ids::{NodeId, Timestamp};
use crate::proto::PeerMessage;
use crate::record::KeyedRecord;
use crate::ring::{PartitionId, decode_storage_key, key_hash, partition_key_range};

impl<E: StorageEngine> Node<E> {
    /// The widest replication factor in the cluster: the largest `n` of the default and of
    /// every bucket the cluster state knows. Anti-entropy and transfers cover it (a node
    /// replicating a partition for a bucket of larger `n` must exchange and receive it too).
    pub(super) fn widest_n(&self) -> usize {
        let state = self.membership.state();
        let buckets = state
            .buckets()
            .values()
            .map(|b| b.props.n)
            .chain(state.default_props().map(|p| p.n));
        usize::from(buckets.fold(self.config.default_bucket.n, u8::max))
    }

    /// Of `keys` of `partition`, those whose bucket's preference list holds both this node
    /// and `peer`. Every key passes when all buckets have the widest `n`.
    fn ae_shared_keys(
        &self,
        partition: PartitionId,
        peer: &NodeId,
        keys: Vec<KeyDigest>,
    ) -> Vec<KeyDigest> {
        let widest = self.widest_n();
        let Some(ring) = self.membership.state().ring() else {
            return Vec::new();
        };
        keys.into_iter()
            .filter(|k| {
                let n = usize::from(self.bucket_props(&k.bucket).n);
                n >= widest || {
                    let list = ring.preference_list(partition, n);
                    list.contains(&peer) && list.contains(&&self.config.id)
                }
            })
            .collect()
    }

    /// True when this node replicates `partition` by its ring (for the widest `n`).
    fn ae_replicates(&self, partition: PartitionId) -> bool {
        let n = self.widest_n();
        self.membership
            .state()
            .ring()
            .is_some_and(|r| r.preference_list(partition, n).contains(&&self.config.id))
    }

    /// Anti-entropy counters since start (exchanges started, completed, abandoned, deferred,
    /// keys repaired, requests served as a responder).
    pub fn anti_entropy_stats(&self) -> AeStats {
        self.ae.stats
    }

    /// The exchange this node is running, if any: its partition and peer.
    pub fn anti_entropy_in_flight(&self) -> Option<(PartitionId, &NodeId)> {
        self.ae
            .current
            .as_ref()
            .map(|ex| (ex.partition(), ex.peer()))
    }

    /// Tick: abandons a timed-out exchange, starts the next one when due.
    pub(super) fn ae_tick(&mut self) {
        let now = self.now;
        if self
            .ae
            .current
            .as_ref()
            .is_some_and(|ex| ex.deadline() <= now)
        {
            let request = self.ae_next_id();
            let config = self.config.anti_entropy;
            let again = self
                .ae
                .current
                .as_mut()
                .and_then(|ex| ex.retransmit(request, &config));
            match again {
                Some(message) => {
                    self.ae.last_id = request;
                    self.ae.stats.retransmitted += 1;
                    self.ae_send(request, message);
                }
                None => self.ae_finish(AeOutcome::TimedOut),
            }
        }
        if self.ae.current.is_some() || self.ae.next_due.is_none_or(|d| d > now) {
            return;
        }
        let interval = self.config.timing.anti_entropy_interval_ms;
        self.ae.next_due = (interval > 0).then(|| Timestamp(now.0.saturating_add(interval)));
        if self.ops.len() > self.config.anti_entropy.max_open_operations {
            self.ae.stats.deferred += 1;
            return;
        }
        self.ae_start();
    }

    /// The id after the last one used, tagged with this shard (a responder's `Busy` and
    /// `NotReplica` carry only the id back).
    fn ae_next_id(&self) -> u64 {
        let shard = self.config.shard;
        shard.tag(self.ae.last_id / u64::from(shard.count.max(1)) + 1)
    }

    /// Starts an exchange of the next partition with one of its other reachable replicas.
    fn ae_start(&mut self) {
        let n = self.widest_n();
        let me = self.config.id.clone();
        let Some(ring) = self.membership.state().ring() else {
            return; // not in a cluster yet
        };
        let shard = self.config.shard;
        let mut partitions = ring.partitions_replicated_by(&me, n);
        partitions.retain(|p| shard.owns(*p));
        for _ in 0..partitions.len() {
            let cursor = self.ae.partition_cursor;
            self.ae.partition_cursor = cursor.wrapping_add(1);
            let partition = partitions[cursor % partitions.len()];
            let Some(ring) = self.membership.state().ring() else {
                return;
            };
            let peers: Vec<NodeId> = ring
                .preference_list(partition, n)
                .into_iter()
                .filter(|p| **p != me && self.failure.is_up(p))
                .cloned()
                .collect();
            if peers.is_empty() {
                continue;
            }
            // The k-th visit of a partition goes to its (k mod peers)-th other replica.
            let peer = peers[(cursor / partitions.len()) % peers.len()].clone();
            self.ae.last_id = self.ae_next_id();
            let empty;
            let tree = match self.store.merkle(partition) {
                Some(t) => t,
                None => {
                    empty = MerkleTree::new();
                    &empty
                }
            };
            let (ex, step) = Exchange::start(
                self.ae.last_id,
                partition,
                peer,
                tree,
                self.now,
                &self.config.anti_entropy,
            );
            self.ae.current = Some(ex);
            self.ae.stats.started += 1;
            self.ae_step(step);
            return;
        }
    }

    /// Carries out the initiator's next step: sends its request, or ends the exchange.
    fn ae_step(&mut self, step: Step) {
        let Some(ex) = self.ae.current.as_ref() else {
            return;
        };
        let partition = ex.partition();
        self.ae.last_id = self.ae_next_id();
        let exchange = self.ae.last_id;
        let message = match step {
            Step::Hashes(nodes) => AeMessage::Hashes {
                exchange,
                partition,
                nodes,
            },
            Step::Keys(buckets) => AeMessage::Keys {
                exchange,
                partition,
                buckets,
            },
            Step::Push { push, want } => {
                let records = self.ae_read_records(&push);
                if let Some(ex) = self.ae.current.as_mut() {
                    ex.pushed(records.len());
                }
                AeMessage::Push {
                    exchange,
                    partition,
                    records,
                    want,
                }
            }
            Step::Done(outcome) => {
                self.ae_finish(outcome);
                return;
            }
        };
        self.ae_send(exchange, message);
    }

    /// Sends request `id` of the exchange in flight to its peer and arms its timeout.
    fn ae_send(&mut self, id: u64, message: AeMessage) {
        let deadline = Timestamp(
            self.now
                .0
                .saturating_add(self.config.anti_entropy.timeout_ms),
        );
        let Some(ex) = self.ae.current.as_mut() else {
            return;
        };
        let peer = ex.peer().clone();
        ex.sent(id, message.clone(), deadline);
        self.send(peer, PeerMessage::AntiEntropy(message));
    }

    /// Ends the exchange in flight with `outcome` and reports it.
    fn ae_finish(&mut self, outcome: AeOutcome) {
        let Some(ex) = self.ae.current.take() else {
            return;
        };
        let report = ex.finish(outcome);
        match outcome {
            AeOutcome::Completed | AeOutcome::Truncated => {
                self.ae.stats.completed += 1;
                self.ae.stats.keys_repaired += report.keys_repaired as u64;
            }
            AeOutcome::TimedOut | AeOutcome::PeerBusy | AeOutcome::NotReplica => {
                self.ae.stats.abandoned += 1;
            }
        }
        self.emit(NodeEvent::AntiEntropy(report));
    }

    /// Handles an anti-entropy message from `from` (as responder or initiator).
    pub(super) fn ae_message(&mut self, from: NodeId, message: AeMessage) {
        let busy = self.ops.len() > self.config.anti_entropy.max_open_operations;
        let partition = match &message {
            AeMessage::Hashes { partition, .. }
            | AeMessage::Keys { partition, .. }
            | AeMessage::Push { partition, .. } => Some(*partition),
            _ => None,
        };
        if let Some(p) = partition
            && !self.ae_replicates(p)
        {
            self.ae.stats.refused += 1;
            let exchange = message.exchange();
            self.send(
                from,
                PeerMessage::AntiEntropy(AeMessage::NotReplica { exchange }),
            );
            return;
        }
        match message {
            AeMessage::Hashes {
                exchange,
                partition,
                nodes,
            } => {
                if busy {
                    return self.ae_refuse(from, exchange);
                }
                self.ae.stats.served += 1;
                let empty;
                let tree = match self.store.merkle(partition) {
                    Some(t) => t,
                    None => {
                        empty = MerkleTree::new();
                        &empty
                    }
                };
                let hashes = children_of_differing(tree, &nodes);
                self.send(
                    from,
                    PeerMessage::AntiEntropy(AeMessage::Children {
                        exchange,
                        partition,
                        hashes,
                    }),
                );
            }
            AeMessage::Keys {
                exchange,
                partition,
                mut buckets,
            } => {
                if busy {
                    return self.ae_refuse(from, exchange);
                }
                self.ae.stats.served += 1;
                buckets.truncate(MAX_REQUEST_ITEMS);
                match self.ae_scan(partition, &buckets) {
                    Ok(keys) => self.send(
                        from,
                        PeerMessage::AntiEntropy(AeMessage::KeyList {
                            exchange,
                            partition,
                            keys,
                        }),
                    ),
                    // Unanswered: the initiator times out and tries again later.
                    Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
                }
            }
            AeMessage::Push {
                exchange,
                partition,
                records,
                mut want,
            } => {
                // Merging what was pushed is cheap and useful even when busy.
                self.ae_merge(&from, &records);
                if busy {
                    return self.ae_refuse(from, exchange);
                }
                self.ae.stats.served += 1;
                want.truncate(MAX_REQUEST_ITEMS);
                let records = self.ae_read_records(&want);
                self.send(
                    from,
                    PeerMessage::AntiEntropy(AeMessage::PushReply {
                        exchange,
                        partition,
                        records,
                    }),
                );
            }
            reply => self.ae_reply(from, reply),
        }
    }

    fn ae_refuse(&mut self, to: NodeId, exchange: u64) {
        self.ae.stats.refused += 1;
        self.send(to, PeerMessage::AntiEntropy(AeMessage::Busy { exchange }));
    }

    /// A reply to the initiator: stale ones are ignored, others advance the exchange.
    fn ae_reply(&mut self, from: NodeId, reply: AeMessage) {
        let expected = self
            .ae
            .current
            .as_mut()
            .is_some_and(|ex| ex.expects(&from, &reply));
        if !expected {
            self.ae.stats.stale_replies += 1;
            return;
        }
        if let Some(ex) = self.ae.current.as_mut() {
            ex.count(&reply);
        }
        let Some(partition) = self.ae.current.as_ref().map(Exchange::partition) else {
            return;
        };
        let config = self.config.anti_entropy;
        let step = match reply {
            AeMessage::Children { hashes, .. } => {
                let empty;
                let tree = match self.store.merkle(partition) {
                    Some(t) => t,
                    None => {
                        empty = MerkleTree::new();
                        &empty
                    }
                };
                match self.ae.current.as_mut() {
                    Some(ex) => ex.on_children(tree, &hashes, &config),
                    None => return,
                }
            }
            AeMessage::KeyList { keys, .. } => {
                let asked = self
                    .ae
                    .current
                    .as_ref()
                    .map(|ex| ex.asked_buckets().to_vec())
                    .unwrap_or_default();
                let local = match self.ae_scan(partition, &asked) {
                    Ok(local) => local,
                    Err(e) => {
                        self.emit(NodeEvent::StorageFailed(e.to_string()));
                        return self.ae_finish(AeOutcome::TimedOut);
                    }
                };
                // Only keys whose bucket places a replica on both nodes are synced (a bucket
                // whose n is below the widest one must not spread to extra nodes).
                let (local, keys) = (
                    self.ae_shared_keys(partition, &from, local),
                    self.ae_shared_keys(partition, &from, keys),
                );
                let empty = MerkleTree::new();
                match self.ae.current.as_mut() {
                    Some(ex) => ex.on_key_list(&empty, local, keys, &config),
                    None => return,
                }
            }
            AeMessage::PushReply { records, .. } => {
                let n = records.len();
                self.ae_merge(&from, &records);
                let empty = MerkleTree::new();
                match self.ae.current.as_mut() {
                    Some(ex) => ex.on_push_reply(&empty, n, &config),
                    None => return,
                }
            }
            AeMessage::Busy { .. } => Step::Done(AeOutcome::PeerBusy),
            AeMessage::NotReplica { .. } => Step::Done(AeOutcome::NotReplica),
            _ => return,
        };
        self.ae_step(step);
    }

    /// Merges records from `from` into the data keyspace (staged for the group commit).
    fn ae_merge(&mut self, from: &NodeId, records: &[KeyedRecord]) {
        for r in records.iter().take(MAX_REQUEST_ITEMS) {
            // Errors are reported as events by replica_merge; the next exchange retries.
            let _ = self.replica_merge(
                from,
                &Location::Data,
                &r.bucket,
                &r.key,
                &r.record,
                Waiter::Nobody,
            );
        }
    }

    /// The local records of `keys` (absent, out-of-bounds and unreadable ones left out, the
    /// latter reported).
    fn ae_read_records(&mut self, keys: &[AeKey]) -> Vec<KeyedRecord> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if k.key.is_empty() || k.bucket.len() + k.key.len() > MAX_CLIENT_KEY_LEN {
                continue;
            }
            let at = KeyAt {
                partition: self.config.ring.partition_of(&k.bucket, &k.key),
                bucket: &k.bucket,
                key: &k.key,
            };
            match self.store.read(&Location::Data, at) {
                Ok(stored) => {
                    if let Some(error) = stored.corrupt {
                        self.emit(NodeEvent::CorruptRecord {
                            location: Location::Data,
                            bucket: k.bucket.clone(),
                            key: k.key.clone(),
                            error,
                        });
                    } else if let Some(record) = stored.raw {
                        out.push(KeyedRecord {
                            bucket: k.bucket.clone(),
                            key: k.key.clone(),
                            record,
                        });
                    }
                }
                Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
            }
        }
        out
    }

    /// The committed keys of `partition` whose Merkle bucket is one of `buckets`, with their
    /// record digests: one range scan of the partition (see the cost note in
    /// [`crate::antientropy::exchange`]).
    fn ae_scan(
        &self,
        partition: PartitionId,
        buckets: &[u32],
    ) -> Result<Vec<KeyDigest>, StoreError> {
        let wanted: BTreeSet<u32> = buckets.iter().copied().collect();
        let mut out = Vec::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let shape = MerkleTree::new();
        let engine = self.store.engine();
        let data = engine.keyspace(KEYSPACES[0])?;
        let snap = engine.snapshot()?;
        for item in snap.scan(data, partition_key_range(partition), Direction::Forward)? {
            let (k, v) = item?;
            let Ok(sk) = decode_storage_key(&k) else {
                continue;
            };
            if sk.partition != partition
                || !wanted.contains(&shape.bucket_of(key_hash(sk.bucket, sk.key)))
            {
                continue;
            }
            out.push(KeyDigest {
                bucket: bytes::Bytes::copy_from_slice(sk.bucket),
                key: bytes::Bytes::copy_from_slice(sk.key),
                digest: record_digest(&v),
            });
        }
        Ok(out)
    }
}
