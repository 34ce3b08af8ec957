//! Errors of the ring module.

use crate::NodeId;

use super::config::{MAX_PARTITIONS, MAX_TARGET_N};

/// Why a ring could not be configured, built, compared or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The partition count is not a power of two in `1..=MAX_PARTITIONS`.
    #[error("partition count {0} is not a power of two between 1 and {MAX_PARTITIONS}")]
    InvalidPartitionCount(u32),
    /// The spacing target is not in `1..=MAX_TARGET_N`.
    #[error("target_n {0} is not between 1 and {MAX_TARGET_N}")]
    InvalidTargetN(u32),
    /// A ring was asked for with no member to own its partitions.
    #[error("a ring needs at least one member")]
    NoMembers,
    /// The same node appears twice in a member list.
    #[error("node {0} is listed more than once")]
    DuplicateMember(NodeId),
    /// Two rings with different partition counts were compared (the count is fixed for the
    /// life of a cluster).
    #[error("rings have different partition counts ({0} and {1})")]
    PartitionCountMismatch(u32, u32),
    /// An explicit ownership names a node that is not a member, or has the wrong length.
    #[error("invalid ownership: {0}")]
    InvalidOwnership(String),
    /// A zone name breaks the rules of [`Zone`](super::Zone).
    #[error("invalid zone {0:?}: use 1 to 64 ASCII letters, digits, '.', '_', '-' or ':'")]
    InvalidZone(String),
}

/// Why bytes could not be encoded as, or decoded from, a storage key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageKeyError {
    /// Bucket and key would make a storage key longer than every engine accepts.
    #[error("storage key of {len} bytes is longer than the {max} bytes engines accept")]
    TooLong {
        /// Length the storage key would have, in bytes.
        len: usize,
        /// The longest storage key ([`MAX_STORAGE_KEY_LEN`](super::MAX_STORAGE_KEY_LEN)).
        max: usize,
    },
    /// The bytes end before the partition id and bucket length.
    #[error("storage key of {len} bytes is shorter than its 6-byte header")]
    Truncated {
        /// Length of the rejected key, in bytes.
        len: usize,
    },
    /// The bucket length prefix points past the end of the key.
    #[error("storage key declares a {declared}-byte bucket but only {available} bytes follow")]
    BucketOverrun {
        /// Bucket length written in the key.
        declared: usize,
        /// Bytes present after the header.
        available: usize,
    },
}
