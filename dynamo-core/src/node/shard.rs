//! Partition shards: one node's work split over K state machines, so that a node uses K
//! cores.
//!
//! A node's partitions are split over `count` shards: partition `p` belongs to shard
//! `p mod count` ([`Shard::owns`]). Each shard is a [`Node`] of its own — its own pending
//! operations, group commit, Merkle trees, hinted handoff, anti-entropy, reaping, transfers
//! and listing slices, for its partitions only — over the same engine. The shards never
//! share mutable state; a driver runs each on its own thread (or, like the simulator and
//! [`ShardedNode`](super::ShardedNode), all on one).
//!
//! What is one per node lives in shard 0, the *control* shard, which is also a data shard:
//! the cluster state and its gossip, the failure detector and its probes, the epoch (chosen,
//! persisted and announced there), the admin requests (join, leave, bucket properties, access
//! keys, status). The other shards, the *followers*, see that state as a [`ShardView`] — the
//! cluster state, the peers the detector holds down, the epoch to write as — which the
//! control shard hands out ([`Output::View`](super::Output::View)) whenever it changes; the
//! driver gives it, behind an `Arc`, to every follower ([`Input::View`](super::Input::View)).
//! Followers tell control what only they see ([`ShardReport`], through
//! [`Output::Report`](super::Output::Report) and [`Input::Report`](super::Input::Report)):
//! a peer that left their requests unanswered, a peer that answered after such a timeout or
//! while held down, a request for a new epoch (after a failed commit, for the substitute
//! rule, to retire an actor), the epoch they adopted, and whether their transfers are done
//! (a leave finishes only when every shard's are).
//!
//! # The epoch across shards
//!
//! Every shard writes as the same actor (node id and epoch): a key always belongs to one
//! shard, and each shard numbers a key's versions from that key's stored record, so two
//! shards never number the same key. A shard that must move to a new epoch asks control,
//! which moves the whole node (persisted once) and hands the new epoch out; the asking shard
//! coordinates no write until it has it. Gossip announces the *oldest* epoch any shard still
//! writes as (control waits for every follower to report the new one), because other nodes
//! reap tombstones of actors whose node announced a newer epoch: announcing an epoch before
//! every shard stopped writing as the old one would let them reap under a live actor.
//!
//! # Routing
//!
//! [`route_input`] says which shard takes an input: a key's request or replica message by
//! the key's partition, an anti-entropy, transfer, listing or reaping message by its
//! partition, an answer by the id its asker chose (ids of operations, hints, reaping rounds,
//! listing slices and commits carry the shard that made them: [`Shard::tag`]), gossip, pings
//! and admin requests to control. Nodes may run different shard counts: a receiver routes by
//! partition with its own count, and only the asker decodes its own ids.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::antientropy::AeMessage;
use crate::ids::NodeId;
use crate::listing::ListMessage;
use crate::membership::ClusterState;
use crate::proto::{ClientRequest, PeerMessage};
use crate::ring::{PartitionId, RingConfig};
use crate::version::EpochState;

use super::Input;

/// Most shards a node may run.
pub const MAX_SHARDS: u16 = 256;

/// Which shard of how many a [`Node`](super::Node) is. The default, `0 of 1`, is a whole
/// node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard, `0..count`; 0 is the control shard.
    pub index: u16,
    /// How many shards the node runs, `1..=MAX_SHARDS`.
    pub count: u16,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: u16, count: u16) -> Self {
        Shard { index, count }
    }

    /// True for the control shard (shard 0), which holds what is one per node.
    pub fn is_control(self) -> bool {
        self.index == 0
    }

    /// True when partition `p` belongs to this shard.
    pub fn owns(self, p: PartitionId) -> bool {
        shard_of_partition(p, self.count) == self.index
    }

    /// Makes an id that says it was made by this shard, from a counter's value `raw`: the
    /// id's remainder modulo the count is the shard ([`shard_of_id`]).
    pub fn tag(self, raw: u64) -> u64 {
        let count = u64::from(self.count.max(1));
        (raw % (u64::MAX / count)) * count + u64::from(self.index)
    }
}

/// The shard of `count` that owns partition `p`.
pub fn shard_of_partition(p: PartitionId, count: u16) -> u16 {
    // The remainder is below `count`, a u16.
    (p.0 % u32::from(count.max(1))) as u16
}

/// The shard of `count` that made `id` (see [`Shard::tag`]).
pub fn shard_of_id(id: u64, count: u16) -> u16 {
    // The remainder is below `count`, a u16.
    (id % u64::from(count.max(1))) as u16
}

/// What control hands every follower: the node-wide state a shard reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardView {
    /// The cluster state: members, ring, bucket properties, access keys.
    pub state: ClusterState,
    /// The peers the failure detector holds down.
    pub down: BTreeSet<NodeId>,
    /// The epoch to write as; `None` while the node may write as none (its epoch is not yet
    /// confirmed after a lost disk, or a new one is not yet persisted).
    pub epoch: Option<EpochState>,
}

/// What a follower tells control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardReport {
    /// Requests to this peer got no answer in time (one report per timeout).
    TimedOut(NodeId),
    /// This peer sent a message after a reported timeout, or while held down.
    Heard(NodeId),
    /// The shard needs an epoch above `above` before it numbers another write.
    RenewEpoch {
        /// The epoch the shard writes as now.
        above: u64,
    },
    /// Shard `shard` writes as `epoch` from now on.
    Adopted {
        /// The shard.
        shard: u16,
        /// The epoch.
        epoch: u64,
    },
    /// Whether every outgoing transfer of shard `shard` is confirmed, for the ring of
    /// `ring_version` (control counts a report only for the ring it holds: a follower
    /// learns of a new ring after control, and its transfers for it start then).
    TransfersDone {
        /// The shard.
        shard: u16,
        /// All confirmed.
        done: bool,
        /// The ring version the shard's transfers were computed for.
        ring_version: u64,
    },
}

/// Where an input goes among `count` shards of a node whose ring has `ring`'s partition
/// count. `None` for inputs every shard takes ([`Input::Tick`]: a driver ticks each shard at
/// its own deadline) and for the views a driver hands to every follower.
pub fn route_input(input: &Input, ring: RingConfig, count: u16) -> Option<u16> {
    if count <= 1 {
        return Some(0);
    }
    match input {
        Input::Client { request, .. } => Some(route_request(request, ring, count)),
        Input::Peer { message, .. } => Some(route_message(message, ring, count)),
        Input::Committed { id, .. } => Some(shard_of_id(*id, count)),
        Input::Report(_) => Some(0),
        Input::Tick | Input::View(_) => None,
    }
}

/// The shard of `count` that takes a client request: a key's request by its partition, a
/// listing slice by its partition, everything else (admin) to control.
pub fn route_request(request: &ClientRequest, ring: RingConfig, count: u16) -> u16 {
    match request {
        ClientRequest::Get { bucket, key, .. }
        | ClientRequest::Put { bucket, key, .. }
        | ClientRequest::Delete { bucket, key, .. } => {
            shard_of_partition(ring.partition_of(bucket, key), count)
        }
        ClientRequest::ListSlice(slice) => shard_of_partition(slice.partition, count),
        _ => 0,
    }
}

/// The shard of `count` that takes a peer message (see the [module documentation](self)).
pub fn route_message(message: &PeerMessage, ring: RingConfig, count: u16) -> u16 {
    let by_key =
        |bucket: &[u8], key: &[u8]| shard_of_partition(ring.partition_of(bucket, key), count);
    match message {
        PeerMessage::Forward { request, .. } => route_request(request, ring, count),
        PeerMessage::ReplicaGet { bucket, key, .. }
        | PeerMessage::ReplicaPut { bucket, key, .. }
        | PeerMessage::Repair { bucket, key, .. }
        | PeerMessage::HintDeliver { bucket, key, .. } => by_key(bucket, key),
        PeerMessage::ForwardReply { op, .. }
        | PeerMessage::ReplicaGetReply { op, .. }
        | PeerMessage::ReplicaPutAck { op, .. } => shard_of_id(op.seq, count),
        PeerMessage::HintAck { id } | PeerMessage::ReapReply { id, .. } => shard_of_id(*id, count),
        PeerMessage::AntiEntropy(ae) => match ae {
            AeMessage::Hashes { partition, .. }
            | AeMessage::Children { partition, .. }
            | AeMessage::Keys { partition, .. }
            | AeMessage::KeyList { partition, .. }
            | AeMessage::Push { partition, .. }
            | AeMessage::PushReply { partition, .. } => shard_of_partition(*partition, count),
            other => shard_of_id(other.exchange(), count),
        },
        PeerMessage::TransferBatch(b) => shard_of_partition(b.partition, count),
        PeerMessage::TransferAck(a) => shard_of_partition(a.partition, count),
        PeerMessage::ReapQuery { keys, .. } | PeerMessage::Reap { keys } => {
            keys.first().map_or(0, |k| by_key(&k.bucket, &k.key))
        }
        PeerMessage::List(ListMessage::Request { slice, .. }) => {
            shard_of_partition(slice.partition, count)
        }
        PeerMessage::List(ListMessage::Reply { op, .. }) => shard_of_id(op.seq, count),
        // Gossip, pulls, pings and pongs: control.
        _ => 0,
    }
}

/// A shard's part in the node: control, or a follower of control's view.
#[derive(Debug)]
pub(super) enum Role {
    /// Shard 0.
    Control(ControlState),
    /// Any other shard.
    Follower(FollowerState),
}

/// What control keeps of its followers.
#[derive(Debug)]
pub(super) struct ControlState {
    /// The epoch each follower reported it writes as (index: shard − 1); `None` before its
    /// first report.
    pub(super) epochs: Vec<Option<u64>>,
    /// Each follower's last transfer report (index: shard − 1): all confirmed, and for
    /// which ring version.
    pub(super) transfers_done: Vec<(bool, u64)>,
    /// Set when something in the view changed since it was last handed out.
    pub(super) view_dirty: bool,
}

/// What a follower keeps of control's view.
#[derive(Debug)]
pub(super) struct FollowerState {
    /// The last view adopted.
    pub(super) view: Arc<ShardView>,
    /// Peers this shard reported a timeout of, until it reports hearing from them.
    pub(super) timed_out: BTreeSet<NodeId>,
    /// Whether the view's epoch may be written as: false while none is given, or while this
    /// shard waits for one above the epoch it asked to leave.
    pub(super) epoch_ok: bool,
    /// The epoch this shard asked control to move past, until a view brings a newer one.
    pub(super) renewing_above: Option<u64>,
    /// The transfers' state last reported, and the ring version it was for.
    pub(super) transfers_reported: Option<(bool, u64)>,
}

impl Role {
    pub(super) fn new(shard: Shard, view: Option<Arc<ShardView>>) -> Self {
        match view {
            Some(view) if !shard.is_control() => Role::Follower(FollowerState {
                epoch_ok: view.epoch.is_some(),
                view,
                timed_out: BTreeSet::new(),
                renewing_above: None,
                transfers_reported: None,
            }),
            _ => Role::Control(ControlState {
                epochs: vec![None; usize::from(shard.count.saturating_sub(1))],
                transfers_done: vec![(false, 0); usize::from(shard.count.saturating_sub(1))],
                view_dirty: true,
            }),
        }
    }
}

impl<E: engine_api::StorageEngine> super::Node<E> {
    /// Which shard of how many this node is.
    pub fn shard(&self) -> Shard {
        self.config.shard
    }

    /// The view a follower shard starts from and follows (see [`Node::new_follower`]):
    /// the cluster state, the peers held down, and the epoch to write as.
    ///
    /// [`Node::new_follower`]: super::Node::new_follower
    pub fn shard_view(&self) -> Arc<ShardView> {
        let epoch = (self.epoch_confirmed() && !self.epoch_unpersisted).then_some(self.epoch);
        Arc::new(ShardView {
            state: self.membership.state().clone(),
            down: self.failure.down_peers().cloned().collect(),
            epoch,
        })
    }

    /// False when the last [`shutdown`](super::Node::shutdown) found a commit in flight
    /// (what the engine holds is then unknown).
    pub fn stopped_cleanly(&self) -> bool {
        self.clean_stop
    }

    /// Tells the control shard, before its shutdown, that a follower stopped with a commit
    /// in flight: the node's epoch is then not marked clean (the next start opens a new one).
    pub fn follower_stopped_uncleanly(&mut self) {
        self.follower_unclean = true;
    }

    /// After every input: control hands out its view when it changed; a follower reports
    /// when its transfers finished or restarted.
    pub(super) fn after_input(&mut self) {
        match &self.role {
            Role::Control(_) => self.publish_view(),
            Role::Follower(_) => self.report_transfers(),
        }
    }

    /// Control: something the followers read changed.
    pub(super) fn mark_view_dirty(&mut self) {
        if let Role::Control(c) = &mut self.role {
            c.view_dirty = true;
        }
    }

    /// Control: outputs the view if it changed and there are followers.
    pub(super) fn publish_view(&mut self) {
        let Role::Control(c) = &mut self.role else {
            return;
        };
        if !std::mem::take(&mut c.view_dirty) || self.config.shard.count <= 1 {
            return;
        }
        let view = self.shard_view();
        self.outputs.push_back(super::Output::View(view));
    }

    fn report(&mut self, report: ShardReport) {
        self.outputs.push_back(super::Output::Report(report));
    }

    /// Follower: reports the epoch it writes as.
    pub(super) fn report_adopted(&mut self) {
        if let Role::Follower(f) = &self.role
            && f.epoch_ok
        {
            let report = ShardReport::Adopted {
                shard: self.config.shard.index,
                epoch: self.epoch.epoch,
            };
            self.report(report);
        }
    }

    /// Follower: reports whether its transfers are done, when that or the ring changed.
    pub(super) fn report_transfers(&mut self) {
        let done = self.transfers_all_done();
        let ring_version = self.membership.state().ring_version();
        let Role::Follower(f) = &mut self.role else {
            return;
        };
        if f.transfers_reported == Some((done, ring_version)) {
            return;
        }
        f.transfers_reported = Some((done, ring_version));
        let report = ShardReport::TransfersDone {
            shard: self.config.shard.index,
            done,
            ring_version,
        };
        self.report(report);
    }

    /// Follower: asks control for an epoch above the current one and coordinates no write
    /// until a view brings it.
    pub(super) fn request_epoch(&mut self) {
        let above = self.epoch.epoch;
        if let Role::Follower(f) = &mut self.role {
            if f.renewing_above.is_some_and(|a| a >= above) {
                return;
            }
            f.renewing_above = Some(above);
        }
        self.epoch_unpersisted = true;
        self.report(ShardReport::RenewEpoch { above });
    }

    /// Follower: a request to `peer` timed out.
    pub(super) fn follower_timed_out(&mut self, peer: NodeId) {
        if let Role::Follower(f) = &mut self.role {
            f.timed_out.insert(peer.clone());
        }
        self.report(ShardReport::TimedOut(peer));
    }

    /// Follower: a message came from `peer`; control hears of it when it matters (the peer
    /// is held down, or this shard reported a timeout of it).
    pub(super) fn follower_heard(&mut self, peer: &NodeId) {
        let down = !self.failure.is_up(peer);
        let Role::Follower(f) = &mut self.role else {
            return;
        };
        if f.timed_out.remove(peer) || down {
            self.report(ShardReport::Heard(peer.clone()));
        }
    }

    /// Follower: adopts control's view — the cluster state (and the transfers a new ring
    /// asks for), the peers held down, the epoch.
    pub(super) fn adopt_view(&mut self, view: Arc<ShardView>) {
        let Role::Follower(f) = &mut self.role else {
            return;
        };
        let ring_changed = f.view.state.ring_version() != view.state.ring_version()
            || f.view.state.ring().map(|r| r.digest()) != view.state.ring().map(|r| r.digest());
        let mut adopted = None;
        match view.epoch {
            Some(e) if f.renewing_above.is_none_or(|a| e.epoch > a) => {
                let changed = !f.epoch_ok || e.epoch != self.epoch.epoch;
                f.epoch_ok = true;
                f.renewing_above = None;
                if changed {
                    adopted = Some(e);
                }
            }
            Some(_) => {}
            None => f.epoch_ok = false,
        }
        f.view = Arc::clone(&view);
        self.membership.adopt(view.state.clone());
        self.failure.adopt_down(&view.down, self.now);
        if let Some(e) = adopted {
            self.epoch = e;
            self.actor = e.actor(self.config.id.clone());
            self.epoch_unpersisted = false;
            self.report_adopted();
            self.resume_parked();
        }
        if ring_changed {
            self.transfers_ring_check();
        }
    }

    /// Control: a follower's report.
    pub(super) fn shard_report(&mut self, report: ShardReport) {
        if !matches!(self.role, Role::Control(_)) {
            return;
        }
        match report {
            ShardReport::TimedOut(peer) => self.peers_timed_out(vec![peer]),
            ShardReport::Heard(peer) => self.heard_from(&peer),
            ShardReport::RenewEpoch { above } => {
                if self.epoch.epoch <= above {
                    self.renew_epoch();
                } else {
                    // Already past it: the asker needs the view again.
                    self.mark_view_dirty();
                }
            }
            ShardReport::Adopted { shard, epoch } => {
                if let Role::Control(c) = &mut self.role
                    && let Some(slot) = usize::from(shard)
                        .checked_sub(1)
                        .and_then(|i| c.epochs.get_mut(i))
                {
                    *slot = Some(epoch);
                }
                self.announce_epoch();
            }
            ShardReport::TransfersDone {
                shard,
                done,
                ring_version,
            } => {
                if let Role::Control(c) = &mut self.role
                    && let Some(slot) = usize::from(shard)
                        .checked_sub(1)
                        .and_then(|i| c.transfers_done.get_mut(i))
                {
                    *slot = (done, ring_version);
                }
                self.check_leave();
            }
        }
    }

    /// Control: the epoch gossip may announce — the oldest any shard writes as; `None` while
    /// a follower has not reported one yet.
    pub(super) fn announceable_epoch(&self) -> Option<u64> {
        match &self.role {
            Role::Control(c) => c
                .epochs
                .iter()
                .try_fold(self.epoch.epoch, |min, e| e.map(|e| min.min(e))),
            Role::Follower(_) => None,
        }
    }

    /// Control: every follower's transfers are confirmed, for the ring control holds.
    pub(super) fn followers_transfers_done(&self) -> bool {
        let ring_version = self.membership.state().ring_version();
        match &self.role {
            Role::Control(c) => c
                .transfers_done
                .iter()
                .all(|(done, v)| *done && *v == ring_version),
            Role::Follower(_) => true,
        }
    }
}
