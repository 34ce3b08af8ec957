//! [`ClusterState`]: members, ring and bucket properties, with their merge and the
//! claimant's rule. See the [module documentation](super) for the reasoning.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::bucket::{BucketEntry, BucketProps};
use super::error::MembershipError;
use super::keys::{AccessKey, MAX_GRANTS, MAX_KEYS, check_key_id};
use crate::NodeId;
use crate::ring::{Member, Ring, RingConfig, Zone};
use crate::serde_helpers::bytes_serde;

/// Longest accepted member address (opaque to the core, used by the driver to connect).
pub const MAX_ADDRESS_LEN: usize = 1024;

/// Longest accepted bucket name in a cluster state.
pub const MAX_BUCKET_NAME_LEN: usize = u16::MAX as usize;

/// Where a member is in its life cycle (see the [module documentation](super)). The order is
/// the life cycle's, and breaks ties between entries of equal version: the later stage wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Asked to join; not in the ring yet.
    Joining,
    /// A full member, placed in the ring by the claimant.
    Valid,
    /// Asked to leave; handing its partitions off.
    Leaving,
    /// Left: owns nothing, may shut down. Kept as a tombstone.
    Exiting,
}

impl MemberStatus {
    /// The status's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Joining => "joining",
            MemberStatus::Valid => "valid",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Exiting => "exiting",
        }
    }

    /// True for the statuses whose members should own partitions (Joining, Valid).
    pub fn should_own(self) -> bool {
        matches!(self, MemberStatus::Joining | MemberStatus::Valid)
    }

    pub(super) fn code(self) -> u8 {
        match self {
            MemberStatus::Joining => 0,
            MemberStatus::Valid => 1,
            MemberStatus::Leaving => 2,
            MemberStatus::Exiting => 3,
        }
    }

    pub(super) fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(MemberStatus::Joining),
            1 => Some(MemberStatus::Valid),
            2 => Some(MemberStatus::Leaving),
            3 => Some(MemberStatus::Exiting),
            _ => None,
        }
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the cluster knows about one member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Life-cycle stage.
    pub status: MemberStatus,
    /// Bumped by whoever changes this entry (the member itself, or the claimant admitting
    /// it); the higher wins on merge.
    pub version: u64,
    /// Failure zone (rack, availability zone), for zone-aware placement.
    pub zone: Option<Zone>,
    /// How the driver reaches this node (e.g. `host:port`); opaque to the core.
    pub address: String,
    /// The actor epoch the member writes versions with ([`crate::version::EpochState`]),
    /// announced by the member itself. A node that lost its disk learns from it the epoch
    /// it used before, so that it never numbers versions as that old actor again (Riak's
    /// KV679), even if its clock went back. 0: not announced.
    #[serde(default)]
    pub epoch: u64,
    /// How clients reach this node (its client endpoints, announced by the member itself),
    /// so that a client that knows one node can learn every other and route requests to
    /// them; opaque to the core, like `address`. Empty: not announced.
    #[serde(default)]
    pub client: String,
}

impl MemberInfo {
    /// The merge order: version, then status, zone, address, epoch, client.
    fn merge_cmp(&self, other: &MemberInfo) -> Ordering {
        (
            self.version,
            self.status,
            &self.zone,
            &self.address,
            self.epoch,
            &self.client,
        )
            .cmp(&(
                other.version,
                other.status,
                &other.zone,
                &other.address,
                other.epoch,
                &other.client,
            ))
    }
}

/// What [`ClusterState::merge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeOutcome {
    /// The local state changed: persist it, and look at the ring for ownership changes.
    pub changed: bool,
    /// The received state lacks something the local one has: answer the sender with the
    /// local state (push-pull gossip), so that updates also flow against a one-way link's
    /// direction when the other side gossips first.
    pub sender_behind: bool,
    /// The ring changed (a subset of `changed`).
    pub ring_changed: bool,
}

/// What [`ClusterState::claim`] did (all empty when this node is not the claimant or nothing
/// had to change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimOutcome {
    /// A new ring was published (`ring_version` bumped).
    pub ring_changed: bool,
    /// Members that entered the ring.
    pub added: Vec<NodeId>,
    /// Members that left the ring (Leaving ones).
    pub removed: Vec<NodeId>,
    /// Joining members marked Valid.
    pub admitted: Vec<NodeId>,
}

/// The cluster as one node knows it: members, the ring and per-bucket properties. Gossiped
/// and merged (see the [module documentation](super)); persisted with
/// [`encode_cluster_state`](super::encode_cluster_state).
///
/// Invariants (kept by every operation and checked on decoding): a ring exists exactly when
/// `ring_version > 0`, and every ring member is in `members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireState", into = "WireState")]
pub struct ClusterState {
    members: BTreeMap<NodeId, MemberInfo>,
    ring: Option<Ring>,
    ring_version: u64,
    buckets: BTreeMap<Bytes, BucketEntry>,
    /// The properties of every bucket not set otherwise, for the whole cluster (set by the
    /// founders from their configuration): a node that joins adopts them, so that it
    /// coordinates with the cluster's quorums rather than its own start-up defaults.
    default_props: Option<BucketEntry>,
    /// Access keys of the client APIs, by id (see [`super::keys`]).
    keys: BTreeMap<String, AccessKey>,
}

fn check_address(address: &str) -> Result<(), MembershipError> {
    if address.len() > MAX_ADDRESS_LEN {
        return Err(MembershipError::InvalidState("member address too long"));
    }
    Ok(())
}

impl ClusterState {
    /// A new cluster whose founders are all Valid, with the first ring ([`Ring::new`]) at
    /// `ring_version` 1. Every founder can compute it alone from the same list (in any order)
    /// and get an equal state, so a static initial cluster needs no join; a lone node is a
    /// cluster of one founder.
    ///
    /// # Errors
    /// [`MembershipError::DuplicateMember`], [`MembershipError::InvalidState`] for an address
    /// longer than [`MAX_ADDRESS_LEN`], [`MembershipError::Ring`] for an empty list.
    pub fn new_cluster<I>(config: RingConfig, founders: I) -> Result<Self, MembershipError>
    where
        I: IntoIterator<Item = (NodeId, Option<Zone>, String)>,
    {
        let mut members = BTreeMap::new();
        for (node, zone, address) in founders {
            check_address(&address)?;
            let info = MemberInfo {
                status: MemberStatus::Valid,
                version: 1,
                zone,
                address,
                epoch: 0,
                client: String::new(),
            };
            if members.insert(node.clone(), info).is_some() {
                return Err(MembershipError::DuplicateMember(node));
            }
        }
        let ring = Ring::new(config, ring_members(&members, |_| true))?;
        Ok(ClusterState {
            members,
            ring: Some(ring),
            ring_version: 1,
            buckets: BTreeMap::new(),
            default_props: None,
            keys: BTreeMap::new(),
        })
    }

    /// The state of a node that wants to join a cluster it does not know yet: only itself,
    /// Joining, and no ring. Gossip it to a seed; the merge adopts the cluster's ring, and the
    /// claimant admits the node.
    ///
    /// # Errors
    /// [`MembershipError::InvalidState`] for an address longer than [`MAX_ADDRESS_LEN`].
    pub fn joining(
        me: NodeId,
        zone: Option<Zone>,
        address: String,
    ) -> Result<Self, MembershipError> {
        check_address(&address)?;
        let mut members = BTreeMap::new();
        members.insert(
            me,
            MemberInfo {
                status: MemberStatus::Joining,
                version: 1,
                zone,
                address,
                epoch: 0,
                client: String::new(),
            },
        );
        Ok(ClusterState {
            members,
            ring: None,
            ring_version: 0,
            buckets: BTreeMap::new(),
            default_props: None,
            keys: BTreeMap::new(),
        })
    }

    /// Turns this node's state into a join request (admin `join`): forgets the cluster it
    /// knew (typically a cluster of one) and keeps only its own entry, Joining, at a version
    /// above the one it had, as [`ClusterState::joining`] would. Then gossip to a seed.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`] when `me` has no entry here.
    pub fn start_join(&mut self, me: &NodeId) -> Result<(), MembershipError> {
        let mut info = self
            .members
            .get(me)
            .cloned()
            .ok_or_else(|| MembershipError::NotAMember(me.clone()))?;
        info.status = MemberStatus::Joining;
        info.version += 1;
        self.members.clear();
        self.members.insert(me.clone(), info);
        self.ring = None;
        self.ring_version = 0;
        self.buckets.clear();
        self.default_props = None;
        Ok(())
    }

    /// Renews the join request of `me` after merging a seed's answer, when the cluster
    /// remembers `me` as Exiting: a node that left once and comes back (typically with a
    /// wiped disk, so that its fresh Joining entry has a lower version than the tombstone)
    /// asks again, Joining at a version above the tombstone's. Returns true when it changed
    /// something; a no-op for any other status.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`] when `me` has no entry here.
    pub fn rejoin(&mut self, me: &NodeId) -> Result<bool, MembershipError> {
        let info = self
            .members
            .get_mut(me)
            .ok_or_else(|| MembershipError::NotAMember(me.clone()))?;
        if info.status != MemberStatus::Exiting {
            return Ok(false);
        }
        info.status = MemberStatus::Joining;
        info.version += 1;
        Ok(true)
    }

    /// `node` leaves: Joining or Valid becomes Leaving. Normally a node's own request (admin
    /// `leave`); an operator may also make a node that is gone for good leave on its behalf.
    /// The claimant then removes it from the ring; once its partitions are handed off, call
    /// [`ClusterState::finish_leave`]. Leaving again is a no-op.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`], or [`MembershipError::WrongStatus`] for a node
    /// already Exiting.
    pub fn leave(&mut self, node: &NodeId) -> Result<(), MembershipError> {
        let info = self
            .members
            .get_mut(node)
            .ok_or_else(|| MembershipError::NotAMember(node.clone()))?;
        match info.status {
            MemberStatus::Joining | MemberStatus::Valid => {
                info.status = MemberStatus::Leaving;
                info.version += 1;
                Ok(())
            }
            MemberStatus::Leaving => Ok(()),
            MemberStatus::Exiting => Err(MembershipError::WrongStatus {
                node: node.clone(),
                status: MemberStatus::Exiting.name(),
                why: "it has left already",
            }),
        }
    }

    /// A Leaving node whose partitions all reached their new owners (the node layer knows;
    /// for a node gone for good, the operator decides) becomes Exiting. Calling it again is a
    /// no-op.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`]; [`MembershipError::WrongStatus`] unless Leaving;
    /// [`MembershipError::StillInRing`] while the ring still lists it (the claimant has not
    /// removed it yet).
    pub fn finish_leave(&mut self, node: &NodeId) -> Result<(), MembershipError> {
        let in_ring = self.ring.as_ref().is_some_and(|r| r.contains_node(node));
        let info = self
            .members
            .get_mut(node)
            .ok_or_else(|| MembershipError::NotAMember(node.clone()))?;
        match info.status {
            MemberStatus::Exiting => Ok(()),
            MemberStatus::Leaving if in_ring => Err(MembershipError::StillInRing(node.clone())),
            MemberStatus::Leaving => {
                info.status = MemberStatus::Exiting;
                info.version += 1;
                Ok(())
            }
            s => Err(MembershipError::WrongStatus {
                node: node.clone(),
                status: s.name(),
                why: "only a leaving node can exit",
            }),
        }
    }

    /// Changes this node's zone and address (a restart with a new configuration), bumping
    /// its version when something differs.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`]; [`MembershipError::InvalidState`] for an address
    /// longer than [`MAX_ADDRESS_LEN`].
    pub fn update_self(
        &mut self,
        me: &NodeId,
        zone: Option<Zone>,
        address: String,
    ) -> Result<bool, MembershipError> {
        check_address(&address)?;
        let info = self
            .members
            .get_mut(me)
            .ok_or_else(|| MembershipError::NotAMember(me.clone()))?;
        if info.zone == zone && info.address == address {
            return Ok(false);
        }
        info.zone = zone;
        info.address = address;
        info.version += 1;
        Ok(true)
    }

    /// Announces how clients reach `me` (its client endpoints, opaque to the core), bumping
    /// its entry's version when they differ from those recorded. Returns true when they
    /// changed.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`]; [`MembershipError::InvalidState`] for endpoints
    /// longer than [`MAX_ADDRESS_LEN`].
    pub fn update_client(&mut self, me: &NodeId, client: &str) -> Result<bool, MembershipError> {
        check_address(client)?;
        let info = self
            .members
            .get_mut(me)
            .ok_or_else(|| MembershipError::NotAMember(me.clone()))?;
        if info.client == client {
            return Ok(false);
        }
        info.client = client.to_owned();
        info.version += 1;
        Ok(true)
    }

    /// Announces the actor epoch `me` writes with, bumping its entry's version when it
    /// differs from the one recorded (a newer entry wins every merge, so the announcement
    /// spreads and replaces what the cluster remembered). Returns true when it changed.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`] when `me` has no entry here.
    pub fn set_epoch(&mut self, me: &NodeId, epoch: u64) -> Result<bool, MembershipError> {
        let info = self
            .members
            .get_mut(me)
            .ok_or_else(|| MembershipError::NotAMember(me.clone()))?;
        if info.epoch == epoch {
            return Ok(false);
        }
        info.epoch = epoch;
        info.version += 1;
        Ok(true)
    }

    /// Sets a bucket's properties (validated), at a version above the one known here.
    /// Returns the new version.
    ///
    /// # Errors
    /// [`MembershipError::InvalidBucketProps`]; [`MembershipError::InvalidState`] for a
    /// bucket name longer than [`MAX_BUCKET_NAME_LEN`].
    pub fn set_bucket_props(
        &mut self,
        bucket: Bytes,
        props: BucketProps,
    ) -> Result<u64, MembershipError> {
        props.validate()?;
        if bucket.len() > MAX_BUCKET_NAME_LEN {
            return Err(MembershipError::InvalidState("bucket name too long"));
        }
        let version = self.buckets.get(&bucket).map_or(0, |e| e.version) + 1;
        self.buckets.insert(bucket, BucketEntry { version, props });
        Ok(version)
    }

    /// The properties set for `bucket`, if any (`None`: the node's defaults apply).
    pub fn bucket_props(&self, bucket: &[u8]) -> Option<&BucketProps> {
        self.buckets
            .get(bucket)
            .or(self.default_props.as_ref())
            .map(|e| &e.props)
    }

    /// The cluster's properties for buckets not set otherwise, if the founders set them.
    pub fn default_props(&self) -> Option<&BucketProps> {
        self.default_props.as_ref().map(|e| &e.props)
    }

    /// The versioned entry behind [`ClusterState::default_props`] (for the encoder).
    pub fn default_props_entry(&self) -> Option<&BucketEntry> {
        self.default_props.as_ref()
    }

    /// Sets the cluster's properties for buckets not set otherwise (validated), at a version
    /// above the one known here. Returns the new version.
    ///
    /// # Errors
    /// [`MembershipError::InvalidBucketProps`].
    pub fn set_default_props(&mut self, props: BucketProps) -> Result<u64, MembershipError> {
        props.validate()?;
        let version = self.default_props.as_ref().map_or(0, |e| e.version) + 1;
        self.default_props = Some(BucketEntry { version, props });
        Ok(version)
    }

    /// Every access key, revoked ones included, by id.
    pub fn keys(&self) -> &BTreeMap<String, AccessKey> {
        &self.keys
    }

    /// Adds a new access key.
    ///
    /// # Errors
    /// [`MembershipError::InvalidState`] for a malformed id, an id already used, too many
    /// keys or grants, or a bucket name too long.
    pub fn add_key(&mut self, id: String, mut key: AccessKey) -> Result<(), MembershipError> {
        check_key_id(&id).map_err(MembershipError::InvalidState)?;
        key.normalize();
        if self.keys.contains_key(&id) {
            return Err(MembershipError::InvalidState("a key with this id exists"));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(MembershipError::InvalidState("too many access keys"));
        }
        if key.grants.len() > MAX_GRANTS {
            return Err(MembershipError::InvalidState("too many grants on a key"));
        }
        if key
            .grants
            .iter()
            .any(|g| g.bucket.len() > MAX_BUCKET_NAME_LEN)
        {
            return Err(MembershipError::InvalidState("bucket name too long"));
        }
        self.keys.insert(id, key);
        Ok(())
    }

    /// Revokes a key. Returns false when it was revoked already.
    ///
    /// # Errors
    /// [`MembershipError::InvalidState`] for an unknown id.
    pub fn revoke_key(&mut self, id: &str) -> Result<bool, MembershipError> {
        let key = self
            .keys
            .get_mut(id)
            .ok_or(MembershipError::InvalidState("no such key"))?;
        let was = key.revoked;
        key.revoked = true;
        Ok(!was)
    }

    /// Every bucket with properties set, by name.
    pub fn buckets(&self) -> &BTreeMap<Bytes, BucketEntry> {
        &self.buckets
    }

    /// Every member, Exiting ones included, by node id.
    pub fn members(&self) -> &BTreeMap<NodeId, MemberInfo> {
        &self.members
    }

    /// What this state knows about `node`.
    pub fn member(&self, node: &NodeId) -> Option<&MemberInfo> {
        self.members.get(node)
    }

    /// The address of `node`, for the driver.
    pub fn address(&self, node: &NodeId) -> Option<&str> {
        self.members.get(node).map(|m| m.address.as_str())
    }

    /// The ring, once this node knows one (a joining node before its first gossip answer
    /// does not).
    pub fn ring(&self) -> Option<&Ring> {
        self.ring.as_ref()
    }

    /// The ring's version: 0 without ring, bumped by the claimant on every change.
    pub fn ring_version(&self) -> u64 {
        self.ring_version
    }

    /// The peers worth gossiping with: every member but `me` that has not exited.
    pub fn gossip_peers<'a>(&'a self, me: &'a NodeId) -> impl Iterator<Item = &'a NodeId> + 'a {
        self.members
            .iter()
            .filter(move |(n, info)| *n != me && info.status != MemberStatus::Exiting)
            .map(|(n, _)| n)
    }

    /// The claimant: the smallest node id among Valid members, if any.
    pub fn claimant(&self) -> Option<&NodeId> {
        self.members
            .iter()
            .find(|(_, info)| info.status == MemberStatus::Valid)
            .map(|(n, _)| n)
    }

    /// True when the ring's members (with zones) are exactly the members that should own
    /// partitions (Joining and Valid), and nobody waits to be admitted: the claimant has
    /// nothing to do.
    pub fn is_settled(&self) -> bool {
        let wanted = ring_members(&self.members, MemberStatus::should_own);
        let ring_ok = match &self.ring {
            Some(r) => r.members() == wanted.as_slice(),
            None => wanted.is_empty(),
        };
        ring_ok
            && !self
                .members
                .values()
                .any(|m| m.status == MemberStatus::Joining)
    }

    /// The claimant's rule: when `me` is the [claimant](Self::claimant) and the ring's
    /// members differ from the Joining and Valid members, publish
    /// [`Ring::rebalance`] of the current ring to them (bumping `ring_version`), and mark
    /// the Joining ones Valid. Does nothing on other nodes: call it after every merge.
    ///
    /// # Errors
    /// [`MembershipError::Ring`] if the ring refuses the member set (cannot happen for a
    /// state built by this module: the set is non-empty and has no duplicates).
    pub fn claim(&mut self, me: &NodeId) -> Result<ClaimOutcome, MembershipError> {
        let mut out = ClaimOutcome::default();
        if self.claimant() != Some(me) {
            return Ok(out);
        }
        let wanted = ring_members(&self.members, MemberStatus::should_own);
        // The claimant is Valid, so `wanted` is not empty.
        let new_ring = match &self.ring {
            Some(ring) if ring.members() == wanted.as_slice() => None,
            Some(ring) => {
                let next = ring.rebalance(wanted.iter().cloned())?;
                out.added = wanted
                    .iter()
                    .filter(|m| !ring.contains_node(&m.node))
                    .map(|m| m.node.clone())
                    .collect();
                out.removed = ring
                    .members()
                    .iter()
                    .filter(|m| !next.contains_node(&m.node))
                    .map(|m| m.node.clone())
                    .collect();
                Some(next)
            }
            // A Valid member without a ring: only a hand-built state; nothing to build from.
            None => return Ok(out),
        };
        if let Some(next) = new_ring {
            self.ring = Some(next);
            self.ring_version += 1;
            out.ring_changed = true;
        }
        for (node, info) in &mut self.members {
            if info.status == MemberStatus::Joining {
                info.status = MemberStatus::Valid;
                info.version += 1;
                out.admitted.push(node.clone());
            }
        }
        Ok(out)
    }

    /// Merges a state received by gossip (or read back) into this one. Commutative,
    /// associative and idempotent; see the [module documentation](super).
    pub fn merge(&mut self, other: &ClusterState) -> MergeOutcome {
        let mut out = MergeOutcome::default();
        for (node, theirs) in &other.members {
            match self.members.get_mut(node) {
                Some(mine) => match theirs.merge_cmp(mine) {
                    Ordering::Greater => {
                        *mine = theirs.clone();
                        out.changed = true;
                    }
                    Ordering::Less => out.sender_behind = true,
                    Ordering::Equal => {}
                },
                None => {
                    self.members.insert(node.clone(), theirs.clone());
                    out.changed = true;
                }
            }
        }
        if self.members.len() > other.members.len() {
            out.sender_behind = true;
        }
        for (bucket, theirs) in &other.buckets {
            match self.buckets.get_mut(bucket) {
                Some(mine) => match theirs.cmp(mine) {
                    Ordering::Greater => {
                        *mine = *theirs;
                        out.changed = true;
                    }
                    Ordering::Less => out.sender_behind = true,
                    Ordering::Equal => {}
                },
                None => {
                    self.buckets.insert(bucket.clone(), *theirs);
                    out.changed = true;
                }
            }
        }
        if self.buckets.len() > other.buckets.len() {
            out.sender_behind = true;
        }
        match other.default_props.cmp(&self.default_props) {
            Ordering::Greater => {
                self.default_props = other.default_props;
                out.changed = true;
            }
            Ordering::Less => out.sender_behind = true,
            Ordering::Equal => {}
        }
        for (id, theirs) in &other.keys {
            let room = self.keys.len() < MAX_KEYS;
            match self.keys.get_mut(id) {
                Some(mine) => {
                    if mine.merge(theirs) {
                        out.changed = true;
                    } else if mine.revoked && !theirs.revoked {
                        out.sender_behind = true;
                    }
                }
                // Past the limit a key is not taken: the state must stay gossipable.
                None if room => {
                    self.keys.insert(id.clone(), theirs.clone());
                    out.changed = true;
                }
                None => {}
            }
        }
        if self.keys.keys().any(|id| !other.keys.contains_key(id)) {
            out.sender_behind = true;
        }
        match ring_cmp(
            (other.ring_version, other.ring.as_ref()),
            (self.ring_version, self.ring.as_ref()),
        ) {
            Ordering::Greater => {
                self.ring = other.ring.clone();
                self.ring_version = other.ring_version;
                out.changed = true;
                out.ring_changed = true;
            }
            Ordering::Less => out.sender_behind = true,
            Ordering::Equal => {}
        }
        out
    }

    /// Checks the invariants of a state received or read back.
    fn validate(&self) -> Result<(), MembershipError> {
        if self.ring.is_some() != (self.ring_version > 0) {
            return Err(MembershipError::InvalidState(
                "a ring must exist exactly when ring_version > 0",
            ));
        }
        if let Some(ring) = &self.ring
            && ring
                .members()
                .iter()
                .any(|m| !self.members.contains_key(&m.node))
        {
            return Err(MembershipError::InvalidState(
                "a ring member is not a cluster member",
            ));
        }
        for info in self.members.values() {
            check_address(&info.address)?;
            check_address(&info.client)?;
        }
        for (name, entry) in &self.buckets {
            if name.len() > MAX_BUCKET_NAME_LEN {
                return Err(MembershipError::InvalidState("bucket name too long"));
            }
            entry.props.validate()?;
        }
        if let Some(entry) = &self.default_props {
            entry.props.validate()?;
        }
        if self.keys.len() > MAX_KEYS {
            return Err(MembershipError::InvalidState("too many access keys"));
        }
        for (id, key) in &self.keys {
            check_key_id(id).map_err(MembershipError::InvalidState)?;
            if key.grants.len() > MAX_GRANTS {
                return Err(MembershipError::InvalidState("too many grants on a key"));
            }
            if key
                .grants
                .iter()
                .any(|g| g.bucket.len() > MAX_BUCKET_NAME_LEN)
            {
                return Err(MembershipError::InvalidState("bucket name too long"));
            }
            if key.grants.windows(2).any(|w| w[0].bucket >= w[1].bucket) {
                return Err(MembershipError::InvalidState(
                    "a key's grants are not strictly increasing by bucket",
                ));
            }
        }
        Ok(())
    }

    /// Builds a state from its parts, checking the invariants (for the binary decoder).
    pub(super) fn from_parts(
        members: BTreeMap<NodeId, MemberInfo>,
        ring: Option<Ring>,
        ring_version: u64,
        buckets: BTreeMap<Bytes, BucketEntry>,
        default_props: Option<BucketEntry>,
        keys: BTreeMap<String, AccessKey>,
    ) -> Result<Self, MembershipError> {
        let s = ClusterState {
            members,
            ring,
            ring_version,
            buckets,
            default_props,
            keys,
        };
        s.validate()?;
        Ok(s)
    }
}

/// The ring members (sorted by node id, as [`Ring::members`]) among `members` whose status
/// passes `keep`.
fn ring_members(
    members: &BTreeMap<NodeId, MemberInfo>,
    keep: impl Fn(MemberStatus) -> bool,
) -> Vec<Member> {
    members
        .iter()
        .filter(|(_, info)| keep(info.status))
        .map(|(node, info)| Member {
            node: node.clone(),
            zone: info.zone.clone(),
        })
        .collect()
}

/// The total order of (ring_version, ring) used by merge: version, then no ring below a
/// ring, then digest, then members, owners and configuration.
fn ring_cmp(a: (u64, Option<&Ring>), b: (u64, Option<&Ring>)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| match (a.1, b.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x
            .digest()
            .cmp(&y.digest())
            .then_with(|| x.members().cmp(y.members()))
            .then_with(|| x.owners().map(|(_, n)| n).cmp(y.owners().map(|(_, n)| n)))
            .then_with(|| {
                (x.config().partitions(), x.config().target_n())
                    .cmp(&(y.config().partitions(), y.config().target_n()))
            }),
    })
}

/// The serialized form of [`ClusterState`].
#[derive(Serialize, Deserialize)]
struct WireState {
    members: Vec<(NodeId, MemberInfo)>,
    ring: Option<Ring>,
    ring_version: u64,
    buckets: Vec<WireBucket>,
    default_props: Option<BucketEntry>,
    #[serde(default)]
    keys: Vec<(String, AccessKey)>,
}

#[derive(Serialize, Deserialize)]
struct WireBucket {
    #[serde(with = "bytes_serde")]
    name: Bytes,
    version: u64,
    props: BucketProps,
}

impl From<ClusterState> for WireState {
    fn from(s: ClusterState) -> Self {
        WireState {
            members: s.members.into_iter().collect(),
            ring: s.ring,
            ring_version: s.ring_version,
            buckets: s
                .buckets
                .into_iter()
                .map(|(name, e)| WireBucket {
                    name,
                    version: e.version,
                    props: e.props,
                })
                .collect(),
            default_props: s.default_props,
            keys: s.keys.into_iter().collect(),
        }
    }
}

impl TryFrom<WireState> for ClusterState {
    type Error = MembershipError;
    fn try_from(w: WireState) -> Result<Self, MembershipError> {
        let mut members = BTreeMap::new();
        for (node, info) in w.members {
            if members.insert(node.clone(), info).is_some() {
                return Err(MembershipError::DuplicateMember(node));
            }
        }
        let mut buckets = BTreeMap::new();
        for b in w.buckets {
            let entry = BucketEntry {
                version: b.version,
                props: b.props,
            };
            if buckets.insert(b.name, entry).is_some() {
                return Err(MembershipError::InvalidState("bucket listed twice"));
            }
        }
        let mut keys = BTreeMap::new();
        for (id, key) in w.keys {
            if keys.insert(id, key).is_some() {
                return Err(MembershipError::InvalidState("access key listed twice"));
            }
        }
        ClusterState::from_parts(
            members,
            w.ring,
            w.ring_version,
            buckets,
            w.default_props,
            keys,
        )
    }
}
