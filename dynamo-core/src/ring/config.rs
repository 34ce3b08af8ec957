//! Ring configuration (partition count, spacing target) and partition ids.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use super::RingError;
use super::hash::key_hash;

/// Default number of partitions, `Q`: enough for clusters of up to ~100 nodes to stay within
/// a few percent of perfect balance, few enough that per-partition state (Merkle trees,
/// transfer bookkeeping) stays small.
pub const DEFAULT_PARTITIONS: u32 = 256;

/// Largest partition count accepted (16384). Every partition carries a Merkle tree and handoff
/// state, and claim work grows with `Q` (a first ring of 100 nodes takes a few milliseconds
/// to compute at Q = 256, about 0.3 s at this size), while 16384 partitions already balance
/// thousands of nodes.
pub const MAX_PARTITIONS: u32 = 1 << 14;

/// Default spacing target (riak's `target_n_val`): the assignment tries to give every window
/// of 4 consecutive partitions 4 distinct nodes, so that a preference list of N = 3 plus its
/// first fallback are 4 distinct machines.
pub const DEFAULT_TARGET_N: u32 = 4;

/// Largest spacing target accepted.
pub const MAX_TARGET_N: u32 = 64;

/// The id of one of the `Q` partitions: partition `i` is the `i`-th of `Q` equal, contiguous
/// ranges of the 64-bit hash space, counted clockwise from 0.
///
/// Partition ids are plain numbers on the wire and in storage keys; check them against a
/// ring ([`RingConfig::contains`]) when they come from the network or disk.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PartitionId(pub u32);

impl PartitionId {
    /// The id as an index into per-partition tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// How the hash space is cut and how hard the assignment tries to spread nodes.
///
/// Both values are fixed for the life of a cluster: every node must use the same
/// configuration, since it decides where every key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "RawConfig")]
pub struct RingConfig {
    partitions: u32,
    target_n: u32,
}

#[derive(Serialize, Deserialize)]
struct RawConfig {
    partitions: u32,
    target_n: u32,
}

impl TryFrom<RawConfig> for RingConfig {
    type Error = RingError;
    fn try_from(raw: RawConfig) -> Result<Self, RingError> {
        RingConfig::new(raw.partitions)?.with_target_n(raw.target_n)
    }
}

impl From<RingConfig> for RawConfig {
    fn from(c: RingConfig) -> Self {
        RawConfig {
            partitions: c.partitions,
            target_n: c.target_n,
        }
    }
}

impl Default for RingConfig {
    /// [`DEFAULT_PARTITIONS`] partitions, spacing target [`DEFAULT_TARGET_N`].
    fn default() -> Self {
        RingConfig {
            partitions: DEFAULT_PARTITIONS,
            target_n: DEFAULT_TARGET_N,
        }
    }
}

impl RingConfig {
    /// A configuration with `partitions` partitions and the default spacing target.
    ///
    /// # Errors
    /// [`RingError::InvalidPartitionCount`] unless `partitions` is a power of two in
    /// `1..=MAX_PARTITIONS` (a power of two so that a partition is a prefix of the hash).
    pub fn new(partitions: u32) -> Result<Self, RingError> {
        if partitions == 0 || !partitions.is_power_of_two() || partitions > MAX_PARTITIONS {
            return Err(RingError::InvalidPartitionCount(partitions));
        }
        Ok(RingConfig {
            partitions,
            target_n: DEFAULT_TARGET_N,
        })
    }

    /// The same configuration with another spacing target: the assignment tries to give every
    /// window of `target_n` consecutive partitions distinct nodes (and distinct zones). Use at
    /// least the largest replication factor N of any bucket, plus one to keep the first
    /// fallback distinct too.
    ///
    /// # Errors
    /// [`RingError::InvalidTargetN`] unless `target_n` is in `1..=MAX_TARGET_N`.
    pub fn with_target_n(self, target_n: u32) -> Result<Self, RingError> {
        if target_n == 0 || target_n > MAX_TARGET_N {
            return Err(RingError::InvalidTargetN(target_n));
        }
        Ok(RingConfig { target_n, ..self })
    }

    /// The number of partitions, `Q`.
    pub fn partitions(self) -> u32 {
        self.partitions
    }

    /// The spacing target.
    pub fn target_n(self) -> u32 {
        self.target_n
    }

    /// `log2(Q)`: how many top bits of the key hash name the partition.
    pub fn partition_bits(self) -> u32 {
        self.partitions.trailing_zeros()
    }

    /// True when `partition` is one of this configuration's partitions.
    pub fn contains(self, partition: PartitionId) -> bool {
        partition.0 < self.partitions
    }

    /// Every partition id, clockwise from 0.
    pub fn partition_ids(self) -> impl Iterator<Item = PartitionId> {
        (0..self.partitions).map(PartitionId)
    }

    /// The partition of a 64-bit position on the ring: its top `log2(Q)` bits.
    pub fn partition_for_hash(self, hash: u64) -> PartitionId {
        let bits = self.partition_bits();
        if bits == 0 {
            PartitionId(0)
        } else {
            // bits <= 14, so the shifted value fits in u32.
            PartitionId((hash >> (64 - bits)) as u32)
        }
    }

    /// The partition that stores `key` of `bucket`: see [`key_hash`] for the exact function.
    pub fn partition_of(self, bucket: &[u8], key: &[u8]) -> PartitionId {
        self.partition_for_hash(key_hash(bucket, key))
    }

    /// The hash values that fall in `partition` (an out-of-range id gives the range of
    /// `partition mod Q`).
    pub fn hash_range(self, partition: PartitionId) -> RangeInclusive<u64> {
        let bits = self.partition_bits();
        if bits == 0 {
            return 0..=u64::MAX;
        }
        let p = u64::from(partition.0 % self.partitions);
        let width = 64 - bits;
        let start = p << width;
        start..=(start | (u64::MAX >> bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_counts_are_validated() {
        for ok in [1, 2, 64, 256, 1024, MAX_PARTITIONS] {
            assert_eq!(RingConfig::new(ok).map(RingConfig::partitions), Ok(ok));
        }
        for bad in [0, 3, 100, 255, MAX_PARTITIONS * 2, u32::MAX] {
            assert_eq!(
                RingConfig::new(bad),
                Err(RingError::InvalidPartitionCount(bad))
            );
        }
        assert_eq!(
            RingConfig::default().with_target_n(0),
            Err(RingError::InvalidTargetN(0))
        );
    }

    #[test]
    fn hash_ranges_tile_the_space() {
        for q in [1u32, 2, 8, 256] {
            let c = RingConfig::new(q).unwrap_or_default();
            let mut next = 0u64;
            for p in c.partition_ids() {
                let r = c.hash_range(p);
                assert_eq!(*r.start(), next);
                assert_eq!(c.partition_for_hash(*r.start()), p);
                assert_eq!(c.partition_for_hash(*r.end()), p);
                next = r.end().wrapping_add(1);
            }
            assert_eq!(next, 0, "ranges end at u64::MAX");
        }
    }
}
