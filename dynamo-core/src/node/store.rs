//! The node's local storage over a [`StorageEngine`]: records, hints, metadata, group commit
//! and the Merkle trees of anti-entropy.
//!
//! # Layout
//!
//! Three keyspaces ([`KEYSPACES`]):
//! - `data`: key [`encode_storage_key`]`(partition, bucket, key)`, value [`record::encode`] of
//!   the key's [`SiblingSet`];
//! - `hints`: key `be16(len(target)) ++ target ++ data key`, value the encoded set a substitute
//!   keeps for the unreachable `target` (sloppy quorum, paper §4.6);
//! - `meta`: `epoch` ([`record::encode_epoch_state`]); other modules add their entries.
//!
//! # Group commit
//!
//! Every write is a read-merge-write that is *staged*: it goes into one pending
//! [`WriteBatch`] and into an in-memory overlay that later reads see, and whoever waits for it
//! (a replica acknowledgement, the coordinator's own write) is queued as a [`Waiter`].
//! [`Store::commit`] applies the whole batch with the configured durability — one engine write,
//! one fsync — and only then hands back the waiters, so that no acknowledgement precedes
//! durability. Reads see staged writes (the node reads its own writes); should the batch
//! fail, those writes vanish from reads too, and their waiters are told of the failure.
//!
//! # Merkle trees
//!
//! One [`MerkleTree`] per partition with data here, key hash [`key_hash`], digest
//! [`entry_digest`] of the key and the stored bytes. Updates are applied when their batch commits (the old
//! digest is known, every write being a read-merge-write), so a failed batch leaves the trees
//! matching the engine. Trees are rebuilt by one scan at start.

use std::collections::BTreeMap;

use bytes::Bytes;
use engine_api::{Direction, Durability, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch};

use crate::antientropy::MerkleTree;
use crate::ids::NodeId;
use crate::proto::OpId;
use crate::record::{self, DecodeError, EncodeError};
use crate::ring::{PartitionId, StorageKeyError, decode_storage_key, encode_storage_key, key_hash};
use crate::version::{EpochState, SiblingSet, VersionError, VersioningMode};

/// The keyspaces a node's engine must be opened with (others are allowed).
pub const KEYSPACES: [&str; 3] = ["data", "hints", "meta"];

/// The `meta` key of the persisted [`EpochState`].
pub const META_EPOCH: &[u8] = b"epoch";

/// The `meta` key of the persisted cluster state
/// ([`encode_cluster_state`](crate::membership::encode_cluster_state)).
pub const META_CLUSTER: &[u8] = b"cluster";

/// The digest of a stored record for the Merkle trees: SipHash-2-4 of the encoded bytes under
/// the ring's published key with a fixed domain prefix, so that every node computes the same
/// digest for the same record.
pub fn record_digest(encoded: &[u8]) -> u64 {
    key_hash(b"dynamo-core/merkle-digest/v1", encoded)
}

/// What a key contributes to its Merkle bucket: a digest of its key hash and its record's
/// [`record_digest`]. The key must be in it: two keys holding byte-identical records (same
/// value, writer and time) would otherwise cancel out in the bucket's XOR, and swapping two
/// keys' records would go unnoticed.
pub fn entry_digest(key_hash_of_key: u64, encoded: &[u8]) -> u64 {
    let mut both = [0u8; 16];
    both[..8].copy_from_slice(&key_hash_of_key.to_be_bytes());
    both[8..].copy_from_slice(&record_digest(encoded).to_be_bytes());
    key_hash(b"dynamo-core/merkle-entry/v1", &both)
}

/// The prefix of every `hints` key kept for `target`: `be16(len(target)) ++ target`. A range
/// scan of this prefix lists the hints for one node, in storage-key order.
pub fn hint_prefix(target: &NodeId) -> Vec<u8> {
    let t = target.as_str().as_bytes();
    let mut k = Vec::with_capacity(2 + t.len() + 64);
    // Node ids are at most 64 bytes.
    k.extend_from_slice(&(t.len() as u16).to_be_bytes());
    k.extend_from_slice(t);
    k
}

/// Where a record lives: the node's own data, or a hint kept for another node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// The `data` keyspace: this node is a replica.
    Data,
    /// The `hints` keyspace, for the named node this one stands in for.
    Hint(NodeId),
}

/// Who waits for a staged write to become durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiter {
    /// Nobody (read repair, a merge that changed nothing).
    Nobody,
    /// The coordinator's own write of operation `seq`.
    Local(u64),
    /// A replica acknowledgement to send to `to` for its operation `op`.
    Ack {
        /// The coordinator.
        to: NodeId,
        /// Its operation.
        op: OpId,
    },
    /// A hint acknowledgement to send to the node `to` that delivered hint `id`.
    HintAck {
        /// The node that held the hint.
        to: NodeId,
        /// Its id for the hint.
        id: u64,
    },
}

/// A record as read: the raw bytes (for the Merkle digest) and the decoded set.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The stored bytes, if any.
    pub raw: Option<Bytes>,
    /// The decoded set; `None` when absent or corrupt.
    pub set: Option<SiblingSet>,
    /// Why the stored bytes did not decode (they are then treated as absent).
    pub corrupt: Option<DecodeError>,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The engine failed.
    #[error("storage engine: {0}")]
    Engine(#[from] engine_api::Error),
    /// The record could not be encoded.
    #[error("encoding a record: {0}")]
    Encode(#[from] EncodeError),
    /// The bucket and key are too long for a storage key.
    #[error("storage key: {0}")]
    Key(#[from] StorageKeyError),
    /// Merging refused (mode mismatch, sibling cap).
    #[error("merge: {0}")]
    Version(#[from] VersionError),
    /// The storage key is too long once prefixed for a hint.
    #[error("hint key too long ({0} bytes)")]
    HintKeyTooLong(usize),
}

/// A key of the store: its partition, bucket and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyAt<'a> {
    /// The key's partition.
    pub partition: PartitionId,
    /// The bucket.
    pub bucket: &'a [u8],
    /// The key.
    pub key: &'a [u8],
}

/// What [`Store::merge_in`] did.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The set now stored.
    pub set: SiblingSet,
    /// False when the incoming set added nothing (no write was staged).
    pub changed: bool,
}

/// Local storage of one node; see the [module documentation](self).
#[derive(Debug)]
pub struct Store<E> {
    engine: E,
    data: Keyspace,
    hints: Keyspace,
    meta: Keyspace,
    durability: Durability,
    batch: WriteBatch,
    /// Staged writes as later reads see them: `None` for a staged delete.
    overlay: BTreeMap<(Keyspace, Bytes), Option<Bytes>>,
    tree_updates: Vec<(PartitionId, u64, Option<u64>, Option<u64>)>,
    waiters: Vec<Waiter>,
    trees: BTreeMap<PartitionId, MerkleTree>,
    commits: u64,
    hint_writes: u64,
}

impl<E: StorageEngine> Store<E> {
    /// Opens the store over `engine` (which must have the [`KEYSPACES`]) and rebuilds the
    /// Merkle trees with one scan of `data`. Records whose key does not decode are skipped.
    ///
    /// # Errors
    /// [`StoreError::Engine`] when a keyspace is missing or the scan fails.
    pub fn open(engine: E, durability: Durability) -> Result<Self, StoreError> {
        let data = engine.keyspace(KEYSPACES[0])?;
        let hints = engine.keyspace(KEYSPACES[1])?;
        let meta = engine.keyspace(KEYSPACES[2])?;
        let mut trees: BTreeMap<PartitionId, MerkleTree> = BTreeMap::new();
        {
            let snap = engine.snapshot()?;
            for item in snap.scan(data, KeyRange::all(), Direction::Forward)? {
                let (k, v) = item?;
                if let Ok(sk) = decode_storage_key(&k) {
                    let kh = key_hash(sk.bucket, sk.key);
                    trees
                        .entry(sk.partition)
                        .or_default()
                        .insert(kh, entry_digest(kh, &v));
                }
            }
        }
        Ok(Store {
            engine,
            data,
            hints,
            meta,
            durability,
            batch: WriteBatch::new(),
            overlay: BTreeMap::new(),
            tree_updates: Vec::new(),
            waiters: Vec::new(),
            trees,
            commits: 0,
            hint_writes: 0,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Gives the engine back; staged writes are dropped.
    pub fn into_engine(self) -> E {
        self.engine
    }

    /// The persisted epoch state, if any.
    ///
    /// # Errors
    /// [`StoreError::Engine`] on a read failure; `Ok(Err(_))` when the stored state is corrupt.
    pub fn load_epoch(&self) -> Result<Result<Option<EpochState>, DecodeError>, StoreError> {
        Ok(match self.engine.get(self.meta, META_EPOCH)? {
            None => Ok(None),
            Some(b) => record::decode_epoch_state(&b).map(Some),
        })
    }

    /// Persists the epoch state durably (`Sync`), outside group commit: it must be on disk
    /// before the node coordinates any write.
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the write fails.
    pub fn persist_epoch(&mut self, state: &EpochState) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.put(
            self.meta,
            Bytes::from_static(META_EPOCH),
            record::encode_epoch_state(state),
        );
        self.engine.write(&b, Durability::Sync)?;
        Ok(())
    }

    /// The `meta` entry `key`, if any (committed state only).
    ///
    /// # Errors
    /// [`StoreError::Engine`] on a read failure.
    pub fn load_meta(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        Ok(self.engine.get(self.meta, key)?)
    }

    /// Writes the `meta` entry `key` at once, outside group commit, with the configured
    /// durability (used for the cluster state, which changes rarely).
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the write fails.
    pub fn persist_meta(&mut self, key: &'static [u8], value: Bytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.put(self.meta, Bytes::from_static(key), value);
        self.engine.write(&b, self.durability)?;
        Ok(())
    }

    fn engine_key(&self, loc: &Location, at: KeyAt<'_>) -> Result<(Keyspace, Bytes), StoreError> {
        let dk = encode_storage_key(at.partition, at.bucket, at.key)?;
        match loc {
            Location::Data => Ok((self.data, Bytes::from(dk))),
            Location::Hint(target) => {
                let mut k = hint_prefix(target);
                let len = k.len() + dk.len();
                if len > engine_api::MAX_KEY_LEN {
                    return Err(StoreError::HintKeyTooLong(len));
                }
                k.extend_from_slice(&dk);
                Ok((self.hints, Bytes::from(k)))
            }
        }
    }

    /// Reads the record of (`bucket`, `key`) at `loc`, pending writes included. A record that
    /// does not decode is returned as absent with [`Stored::corrupt`] set.
    ///
    /// # Errors
    /// [`StoreError::Key`] for an over-long key, [`StoreError::Engine`] on a read failure.
    pub fn read(&self, loc: &Location, at: KeyAt<'_>) -> Result<Stored, StoreError> {
        let (ks, k) = self.engine_key(loc, at)?;
        let raw = match self.overlay.get(&(ks, k.clone())) {
            Some(staged) => staged.clone(),
            None => self.engine.get(ks, &k)?,
        };
        let Some(raw) = raw else {
            return Ok(Stored::default());
        };
        Ok(match record::decode_shared(&raw) {
            Ok(set) => Stored {
                raw: Some(raw),
                set: Some(set),
                corrupt: None,
            },
            Err(e) => Stored {
                raw: Some(raw),
                set: None,
                corrupt: Some(e),
            },
        })
    }

    /// Stages `set` as the new record of (`bucket`, `key`) at `loc`, replacing `old` (as
    /// returned by [`read`](Self::read)), with `waiter` waiting for its commit. Returns the
    /// encoded record (what replicas are sent).
    ///
    /// # Errors
    /// [`StoreError::Encode`] or [`StoreError::Key`]; nothing is staged then.
    pub fn stage(
        &mut self,
        loc: &Location,
        at: KeyAt<'_>,
        old: &Stored,
        set: &SiblingSet,
        waiter: Waiter,
    ) -> Result<Bytes, StoreError> {
        let (ks, k) = self.engine_key(loc, at)?;
        let encoded = Bytes::from(record::encode(set)?);
        if *loc == Location::Data {
            let kh = key_hash(at.bucket, at.key);
            self.tree_updates.push((
                at.partition,
                kh,
                old.raw.as_deref().map(|r| entry_digest(kh, r)),
                Some(entry_digest(kh, &encoded)),
            ));
        } else {
            self.hint_writes += 1;
        }
        self.batch.put(ks, k.clone(), encoded.clone());
        self.overlay.insert((ks, k), Some(encoded.clone()));
        self.waiters.push(waiter);
        Ok(encoded)
    }

    /// Stages the deletion of the record of (`bucket`, `key`) at `loc`, replacing `old` (as
    /// returned by [`read`](Self::read)), with `waiter` waiting for its commit. Later reads see
    /// it absent. Used by hinted handoff to drop a delivered hint.
    ///
    /// # Errors
    /// [`StoreError::Key`] for an over-long key; nothing is staged then.
    pub fn stage_delete(
        &mut self,
        loc: &Location,
        at: KeyAt<'_>,
        old: &Stored,
        waiter: Waiter,
    ) -> Result<(), StoreError> {
        let (ks, k) = self.engine_key(loc, at)?;
        if *loc == Location::Data {
            let kh = key_hash(at.bucket, at.key);
            self.tree_updates.push((
                at.partition,
                kh,
                old.raw.as_deref().map(|r| entry_digest(kh, r)),
                None,
            ));
        }
        self.batch.delete(ks, k.clone());
        self.overlay.insert((ks, k), None);
        self.waiters.push(waiter);
        Ok(())
    }

    /// Merges `incoming` into the record at `loc` (read-merge-write) and stages the result;
    /// when it adds nothing, no write is staged but `waiter` still waits for the next commit
    /// (what is there may itself be pending). A corrupt local record is replaced; it is
    /// returned in the second element so that the caller can report it.
    ///
    /// # Errors
    /// [`StoreError`]: engine, key, encoding, or a refused merge (mode mismatch, sibling cap).
    pub fn merge_in(
        &mut self,
        loc: &Location,
        at: KeyAt<'_>,
        incoming: &SiblingSet,
        waiter: Waiter,
    ) -> Result<(Merged, Option<DecodeError>), StoreError> {
        let old = self.read(loc, at)?;
        let corrupt = old.corrupt.clone();
        let (set, changed) = match &old.set {
            Some(cur) => {
                let mut merged = cur.clone();
                merged.set_limits(incoming.limits());
                merged.merge(incoming)?;
                let changed = merged != *cur;
                (merged, changed)
            }
            None => (incoming.clone(), true),
        };
        if changed {
            self.stage(loc, at, &old, &set, waiter)?;
        } else {
            self.waiters.push(waiter);
        }
        Ok((Merged { set, changed }, corrupt))
    }

    /// An empty set for a key never written, in `mode`.
    pub fn empty(mode: VersioningMode) -> SiblingSet {
        SiblingSet::new(mode)
    }

    /// True when writes or waiters are pending: the node asks to be ticked now.
    pub fn has_pending(&self) -> bool {
        !self.waiters.is_empty() || !self.batch.is_empty()
    }

    /// Number of staged writes.
    pub fn pending_writes(&self) -> usize {
        self.batch.len()
    }

    /// Applies every staged write as one engine batch with the configured durability, then
    /// returns the outcome and everyone who waited. On failure the staged writes are dropped
    /// (reads no longer see them) and the Merkle trees are left as they were.
    pub fn commit(&mut self) -> (Result<(), String>, Vec<Waiter>) {
        let waiters = std::mem::take(&mut self.waiters);
        if self.batch.is_empty() {
            return (Ok(()), waiters);
        }
        let batch = std::mem::take(&mut self.batch);
        let updates = std::mem::take(&mut self.tree_updates);
        self.overlay.clear();
        self.commits += 1;
        match self.engine.write(&batch, self.durability) {
            Ok(()) => {
                for (p, h, old, new) in updates {
                    self.trees.entry(p).or_default().update(h, old, new);
                }
                (Ok(()), waiters)
            }
            Err(e) => (Err(e.to_string()), waiters),
        }
    }

    /// Flushes the engine (makes every earlier write durable).
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the engine fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()?;
        Ok(())
    }

    /// Engine batches written by group commit since the store was opened.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Number of hints stored (committed ones; staged writes are not counted).
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the scan fails.
    pub fn count_hints(&self) -> Result<usize, StoreError> {
        let snap = self.engine.snapshot()?;
        let mut n = 0;
        for item in snap.scan(self.hints, KeyRange::all(), Direction::Forward)? {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Visits the committed `hints` entries (engine key, stored bytes) in `range`, in key
    /// order, until `visit` returns false. Staged writes are not seen: read an entry again
    /// with [`read`](Self::read) for its current state. Hinted handoff pages through hints
    /// with it.
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the scan fails.
    pub fn visit_hints(
        &self,
        range: KeyRange,
        mut visit: impl FnMut(Bytes, Bytes) -> bool,
    ) -> Result<(), StoreError> {
        let snap = self.engine.snapshot()?;
        for item in snap.scan(self.hints, range, Direction::Forward)? {
            let (k, v) = item?;
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    /// Writes staged to the `hints` keyspace since the store was opened (hinted handoff
    /// watches it to know when to look for hints again).
    pub fn hint_writes(&self) -> u64 {
        self.hint_writes
    }

    /// The Merkle tree of `partition`, if this node holds data of it.
    pub fn merkle(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.trees.get(&partition)
    }
}
