//! The ring: partitions, their owners, and preference lists (Dynamo paper §4.2, §4.3, §4.6,
//! and §6.2's partitioning strategy 3).
//!
//! # Partitions
//!
//! Every (bucket, key) is hashed to a 64-bit position on a ring ([`key_hash`]: SipHash-2-4
//! with a fixed key over the length-prefixed bucket and the key). The ring is cut into
//! `Q` equal partitions, `Q` a power of two ([`RingConfig`], default 256): partition `i` holds
//! the positions whose top `log2(Q)` bits equal `i`, so partitions are contiguous arcs of the
//! ring, numbered clockwise. `Q` is fixed for the life of a cluster, and a key never changes
//! partition; only the partition's owner changes. On disk, a partition's keys are one
//! contiguous range too ([`encode_storage_key`], [`partition_key_range`]), so a partition moves
//! by one range scan.
//!
//! # Tokens and owners
//!
//! In the paper's strategy 3, each node holds `Q/S` tokens, a token being the right to own one
//! partition. Here a [`Ring`] maps every partition to the node that owns it. Unlike strategy 1
//! (random tokens), partition boundaries do not depend on membership, so a membership change
//! only moves whole partitions, and the assignment can be computed to be exactly balanced:
//! with `S` members each owns `floor(Q/S)` or `ceil(Q/S)` partitions. A membership change
//! ([`Ring::rebalance`]) moves the fewest partitions balance allows — a join moves
//! `floor(Q/(S+1))` partitions, all to the new node; a leave moves exactly the leaver's, to the
//! others — and [`Ring::transfers_to`] lists them for handoff. Within those constraints the
//! owners are spread so that consecutive partitions belong to distinct nodes (and distinct
//! zones) as riak's claim does, measured by [`Ring::crowded_windows`]. The derivation is
//! deterministic: the same inputs give the same ring on every node, whatever the order of the
//! member list. See the `claim` module source for the algorithm.
//!
//! # Preference lists
//!
//! The replicas of a key live on the first `N` distinct nodes met walking clockwise from its
//! partition: its [`preference_list`](Ring::preference_list). With zones configured
//! ([`Member::in_zone`]), a node whose zone already holds a replica is passed over while some
//! zone holds none, so a key survives the loss of a zone when there are at least `N` zones;
//! with fewer zones the list fills up with the nearest remaining nodes.
//!
//! # Sloppy quorum
//!
//! When primaries are unreachable, Dynamo does not give up on writes: it walks further round
//! the ring and uses the next healthy nodes instead, each keeping a *hint* naming the primary it
//! stands in for, to hand the data back when that node returns.
//! [`sloppy_preference_list`](Ring::sloppy_preference_list) computes this list from a
//! reachability predicate, pairing every substitute with its primary ([`Replica`]).
//!
//! ```
//! use dynamo_core::NodeId;
//! use dynamo_core::ring::{Ring, RingConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes = ["a", "b", "c", "d"].map(NodeId::new).into_iter().collect::<Result<Vec<_>, _>>()?;
//! let ring = Ring::new(RingConfig::default(), nodes.clone())?;
//! let p = ring.partition_of(b"users", b"alice");
//! let replicas = ring.preference_list(p, 3);
//! assert_eq!(replicas.len(), 3);
//!
//! // A fifth node joins: it takes floor(256 / 5) partitions, nothing else moves.
//! let e = NodeId::new("e")?;
//! let bigger = ring.rebalance(nodes.iter().chain([&e]))?;
//! let moves = ring.transfers_to(&bigger)?;
//! assert!(moves.iter().all(|t| t.to == e));
//! assert_eq!(moves.len(), 256 / 5);
//!
//! // With the first replica down, a substitute holds a hint for it.
//! let down = replicas[0].clone();
//! let sloppy = ring.sloppy_preference_list(p, 3, |n| *n != down);
//! assert_eq!(sloppy[0].stands_in_for, Some(&down));
//! # Ok(())
//! # }
//! ```

mod changes;
mod claim;
mod config;
mod error;
mod hash;
mod member;
mod preference;
mod storage_key;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::NodeId;

pub use changes::{ReplicaChange, Transfer};
pub use config::{
    DEFAULT_PARTITIONS, DEFAULT_TARGET_N, MAX_PARTITIONS, MAX_TARGET_N, PartitionId, RingConfig,
};
pub use error::{RingError, StorageKeyError};
pub use hash::{SIPHASH_K0, SIPHASH_K1, key_hash};
pub use member::{Member, Zone};
pub use preference::Replica;
pub use storage_key::{
    MAX_BUCKET_AND_KEY_LEN, MAX_STORAGE_KEY_LEN, STORAGE_KEY_HEADER_LEN, StorageKeyRef,
    bucket_key_range, decode_storage_key, encode_storage_key, encode_storage_key_into,
    partition_key_range, partition_prefix,
};

/// The assignment of every partition to a member node: the data all nodes agree on to route
/// keys (gossiped, so it serializes; decoding checks it).
///
/// Build the first ring with [`Ring::new`] and every later one with [`Ring::rebalance`] from
/// the previous ring, so that membership changes move as little as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RingState", into = "RingState")]
pub struct Ring {
    config: RingConfig,
    /// Sorted by node id, no duplicates.
    members: Vec<Member>,
    /// Owner of each partition, as an index into `members`.
    owners: Vec<u32>,
    /// Derived: effective zone index of each member (a member without zone is its own zone).
    zone_of: Vec<u32>,
    /// Derived: distinct effective zones among members.
    zones: usize,
    /// Derived: members owning at least one partition.
    owning_nodes: usize,
    /// Derived: distinct effective zones among owning members.
    owning_zones: usize,
}

/// The serialized form of a [`Ring`].
#[derive(Serialize, Deserialize)]
struct RingState {
    config: RingConfig,
    members: Vec<Member>,
    owners: Vec<u32>,
}

impl From<Ring> for RingState {
    fn from(r: Ring) -> Self {
        RingState {
            config: r.config,
            members: r.members,
            owners: r.owners,
        }
    }
}

impl TryFrom<RingState> for Ring {
    type Error = RingError;
    fn try_from(s: RingState) -> Result<Self, RingError> {
        if s.members.is_empty() {
            return Err(RingError::NoMembers);
        }
        if let Some(w) = s.members.windows(2).find(|w| w[0].node >= w[1].node) {
            return Err(if w[0].node == w[1].node {
                RingError::DuplicateMember(w[0].node.clone())
            } else {
                RingError::InvalidOwnership("members are not sorted by node id".into())
            });
        }
        check_owner_count(s.config, s.owners.len())?;
        if s.owners.iter().any(|&o| o as usize >= s.members.len()) {
            return Err(RingError::InvalidOwnership(
                "an owner index is out of range".into(),
            ));
        }
        Ok(Ring::from_parts(s.config, s.members, s.owners))
    }
}

fn check_owner_count(config: RingConfig, len: usize) -> Result<(), RingError> {
    if len != config.partitions() as usize {
        return Err(RingError::InvalidOwnership(format!(
            "{len} owners for {} partitions",
            config.partitions()
        )));
    }
    Ok(())
}

/// Sorts members by node id and rejects duplicates and empty lists.
fn normalize<I>(members: I) -> Result<Vec<Member>, RingError>
where
    I: IntoIterator,
    I::Item: Into<Member>,
{
    let mut v: Vec<Member> = members.into_iter().map(Into::into).collect();
    if v.is_empty() {
        return Err(RingError::NoMembers);
    }
    v.sort();
    if let Some(w) = v.windows(2).find(|w| w[0].node == w[1].node) {
        return Err(RingError::DuplicateMember(w[0].node.clone()));
    }
    Ok(v)
}

/// Effective zone index of each member, and the number of distinct zones: named zones are
/// numbered in name order, then each member without zone gets a number of its own.
fn zone_indices(members: &[Member]) -> (Vec<u32>, usize) {
    let mut named: BTreeMap<&str, u32> = BTreeMap::new();
    for m in members {
        if let Some(z) = &m.zone {
            named.insert(z.as_str(), 0);
        }
    }
    for (i, v) in named.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut next = named.len() as u32;
    let zone_of = members
        .iter()
        .map(|m| match &m.zone {
            Some(z) => named.get(z.as_str()).copied().unwrap_or(0),
            None => {
                next += 1;
                next - 1
            }
        })
        .collect();
    (zone_of, next as usize)
}

impl Ring {
    /// The first ring of a cluster: `members` (nodes, or [`Member`]s with zones, in any order)
    /// share the partitions equally, spread so that consecutive partitions have distinct nodes
    /// and zones.
    ///
    /// # Errors
    /// [`RingError::NoMembers`] for an empty list, [`RingError::DuplicateMember`] when a node
    /// is listed twice.
    pub fn new<I>(config: RingConfig, members: I) -> Result<Ring, RingError>
    where
        I: IntoIterator,
        I::Item: Into<Member>,
    {
        let members = normalize(members)?;
        let (zone_of, zones) = zone_indices(&members);
        let salt = claim::salts(members.iter().map(|m| m.node.as_str()));
        let owners = claim::first_assignment(
            config.partitions() as usize,
            config.target_n(),
            &zone_of,
            zones,
            &salt,
        );
        Ok(Ring::from_parts(config, members, owners))
    }

    /// A ring with an explicit owner for every partition (`owners[i]` owns partition `i`),
    /// for tests, tools and rings computed elsewhere. No balance is required.
    ///
    /// # Errors
    /// [`RingError::NoMembers`], [`RingError::DuplicateMember`], or
    /// [`RingError::InvalidOwnership`] when `owners` does not have one entry per partition or
    /// names a node that is not a member.
    pub fn from_owners<I>(
        config: RingConfig,
        members: I,
        owners: &[NodeId],
    ) -> Result<Ring, RingError>
    where
        I: IntoIterator,
        I::Item: Into<Member>,
    {
        let members = normalize(members)?;
        check_owner_count(config, owners.len())?;
        let owners = owners
            .iter()
            .map(|o| {
                members
                    .binary_search_by(|m| m.node.cmp(o))
                    .map(|i| i as u32)
                    .map_err(|_| RingError::InvalidOwnership(format!("{o} is not a member")))
            })
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(Ring::from_parts(config, members, owners))
    }

    /// The ring after a membership change: same configuration, `members` the complete new
    /// member set (in any order; zones may change too). Partitions of departed members and
    /// the excess of members above their balanced share move to members below it, and nothing
    /// else moves; see [`transfers_to`](Self::transfers_to). Deterministic: the same previous
    /// ring and member set give the same ring on every node.
    ///
    /// # Errors
    /// [`RingError::NoMembers`] for an empty list, [`RingError::DuplicateMember`] when a node
    /// is listed twice.
    pub fn rebalance<I>(&self, members: I) -> Result<Ring, RingError>
    where
        I: IntoIterator,
        I::Item: Into<Member>,
    {
        let members = normalize(members)?;
        let (zone_of, zones) = zone_indices(&members);
        let salt = claim::salts(members.iter().map(|m| m.node.as_str()));
        let new_index: Vec<u32> = self
            .members
            .iter()
            .map(|m| {
                members
                    .binary_search_by(|x| x.node.cmp(&m.node))
                    .map_or(claim::NONE, |i| i as u32)
            })
            .collect();
        let owners = self.owners.iter().map(|&o| new_index[o as usize]).collect();
        let owners = claim::reassign(owners, self.config.target_n(), &zone_of, zones, &salt);
        Ok(Ring::from_parts(self.config, members, owners))
    }

    fn from_parts(config: RingConfig, members: Vec<Member>, owners: Vec<u32>) -> Ring {
        let (zone_of, zones) = zone_indices(&members);
        let mut owns = vec![false; members.len()];
        for &o in &owners {
            owns[o as usize] = true;
        }
        let owning_nodes = owns.iter().filter(|&&b| b).count();
        let mut owning_zone_list: Vec<u32> = (0..members.len())
            .filter(|&m| owns[m])
            .map(|m| zone_of[m])
            .collect();
        owning_zone_list.sort_unstable();
        owning_zone_list.dedup();
        Ring {
            config,
            members,
            owners,
            zone_of,
            zones,
            owning_nodes,
            owning_zones: owning_zone_list.len(),
        }
    }

    /// The configuration (partition count and spacing target).
    pub fn config(&self) -> RingConfig {
        self.config
    }

    /// The number of partitions, `Q`.
    pub fn partition_count(&self) -> u32 {
        self.config.partitions()
    }

    /// The members, sorted by node id.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member entry of `node`, if it is a member.
    pub fn member(&self, node: &NodeId) -> Option<&Member> {
        self.index_of(node).map(|i| &self.members[i])
    }

    /// True when `node` is a member.
    pub fn contains_node(&self, node: &NodeId) -> bool {
        self.index_of(node).is_some()
    }

    /// The number of distinct zones among members (a member without zone counts as one).
    pub fn zone_count(&self) -> usize {
        self.zones
    }

    fn index_of(&self, node: &NodeId) -> Option<usize> {
        self.members.binary_search_by(|m| m.node.cmp(node)).ok()
    }

    /// The partition that stores `key` of `bucket`.
    pub fn partition_of(&self, bucket: &[u8], key: &[u8]) -> PartitionId {
        self.config.partition_of(bucket, key)
    }

    /// The node that owns `partition` (the first of its preference list); `None` when the
    /// partition is not one of this ring's.
    pub fn owner(&self, partition: PartitionId) -> Option<&NodeId> {
        self.owners
            .get(partition.index())
            .map(|&o| &self.members[o as usize].node)
    }

    /// Every partition with its owner, clockwise from partition 0.
    pub fn owners(&self) -> impl Iterator<Item = (PartitionId, &NodeId)> + '_ {
        self.owners
            .iter()
            .enumerate()
            .map(|(p, &o)| (PartitionId(p as u32), &self.members[o as usize].node))
    }

    /// The partitions `node` owns, in ascending order (empty for a non-member).
    pub fn partitions_owned_by(&self, node: &NodeId) -> Vec<PartitionId> {
        let Some(i) = self.index_of(node) else {
            return Vec::new();
        };
        self.owners
            .iter()
            .enumerate()
            .filter(|&(_, &o)| o as usize == i)
            .map(|(p, _)| PartitionId(p as u32))
            .collect()
    }

    /// How many partitions each member owns, in member order.
    pub fn ownership_counts(&self) -> Vec<(&NodeId, usize)> {
        let mut counts = vec![0usize; self.members.len()];
        for &o in &self.owners {
            counts[o as usize] += 1;
        }
        self.members.iter().map(|m| &m.node).zip(counts).collect()
    }

    /// A 64-bit fingerprint of the ring (configuration, members with zones, owners), equal on
    /// every node holding an equal ring: cheap to gossip and compare.
    pub fn digest(&self) -> u64 {
        let mut h = hash::SipHasher24::new(SIPHASH_K0, SIPHASH_K1);
        h.write(&self.config.partitions().to_be_bytes());
        h.write(&self.config.target_n().to_be_bytes());
        h.write(&(self.members.len() as u64).to_be_bytes());
        for m in &self.members {
            let name = m.node.as_str().as_bytes();
            h.write(&[name.len() as u8]);
            h.write(name);
            match &m.zone {
                Some(z) => {
                    h.write(&[1, z.as_str().len() as u8]);
                    h.write(z.as_str().as_bytes());
                }
                None => h.write(&[0]),
            }
        }
        for &o in &self.owners {
            h.write(&o.to_be_bytes());
        }
        h.finish()
    }
}
