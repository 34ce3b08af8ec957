//! Key listing (issue 13): the messages of a listing and the bounded scan of one partition.
//!
//! A listing walks the partitions in order, 0 to Q - 1, and each partition in storage-key
//! order, which for one bucket is the order of its keys' bytes. It advances one *slice* at a
//! time: a [`SliceRequest`] names the partition, what to list ([`Scope`]), where to resume
//! ([`Cursor`]) and a budget of records to read (at most [`MAX_SLICE`]); the answer, a
//! [`Slice`], holds what was found and where the next slice of the partition starts.
//!
//! The budget counts records *read*, not items returned: a partition full of tombstones
//! still costs at most [`MAX_SLICE`] records per slice, so no slice holds the node's task for
//! long whatever the data (see `ARCHITECTURE.md`). The node serves a slice from its own copy
//! of the partition when it is one of its replicas, else asks a live replica
//! ([`ListMessage`]).
//!
//! Scans read the engine's committed state through a snapshot: a replica acknowledges a
//! write only after its commit, so every write a replica acknowledged is visible to a slice
//! that starts afterwards.

use std::ops::Bound;

use bytes::Bytes;
use engine_api::{Direction, KeyRange, Keyspace, Snapshot, prefix_successor};
use serde::{Deserialize, Serialize};

use crate::proto::OpId;
use crate::record;
use crate::ring::{PartitionId, StorageKeyError, decode_storage_key, encode_storage_key};
use crate::serde_helpers::bytes_serde;

/// Most records one slice reads (and so most items it returns).
pub const MAX_SLICE: u32 = 1_000;

/// What a slice lists in its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The keys of `bucket` that hold at least one live value (a key whose versions are all
    /// tombstones is left out).
    Keys {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
    },
    /// The names of the buckets with at least one record in the partition (tombstones
    /// included, until they are reaped: telling would mean reading every key).
    Buckets,
}

/// Where a slice starts in its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cursor {
    /// At the partition's beginning.
    Start,
    /// Just after this key (for [`Scope::Keys`]) or bucket name (for [`Scope::Buckets`]).
    After(#[serde(with = "bytes_serde")] Bytes),
}

/// A key or a bucket name found by a slice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Item(#[serde(with = "bytes_serde")] pub Bytes);

/// A request for one slice of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceRequest {
    /// The partition.
    pub partition: PartitionId,
    /// What to list.
    pub scope: Scope,
    /// Where to resume.
    pub after: Cursor,
    /// The budget: records to read at most, 1 to [`MAX_SLICE`].
    pub max: u32,
}

/// One slice of a listing: what it found, in order, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// Keys or bucket names, in storage order.
    pub items: Vec<Item>,
    /// `Some(last)`: the budget ran out, the next slice of the partition starts after
    /// `last` (the last record read, which may be a tombstone not listed); `None`: the
    /// partition was read to its end.
    pub next: Option<Item>,
}

/// A listing's messages between nodes: a node without a copy of a partition asks a replica
/// for a slice of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListMessage {
    /// Read this slice of your copy of the partition; answered with [`ListMessage::Reply`].
    Request {
        /// The asking node's operation.
        op: OpId,
        /// The slice.
        slice: SliceRequest,
    },
    /// The slice, or why it could not be read.
    Reply {
        /// The asking node's operation.
        op: OpId,
        /// The slice, or the error.
        result: Result<Slice, String>,
    },
}

/// Why a slice could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The request is out of bounds (budget 0 or above [`MAX_SLICE`], a bucket too long).
    #[error("invalid slice: {0}")]
    Invalid(String),
    /// The engine failed.
    #[error("storage: {0}")]
    Engine(#[from] engine_api::Error),
}

impl From<StorageKeyError> for ScanError {
    fn from(e: StorageKeyError) -> Self {
        ScanError::Invalid(e.to_string())
    }
}

fn upper(bound: Option<Vec<u8>>) -> Bound<Vec<u8>> {
    bound.map_or(Bound::Unbounded, Bound::Excluded)
}

/// Reads the slice `request` from the `data` keyspace of `snapshot` (the node's storage
/// layout, see [`crate::node::store`]). Reads at most `request.max` records; never panics on
/// stored bytes (a key or record that does not decode is skipped, and counts against the
/// budget).
///
/// # Errors
/// [`ScanError::Invalid`] for a budget outside 1 to [`MAX_SLICE`] or a bucket too long,
/// [`ScanError::Engine`] when the engine fails.
pub fn scan<S: Snapshot>(
    snapshot: &S,
    data: Keyspace,
    request: &SliceRequest,
) -> Result<Slice, ScanError> {
    if request.max == 0 || request.max > MAX_SLICE {
        return Err(ScanError::Invalid(format!(
            "a slice reads 1 to {MAX_SLICE} records, not {}",
            request.max
        )));
    }
    match &request.scope {
        Scope::Keys { bucket } => scan_keys(snapshot, data, request, bucket),
        Scope::Buckets => scan_buckets(snapshot, data, request),
    }
}

fn scan_keys<S: Snapshot>(
    snapshot: &S,
    data: Keyspace,
    request: &SliceRequest,
    bucket: &[u8],
) -> Result<Slice, ScanError> {
    let prefix = encode_storage_key(request.partition, bucket, b"")?;
    let start = match &request.after {
        Cursor::Start => Bound::Included(prefix.clone()),
        Cursor::After(key) => Bound::Excluded(encode_storage_key(request.partition, bucket, key)?),
    };
    let range = KeyRange {
        start,
        end: upper(prefix_successor(&prefix)),
    };
    let mut items = Vec::new();
    let mut read = 0u32;
    for entry in snapshot.scan(data, range, Direction::Forward)? {
        let (k, v) = entry?;
        read += 1;
        let key = match decode_storage_key(&k) {
            Ok(sk) if sk.bucket == bucket => Bytes::copy_from_slice(sk.key),
            // Not this bucket's (cannot happen within the prefix) or undecodable: skipped.
            _ => {
                if read >= request.max {
                    return Ok(Slice { items, next: None });
                }
                continue;
            }
        };
        if record::decode_shared(&v).is_ok_and(|set| !set.is_tombstone_only() && !set.is_empty()) {
            items.push(Item(key.clone()));
        }
        if read >= request.max {
            return Ok(Slice {
                items,
                next: Some(Item(key)),
            });
        }
    }
    Ok(Slice { items, next: None })
}

fn scan_buckets<S: Snapshot>(
    snapshot: &S,
    data: Keyspace,
    request: &SliceRequest,
) -> Result<Slice, ScanError> {
    let partition_start = request.partition.0.to_be_bytes().to_vec();
    let end = upper(prefix_successor(&partition_start));
    let mut from = match &request.after {
        Cursor::Start => Some(partition_start),
        Cursor::After(bucket) => {
            prefix_successor(&encode_storage_key(request.partition, bucket, b"")?)
        }
    };
    let mut items = Vec::new();
    let mut read = 0u32;
    while let Some(start) = from.take() {
        let range = KeyRange {
            start: Bound::Included(start),
            end: end.clone(),
        };
        let Some(entry) = snapshot.scan(data, range, Direction::Forward)?.next() else {
            return Ok(Slice { items, next: None });
        };
        let (k, _) = entry?;
        read += 1;
        let Ok(sk) = decode_storage_key(&k) else {
            // An undecodable key ends the partition's listing rather than looping on it.
            return Ok(Slice { items, next: None });
        };
        let bucket = Bytes::copy_from_slice(sk.bucket);
        items.push(Item(bucket.clone()));
        // Skip the rest of this bucket: seek past every key with its prefix.
        from = prefix_successor(&encode_storage_key(request.partition, &bucket, b"")?);
        if read >= request.max && from.is_some() {
            return Ok(Slice {
                items,
                next: Some(Item(bucket)),
            });
        }
    }
    Ok(Slice { items, next: None })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::ids::{NodeId, Timestamp};
    use crate::version::{Actor, ContentType, Context, SiblingSet, VersioningMode};
    use engine_api::{Durability, StorageEngine, WriteBatch};
    use engine_mem::MemEngine;

    fn record(live: bool) -> Bytes {
        let actor = Actor::new(NodeId::new("n1").unwrap(), 1);
        let mut set = SiblingSet::new(VersioningMode::Dvv);
        let ctx = Context::default();
        if live {
            let v = Bytes::from_static(b"v");
            set.apply_put(&ctx, v, ContentType::octet_stream(), &actor, Timestamp(1))
                .unwrap();
        } else {
            set.apply_delete(&ctx, &actor, Timestamp(1)).unwrap();
        }
        Bytes::from(record::encode(&set).unwrap())
    }

    fn engine(keys: &[(u32, &str, &str, bool)]) -> (MemEngine, Keyspace) {
        let e = MemEngine::with_keyspaces(["data"]).unwrap();
        let data = e.keyspace("data").unwrap();
        let mut b = WriteBatch::new();
        for &(p, bucket, key, live) in keys {
            let k = encode_storage_key(PartitionId(p), bucket.as_bytes(), key.as_bytes()).unwrap();
            b.put(data, Bytes::from(k), record(live));
        }
        e.write(&b, Durability::Buffered).unwrap();
        (e, data)
    }

    fn keys_of(bucket: &str, partition: u32, after: Cursor, max: u32) -> SliceRequest {
        SliceRequest {
            partition: PartitionId(partition),
            scope: Scope::Keys {
                bucket: Bytes::copy_from_slice(bucket.as_bytes()),
            },
            after,
            max,
        }
    }

    fn names(slice: &Slice) -> Vec<&str> {
        slice
            .items
            .iter()
            .map(|i| std::str::from_utf8(&i.0).unwrap())
            .collect()
    }

    #[test]
    fn keys_in_order_without_tombstones_and_other_buckets() {
        let (e, data) = engine(&[
            (1, "b", "c", true),
            (1, "b", "a", true),
            (1, "b", "dead", false),
            (1, "bb", "x", true),
            (1, "a", "y", true),
            (2, "b", "other-partition", true),
            (0, "b", "first-partition", true),
        ]);
        let snap = e.snapshot().unwrap();
        let slice = scan(&snap, data, &keys_of("b", 1, Cursor::Start, 100)).unwrap();
        assert_eq!(names(&slice), ["a", "c"]);
        assert_eq!(slice.next, None);
    }

    #[test]
    fn the_budget_counts_records_read_and_resumes_after_the_last() {
        let (e, data) = engine(&[
            (3, "b", "k1", true),
            (3, "b", "k2", false),
            (3, "b", "k3", false),
            (3, "b", "k4", true),
            (3, "b", "k5", true),
        ]);
        let snap = e.snapshot().unwrap();
        let mut after = Cursor::Start;
        let mut all = Vec::new();
        let mut slices = 0;
        loop {
            let slice = scan(&snap, data, &keys_of("b", 3, after, 2)).unwrap();
            assert!(slice.items.len() <= 2);
            slices += 1;
            all.extend(names(&slice).into_iter().map(str::to_owned));
            match slice.next {
                Some(last) => after = Cursor::After(last.0),
                None => break,
            }
        }
        assert_eq!(all, ["k1", "k4", "k5"]);
        // 5 records, 2 per slice: the third slice reads the last one.
        assert_eq!(slices, 3);
    }

    #[test]
    fn buckets_of_a_partition_each_once() {
        let (e, data) = engine(&[
            (4, "apples", "1", true),
            (4, "apples", "2", true),
            (4, "b", "1", false),
            (4, "pears", "1", true),
            (4, "pears", "2", true),
            (5, "zebra", "1", true),
        ]);
        let snap = e.snapshot().unwrap();
        let request = |after, max| SliceRequest {
            partition: PartitionId(4),
            scope: Scope::Buckets,
            after,
            max,
        };
        let whole = scan(&snap, data, &request(Cursor::Start, 100)).unwrap();
        // Storage order: by the bucket's length, then its bytes.
        assert_eq!(names(&whole), ["b", "pears", "apples"]);
        assert_eq!(whole.next, None);
        let first = scan(&snap, data, &request(Cursor::Start, 2)).unwrap();
        assert_eq!(names(&first), ["b", "pears"]);
        let next = first.next.unwrap();
        let rest = scan(&snap, data, &request(Cursor::After(next.0), 2)).unwrap();
        assert_eq!(names(&rest), ["apples"]);
        assert_eq!(rest.next, None);
    }

    #[test]
    fn out_of_bounds_requests_are_errors() {
        let (e, data) = engine(&[]);
        let snap = e.snapshot().unwrap();
        assert!(matches!(
            scan(&snap, data, &keys_of("b", 0, Cursor::Start, 0)),
            Err(ScanError::Invalid(_))
        ));
        assert!(matches!(
            scan(&snap, data, &keys_of("b", 0, Cursor::Start, MAX_SLICE + 1)),
            Err(ScanError::Invalid(_))
        ));
        let long = "x".repeat(600);
        assert!(matches!(
            scan(&snap, data, &keys_of(&long, 0, Cursor::Start, 10)),
            Err(ScanError::Invalid(_))
        ));
        let slice = scan(&snap, data, &keys_of("b", u32::MAX, Cursor::Start, 10)).unwrap();
        assert!(slice.items.is_empty());
    }
}
