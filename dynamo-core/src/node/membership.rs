//! The node's side of membership and failure detection: it owns a
//! [`Membership`](crate::membership::Membership) (cluster state, gossip schedule, join and
//! leave) and a [`FailureDetector`](crate::failure::FailureDetector), routes `Gossip`, `Ping`
//! and `Pong` messages to them, persists the cluster state when it changes, and answers the
//! admin requests `Join`, `Leave` and `Status`.
//!
//! - Start: the cluster state is read back from the `meta` keyspace, so a restarted node
//!   comes back with its membership; a node without one starts from its configuration — as a
//!   founder ([`ClusterState::new_cluster`], with its default bucket properties as the
//!   cluster's) or, with no founders, as a Joining node that gossips to its seeds (and adopts
//!   the cluster's default bucket properties).
//! - Gossip: every gossip interval, the state goes to one random member the failure detector
//!   considers up (the seeds too, until this node is in a ring). A received state is merged,
//!   persisted when it changed, and answered when the sender lacked something (push-pull), so
//!   updates flow even against a one-way link. Answers are never answered twice over: a
//!   reply only goes out when the states differ, and merging makes them equal.
//! - Failure detection: the coordinator reports requests that timed out; any message from a
//!   peer marks it up; down peers are pinged every probe interval.
//! - Leave: `Leave` makes this node Leaving; the claimant rebalances the ring without it; once
//!   it is out of the ring **and** its partitions reached their new owners
//!   ([`Node::transfers_done`]), it finishes the leave (Exiting).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use engine_api::StorageEngine;

use super::store::{META_CLUSTER, Store};
use super::{Node, NodeConfig, NodeError, NodeEvent, Output};
use crate::failure::FailureEvent;
use crate::ids::{NodeId, Timestamp};
use crate::membership::keys::AccessKey;
use crate::membership::{
    BucketProps, ClusterState, MemberStatus, Membership, MembershipChange, Update,
    decode_cluster_state, encode_cluster_state,
};
use crate::proto::{AdminInfo, MemberSummary, PeerMessage, RequestError};
use crate::version::EpochState;

/// Builds the node's membership at start: the persisted cluster state if there is a usable
/// one, else the founders' first state, else a Joining state.
pub(super) fn start<E: StorageEngine>(
    config: &NodeConfig,
    store: &mut Store<E>,
    now: Timestamp,
    outputs: &mut VecDeque<Output>,
) -> Result<Membership, NodeError> {
    let me = &config.id;
    let stored = match store.load_meta(META_CLUSTER)? {
        None => None,
        Some(bytes) => match decode_cluster_state(&bytes) {
            Ok(s) if s.member(me).is_none() => {
                let why = format!("the stored cluster state has no entry for {me}");
                outputs.push_back(Output::Event(NodeEvent::CorruptClusterState(why)));
                None
            }
            Ok(s) if s.ring().is_some_and(|r| r.config() != config.ring) => {
                let why = "the stored ring has another partition count".to_owned();
                outputs.push_back(Output::Event(NodeEvent::CorruptClusterState(why)));
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                let why = e.to_string();
                outputs.push_back(Output::Event(NodeEvent::CorruptClusterState(why)));
                None
            }
        },
    };
    // A fresh state is not persisted: the configuration rebuilds it identically. It is
    // persisted from its first change on (see `apply_membership`).
    let stored_before = stored.is_some();
    let state = match stored {
        Some(mut s) => {
            // Restarted with another address or zone: announce them (a newer entry).
            let (zone, address) = match s.member(me) {
                Some(info) => (
                    config.zones.get(me).cloned().or_else(|| info.zone.clone()),
                    config
                        .addresses
                        .get(me)
                        .filter(|a| !a.is_empty())
                        .cloned()
                        .unwrap_or_else(|| info.address.clone()),
                ),
                None => (None, String::new()),
            };
            if s.update_self(me, zone, address)? {
                store.persist_meta(META_CLUSTER, Bytes::from(encode_cluster_state(&s)))?;
            }
            s
        }
        None if config.members.is_empty() => ClusterState::joining(
            me.clone(),
            config.zones.get(me).cloned(),
            address_of(config, me),
        )?,
        None => {
            let mut s = ClusterState::new_cluster(
                config.ring,
                config.members.iter().map(|m| {
                    (
                        m.clone(),
                        config.zones.get(m).cloned(),
                        address_of(config, m),
                    )
                }),
            )?;
            // The founders' defaults become the cluster's: a node that joins later adopts
            // them instead of coordinating with its own start-up defaults.
            s.set_default_props(config.default_bucket)?;
            s
        }
    };
    // Announce this node's client endpoints when they differ from the state's (a fresh
    // state, or a restart with other endpoints): a newer entry, which gossip spreads.
    let mut state = state;
    if state.member(me).is_some()
        && state.update_client(me, &config.client_endpoints)?
        && stored_before
    {
        store.persist_meta(META_CLUSTER, Bytes::from(encode_cluster_state(&state)))?;
    }
    let interval = config.timing.gossip_interval_ms;
    // A member of a ring gossips one interval from now (no burst at start); a joining node
    // right away.
    let first = if state.ring().is_some_and(|r| r.contains_node(me)) {
        Timestamp(now.0.saturating_add(interval))
    } else {
        now
    };
    Ok(Membership::new(
        me.clone(),
        state,
        config.seeds.clone(),
        Duration::from_millis(interval),
        first,
    )?)
}

fn address_of(config: &NodeConfig, node: &NodeId) -> String {
    config.addresses.get(node).cloned().unwrap_or_default()
}

impl<E: StorageEngine> Node<E> {
    /// Whether every partition this node handed off (on leaving, or after a ring change)
    /// reached its new owner, so that it may finish its leave.
    ///
    /// True once every outbound partition transfer ([`crate::transfer`]) was confirmed by
    /// its receiver: it gates [`Membership::finish_leave`] (in the node's `check_leave`).
    pub fn transfers_done(&self) -> bool {
        self.transfers_all_done() && self.followers_transfers_done()
    }

    /// A `Gossip { state }` from `from`: merge, persist, answer if the sender lacks
    /// something. A state routing with another partition count is refused (the storage
    /// layout depends on it).
    pub(super) fn gossip_received(&mut self, from: NodeId, state: ClusterState) {
        if !self.config.shard.is_control() {
            return; // routed to the control shard; a follower's state is its view
        }
        if state.ring().is_some_and(|r| r.config() != self.config.ring) {
            self.emit(NodeEvent::BadPeerMessage {
                from,
                reason: "gossip with a ring of another partition count".into(),
            });
            return;
        }
        if !self.epoch_confirmed()
            && let Some(theirs) = state.member(&self.config.id)
        {
            self.learn_own_epoch(theirs.epoch);
        }
        let mut update = self.membership.handle_gossip(&state);
        // The merge may have taken an older entry of this node (with the epoch it used
        // before a wipe); announce the current one over it.
        if self.epoch_confirmed()
            && let Some(epoch) = self.announceable_epoch()
            && let Ok(mine) = self.membership.set_epoch(epoch)
        {
            update.persist |= mine.persist;
            update.reply |= mine.persist;
            update.changes.extend(mine.changes);
        }
        self.apply_membership(update, Some(from));
    }

    /// A peer's gossip named `seen` as this node's epoch while this node did not know which
    /// epoch it used before its start without a stored epoch. An unconfirmed node announces
    /// no epoch, so `seen` is not an echo of its own: if it is at or above the current epoch,
    /// the node wrote as that actor before it lost its disk (with its clock set back since,
    /// the epoch taken from the clock repeats it). It moves to a new epoch above it, durably,
    /// before it coordinates any write.
    fn learn_own_epoch(&mut self, seen: u64) {
        if seen >= self.epoch.epoch {
            let next = EpochState::on_start(None, self.now, Some(seen.max(self.epoch.epoch)));
            if let Err(e) = self.store.persist_epoch(&next) {
                // Stay unconfirmed (no writes coordinated here); the next gossip retries.
                self.emit(NodeEvent::StorageFailed(e.to_string()));
                return;
            }
            self.epoch = next;
            self.actor = next.actor(self.config.id.clone());
            self.emit(NodeEvent::EpochStarted { epoch: next.epoch });
        }
        self.epoch_pull_at = None;
        self.mark_view_dirty();
        self.resume_parked();
    }

    /// While the epoch is unconfirmed: asks every other known member and seed for its
    /// cluster state, every gossip interval, until one answers.
    pub(super) fn poll_epoch_pull(&mut self) {
        let Some(at) = self.epoch_pull_at else {
            return;
        };
        if self.now < at {
            return;
        }
        let me = self.config.id.clone();
        let mut peers: Vec<NodeId> = self
            .membership
            .state()
            .members()
            .keys()
            .chain(&self.config.seeds)
            .filter(|n| **n != me)
            .cloned()
            .collect();
        peers.sort();
        peers.dedup();
        for peer in peers {
            self.send(peer, PeerMessage::GossipPull);
        }
        self.epoch_pull_at = Some(Timestamp(
            self.now
                .0
                .saturating_add(self.config.timing.gossip_interval_ms),
        ));
    }

    /// Announces the current epoch in this node's cluster-state entry (gossiped from there),
    /// once it is confirmed.
    pub(super) fn announce_epoch(&mut self) {
        if !self.epoch_confirmed() {
            return;
        }
        // With several shards: once every one writes as it (see `shard.rs`).
        let Some(epoch) = self.announceable_epoch() else {
            return;
        };
        if let Ok(update) = self.membership.set_epoch(epoch) {
            self.apply_membership(update, None);
        }
    }

    /// Persists, answers and reports what a membership operation did; then sees whether a
    /// pending leave can finish.
    pub(super) fn apply_membership(&mut self, update: Update, from: Option<NodeId>) {
        if update.persist || !update.changes.is_empty() {
            self.mark_view_dirty();
        }
        if update.persist {
            let bytes = Bytes::from(encode_cluster_state(self.membership.state()));
            if let Err(e) = self.store.persist_meta(META_CLUSTER, bytes) {
                self.emit(NodeEvent::StorageFailed(e.to_string()));
            }
        }
        if update.reply
            && let Some(to) = from
        {
            let state = self.membership.state().clone();
            self.send(to, PeerMessage::Gossip { state });
        }
        // Partition transfers: compare the ring with the one transfers were computed for
        // (`Ring::replica_changes_to`) before a leave may finish.
        self.transfers_ring_check();
        for change in update.changes {
            if let MembershipChange::Status {
                node,
                to: MemberStatus::Exiting,
                ..
            } = &change
            {
                self.failure.forget(node);
            }
            self.emit(NodeEvent::Membership(change));
        }
        self.check_leave();
    }

    /// A Leaving node that is out of the ring and whose transfers are done becomes Exiting.
    pub(super) fn check_leave(&mut self) {
        if self.membership.status() == Some(MemberStatus::Leaving)
            && !self.membership.in_ring()
            && self.transfers_done()
            && let Ok(update) = self.membership.finish_leave(self.now)
        {
            self.apply_membership(update, None);
        }
    }

    /// On tick: sends the gossip round if due.
    pub(super) fn poll_gossip(&mut self) {
        let failure = &self.failure;
        let to = self
            .membership
            .poll_gossip(self.now, |p| failure.is_up(p), &mut self.rng);
        if let Some(to) = to {
            let state = self.membership.state().clone();
            self.send(to, PeerMessage::Gossip { state });
        }
    }

    /// On tick: times out pings and sends the probes due.
    pub(super) fn poll_failure(&mut self) {
        let poll = self.failure.poll(self.now);
        for event in poll.events {
            self.failure_event(event);
        }
        for ping in poll.pings {
            self.send(ping.to, PeerMessage::Ping { nonce: ping.nonce });
        }
    }

    /// Reports a change of a peer's health.
    pub(super) fn failure_event(&mut self, event: FailureEvent) {
        self.mark_view_dirty();
        match event {
            FailureEvent::Down(n) => self.emit(NodeEvent::PeerDown(n)),
            FailureEvent::Up(n) => self.emit(NodeEvent::PeerUp(n)),
        }
    }

    /// Requests to `nodes` got no answer in time.
    pub(super) fn peers_timed_out(&mut self, nodes: Vec<NodeId>) {
        for n in nodes {
            if n == self.config.id {
                continue;
            }
            if !self.config.shard.is_control() {
                self.follower_timed_out(n);
                continue;
            }
            if let Some(event) = self.failure.timed_out(&n, self.now) {
                self.failure_event(event);
            }
        }
    }

    /// Whether messages from `from` are accepted: from members (whatever their status),
    /// and gossip from anybody (a joining node reaching its seed).
    pub(super) fn accepts_from(&self, from: &NodeId, message: &PeerMessage) -> bool {
        matches!(
            message,
            PeerMessage::Gossip { .. } | PeerMessage::GossipPull
        ) || self.membership.state().member(from).is_some()
    }

    /// A message arrived from `from`: it is up.
    pub(super) fn heard_from(&mut self, from: &NodeId) {
        if !self.config.shard.is_control() {
            self.follower_heard(from);
            return;
        }
        if let Some(event) = self.failure.message_received(from, self.now) {
            self.failure_event(event);
        }
    }

    /// A `Pong { nonce }` from `from`.
    pub(super) fn pong_received(&mut self, from: &NodeId, nonce: u64) {
        if !self.config.shard.is_control() {
            self.follower_heard(from);
            return;
        }
        if let Some(event) = self.failure.pong_received(from, nonce, self.now) {
            self.failure_event(event);
        }
    }

    /// Admin `SetDefaultProps`: through the cluster state, so it is gossiped.
    pub(super) fn admin_set_default_props(
        &mut self,
        props: BucketProps,
    ) -> Result<BucketProps, RequestError> {
        let update = self
            .membership
            .set_default_props(props, self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        Ok(props)
    }

    /// Admin `SetBucketProps`: through the cluster state, so it is gossiped.
    pub(super) fn admin_set_bucket_props(
        &mut self,
        bucket: Bytes,
        props: BucketProps,
    ) -> Result<BucketProps, RequestError> {
        let update = self
            .membership
            .set_bucket_props(bucket, props, self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        Ok(props)
    }

    /// Admin `CreateKey`: through the cluster state, so it is gossiped.
    pub(super) fn admin_create_key(
        &mut self,
        id: String,
        key: AccessKey,
    ) -> Result<Vec<(String, AccessKey)>, RequestError> {
        let update = self
            .membership
            .add_key(id, key, self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        Ok(self.access_keys())
    }

    /// Admin `RevokeKey`: through the cluster state, so it is gossiped.
    pub(super) fn admin_revoke_key(
        &mut self,
        id: &str,
    ) -> Result<Vec<(String, AccessKey)>, RequestError> {
        let update = self
            .membership
            .revoke_key(id, self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        Ok(self.access_keys())
    }

    /// Every access key the cluster state holds, by id.
    pub fn access_keys(&self) -> Vec<(String, AccessKey)> {
        self.membership
            .state()
            .keys()
            .iter()
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect()
    }

    /// Admin `Join { seed }`: join the cluster `seed` belongs to.
    pub(super) fn admin_join(&mut self, seed: NodeId) -> Result<AdminInfo, RequestError> {
        // Joining forgets the cluster known so far: refused to a member of a ring shared
        // with others (it would drop its partitions without handing them off).
        let shared = self
            .membership
            .state()
            .ring()
            .is_some_and(|r| r.contains_node(&self.config.id) && r.members().len() > 1);
        if shared && self.membership.status() != Some(MemberStatus::Exiting) {
            return Err(RequestError::InvalidRequest(
                "this node is already a member of a cluster; leave it first".into(),
            ));
        }
        let update = self
            .membership
            .join(seed, self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        // Gossip to the seed at once rather than at the next tick.
        self.poll_gossip();
        self.admin_info()
    }

    /// Admin `Leave`: this node becomes Leaving.
    pub(super) fn admin_leave(&mut self) -> Result<AdminInfo, RequestError> {
        let update = self
            .membership
            .leave(self.now)
            .map_err(|e| RequestError::InvalidRequest(e.to_string()))?;
        self.apply_membership(update, None);
        self.poll_gossip();
        self.admin_info()
    }

    /// What `Status` (and `Join`, `Leave`) answer.
    ///
    /// # Errors
    /// [`RequestError::Storage`] when the hints cannot be counted.
    pub(super) fn admin_info(&self) -> Result<AdminInfo, RequestError> {
        let hints_pending = self
            .hints_pending()
            .map_err(|e| RequestError::Storage(e.to_string()))?;
        let state = self.membership.state();
        let members = state
            .members()
            .iter()
            .map(|(node, info)| {
                let health = self.failure.health(node);
                MemberSummary {
                    node: node.clone(),
                    status: info.status,
                    address: info.address.clone(),
                    client: info.client.clone(),
                    up: self.failure.is_up(node),
                    consecutive_timeouts: health.map_or(0, |h| h.consecutive_timeouts),
                    last_heard: health.and_then(|h| h.last_heard),
                }
            })
            .collect();
        Ok(AdminInfo {
            node: self.config.id.clone(),
            status: self.membership.status(),
            members,
            ring_version: state.ring_version(),
            ring_digest: state.ring().map(|r| r.digest()),
            claimant: state.claimant().cloned(),
            hints_pending,
            transfers_pending: Some(self.transfers.pending()),
            transfers: self.transfers.progress(),
            open_operations: self.ops.len(),
            pending_writes: self.store.pending_writes(),
        })
    }
}
