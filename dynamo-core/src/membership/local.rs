//! [`Membership`]: one node's membership machinery in one place — its [`ClusterState`],
//! its gossip schedule, its seeds and its join intent — so that the node only routes
//! messages and persists the state when told to.

use std::time::Duration;

use bytes::Bytes;

use super::bucket::BucketProps;
use super::error::MembershipError;
use super::gossip::Gossiper;
use super::keys::AccessKey;
use super::state::{ClusterState, MemberStatus};
use crate::rng::Rng;
use crate::{NodeId, Timestamp};

/// Something that changed in the cluster state, for the node's events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// A member appeared (`from: None`) or changed status.
    Status {
        /// The member.
        node: NodeId,
        /// Its previous status, if it was known.
        from: Option<MemberStatus>,
        /// Its status now.
        to: MemberStatus,
    },
    /// A new ring is in force: recompute ownership, start transfers.
    Ring {
        /// Its version.
        version: u64,
        /// Its digest.
        digest: u64,
    },
    /// A bucket's properties changed.
    Bucket {
        /// The bucket.
        bucket: Bytes,
        /// Its properties now.
        props: BucketProps,
    },
}

/// What an operation of [`Membership`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// The state changed: persist it ([`encode_cluster_state`](super::encode_cluster_state)).
    pub persist: bool,
    /// Answer the peer the gossip came from with `Gossip { state }` (push-pull).
    pub reply: bool,
    /// What changed, in node order then ring then buckets.
    pub changes: Vec<MembershipChange>,
}

/// One node's membership: the state, gossip schedule, seeds and join intent.
///
/// Call [`handle_gossip`](Self::handle_gossip) for every `Gossip` received,
/// [`poll_gossip`](Self::poll_gossip) when [`next_deadline`](Self::next_deadline) comes, and
/// the admin operations when asked. Each returns an [`Update`]: persist the state when it
/// says so, report its changes, and react to a new ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    me: NodeId,
    state: ClusterState,
    gossiper: Gossiper,
    seeds: Vec<NodeId>,
    /// Set by [`join`](Self::join) until this node is Valid: renews the request if the
    /// cluster remembers it as Exiting.
    wants_in: bool,
}

impl Membership {
    /// The membership of node `me`, starting from `state` (read back from the meta keyspace,
    /// or new: [`ClusterState::new_cluster`] or [`ClusterState::joining`]). `seeds` are
    /// gossiped to, besides the known members, until this node is in a ring. The first gossip
    /// round is due at `now`.
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`] when `state` has no entry for `me`.
    pub fn new(
        me: NodeId,
        state: ClusterState,
        seeds: Vec<NodeId>,
        interval: Duration,
        now: Timestamp,
    ) -> Result<Self, MembershipError> {
        let Some(info) = state.member(&me) else {
            return Err(MembershipError::NotAMember(me));
        };
        let wants_in = info.status == MemberStatus::Joining;
        let seeds = seeds.into_iter().filter(|s| *s != me).collect();
        Ok(Membership {
            me,
            state,
            gossiper: Gossiper::new(interval, now),
            seeds,
            wants_in,
        })
    }

    /// Takes `state` as the cluster state wholesale, without merging: for a follower shard
    /// of a node, whose state is the copy its control shard hands out (the follower never
    /// gossips).
    pub fn adopt(&mut self, state: ClusterState) {
        self.state = state;
    }

    /// This node.
    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// The cluster state as this node knows it.
    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// This node's status.
    pub fn status(&self) -> Option<MemberStatus> {
        self.state.member(&self.me).map(|m| m.status)
    }

    /// True when this node is in the ring (it owns partitions or will once transfers run).
    pub fn in_ring(&self) -> bool {
        self.state.ring().is_some_and(|r| r.contains_node(&self.me))
    }

    /// When the next gossip round is due.
    pub fn next_deadline(&self) -> Timestamp {
        self.gossiper.next_deadline()
    }

    /// Merges a `Gossip { state }` received from a peer, then applies the claimant's rule
    /// (and renews a pending join if the cluster remembers this node as Exiting).
    pub fn handle_gossip(&mut self, incoming: &ClusterState) -> Update {
        let before = self.state.clone();
        self.state.merge(incoming);
        let mut up = self.settle(&before);
        // Whatever the sender lacks, from the merge or from the claimant's rule.
        up.reply = self.state != *incoming;
        up
    }

    /// When a round is due, the peer to send `Gossip { state: self.state().clone() }` to:
    /// a random one among the reachable members (and the seeds, until this node is in a
    /// ring). `None` when no round is due or nobody is reachable.
    pub fn poll_gossip(
        &mut self,
        now: Timestamp,
        reachable: impl Fn(&NodeId) -> bool,
        rng: &mut Rng,
    ) -> Option<NodeId> {
        let mut peers: Vec<&NodeId> = self.state.gossip_peers(&self.me).collect();
        if !self.in_ring() {
            peers.extend(self.seeds.iter());
        }
        self.gossiper.poll(now, &self.me, peers, reachable, rng)
    }

    /// Applies the claimant's rule on its own (e.g. on a timer, or after a local change
    /// made elsewhere).
    pub fn claim(&mut self) -> Update {
        let before = self.state.clone();
        self.settle(&before)
    }

    /// Admin `join`: forget the cluster known so far and ask to join the one `seed` belongs
    /// to. Gossip goes out at once.
    ///
    /// # Errors
    /// [`MembershipError::WrongStatus`] when `seed` is this node.
    pub fn join(&mut self, seed: NodeId, now: Timestamp) -> Result<Update, MembershipError> {
        if seed == self.me {
            return Err(MembershipError::WrongStatus {
                node: seed,
                status: "itself",
                why: "a node cannot join through itself",
            });
        }
        let before = self.state.clone();
        self.state.start_join(&self.me)?;
        self.seeds = vec![seed];
        self.wants_in = true;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Admin `leave`: this node becomes Leaving (see [`ClusterState::leave`]). Gossip goes
    /// out at once.
    ///
    /// # Errors
    /// As [`ClusterState::leave`].
    pub fn leave(&mut self, now: Timestamp) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.leave(&self.me)?;
        self.wants_in = false;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Announces the actor epoch this node writes with (see [`ClusterState::set_epoch`]).
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`] when the state has no entry for this node.
    pub fn set_epoch(&mut self, epoch: u64) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.set_epoch(&self.me, epoch)?;
        Ok(self.settle(&before))
    }

    /// The node layer confirmed that every partition this Leaving node held reached its new
    /// owner: it becomes Exiting (see [`ClusterState::finish_leave`]).
    ///
    /// # Errors
    /// As [`ClusterState::finish_leave`].
    pub fn finish_leave(&mut self, now: Timestamp) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.finish_leave(&self.me)?;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Sets a bucket's properties (see [`ClusterState::set_bucket_props`]).
    ///
    /// # Errors
    /// As [`ClusterState::set_bucket_props`].
    pub fn set_bucket_props(
        &mut self,
        bucket: Bytes,
        props: BucketProps,
        now: Timestamp,
    ) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.set_bucket_props(bucket, props)?;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Sets the cluster's default bucket properties (see [`ClusterState::set_default_props`]).
    ///
    /// # Errors
    /// As [`ClusterState::set_default_props`].
    pub fn set_default_props(
        &mut self,
        props: BucketProps,
        now: Timestamp,
    ) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.set_default_props(props)?;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Adds an access key (see [`ClusterState::add_key`]).
    ///
    /// # Errors
    /// As [`ClusterState::add_key`].
    pub fn add_key(
        &mut self,
        id: String,
        key: AccessKey,
        now: Timestamp,
    ) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.add_key(id, key)?;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Revokes an access key (see [`ClusterState::revoke_key`]).
    ///
    /// # Errors
    /// As [`ClusterState::revoke_key`].
    pub fn revoke_key(&mut self, id: &str, now: Timestamp) -> Result<Update, MembershipError> {
        let before = self.state.clone();
        self.state.revoke_key(id)?;
        self.gossiper.hurry(now);
        Ok(self.settle(&before))
    }

    /// Claimant's rule, join renewal, and the report of what changed since `before`.
    fn settle(&mut self, before: &ClusterState) -> Update {
        if self.wants_in {
            match self.status() {
                Some(MemberStatus::Valid) => self.wants_in = false,
                Some(MemberStatus::Exiting) => {
                    // Cannot fail: the status was just read.
                    let _ = self.state.rejoin(&self.me);
                }
                _ => {}
            }
        }
        // Only ring errors, impossible for states built by this module; the ring stays.
        let _ = self.state.claim(&self.me);
        let changes = diff(before, &self.state);
        Update {
            persist: self.state != *before,
            reply: false,
            changes,
        }
    }
}

/// What differs from `before` to `after`, for reporting.
fn diff(before: &ClusterState, after: &ClusterState) -> Vec<MembershipChange> {
    let mut out = Vec::new();
    for (node, info) in after.members() {
        let from = before.member(node).map(|m| m.status);
        if from != Some(info.status) {
            out.push(MembershipChange::Status {
                node: node.clone(),
                from,
                to: info.status,
            });
        }
    }
    if (after.ring_version() != before.ring_version() || after.ring() != before.ring())
        && let Some(ring) = after.ring()
    {
        out.push(MembershipChange::Ring {
            version: after.ring_version(),
            digest: ring.digest(),
        });
    }
    for (bucket, entry) in after.buckets() {
        if before.buckets().get(bucket).map(|e| e.props) != Some(entry.props) {
            out.push(MembershipChange::Bucket {
                bucket: bucket.clone(),
                props: entry.props,
            });
        }
    }
    out
}
