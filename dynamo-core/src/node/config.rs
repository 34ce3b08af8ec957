//! The node's configuration: who it is, whom it starts with, and the defaults of buckets and
//! timers. Checked once by [`NodeConfig::validate`] (called by [`Node::new`](super::Node::new)).

use std::collections::BTreeSet;

use engine_api::Durability;
use serde::{Deserialize, Serialize};

use crate::ids::NodeId;
use crate::ring::RingConfig;
use crate::version::VersioningMode;

/// Replication and versioning of one bucket: how many replicas (`n`), how many must answer a
/// read (`r`) or acknowledge a write (`w`), and how concurrent writes are versioned.
///
/// `r + w > n` gives read-your-writes when no failure intervenes; the defaults (3, 2, 2) are
/// the paper's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BucketProps {
    /// Replicas per key.
    pub n: u8,
    /// Read quorum.
    pub r: u8,
    /// Write quorum.
    pub w: u8,
    /// How versions are tracked and reconciled.
    #[serde(with = "crate::proto::mode_serde")]
    pub mode: VersioningMode,
}

impl Default for BucketProps {
    fn default() -> Self {
        BucketProps {
            n: 3,
            r: 2,
            w: 2,
            mode: VersioningMode::Dvv,
        }
    }
}

impl BucketProps {
    /// Checks `1 <= r, w <= n`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidQuorum`] otherwise.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.n == 0 || self.r == 0 || self.w == 0 || self.r > self.n || self.w > self.n {
            return Err(ConfigError::InvalidQuorum {
                n: self.n,
                r: self.r,
                w: self.w,
            });
        }
        Ok(())
    }
}

/// Timers, in milliseconds of the driver's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    /// How long a coordinator waits for replicas before answering `Unavailable` (and marking
    /// the silent ones down).
    pub request_timeout_ms: u64,
    /// How long a node that forwarded a request waits for the coordinator's answer; longer
    /// than `request_timeout_ms` so that the coordinator's own timeout answers first.
    pub forward_timeout_ms: u64,
    /// How often peers believed down are pinged.
    pub probe_interval_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout_ms: 1_000,
            forward_timeout_ms: 2_500,
            probe_interval_ms: 1_000,
        }
    }
}

/// Everything a [`Node`](super::Node) needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node.
    pub id: NodeId,
    /// Seed of the node's only randomness (jitter, gossip peers): the same seed and inputs give
    /// the same outputs.
    pub seed: u64,
    /// The cluster's members, this node included (the static view until membership gossip
    /// replaces it). The ring is derived from them.
    pub members: Vec<NodeId>,
    /// Partition count of the ring.
    pub ring: RingConfig,
    /// Properties of every bucket not configured otherwise.
    pub default_bucket: BucketProps,
    /// Timers.
    pub timing: Timing,
    /// Durability of replica writes (the group commit's batch): `Sync` by default, so that an
    /// acknowledgement means the write survives a crash.
    pub write_durability: Durability,
    /// Largest value accepted in a put, in bytes.
    pub max_value_size: usize,
}

impl NodeConfig {
    /// Default largest value: 16 MiB.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 << 20;

    /// A configuration with the defaults: buckets n=3 r=2 w=2 in DVV mode, 1 s request
    /// timeout, `Sync` replica writes, 256 partitions.
    pub fn new(id: NodeId, seed: u64, members: Vec<NodeId>) -> Self {
        NodeConfig {
            id,
            seed,
            members,
            ring: RingConfig::default(),
            default_bucket: BucketProps::default(),
            timing: Timing::default(),
            write_durability: Durability::Sync,
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.members.is_empty() {
            return Err(ConfigError::NoMembers);
        }
        let mut seen = BTreeSet::new();
        for m in &self.members {
            if !seen.insert(m) {
                return Err(ConfigError::DuplicateMember(m.clone()));
            }
        }
        if !seen.contains(&self.id) {
            return Err(ConfigError::NotAMember(self.id.clone()));
        }
        self.default_bucket.validate()?;
        let t = &self.timing;
        if t.request_timeout_ms == 0 || t.forward_timeout_ms == 0 || t.probe_interval_ms == 0 {
            return Err(ConfigError::InvalidSetting("timers must be positive"));
        }
        if self.max_value_size == 0 {
            return Err(ConfigError::InvalidSetting(
                "max_value_size must be positive",
            ));
        }
        Ok(())
    }
}

/// A configuration the node refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No member listed.
    #[error("the member list is empty")]
    NoMembers,
    /// A member is listed twice.
    #[error("member {0} is listed twice")]
    DuplicateMember(NodeId),
    /// The node itself is not in the member list.
    #[error("node {0} is not in its own member list")]
    NotAMember(NodeId),
    /// Quorums out of range.
    #[error("invalid quorum n={n} r={r} w={w}: need 1 <= r, w <= n")]
    InvalidQuorum {
        /// Replicas.
        n: u8,
        /// Read quorum.
        r: u8,
        /// Write quorum.
        w: u8,
    },
    /// A timer or limit is out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
}
