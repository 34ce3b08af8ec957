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
//! # Group commit, off the node's thread
//!
//! Every write is a read-merge-write that is *staged*: it goes into one pending
//! [`WriteBatch`] and into an in-memory overlay that later reads see, and whoever waits for it
//! (a replica acknowledgement, the coordinator's own write) is queued as a [`Waiter`].
//! [`Store::begin_commit`] hands the whole batch out as a [`Commit`] — one engine write, at most
//! one fsync — for the driver to apply wherever it likes (the server on a thread of its own);
//! [`Store::finish_commit`] takes the outcome back and only then releases the waiters, so that
//! no acknowledgement precedes the write. One commit is in flight at a time; what is staged
//! meanwhile waits for the next one (group commit covers everything staged while the previous
//! sync ran). Reads see staged and in-flight writes (the node reads its own writes); should a
//! commit fail, its writes vanish from reads, and their waiters are told of the failure.
//!
//! A staged write says whether it must be *synced* before its waiter is released: a commit is
//! written with [`Durability::Sync`] when any of its writes must be, else `Buffered`. Buffered
//! writes are synced within the flush interval: once it has passed since the first buffered
//! commit, the next commit is a `Sync` one (empty if nothing else is staged).
//!
//! # Merkle trees
//!
//! A key's digest is computed once per version: when the version is staged. The store keeps the
//! digests of the latest versions of recently written keys (a bounded map), so that replacing a
//! version does not hash the old record again; a key not in the map (written long ago, or
//! before the start) has its old record hashed once, when it is replaced.
//!
//! One [`MerkleTree`] per partition with data here, key hash [`key_hash`], digest
//! [`entry_digest`] of the key and the stored bytes. Updates are applied when their batch commits (the old
//! digest is known, every write being a read-merge-write), so a failed batch leaves the trees
//! matching the engine. Trees are rebuilt by one scan at start.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use engine_api::{Direction, Durability, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch};

use crate::antientropy::MerkleTree;
use crate::ids::{NodeId, Timestamp};
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

/// Who waits for a staged write to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiter {
    /// Nobody (read repair, a merge that changed nothing).
    Nobody,
    /// The coordinator's own write of operation `seq`, synced first when `sync`.
    Local {
        /// The operation.
        seq: u64,
        /// The durability asks for this write to be synced.
        sync: bool,
    },
    /// A replica acknowledgement to send to `to` for its operation `op`, synced first when
    /// `sync` (the coordinator asked for it).
    Ack {
        /// The coordinator.
        to: NodeId,
        /// Its operation.
        op: OpId,
        /// The coordinator asked for a synced write.
        sync: bool,
    },
    /// A hint acknowledgement to send to the node `to` that delivered hint `id`.
    HintAck {
        /// The node that held the hint.
        to: NodeId,
        /// Its id for the hint.
        id: u64,
    },
    /// A partition-transfer acknowledgement owed to the sender `to` of a batch.
    TransferAck {
        /// The sender.
        to: NodeId,
        /// The acknowledgement.
        ack: crate::transfer::TransferAck,
    },
    /// A delivered hint kept for `target` was deleted here (counted in
    /// [`NodeEvent::HintsDelivered`](super::NodeEvent::HintsDelivered) once committed).
    HintDeleted {
        /// The node the hint was kept for.
        target: NodeId,
    },
    /// The answer to reap round `id` of the proposer `to`: which of its keys this node holds.
    /// Sent once a synced commit made those records durable: a tombstone held only in
    /// buffered writes could be lost by a crash after the reap, leaving the older value it
    /// replaced.
    ReapReply {
        /// The proposer.
        to: NodeId,
        /// Its round.
        id: u64,
        /// Per key of the round: held with the proposed digest.
        held: Vec<bool>,
    },
    /// A reap every replica agreed to, carried out (`Reap` sent to `peers`, the keys deleted
    /// here) once a synced commit made the proposer's own records durable, for the same
    /// reason.
    Reap {
        /// The other replicas.
        peers: Vec<NodeId>,
        /// The keys to reap.
        keys: Vec<crate::proto::ReapKey>,
    },
}

impl Waiter {
    /// True when the write it waits for must be synced before it is released: a synced
    /// write of the coordinator or a replica, every acknowledgement after which the
    /// sender deletes its own copy (a hint, a transfer batch), and each step of a reap.
    pub fn needs_sync(&self) -> bool {
        match self {
            Waiter::Local { sync, .. } | Waiter::Ack { sync, .. } => *sync,
            Waiter::HintAck { .. }
            | Waiter::TransferAck { .. }
            | Waiter::ReapReply { .. }
            | Waiter::Reap { .. } => true,
            Waiter::Nobody | Waiter::HintDeleted { .. } => false,
        }
    }
}

/// A group commit for the driver to carry out: apply [`Commit::batch`] to the node's engine
/// with [`Commit::durability`] (see [`Commit::apply`]), then feed the outcome back as
/// [`Input::Committed`](super::Input::Committed) with the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Identifies the commit in its completion.
    pub id: u64,
    /// Every write staged since the previous commit, as one atomic batch (may be empty: a
    /// `Sync` commit of nothing makes earlier buffered writes durable).
    pub batch: WriteBatch,
    /// `Sync` when any write in it (or an earlier buffered one past the flush interval)
    /// must reach stable storage.
    pub durability: Durability,
}

impl Commit {
    /// Applies the commit to `engine`: what a driver does with it, on any thread.
    ///
    /// # Errors
    /// The engine's failure, as text (what [`Input::Committed`](super::Input::Committed)
    /// carries).
    pub fn apply<E: StorageEngine>(&self, engine: &E) -> Result<(), String> {
        engine
            .write(&self.batch, self.durability)
            .map_err(|e| e.to_string())
    }

    /// Applies several commits (of a node's shards, say) in order with at most one sync:
    /// every batch is written buffered but the last, which is written `Sync` when any of
    /// them asked for it — a sync makes every earlier write durable too. Returns each
    /// commit's outcome in order: a commit that asked for a sync fails when its own write
    /// or the final one failed.
    pub fn apply_group<E: StorageEngine>(
        commits: &[Commit],
        engine: &E,
    ) -> Vec<Result<(), String>> {
        let sync = commits.iter().any(|c| c.durability == Durability::Sync);
        let last = commits.len().saturating_sub(1);
        let mut results: Vec<Result<(), String>> = commits
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let durability = if i == last && sync {
                    Durability::Sync
                } else {
                    Durability::Buffered
                };
                engine
                    .write(&c.batch, durability)
                    .map_err(|e| e.to_string())
            })
            .collect();
        if sync && let Some(Err(e)) = results.last().cloned() {
            for (r, c) in results.iter_mut().zip(commits) {
                if c.durability == Durability::Sync && r.is_ok() {
                    *r = Err(format!("the sync after this write failed: {e}"));
                }
            }
        }
        results
    }
}

/// One Merkle update: partition, key hash, the key's old and new digests.
type TreeUpdate = (PartitionId, u64, Option<u64>, Option<u64>);

/// Writes staged together, or committing together.
#[derive(Debug, Default)]
struct Pending {
    /// Staged writes as later reads see them: `None` for a staged delete.
    overlay: BTreeMap<(Keyspace, Bytes), Option<Bytes>>,
    tree_updates: Vec<TreeUpdate>,
    waiters: Vec<Waiter>,
    /// Some write (or waiter) needs a sync.
    sync: bool,
}

/// The commit handed to the driver and not yet finished.
#[derive(Debug)]
struct InFlight {
    id: u64,
    durability: Durability,
    pending: Pending,
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
    /// How long a buffered commit may stay unsynced, in ms.
    flush_interval_ms: u64,
    batch: WriteBatch,
    /// What is staged for the next commit.
    staged: Pending,
    /// The commit the driver is carrying out.
    in_flight: Option<InFlight>,
    /// When the first commit written `Buffered` since the last `Sync` one finished.
    unsynced_since: Option<Timestamp>,
    trees: BTreeMap<PartitionId, MerkleTree>,
    /// The entry digest of the latest version (staged, in flight or committed) of recently
    /// written `data` keys, by engine key; at most [`DIGEST_CACHE_MAX`] entries (cleared when
    /// full). Every write of a `data` key goes through this store and updates it.
    digests: HashMap<Bytes, u64>,
    commits: u64,
    hint_writes: u64,
    hint_deletes: u64,
    /// The node's shard this store serves: its Merkle trees cover the shard's partitions,
    /// and its commit ids say the shard.
    shard: super::Shard,
}

/// Most entries of [`Store`]'s digest map.
const DIGEST_CACHE_MAX: usize = 1 << 16;

impl<E: StorageEngine> Store<E> {
    /// Opens the store over `engine` (which must have the [`KEYSPACES`]) and rebuilds the
    /// Merkle trees with one scan of `data`. Records whose key does not decode are skipped.
    /// Buffered writes are synced at most `flush_interval_ms` after they were committed.
    ///
    /// # Errors
    /// [`StoreError::Engine`] when a keyspace is missing or the scan fails.
    pub fn open(
        engine: E,
        flush_interval_ms: u64,
        shard: super::Shard,
    ) -> Result<Self, StoreError> {
        let data = engine.keyspace(KEYSPACES[0])?;
        let hints = engine.keyspace(KEYSPACES[1])?;
        let meta = engine.keyspace(KEYSPACES[2])?;
        let mut trees: BTreeMap<PartitionId, MerkleTree> = BTreeMap::new();
        {
            let snap = engine.snapshot()?;
            for item in snap.scan(data, KeyRange::all(), Direction::Forward)? {
                let (k, v) = item?;
                if let Ok(sk) = decode_storage_key(&k)
                    && shard.owns(sk.partition)
                {
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
            flush_interval_ms,
            batch: WriteBatch::new(),
            staged: Pending::default(),
            in_flight: None,
            unsynced_since: None,
            trees,
            digests: HashMap::new(),
            commits: 0,
            hint_writes: 0,
            hint_deletes: 0,
            shard,
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

    /// Writes the `meta` entry `key` at once and durably, outside group commit (used for the
    /// cluster state, which changes rarely).
    ///
    /// # Errors
    /// [`StoreError::Engine`] when the write fails.
    pub fn persist_meta(&self, key: &[u8], value: Bytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.put(self.meta, Bytes::copy_from_slice(key), value);
        self.engine.write(&b, Durability::Sync)?;
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
        let raw = match self.overlaid(ks, k) {
            Ok(found) => found,
            Err(k) => self.engine.get(ks, &k)?,
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

    /// The value of `(ks, k)` in the staged or in-flight writes (the newest first), or the
    /// key back when neither has it.
    fn overlaid(&self, ks: Keyspace, k: Bytes) -> Result<Option<Bytes>, Bytes> {
        let key = (ks, k);
        if let Some(v) = self.staged.overlay.get(&key) {
            return Ok(v.clone());
        }
        if let Some(v) = self
            .in_flight
            .as_ref()
            .and_then(|f| f.pending.overlay.get(&key))
        {
            return Ok(v.clone());
        }
        Err(key.1)
    }

    /// The stored bytes of (`bucket`, `key`) at `loc`, pending writes included, with only
    /// their frame checked ([`record::check`]), not decoded: a replica answering a read hands
    /// them on as they are and the coordinator decodes them. `Err` in the inner result when the
    /// frame is damaged.
    ///
    /// # Errors
    /// [`StoreError::Key`] for an over-long key, [`StoreError::Engine`] on a read failure.
    pub fn read_raw(
        &self,
        loc: &Location,
        at: KeyAt<'_>,
    ) -> Result<Result<Option<Bytes>, DecodeError>, StoreError> {
        let (ks, k) = self.engine_key(loc, at)?;
        let raw = match self.overlaid(ks, k) {
            Ok(found) => found,
            Err(k) => self.engine.get(ks, &k)?,
        };
        Ok(match raw {
            None => Ok(None),
            Some(raw) => record::check(&raw).map(|()| Some(raw)),
        })
    }

    /// Stages `set` as the new record of (`bucket`, `key`) at `loc`, replacing `old` (as
    /// returned by [`read`](Self::read)), with `waiter` waiting for its commit (synced first
    /// when [`Waiter::needs_sync`]). Returns the encoded record (what replicas are sent).
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
        let encoded = Bytes::from(record::encode(set)?);
        self.stage_encoded(loc, at, old, encoded.clone(), waiter)?;
        Ok(encoded)
    }

    /// [`stage`](Self::stage) of a record already encoded.
    fn stage_encoded(
        &mut self,
        loc: &Location,
        at: KeyAt<'_>,
        old: &Stored,
        encoded: Bytes,
        waiter: Waiter,
    ) -> Result<(), StoreError> {
        let (ks, k) = self.engine_key(loc, at)?;
        if *loc == Location::Data {
            let kh = key_hash(at.bucket, at.key);
            let old_digest = self.old_digest(&k, kh, old);
            let new_digest = entry_digest(kh, &encoded);
            self.staged
                .tree_updates
                .push((at.partition, kh, old_digest, Some(new_digest)));
            self.remember_digest(k.clone(), Some(new_digest));
        } else {
            self.hint_writes += 1;
        }
        self.batch.put(ks, k.clone(), encoded.clone());
        self.staged.overlay.insert((ks, k), Some(encoded));
        self.wait(waiter);
        Ok(())
    }

    /// The entry digest of `old`, the current version of the `data` key `k` as just read:
    /// from the digest map when the store staged that version itself, else hashed now.
    fn old_digest(&self, k: &Bytes, kh: u64, old: &Stored) -> Option<u64> {
        let raw = old.raw.as_deref()?;
        Some(
            self.digests
                .get(k)
                .copied()
                .unwrap_or_else(|| entry_digest(kh, raw)),
        )
    }

    /// Records `digest` as that of the latest version of the `data` key `k` (`None`: deleted).
    fn remember_digest(&mut self, k: Bytes, digest: Option<u64>) {
        match digest {
            Some(d) => {
                if self.digests.len() >= DIGEST_CACHE_MAX && !self.digests.contains_key(&k) {
                    self.digests.clear();
                }
                self.digests.insert(k, d);
            }
            None => {
                self.digests.remove(&k);
            }
        }
    }

    /// Queues `waiter` for the next commit (synced first when [`Waiter::needs_sync`]),
    /// without a write of its own: what it waits for may be staged or in flight already.
    pub fn wait(&mut self, waiter: Waiter) {
        self.staged.sync |= waiter.needs_sync();
        if waiter != Waiter::Nobody {
            self.staged.waiters.push(waiter);
        }
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
            let old_digest = self.old_digest(&k, kh, old);
            self.staged
                .tree_updates
                .push((at.partition, kh, old_digest, None));
            self.remember_digest(k.clone(), None);
        } else if matches!(loc, Location::Hint(_)) {
            self.hint_deletes += 1;
        }
        self.batch.delete(ks, k.clone());
        self.staged.overlay.insert((ks, k), None);
        self.wait(waiter);
        Ok(())
    }

    /// Merges `incoming` into the record at `loc` (read-merge-write) and stages the result;
    /// when it adds nothing, no write is staged but `waiter` still waits for the next commit
    /// (what is there may itself be pending), synced first when [`Waiter::needs_sync`]. A
    /// corrupt local
    /// record is replaced; it is returned in the second element so that the caller can
    /// report it.
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
            self.wait(waiter);
        }
        Ok((Merged { set, changed }, corrupt))
    }

    /// An empty set for a key never written, in `mode`.
    pub fn empty(mode: VersioningMode) -> SiblingSet {
        SiblingSet::new(mode)
    }

    /// True when writes or waiters are staged for the next commit.
    pub fn has_staged(&self) -> bool {
        !self.staged.waiters.is_empty() || !self.batch.is_empty() || self.staged.sync
    }

    /// True when a commit is in flight (handed out, not yet finished).
    pub fn commit_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Number of staged writes.
    pub fn pending_writes(&self) -> usize {
        self.batch.len()
    }

    /// When the next commit is due, given the time `now`: `now` while something is staged,
    /// the end of the flush interval while buffered writes are unsynced, `None` while a
    /// commit is in flight (its completion is the next step) or when nothing waits.
    pub fn commit_deadline(&self, now: Timestamp) -> Option<Timestamp> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.has_staged() {
            return Some(now);
        }
        self.unsynced_since
            .map(|t| Timestamp(t.0.saturating_add(self.flush_interval_ms)))
    }

    /// Hands out what is staged as one [`Commit`], when one is due at `now` (see
    /// [`commit_deadline`](Self::commit_deadline)) and none is in flight. Its writes stay
    /// visible to reads until it finishes.
    pub fn begin_commit(&mut self, now: Timestamp) -> Option<Commit> {
        if self.commit_deadline(now).is_none_or(|d| d > now) {
            return None;
        }
        let flush_due = self
            .unsynced_since
            .is_some_and(|t| now.0 >= t.0.saturating_add(self.flush_interval_ms));
        let pending = std::mem::take(&mut self.staged);
        let durability = if pending.sync || flush_due {
            Durability::Sync
        } else {
            Durability::Buffered
        };
        self.commits += 1;
        let id = self.shard.tag(self.commits);
        let batch = std::mem::take(&mut self.batch);
        self.in_flight = Some(InFlight {
            id,
            durability,
            pending,
        });
        Some(Commit {
            id,
            batch,
            durability,
        })
    }

    /// Takes back the outcome of commit `id` at time `now`: applies its Merkle updates when
    /// it succeeded, drops its writes from reads, and returns the outcome and everyone who
    /// waited for it. `None` when `id` is not the commit in flight.
    ///
    /// On failure the writes staged since build on writes the engine does not have; their
    /// Merkle updates are corrected so that the trees keep matching the engine.
    pub fn finish_commit(
        &mut self,
        id: u64,
        result: Result<(), String>,
        now: Timestamp,
    ) -> Option<(Result<(), String>, Vec<Waiter>)> {
        if self.in_flight.as_ref().is_none_or(|f| f.id != id) {
            return None;
        }
        let InFlight {
            durability,
            pending,
            ..
        } = self.in_flight.take()?;
        match &result {
            Ok(()) => {
                for (p, h, old, new) in pending.tree_updates {
                    self.trees.entry(p).or_default().update(h, old, new);
                }
                match durability {
                    Durability::Sync => self.unsynced_since = None,
                    Durability::Buffered => {
                        self.unsynced_since = self.unsynced_since.or(Some(now));
                    }
                }
            }
            Err(_) => {
                // The versions of the failed commit are gone: their digests go too, unless a
                // version staged since replaced them.
                for key in pending.overlay.keys() {
                    if key.0 == self.data && !self.staged.overlay.contains_key(key) {
                        self.digests.remove(&key.1);
                    }
                }
                // The first staged update of a key the failed commit touched starts from the
                // digest the failed commit replaced, which is still the engine's.
                for (p, h, old, _) in pending.tree_updates.iter().rev() {
                    if let Some(u) = self
                        .staged
                        .tree_updates
                        .iter_mut()
                        .find(|u| u.0 == *p && u.1 == *h)
                    {
                        u.2 = *old;
                    }
                }
            }
        }
        Some((result, pending.waiters))
    }

    /// Commits what is staged here and now, synced (for a clean stop). Returns the outcome
    /// and the waiters, or `None` when nothing was staged or a commit is still in flight
    /// (its outcome is unknown here).
    pub fn commit_now(&mut self, now: Timestamp) -> Option<(Result<(), String>, Vec<Waiter>)> {
        if self.in_flight.is_some() {
            return None;
        }
        self.staged.sync = true;
        let commit = self.begin_commit(now)?;
        let result = commit.apply(&self.engine);
        self.finish_commit(commit.id, result, now)
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

    /// Deletions staged in the `hints` keyspace since the store was opened (a node that
    /// numbered versions as a substitute watches it: see the node's `substitute` module).
    pub fn hint_deletes(&self) -> u64 {
        self.hint_deletes
    }

    /// The Merkle tree of `partition`, if this node holds data of it.
    pub fn merkle(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.trees.get(&partition)
    }
}
