//! Cluster membership (Dynamo paper §4.8, §4.9): who is in the cluster, which ring routes
//! keys, and the per-bucket properties — the [`ClusterState`] every node holds a copy of and
//! gossips to a random peer every second ([`Gossiper`]).
//!
//! # A member's life cycle
//!
//! ```text
//!            claimant admits            leave(me)          claimant drops it from the ring,
//! Joining ─────────────────▶ Valid ─────────────────▶ Leaving ── transfers done: finish_leave(me) ──▶ Exiting
//!    │  (in the ring from now on)                        ▲
//!    └──────────────────── leave(me) ───────────────────┘
//! ```
//!
//! - [`MemberStatus::Joining`]: the node asked to join ([`ClusterState::joining`], or
//!   [`ClusterState::start_join`] on a node that was on its own) and gossips to a seed. It is
//!   not in the ring and owns nothing yet.
//! - [`MemberStatus::Valid`]: a full member. The claimant put it in the ring, and it owns
//!   partitions. A cluster starts with its founders Valid ([`ClusterState::new_cluster`]).
//! - [`MemberStatus::Leaving`]: it asked to leave ([`ClusterState::leave`]). The claimant
//!   rebalances the ring without it; the node layer then streams its partitions to their new
//!   owners and, once they all confirmed, calls [`ClusterState::finish_leave`].
//! - [`MemberStatus::Exiting`]: out of the cluster, owning nothing: the node may shut down.
//!   The entry stays as a tombstone (a removed entry would come back with the next gossip
//!   from a node that still has it); nobody gossips to it.
//!   A node that comes back after exiting asks again with [`ClusterState::rejoin`].
//!
//! A failure does not change anybody's status: Dynamo separates *temporary* failures, which
//! the local [`failure`](crate::failure) detector handles by routing around the node (sloppy
//! quorum, hinted handoff), from *permanent* departures, which only an explicit `leave`
//! makes.
//!
//! # Why merge converges
//!
//! Every piece of the state is versioned and [`ClusterState::merge`] keeps, piece by piece,
//! the greater of the two:
//!
//! - a member entry: the higher `version`; for equal versions, the later status of the life
//!   cycle, then the greater zone, then the greater address;
//! - a bucket's properties: the higher `version`, then the greater properties;
//! - the ring: the higher `ring_version`; for equal versions (two claimants, see below), the
//!   greater [`Ring::digest`](crate::ring::Ring::digest), then a full comparison of members
//!   and owners, so that even a digest collision has one winner.
//!
//! "The greater under a total order" is a maximum, and a maximum is commutative,
//! associative and idempotent; a per-key maximum over maps, and a product of such, is too. So
//! whatever the order, duplication or loss of gossip messages, two nodes that have seen the
//! same updates hold equal states, and random gossip spreads every update to everybody in
//! O(log n) rounds. Whoever changes a piece bumps its version from the value it knows, so a
//! change made after seeing another one always wins over it.
//!
//! # The claimant
//!
//! The ring changes only through one node, the *claimant*: the smallest [`NodeId`](crate::NodeId) among the
//! members this node knows as Valid ([`ClusterState::claimant`]). Every node calls
//! [`ClusterState::claim`] after merging gossip; it does nothing except on the claimant, which
//! compares the ring's members with the members that should own partitions (Joining and
//! Valid ones; not Leaving or Exiting). When they differ it computes
//! [`Ring::rebalance`](crate::ring::Ring::rebalance) from the current ring — deterministic,
//! moving the fewest partitions — bumps `ring_version`, and marks the Joining members it
//! admitted Valid.
//!
//! During a network partition every node still knows the same Valid members — statuses
//! change only through their owner or the claimant — so every node names the same claimant,
//! and only the side that holds it changes the ring. On the other side, join and leave
//! requests wait (Joining, Leaving) and the ring stays as it was; the cluster keeps serving
//! there (sloppy quorum does not need ring changes). When the partition heals, gossip merges
//! the requests made on both sides and the claimant handles the ones it had not seen.
//!
//! Two claimants can still act at once while views differ — typically when a node's
//! change of status has reached some nodes and not others, or after states made apart are
//! merged. Both may then publish a ring with the same `ring_version`. Merge picks one of
//! them by digest, on every node alike; the member entries merge as usual; and the single
//! claimant of the merged view sees that the winning ring misses the members the other one
//! admitted, and rebalances once more, from the winning ring. No request is lost: a
//! member's status never depends on which ring won. Data that moved under the losing ring is
//! found again by the node layer's transfers and anti-entropy.
//!
//! A claimant that is gone for good blocks ring changes until an operator makes it leave on
//! its behalf ([`ClusterState::leave`] works for any member): it is then no longer Valid,
//! and the next smallest Valid node takes over.
//!
//! # In the node
//!
//! [`Membership`] bundles one node's state, gossip schedule, seeds and join intent: the
//! node feeds it received `Gossip` messages and admin commands, asks it whom to gossip with
//! when [`Membership::next_deadline`] comes, and gets back an [`Update`] saying whether to
//! persist the state, whether to answer the sender, and what changed ([`MembershipChange`]:
//! statuses, a new ring, bucket properties) for its events and transfers.
//!
//! # Example
//!
//! ```
//! use dynamo_core::NodeId;
//! use dynamo_core::membership::{ClusterState, MemberStatus};
//! use dynamo_core::ring::RingConfig;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (a, b, c) = (NodeId::new("a")?, NodeId::new("b")?, NodeId::new("c")?);
//! // a and b found a cluster; c asks to join through a.
//! let founders = [(a.clone(), None, "a:7000".to_owned()), (b.clone(), None, "b:7000".to_owned())];
//! let mut on_a = ClusterState::new_cluster(RingConfig::default(), founders)?;
//! let mut on_c = ClusterState::joining(c.clone(), None, "c:7000".to_owned())?;
//!
//! // c gossips to its seed a: a merges, and a, the claimant, admits c into a new ring.
//! let out = on_a.merge(&on_c);
//! assert!(out.changed && out.sender_behind);
//! let claimed = on_a.claim(&a)?;
//! assert_eq!(claimed.admitted, vec![c.clone()]);
//! assert_eq!(on_a.member(&c).map(|m| m.status), Some(MemberStatus::Valid));
//!
//! // a answers with its state (push-pull); c now routes with the same ring.
//! on_c.merge(&on_a);
//! assert_eq!(on_c, on_a);
//! assert_eq!(on_c.ring().map(|r| r.digest()), on_a.ring().map(|r| r.digest()));
//! # Ok(())
//! # }
//! ```
//!
//! # Encodings
//!
//! [`ClusterState`] is serde-serializable for gossip (decoding validates every field), and
//! [`encode_cluster_state`] / [`decode_cluster_state`] give a compact binary form with a
//! format-version byte and a crc32, for the node's `meta` keyspace.

mod bucket;
mod codec;
mod error;
mod gossip;
pub mod keys;
mod local;
mod state;

pub use bucket::{
    BucketEntry, BucketProps, DurabilityMode, parse_versioning_mode, versioning_mode_name,
};
pub use codec::{CLUSTER_FORMAT_VERSION, decode_cluster_state, encode_cluster_state};
pub use error::MembershipError;
pub use gossip::{DEFAULT_GOSSIP_INTERVAL, Gossiper, UNREACHABLE_EVERY};
pub use local::{Membership, MembershipChange, Update};
pub use state::{
    ClaimOutcome, ClusterState, MAX_ADDRESS_LEN, MAX_BUCKET_NAME_LEN, MemberInfo, MemberStatus,
    MergeOutcome,
};
