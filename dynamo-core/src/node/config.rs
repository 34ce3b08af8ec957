//! The node's configuration: who it is, whom it starts with, and the defaults of buckets and
//! timers. Checked once by [`NodeConfig::validate`] (called by [`Node::new`](super::Node::new)).

use std::collections::{BTreeMap, BTreeSet};

use crate::failure::FailureConfig;
use crate::ids::NodeId;
use crate::ring::{RingConfig, Zone};

/// Replication and versioning of one bucket: membership's [`BucketProps`] (bucket
/// properties are part of the gossiped cluster state).
pub use crate::membership::BucketProps;

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
    /// How long a ping may stay unanswered before it counts as a timeout.
    pub ping_timeout_ms: u64,
    /// Consecutive timeouts (unanswered requests or pings) after which a peer is considered
    /// down. Default 2: one lost message is not a failure.
    pub failure_threshold: u32,
    /// How often the cluster state is gossiped to a random reachable peer (paper: 1 s).
    pub gossip_interval_ms: u64,
    /// How often a node starts an anti-entropy exchange (one partition with one other replica
    /// per exchange, round-robin; paper §4.7). Default 1 s: an exchange of equal partitions
    /// costs two small messages. 0 turns anti-entropy off.
    pub anti_entropy_interval_ms: u64,
    /// How often hinted handoff looks for hints to deliver to reachable nodes (0 is taken
    /// as 1).
    pub handoff_interval_ms: u64,
    /// Longest time a write committed buffered (durability `one` or `none`) stays unsynced:
    /// what a power loss can take from a node. Default 100 ms.
    pub flush_interval_ms: u64,
}

impl Timing {
    /// The failure detector's configuration from these timers.
    pub fn failure_config(&self) -> FailureConfig {
        FailureConfig {
            threshold: self.failure_threshold,
            probe_interval: std::time::Duration::from_millis(self.probe_interval_ms),
            ping_timeout: std::time::Duration::from_millis(self.ping_timeout_ms),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout_ms: 1_000,
            forward_timeout_ms: 2_500,
            probe_interval_ms: 1_000,
            ping_timeout_ms: 500,
            failure_threshold: 2,
            gossip_interval_ms: 1_000,
            anti_entropy_interval_ms: 1_000,
            handoff_interval_ms: 1_000,
            flush_interval_ms: 100,
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
    /// The founders of a fresh cluster, this node included: every founder computes the same
    /// first cluster state (all Valid, the first ring) from this list, so a static initial
    /// cluster needs no join. Empty for a node that joins an existing cluster through
    /// `seeds` (or later through an admin `Join`). Ignored when the node restarts on an
    /// engine holding a persisted cluster state.
    pub members: Vec<NodeId>,
    /// Nodes to gossip with until this node is in a ring: how a joining node finds the
    /// cluster.
    pub seeds: Vec<NodeId>,
    /// Address book for the driver (opaque to the core): this node's own address (gossiped to
    /// the others), the founders' and the seeds'. Missing entries are empty strings.
    /// [`Node::peer_address`](super::Node::peer_address) answers from the cluster state first.
    pub addresses: BTreeMap<NodeId, String>,
    /// How clients reach this node (opaque to the core; empty: not announced): gossiped in
    /// its cluster-state entry so that clients can learn every node from any one.
    pub client_endpoints: String,
    /// Failure zones of this node and of the founders, for zone-aware placement.
    pub zones: BTreeMap<NodeId, Zone>,
    /// Partition count of the ring.
    pub ring: RingConfig,
    /// Properties of every bucket not configured otherwise.
    pub default_bucket: BucketProps,
    /// Timers.
    pub timing: Timing,
    /// Largest value accepted in a put, in bytes.
    pub max_value_size: usize,
    /// Limits of anti-entropy exchanges (the interval is in [`Timing`]).
    pub anti_entropy: crate::antientropy::AntiEntropyConfig,
    /// Hint deliveries awaiting acknowledgement per target node (0 is taken as 1): throttles
    /// hinted handoff so that a node coming back is not flooded.
    pub handoff_max_in_flight: usize,
    /// Pacing of partition transfers (batch size, batches in flight, records per round).
    pub transfer: crate::transfer::TransferConfig,
    /// When and how tombstones are reaped.
    pub tombstones: TombstoneConfig,
    /// Which shard of the node this is, of how many (see [`super::shard`]); the default is a
    /// whole node (shard 0 of 1).
    pub shard: super::Shard,
}

/// Tombstone reaping (see the node's `reaper` module): a tombstone-only record goes once it
/// is older than `grace_ms`, every replica holds it, and every actor in its history has moved
/// to a newer epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TombstoneConfig {
    /// How long a tombstone stays at least, in ms. A replica or hint holder cut off for longer
    /// may bring a deleted value back (as with Cassandra's `gc_grace_seconds`): choose it
    /// longer than any outage you expect to heal by handoff or anti-entropy. Default 1 day.
    pub grace_ms: u64,
    /// How often one partition is scanned for tombstones to reap (0: never reap).
    /// Default 1 s.
    pub interval_ms: u64,
    /// Most keys proposed for reaping per round.
    pub max_keys_per_round: usize,
    /// Most records read per round: a round scans part of a partition and the next one goes
    /// on from there, so that a large partition never stalls the node.
    pub max_scanned_per_round: usize,
}

impl Default for TombstoneConfig {
    fn default() -> Self {
        TombstoneConfig {
            grace_ms: 24 * 3_600 * 1_000,
            interval_ms: 1_000,
            max_keys_per_round: 128,
            max_scanned_per_round: 1_024,
        }
    }
}

impl NodeConfig {
    /// Default largest value: 16 MiB.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 << 20;

    /// A configuration with the defaults: buckets n=3 r=2 w=2 in DVV mode with durability
    /// `all`, 1 s request timeout, 1 s gossip, 100 ms flush interval, 256 partitions, `members` as founders, no
    /// seeds, no addresses.
    pub fn new(id: NodeId, seed: u64, members: Vec<NodeId>) -> Self {
        NodeConfig {
            id,
            seed,
            members,
            seeds: Vec::new(),
            addresses: BTreeMap::new(),
            client_endpoints: String::new(),
            zones: BTreeMap::new(),
            ring: RingConfig::default(),
            default_bucket: BucketProps::default(),
            timing: Timing::default(),
            max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
            anti_entropy: crate::antientropy::AntiEntropyConfig::default(),
            handoff_max_in_flight: super::handoff::DEFAULT_MAX_IN_FLIGHT,
            transfer: crate::transfer::TransferConfig::default(),
            tombstones: TombstoneConfig::default(),
            shard: super::Shard::default(),
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = BTreeSet::new();
        for m in &self.members {
            if !seen.insert(m) {
                return Err(ConfigError::DuplicateMember(m.clone()));
            }
        }
        if !seen.is_empty() && !seen.contains(&self.id) {
            return Err(ConfigError::NotAMember(self.id.clone()));
        }
        let b = self.default_bucket;
        if b.validate().is_err() {
            return Err(ConfigError::InvalidQuorum {
                n: b.n,
                r: b.r,
                w: b.w,
            });
        }
        let t = &self.timing;
        if t.request_timeout_ms == 0
            || t.forward_timeout_ms == 0
            || t.probe_interval_ms == 0
            || t.ping_timeout_ms == 0
            || t.gossip_interval_ms == 0
            || t.failure_threshold == 0
        {
            return Err(ConfigError::InvalidSetting("timers must be positive"));
        }
        let s = self.shard;
        if s.count == 0 || s.count > super::shard::MAX_SHARDS || s.index >= s.count {
            return Err(ConfigError::InvalidSetting(
                "shard index must be below a shard count of 1 to 256",
            ));
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
    /// No member listed (no longer returned: an empty founder list means "join through the
    /// seeds").
    #[error("the member list is empty")]
    NoMembers,
    /// A member is listed twice.
    #[error("member {0} is listed twice")]
    DuplicateMember(NodeId),
    /// The node itself is not in the member list.
    #[error("node {0} is not in its own member list")]
    NotAMember(NodeId),
    /// Quorums out of range.
    #[error("invalid quorum n={n} r={r} w={w}: need 1 <= r, w <= n <= 64")]
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
