//! Partition transfers (paper §4.9): when the ring changes, the data of a partition streams
//! to the nodes newly added to its preference list, and a node that no longer replicates a
//! partition drops its data only after every new holder confirmed it holds all of it.
//!
//! # Protocol
//!
//! - **Who sends.** For each partition whose preference list (for the widest bucket `n`)
//!   gains nodes, the nodes it loses send (they must hand their data off anyway); when it
//!   loses none, the old holders that stay send. A node holding data of a partition it does
//!   not replicate and has no transfer for (a write that reached it through a stale ring,
//!   a restart that lost the ring change) sends it to every node of the partition's list.
//! - **Batches.** A transfer pages through the partition's range of the `data` keyspace in
//!   storage-key order: [`TransferBatch`] carries up to `batch_records` records (and about
//!   `batch_bytes`), the storage key of its last record (`cursor`) and whether it ends the
//!   partition (`last`). At most `max_in_flight` batches per transfer await their
//!   acknowledgement, and at most `records_per_tick` records leave per round; nothing
//!   leaves while the node coordinates more than `max_open_operations` client operations.
//! - **Acknowledgement.** The receiver merges every record into its data through the
//!   node's group commit (merge is idempotent: duplicates and re-sent batches are
//!   harmless; the Merkle trees stay current) and answers [`TransferAck`] only after the
//!   commit is durable. The sender moves its cursor only over batches acknowledged in
//!   order, and persists the cursor (meta key [`META_TRANSFERS`]): after a lost message
//!   (timeout) or a restart, it resumes from the cursor. Acks that match no batch in flight
//!   (stale, duplicated, from before a restart — transfer ids are new in every run) are
//!   ignored.
//! - **Completion.** A pass ends with the acknowledgement of its `last` batch. A sender that
//!   still replicates the partition is then done (it keeps the data; later writes reach the
//!   new holders directly). A sender that no longer replicates it checks that the
//!   partition's Merkle root is the one it had when the pass began: if anything was written
//!   meanwhile, it makes another pass; otherwise the transfer is done.
//! - **Drop.** Once every transfer of a partition is done and the node is not in the
//!   partition's list, it deletes the partition's data (one batch through group commit),
//!   unless the partition changed again since (then it makes another pass).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, Timestamp};
use crate::record::KeyedRecord;
use crate::ring::{PartitionId, Ring};
use crate::serde_helpers::bytes_serde;

/// The `meta` key under which a node persists its outgoing transfers and their cursors.
pub const META_TRANSFERS: &[u8] = b"transfers";

/// How transfers pace themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransferConfig {
    /// Records per batch at most (0 is taken as 1).
    pub batch_records: usize,
    /// Encoded bytes of records per batch, about (a batch always holds at least one record).
    pub batch_bytes: usize,
    /// Batches awaiting acknowledgement per transfer (0 is taken as 1).
    pub max_in_flight: usize,
    /// Records sent per round, over all transfers (0 is taken as 1): the throttle that keeps
    /// transfers from crowding out foreground requests.
    pub records_per_tick: usize,
    /// How long a batch may stay unacknowledged before the transfer resumes from its cursor,
    /// ms.
    pub timeout_ms: u64,
    /// Time between rounds that look for data to hand off and retry stalled transfers, ms
    /// (0 is taken as 1).
    pub interval_ms: u64,
    /// Admission control: no batch leaves while the node coordinates more client operations
    /// than this (foreground requests come first); sending resumes at a later round.
    pub max_open_operations: usize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            batch_records: 64,
            batch_bytes: 1 << 20,
            max_in_flight: 2,
            records_per_tick: 512,
            timeout_ms: 2_000,
            interval_ms: 1_000,
            max_open_operations: 32,
        }
    }
}

/// A batch of a partition's records, sent to a new holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBatch {
    /// The transfer (unique per sender run).
    pub transfer: u64,
    /// The batch within the transfer (echoed in the ack).
    pub seq: u64,
    /// The partition.
    pub partition: PartitionId,
    /// The records, in storage-key order.
    pub records: Vec<KeyedRecord>,
    /// The storage key of the last record (the cursor once acknowledged); empty when the
    /// batch has no record.
    #[serde(with = "bytes_serde")]
    pub cursor: Bytes,
    /// True when no record of the partition follows.
    pub last: bool,
    /// The version of the ring the sender routes with: a receiver whose ring is older keeps
    /// the partition until it has caught up (the sender may be handing it back to it).
    #[serde(default)]
    pub ring_version: u64,
}

/// The receiver of a [`TransferBatch`] holds its records durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferAck {
    /// The transfer.
    pub transfer: u64,
    /// The batch.
    pub seq: u64,
    /// The partition.
    pub partition: PartitionId,
    /// The batch's cursor.
    #[serde(with = "bytes_serde")]
    pub cursor: Bytes,
    /// The batch's `last`.
    pub last: bool,
}

/// What one transfer has done, for admin status and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferProgress {
    /// The partition.
    pub partition: PartitionId,
    /// The node receiving it.
    pub to: NodeId,
    /// Records acknowledged by the receiver (over every pass).
    pub keys_sent: u64,
    /// The receiver confirmed holding all of the partition.
    pub done: bool,
}

/// A batch awaiting its acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) seq: u64,
    /// Cursor after this batch.
    pub(crate) end: Option<Bytes>,
    pub(crate) count: u64,
    pub(crate) last: bool,
    pub(crate) acked: bool,
    pub(crate) deadline: Timestamp,
}

/// One outgoing transfer: partition `partition` to node `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub(crate) id: u64,
    /// Last storage key acknowledged in order (the persisted cursor).
    pub(crate) acked: Option<Bytes>,
    /// Last storage key sent.
    pub(crate) sent: Option<Bytes>,
    /// The pass's last batch was sent.
    pub(crate) sent_last: bool,
    pub(crate) in_flight: VecDeque<InFlight>,
    pub(crate) next_seq: u64,
    pub(crate) keys_sent: u64,
    /// The partition's Merkle root when the pass began (`None`: no data).
    pub(crate) pass_root: Option<u64>,
    pub(crate) done: bool,
    pub(crate) retry_at: Timestamp,
}

/// The transfer state of one node: outgoing transfers by (partition, receiver), pacing. (The
/// acks owed to senders wait in the store's group commit.)
#[derive(Debug, Clone)]
pub struct Transfers {
    pub(crate) config: TransferConfig,
    pub(crate) outgoing: BTreeMap<(PartitionId, NodeId), Outgoing>,
    /// The ring transfers were last computed for.
    pub(crate) ring: Option<Ring>,
    pub(crate) next_id: u64,
    /// Send at the next poll (an ack freed a slot, a transfer started).
    pub(crate) refill: bool,
    pub(crate) next_round: Timestamp,
    pub(crate) now: Timestamp,
    /// Partitions this node must not drop before its ring reaches the version (a sender
    /// with a newer ring handed them to it).
    pub(crate) held: BTreeMap<PartitionId, u64>,
}

impl Transfers {
    /// Transfers of a node starting at `now`, with the outgoing ones persisted before (each
    /// resumes from its cursor). Ids start at `now` in ms times 2^20, so that acks of an
    /// earlier run never match.
    pub fn new(
        mut config: TransferConfig,
        now: Timestamp,
        persisted: Vec<PersistedTransfer>,
    ) -> Self {
        config.batch_records = config.batch_records.max(1);
        config.max_in_flight = config.max_in_flight.max(1);
        config.records_per_tick = config.records_per_tick.max(1);
        config.interval_ms = config.interval_ms.max(1);
        let mut t = Transfers {
            config,
            outgoing: BTreeMap::new(),
            ring: None,
            next_id: now.millis().saturating_mul(1 << 20),
            refill: true,
            next_round: now,
            now,
            held: BTreeMap::new(),
        };
        for p in persisted {
            let id = t.fresh_id();
            t.outgoing.insert(
                (p.partition, p.to),
                Outgoing {
                    id,
                    acked: p.cursor.clone(),
                    sent: p.cursor,
                    sent_last: false,
                    in_flight: VecDeque::new(),
                    next_seq: 0,
                    keys_sent: p.keys_sent,
                    pass_root: p.pass_root,
                    // A finished transfer whose partition was not dropped yet is checked
                    // again (the pass root tells whether anything changed since).
                    done: false,
                    retry_at: now,
                },
            );
        }
        t
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// The pacing in force.
    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// Every outgoing transfer and its progress, by partition then receiver.
    pub fn progress(&self) -> Vec<TransferProgress> {
        self.outgoing
            .iter()
            .map(|((partition, to), o)| TransferProgress {
                partition: *partition,
                to: to.clone(),
                keys_sent: o.keys_sent,
                done: o.done,
            })
            .collect()
    }

    /// Outgoing transfers not confirmed yet.
    pub fn pending(&self) -> usize {
        self.outgoing.values().filter(|o| !o.done).count()
    }

    /// Batches awaiting acknowledgement, over all transfers.
    pub fn in_flight(&self) -> usize {
        self.outgoing.values().map(|o| o.in_flight.len()).sum()
    }

    /// When transfers next need a tick: now after an ack or a new transfer, else the earliest
    /// batch timeout, retry, or round.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.refill && self.outgoing.values().any(|o| !o.done) {
            return Some(self.now);
        }
        self.outgoing
            .values()
            .flat_map(|o| o.in_flight.iter().map(|b| b.deadline))
            .chain(Some(self.next_round))
            .min()
    }

    /// What is persisted of the outgoing transfers.
    pub(crate) fn persisted(&self) -> Vec<PersistedTransfer> {
        self.outgoing
            .iter()
            .map(|((partition, to), o)| PersistedTransfer {
                partition: *partition,
                to: to.clone(),
                cursor: o.acked.clone(),
                keys_sent: o.keys_sent,
                pass_root: o.pass_root,
                done: o.done,
            })
            .collect()
    }
}

/// An outgoing transfer as persisted in `meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedTransfer {
    /// The partition.
    pub partition: PartitionId,
    /// The receiver.
    pub to: NodeId,
    /// The last storage key the receiver acknowledged, in order.
    pub cursor: Option<Bytes>,
    /// Records acknowledged so far.
    pub keys_sent: u64,
    /// The partition's Merkle root when the pass began.
    pub pass_root: Option<u64>,
    /// Whether it was done.
    pub done: bool,
}

/// Why persisted transfers did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("persisted transfers: {0}")]
pub struct TransferDecodeError(pub &'static str);

const MAGIC: &[u8; 4] = b"dtr1";

/// Encodes the outgoing transfers for `meta` (format v1: magic, entries, crc32).
pub fn encode_transfers(entries: &[PersistedTransfer]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.partition.0.to_be_bytes());
        let to = e.to.as_str().as_bytes();
        out.extend_from_slice(&(to.len() as u16).to_be_bytes());
        out.extend_from_slice(to);
        match &e.cursor {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(&(c.len() as u16).to_be_bytes());
                out.extend_from_slice(c);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&e.keys_sent.to_be_bytes());
        match e.pass_root {
            Some(r) => {
                out.push(1);
                out.extend_from_slice(&r.to_be_bytes());
            }
            None => out.push(0),
        }
        out.push(u8::from(e.done));
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TransferDecodeError> {
        if self.0.len() < n {
            return Err(TransferDecodeError("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, TransferDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TransferDecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TransferDecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, TransferDecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Decodes what [`encode_transfers`] wrote.
///
/// # Errors
/// [`TransferDecodeError`] for a wrong magic, a bad checksum, a truncated entry or a bad
/// node id.
pub fn decode_transfers(bytes: &[u8]) -> Result<Vec<PersistedTransfer>, TransferDecodeError> {
    if bytes.len() < 12 || bytes.get(..4) != Some(&MAGIC[..]) {
        return Err(TransferDecodeError("not a transfer table"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let mut c = [0u8; 4];
    c.copy_from_slice(crc);
    if crc32fast::hash(body) != u32::from_be_bytes(c) {
        return Err(TransferDecodeError("checksum mismatch"));
    }
    let mut r = Reader(&body[4..]);
    let count = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..count {
        let partition = PartitionId(r.u32()?);
        let len = usize::from(r.u16()?);
        let name = std::str::from_utf8(r.take(len)?).map_err(|_| TransferDecodeError("node id"))?;
        let to = NodeId::new(name).map_err(|_| TransferDecodeError("node id"))?;
        let cursor = match r.u8()? {
            0 => None,
            _ => {
                let len = usize::from(r.u16()?);
                Some(Bytes::copy_from_slice(r.take(len)?))
            }
        };
        let keys_sent = r.u64()?;
        let pass_root = match r.u8()? {
            0 => None,
            _ => Some(r.u64()?),
        };
        let done = r.u8()? != 0;
        out.push(PersistedTransfer {
            partition,
            to,
            cursor,
            keys_sent,
            pass_root,
            done,
        });
    }
    if !r.0.is_empty() {
        return Err(TransferDecodeError("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_table_round_trips_and_rejects_damage() {
        let to = NodeId::new("n4").unwrap_or_else(|_| unreachable!());
        let entries = vec![
            PersistedTransfer {
                partition: PartitionId(7),
                to: to.clone(),
                cursor: Some(Bytes::from_static(b"\0\0\0\x07abc")),
                keys_sent: 42,
                pass_root: Some(99),
                done: false,
            },
            PersistedTransfer {
                partition: PartitionId(8),
                to,
                cursor: None,
                keys_sent: 0,
                pass_root: None,
                done: true,
            },
        ];
        let bytes = encode_transfers(&entries);
        assert_eq!(decode_transfers(&bytes), Ok(entries));
        let mut bad = bytes.clone();
        bad[9] ^= 1;
        assert!(decode_transfers(&bad).is_err());
        assert!(decode_transfers(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_transfers(b"").is_err());
    }
}
