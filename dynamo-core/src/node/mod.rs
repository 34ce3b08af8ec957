//! The Dynamo node as a sans-IO state machine: [`Node`] turns inputs (client requests, peer
//! messages, the passing of time) into outputs (messages to send, replies, events).
//!
//! # Driving a node
//!
//! ```
//! use dynamo_core::node::{Input, Node, NodeConfig, Output, KEYSPACES};
//! use dynamo_core::proto::{ClientId, ClientRequest, ClientResponse};
//! use dynamo_core::{NodeId, Timestamp};
//! # use engine_api::{StorageEngine, EngineConfig, Durability};
//! # fn engine() -> Result<impl StorageEngine, Box<dyn std::error::Error>> {
//! #     Ok(engine_mem::MemEngine::with_keyspaces(KEYSPACES)?)
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let me = NodeId::new("n1")?;
//! let mut config = NodeConfig::new(me.clone(), 42, vec![me.clone()]);
//! config.default_bucket.n = 1;
//! config.default_bucket.r = 1;
//! config.default_bucket.w = 1;
//! let mut node = Node::new(config, engine()?, Timestamp(1_000))?;
//! node.handle(Timestamp(1_001), Input::Client {
//!     id: ClientId(7),
//!     request: ClientRequest::Get { bucket: "b".into(), key: "k".into(), r: None },
//! });
//! // After every handle, drain the outputs (a driver sends messages, answers clients, logs
//! // events, carries out commits), then tick whenever next_deadline() has come.
//! let mut replies = Vec::new();
//! loop {
//!     while let Some(out) = node.poll_output() {
//!         match out {
//!             Output::Reply { id, response } => replies.push((id, response)),
//!             // A server applies it on a thread of its own and feeds `Input::Committed`;
//!             // here, at once.
//!             Output::Commit(commit) => node.run_commit(commit),
//!             _ => {}
//!         }
//!     }
//!     match node.next_deadline() {
//!         Some(t) if t <= Timestamp(1_001) => node.handle(Timestamp(1_001), Input::Tick),
//!         _ => break,
//!     }
//! }
//! assert!(matches!(&replies[..], [(ClientId(7), ClientResponse::Get(Ok(r)))] if r.is_absent()));
//! # Ok(())
//! # }
//! ```
//!
//! The rules: after every [`Node::handle`], drain [`Node::poll_output`] until `None` (a driver
//! may feed several inputs before draining); call `handle(now, Input::Tick)` when
//! [`Node::next_deadline`] has come. `next_deadline` is `now` while writes wait for their
//! group commit: a driver feeds every input that is ready, then ticks once, and all the writes
//! received meanwhile share one engine batch (see [`store`]). The tick hands the batch out as
//! [`Output::Commit`]; the driver applies it to the engine — on another thread if it likes,
//! while it keeps feeding inputs — and feeds the outcome back as [`Input::Committed`]. One
//! commit is in flight at a time; writes staged meanwhile go into the next. The node stays
//! sans-IO: the simulator drives commits exactly as the server does.
//!
//! # Mechanisms
//!
//! Each mechanism is a module of this directory, most of them `impl Node` blocks over the
//! state [`Node`] holds; the pure protocols they drive live outside the node
//! ([`crate::antientropy`], [`crate::transfer`], [`crate::membership`], [`crate::failure`]).
//!
//! - [`config`]: configuration and bucket properties;
//! - [`store`]: local storage — data, hints, metadata — group commit (handed to the driver
//!   as [`Output::Commit`]) and the Merkle trees;
//! - `coordinator`: get/put/delete coordination — quorums, timeouts, forwarding, read
//!   repair, sloppy quorum (paper §5, §4.6);
//! - `replica`: the replica side — storing, reading and merging records for coordinators,
//!   repairs and delivered hints;
//! - [`handoff`]: hinted handoff (paper §4.6) — the hints a substitute keeps go back to
//!   their node once it is reachable, and are deleted once it acknowledged them;
//! - `membership` (this directory's `membership.rs`): the cluster state — gossip, join,
//!   leave, bucket properties — over [`crate::membership::Membership`], and the failure
//!   detector ([`crate::failure`]) that marks peers down and probes them;
//! - `transfer` (this directory's `transfer.rs`): partition transfers on a ring change
//!   ([`crate::transfer`]) — batches streamed to new holders, acknowledged after their
//!   commit, and the drop of partitions this node handed off;
//! - `anti_entropy`: Merkle exchanges with the other replicas of a partition (paper §4.7,
//!   protocol in [`crate::antientropy::exchange`]) — when to start one and with whom,
//!   answering a peer's requests, merging what differs;
//! - `substitute`: safe numbering of the writes a substitute coordinates when every primary
//!   of a key is unreachable (sloppy quorum on the side of a partition without them);
//! - `reaper`: tombstone reaping — a tombstone past its grace period is removed once every
//!   replica holds it and every actor in its history has retired.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use engine_api::StorageEngine;

use crate::antientropy::MerkleTree;
use crate::failure::FailureDetector;
use crate::ids::{NodeId, Timestamp};
use crate::membership::{Membership, MembershipChange, MembershipError};
use crate::proto::{ClientId, ClientRequest, ClientResponse, OpId, PeerMessage};
use crate::record::DecodeError;
use crate::ring::{MAX_BUCKET_AND_KEY_LEN, PartitionId, Ring, RingError};
use crate::rng::Rng;
use crate::version::{Actor, EpochState, SiblingSet};

mod anti_entropy;
pub mod config;
mod coordinator;
pub mod handoff;
mod listing;
mod membership;
mod reaper;
mod replica;
pub mod shard;
mod sharded;
pub mod store;
mod substitute;
mod transfer;

pub use config::{BucketProps, ConfigError, NodeConfig, Timing, TombstoneConfig};
pub use shard::{Shard, ShardReport, ShardView};
pub use sharded::ShardedNode;
pub use store::{Commit, KEYSPACES, Location, StoreError};

pub use coordinator::MAX_FORWARD_HOPS;
use coordinator::Op;
use handoff::{Destination, Handoff, HandoffConfig};
use store::{KeyAt, Store, Waiter};

/// Longest bucket and key together that a client may use, in bytes: what a storage key
/// allows, less the prefix of a hint key (2 bytes and the longest node id), so that any key
/// can also be kept as a hint.
pub const MAX_CLIENT_KEY_LEN: usize = MAX_BUCKET_AND_KEY_LEN - 2 - NodeId::MAX_LEN;

/// What a driver feeds a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A request from a client; the answer is an [`Output::Reply`] with the same `id`.
    Client {
        /// The driver's handle for the request.
        id: ClientId,
        /// The request.
        request: ClientRequest,
    },
    /// A message from another node.
    Peer {
        /// The sender.
        from: NodeId,
        /// The message.
        message: PeerMessage,
    },
    /// Time has passed: commit pending writes, expire timed-out requests.
    Tick,
    /// The driver carried out [`Output::Commit`] `id`: `Ok` once the engine applied it (and
    /// synced it, when it was a `Sync` commit), else the engine's error.
    Committed {
        /// The commit's id.
        id: u64,
        /// Its outcome.
        result: Result<(), String>,
    },
    /// For a follower shard: control's latest view (see [`shard`]).
    View(Arc<ShardView>),
    /// For the control shard: what a follower reported (see [`shard`]).
    Report(ShardReport),
}

/// What a node asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `message` to node `to`.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        message: PeerMessage,
    },
    /// Answer the client request `id`.
    Reply {
        /// The request's handle.
        id: ClientId,
        /// The answer.
        response: ClientResponse,
    },
    /// Apply this group commit to the node's engine (see [`Commit::apply`]), then feed
    /// [`Input::Committed`] with its id. Nothing is acknowledged before that.
    Commit(Commit),
    /// Something worth logging or counting happened.
    Event(NodeEvent),
    /// From the control shard: hand this view to every follower shard as [`Input::View`]
    /// (see [`shard`]; never output by a node of one shard).
    View(Arc<ShardView>),
    /// From a follower shard: hand this to the control shard as [`Input::Report`].
    Report(ShardReport),
}

/// Notable things that happened inside a node (for logs, metrics, and the simulator's
/// checkers).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// The node started writing as this epoch of its actor.
    EpochStarted {
        /// The epoch.
        epoch: u64,
    },
    /// A stored record did not decode; it was treated as absent (read repair and anti-entropy
    /// restore it from other replicas).
    CorruptRecord {
        /// Where it was.
        location: Location,
        /// Its bucket.
        bucket: Bytes,
        /// Its key.
        key: Bytes,
        /// Why it did not decode.
        error: DecodeError,
    },
    /// The stored epoch state did not decode; a fresh epoch was chosen.
    CorruptEpoch(DecodeError),
    /// A peer is now considered unreachable (it left `failure_threshold` requests or pings
    /// unanswered in a row).
    PeerDown(NodeId),
    /// A peer considered unreachable sent a message.
    PeerUp(NodeId),
    /// A peer sent something unusable (malformed record, unknown sender); it was dropped or
    /// answered with an error.
    BadPeerMessage {
        /// The sender.
        from: NodeId,
        /// What was wrong.
        reason: String,
    },
    /// A group commit or local write failed; its waiters were answered with the error.
    StorageFailed(String),
    /// The cluster state changed: a member's status, the ring, a bucket's properties.
    Membership(MembershipChange),
    /// The persisted cluster state did not decode (or was not this node's); the node started
    /// from its configuration instead and relearns the cluster by gossip.
    CorruptClusterState(String),
    /// Hinted handoff: `count` hints kept for `to` were acknowledged by it and deleted here
    /// (the deletions are durable).
    HintsDelivered {
        /// The node the hints were kept for.
        to: NodeId,
        /// How many were deleted in this group commit.
        count: usize,
    },
    /// Read repair sent a newer record to a stale replica (or repaired the local one).
    ReadRepair {
        /// The replica repaired.
        replica: NodeId,
        /// The bucket.
        bucket: Bytes,
        /// The key.
        key: Bytes,
    },
    /// Partition transfer: the receiver `to` acknowledged records of `partition`, up to
    /// `keys_sent` in all (paper §4.9).
    TransferProgress {
        /// The partition.
        partition: PartitionId,
        /// The receiver.
        to: NodeId,
        /// Records it acknowledged so far.
        keys_sent: u64,
    },
    /// Partition transfer: `to` confirmed it holds all of `partition`.
    TransferDone {
        /// The partition.
        partition: PartitionId,
        /// The receiver.
        to: NodeId,
        /// Records it acknowledged in all.
        keys_sent: u64,
    },
    /// This node dropped the data of `partition` (`keys` records, deletions staged for the
    /// next group commit): it does not replicate it and its new holders confirmed it.
    PartitionDropped {
        /// The partition.
        partition: PartitionId,
        /// Records deleted.
        keys: u64,
    },
    /// An anti-entropy exchange this node initiated ended (paper §4.7): partition, peer,
    /// outcome, keys repaired, messages and hashes exchanged.
    AntiEntropy(crate::antientropy::AeReport),
    /// Tombstones deleted here (deletions staged for the next group commit): older than the
    /// grace period, held by every replica, written only by retired actors.
    TombstonesReaped {
        /// How many.
        count: usize,
    },
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The ring could not be built from the members.
    #[error("ring: {0}")]
    Ring(#[from] RingError),
    /// The storage could not be opened or the epoch persisted.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The initial cluster state could not be built (e.g. an address too long).
    #[error("membership: {0}")]
    Membership(#[from] MembershipError),
}

/// One Dynamo node; see the [module documentation](self).
#[derive(Debug)]
pub struct Node<E> {
    config: NodeConfig,
    membership: Membership,
    failure: FailureDetector,
    rng: Rng,
    store: Store<E>,
    epoch: EpochState,
    /// `Some` after a start without a stored epoch, until a peer's gossip said which epoch
    /// the cluster last saw this node use (the epoch is unconfirmed, and the node coordinates
    /// no write): when to ask the peers for their cluster state next.
    epoch_pull_at: Option<Timestamp>,
    actor: Actor,
    outputs: VecDeque<Output>,
    now: Timestamp,
    next_seq: u64,
    ops: BTreeMap<u64, Op>,
    /// Forwarded requests already coordinated, until their sender's timeout.
    forwards_seen: BTreeMap<OpId, Timestamp>,
    /// Hinted handoff: delivery of the hints kept here.
    handoff: Handoff,
    stopped: bool,
    /// Anti-entropy: timer, round-robin cursors, the exchange in flight.
    ae: crate::antientropy::AntiEntropy,
    /// Partition transfers: outgoing transfers, pacing.
    transfers: crate::transfer::Transfers,
    /// Tombstone reaping: timer, cursor, rounds awaiting replies.
    reaper: reaper::Reaper,
    /// True after a failed commit moved the node to a new epoch that could not be persisted:
    /// it coordinates no write until a retry (every tick) persists it.
    epoch_unpersisted: bool,
    /// Listing slices asked of other replicas.
    listings: listing::Listings,
    /// Where the current actor's substitute-coordinated dots may be (see `substitute.rs`).
    substitute: substitute::SubstituteDots,
    /// Control shard or follower (see [`shard`]).
    role: shard::Role,
    /// Set on the control shard when a follower stopped with a commit in flight: the node's
    /// epoch is then not marked clean at shutdown.
    follower_unclean: bool,
    /// False after a shutdown that found a commit in flight.
    clean_stop: bool,
}

/// What each constructor of [`Node`] works out before the rest is assembled.
struct Parts<E> {
    store: Store<E>,
    membership: Membership,
    epoch: EpochState,
    epoch_pull_at: Option<Timestamp>,
    outputs: VecDeque<Output>,
    /// `Some` for a follower: the view it starts from.
    role: Option<Arc<ShardView>>,
    now: Timestamp,
}

impl<E: StorageEngine> Node<E> {
    /// Starts a node over `engine` (opened with at least the [`KEYSPACES`]): checks the
    /// configuration, loads the persisted cluster state (or builds the founders' first one,
    /// or a Joining state when there are no founders), rebuilds the Merkle trees, and
    /// chooses and durably persists a new epoch (so that a node that lost its data never
    /// reuses version counters).
    ///
    /// # Errors
    /// [`NodeError`] for a bad configuration, a missing keyspace, or a storage failure.
    pub fn new(config: NodeConfig, engine: E, now: Timestamp) -> Result<Self, NodeError> {
        config.validate()?;
        if !config.shard.is_control() {
            return Err(NodeError::Config(ConfigError::InvalidSetting(
                "a follower shard starts from its control shard's view (Node::new_follower)",
            )));
        }
        let mut store = Store::open(engine, config.timing.flush_interval_ms, config.shard)?;
        let mut outputs = VecDeque::new();
        let membership = membership::start(&config, &mut store, now, &mut outputs)?;
        if config.shard.count > 1 {
            transfer::split_persisted(&store, config.shard.count)?;
        }
        let stored = match store.load_epoch()? {
            Ok(s) => s,
            Err(e) => {
                outputs.push_back(Output::Event(NodeEvent::CorruptEpoch(e)));
                None
            }
        };
        // Without a stored epoch (a new or wiped disk) the node may have written as an
        // actor it no longer remembers: it coordinates no write until a peer told it which
        // epoch the cluster last saw it use (see `gossip_received`). A cluster of one has
        // nobody to ask.
        let epoch_confirmed = stored.is_some()
            || (config.seeds.is_empty() && config.members.iter().all(|m| *m == config.id));
        let mut epoch = EpochState::on_start(stored, now, None);
        // A clean restart keeps its epoch unless the node holds hints: they may carry dots
        // it numbered as a substitute, which the node no longer knows how to find (rule 3
        // of `substitute.rs`).
        if stored.is_some_and(|s| s.epoch == epoch.epoch)
            && !handoff::targets_with_hints(&store)?.is_empty()
        {
            epoch = EpochState::on_start(None, now, Some(epoch.epoch));
        }
        store.persist_epoch(&epoch)?;
        outputs.push_back(Output::Event(NodeEvent::EpochStarted {
            epoch: epoch.epoch,
        }));
        let pull = (!epoch_confirmed).then_some(now);
        let mut node = Node::assemble(
            config,
            Parts {
                store,
                membership,
                epoch,
                epoch_pull_at: pull,
                outputs,
                role: None,
                now,
            },
        )?;
        node.announce_epoch();
        node.publish_view();
        Ok(node)
    }

    /// Starts follower shard `config.shard` (index above 0) over `engine`, the engine of its
    /// control shard, from the control shard's current view ([`Node::shard_view`]): it takes
    /// the cluster state, failure view and epoch from there, and rebuilds the Merkle trees of
    /// its own partitions. Its first output reports the epoch it adopted.
    ///
    /// # Errors
    /// [`NodeError`] for a bad configuration (shard 0, or a shard count the view's node does
    /// not run), a missing keyspace, or a storage failure.
    pub fn new_follower(
        config: NodeConfig,
        engine: E,
        now: Timestamp,
        view: Arc<ShardView>,
    ) -> Result<Self, NodeError> {
        config.validate()?;
        if config.shard.is_control() {
            return Err(NodeError::Config(ConfigError::InvalidSetting(
                "shard 0 is the control shard (Node::new)",
            )));
        }
        let store = Store::open(engine, config.timing.flush_interval_ms, config.shard)?;
        let outputs = VecDeque::new();
        let membership = Membership::new(
            config.id.clone(),
            view.state.clone(),
            Vec::new(),
            std::time::Duration::from_millis(config.timing.gossip_interval_ms),
            now,
        )?;
        let epoch = view
            .epoch
            .unwrap_or_else(|| EpochState::on_start(None, now, None));
        let mut node = Node::assemble(
            config,
            Parts {
                store,
                membership,
                epoch,
                epoch_pull_at: None,
                outputs,
                role: Some(view),
                now,
            },
        )?;
        node.transfers_ring_check();
        node.report_adopted();
        node.report_transfers();
        Ok(node)
    }

    /// What both constructors share: the timers' state, the transfers persisted for this
    /// shard, and the empty tables of a node that has just started.
    fn assemble(config: NodeConfig, parts: Parts<E>) -> Result<Self, NodeError> {
        let Parts {
            store,
            membership,
            epoch,
            epoch_pull_at,
            mut outputs,
            role,
            now,
        } = parts;
        // A follower's detector mirrors control's view from the start.
        let mut failure = FailureDetector::new(config.timing.failure_config());
        if let Some(view) = &role {
            failure.adopt_down(&view.down, now);
        }
        let shard = config.shard;
        // Each shard draws from a stream of its own (shard 0 keeps the node's seed).
        let seed = config.seed.wrapping_add(u64::from(shard.index));
        let ae =
            crate::antientropy::AntiEntropy::new(now, config.timing.anti_entropy_interval_ms, seed);
        let handoff = Handoff::new(
            HandoffConfig {
                interval_ms: config.timing.handoff_interval_ms,
                max_in_flight: config.handoff_max_in_flight,
                timeout_ms: config.timing.request_timeout_ms,
                shard,
            },
            now,
        );
        let transfers = transfer::load(&config, &store, now, &mut outputs)?;
        Ok(Node {
            transfers,
            actor: epoch.actor(config.id.clone()),
            rng: Rng::seeded(seed),
            config,
            membership,
            failure,
            store,
            epoch,
            epoch_pull_at,
            outputs,
            now,
            next_seq: 0,
            ops: BTreeMap::new(),
            forwards_seen: BTreeMap::new(),
            handoff,
            stopped: false,
            ae,
            reaper: reaper::Reaper::new(now),
            epoch_unpersisted: false,
            listings: listing::Listings::default(),
            substitute: substitute::SubstituteDots::default(),
            role: shard::Role::new(shard, role),
            follower_unclean: false,
            clean_stop: true,
        })
    }

    /// Feeds one input at time `now` (the driver's clock, in ms). Drain
    /// [`poll_output`](Self::poll_output) afterwards. Inputs after
    /// [`shutdown`](Self::shutdown) are ignored.
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        if self.stopped {
            return;
        }
        self.now = now;
        match input {
            Input::Client { id, request } => {
                self.client_request(coordinator::ReplyTo::Client(id), request, 0);
            }
            Input::Peer { from, message } => self.peer_message(from, message),
            Input::Tick => self.tick(),
            Input::Committed { id, result } => self.committed(id, result),
            Input::View(view) => self.adopt_view(view),
            Input::Report(report) => self.shard_report(report),
        }
        self.after_input();
    }

    /// The next thing to do: a message to send, a reply, an event. `None` when there is
    /// nothing left until the next input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle(_, Input::Tick)` next: the last `now` seen while writes await
    /// their group commit (and no commit is in flight), otherwise the earliest request
    /// deadline, probe or ping timeout of the failure detector, gossip round, or the end of
    /// the flush interval of buffered writes. `None` only after shutdown.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.stopped {
            return None;
        }
        let commit = self.store.commit_deadline(self.now);
        if commit.is_some_and(|d| d <= self.now) {
            return Some(self.now);
        }
        // Failure probes and gossip are the control shard's.
        let control = self.config.shard.is_control();
        self.ops
            .values()
            .map(Op::deadline)
            .chain(self.failure.next_deadline().filter(|_| control))
            .chain(Some(self.membership.next_deadline()).filter(|_| control))
            .chain(self.ae.next_deadline())
            .chain(self.handoff.next_deadline())
            .chain(self.transfers.next_deadline())
            .chain(self.epoch_pull_at)
            .chain(self.reaper.next_deadline())
            .chain(self.listings.next_deadline())
            .chain(commit)
            .min()
    }

    /// The time of the latest input.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Carries out `commit` here and now, on the caller's thread: applies it to the node's
    /// engine and feeds the outcome back, at the time of the latest input. For drivers that
    /// have no thread to commit on (tests, a simple embedding); drain the outputs afterwards.
    pub fn run_commit(&mut self, commit: Commit) {
        let result = commit.apply(self.store.engine());
        let now = self.now;
        self.handle(
            now,
            Input::Committed {
                id: commit.id,
                result,
            },
        );
    }

    /// True while a commit handed out as [`Output::Commit`] awaits its [`Input::Committed`].
    pub fn commit_in_flight(&self) -> bool {
        self.store.commit_in_flight()
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.config.id
    }

    /// The actor this node writes versions as (its id and current epoch).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// False after a start without a stored epoch (a new or wiped disk) until a peer's
    /// cluster state told the node which epoch it used before (it asks with
    /// [`PeerMessage::GossipPull`] at once): until then its writes wait, so that it never
    /// writes as an actor whose counters it forgot.
    pub fn epoch_confirmed(&self) -> bool {
        match &self.role {
            shard::Role::Control(_) => self.epoch_pull_at.is_none(),
            shard::Role::Follower(f) => f.epoch_ok,
        }
    }

    /// The epoch state in use (persisted at start, and again when the node learned from a
    /// peer that it must move past an epoch it used before losing its disk).
    pub fn epoch(&self) -> EpochState {
        self.epoch
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The ring in force, from the cluster state: `None` while this node has none (a
    /// joining node before its seed answered); client requests are then `Unavailable`.
    pub fn ring(&self) -> Option<&Ring> {
        self.membership.state().ring()
    }

    /// This node's membership: the cluster state, its status, the gossip schedule.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The local failure detector: which peers this node considers down, and their health.
    pub fn failure_detector(&self) -> &FailureDetector {
        &self.failure
    }

    /// How the driver reaches `node`: its address in the cluster state, else the one given
    /// in [`NodeConfig::addresses`] (seeds before this node joined). `None` when unknown or
    /// empty.
    pub fn peer_address(&self, node: &NodeId) -> Option<&str> {
        self.membership
            .state()
            .address(node)
            .filter(|a| !a.is_empty())
            .or_else(|| self.config.addresses.get(node).map(String::as_str))
            .filter(|a| !a.is_empty())
    }

    /// The storage engine (for inspection; writes go through the node).
    pub fn engine(&self) -> &E {
        self.store.engine()
    }

    /// Prepares a clean stop: commits pending writes here and now (their acknowledgements and
    /// replies are queued: drain them), flushes the engine and persists the epoch as cleanly
    /// shut down, so that the next start may keep the epoch instead of opening a new one.
    /// Requests still in flight are abandoned. Call [`into_engine`](Self::into_engine)
    /// afterwards.
    ///
    /// Feed the outcome of a commit in flight first: with one still in flight the node
    /// cannot know what the engine holds, so it stops without marking the epoch clean (the
    /// next start opens a new one, which is always safe).
    ///
    /// # Errors
    /// [`StoreError`] when the flush or the epoch write fails (the next start then opens a new
    /// epoch, which is always safe).
    pub fn shutdown(&mut self, now: Timestamp) -> Result<(), StoreError> {
        self.now = now;
        let in_flight = self.store.commit_in_flight();
        if !in_flight {
            // What a tick stages (hint deletions, say) needs a second round.
            for _ in 0..2 {
                if let Some((result, waiters)) = self.store.commit_now(now) {
                    self.release(result, waiters);
                }
            }
        }
        self.stopped = true;
        self.ops.clear();
        self.store.flush()?;
        self.clean_stop = !in_flight;
        // The epoch is the control shard's, and clean only when every shard stopped cleanly.
        if in_flight || !self.config.shard.is_control() || self.follower_unclean {
            return Ok(());
        }
        let clean = self.epoch.clean_shutdown();
        self.store.persist_epoch(&clean)?;
        self.epoch = clean;
        Ok(())
    }

    /// Gives the engine back (to restart a node on it). Pending, uncommitted writes are lost,
    /// as in a crash; their waiters were never acknowledged.
    pub fn into_engine(self) -> E {
        self.store.into_engine()
    }

    /// Operations this node is coordinating or forwarding.
    pub fn open_operations(&self) -> usize {
        self.ops.len()
    }

    /// Writes staged for the next group commit.
    pub fn pending_writes(&self) -> usize {
        self.store.pending_writes()
    }

    /// Hints this node keeps for other nodes (committed), for status and the simulator's
    /// "hints drain" check.
    ///
    /// # Errors
    /// [`StoreError`] when the engine fails.
    pub fn hints_stored(&self) -> Result<usize, StoreError> {
        self.store.count_hints()
    }

    /// Hints this node keeps, per node they are kept for (committed), for admin status.
    ///
    /// # Errors
    /// [`StoreError`] when the engine fails.
    pub fn hints_pending(&self) -> Result<BTreeMap<NodeId, usize>, StoreError> {
        handoff::pending(&self.store)
    }

    /// The hinted-handoff state (deliveries in flight), for status and tests.
    pub fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    /// The Merkle tree of a partition's data here, if any.
    pub fn merkle(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.store.merkle(partition)
    }

    /// The properties of buckets without their own: the cluster's defaults, else this node's
    /// configured default.
    pub fn default_props(&self) -> BucketProps {
        self.membership
            .state()
            .default_props()
            .copied()
            .unwrap_or(self.config.default_bucket)
    }

    /// The properties of `bucket` as this node knows them: the bucket's own or the cluster's
    /// defaults from the cluster state, else this node's configured default.
    pub fn bucket_props(&self, bucket: &[u8]) -> BucketProps {
        self.membership
            .state()
            .bucket_props(bucket)
            .copied()
            .unwrap_or(self.config.default_bucket)
    }

    /// The record of (`bucket`, `key`) stored here at `location` (pending writes included), for
    /// inspection by tests and invariant checkers. `Ok(None)` when absent or corrupt.
    ///
    /// # Errors
    /// [`StoreError`] for an over-long key or an engine failure.
    pub fn local_record(
        &self,
        location: &Location,
        bucket: &[u8],
        key: &[u8],
    ) -> Result<Option<SiblingSet>, StoreError> {
        let at = KeyAt {
            partition: self.config.ring.partition_of(bucket, key),
            bucket,
            key,
        };
        Ok(self.store.read(location, at)?.set)
    }

    /// The outcome of commit `id`: releases its waiters (acknowledgements, replies) or tells
    /// them of the failure. A failed commit lost writes whose dots may have been sent to
    /// other replicas already (the coordinator sends them as it stages), so the node moves
    /// to a new epoch before it numbers another dot.
    fn committed(&mut self, id: u64, result: Result<(), String>) {
        let now = self.now;
        let Some((result, waiters)) = self.store.finish_commit(id, result, now) else {
            return;
        };
        if let Err(e) = &result {
            self.emit(NodeEvent::StorageFailed(e.clone()));
            self.renew_epoch();
        }
        self.release(result, waiters);
    }

    /// Answers everyone who waited for a commit with its outcome.
    fn release(&mut self, result: Result<(), String>, waiters: Vec<Waiter>) {
        let mut hints_deleted: BTreeMap<NodeId, usize> = BTreeMap::new();
        for w in waiters {
            match w {
                Waiter::Nobody => {}
                Waiter::Local { seq, .. } => {
                    let me = self.config.id.clone();
                    self.write_ack(seq, &me, result.clone());
                }
                Waiter::Ack { to, op, .. } => self.send(
                    to,
                    PeerMessage::ReplicaPutAck {
                        op,
                        result: result.clone(),
                    },
                ),
                Waiter::HintAck { to, id } => {
                    if result.is_ok() {
                        self.send(to, PeerMessage::HintAck { id });
                    }
                }
                // Without an ack its sender resends the batch.
                Waiter::TransferAck { to, ack } => {
                    if result.is_ok() {
                        self.send(to, PeerMessage::TransferAck(ack));
                    }
                }
                // A hint whose deletion failed is still there and is delivered again.
                Waiter::HintDeleted { target } => {
                    if result.is_ok() {
                        *hints_deleted.entry(target).or_default() += 1;
                    }
                }
                // Unsynced, the records may not survive a crash: no reap (the round
                // expires and is proposed again).
                Waiter::ReapReply { to, id, held } => {
                    if result.is_ok() {
                        self.send(to, PeerMessage::ReapReply { id, held });
                    }
                }
                Waiter::Reap { peers, keys } => {
                    if result.is_ok() {
                        self.reap_now(peers, &keys);
                    }
                }
            }
        }
        for (to, count) in hints_deleted {
            self.emit(NodeEvent::HintsDelivered { to, count });
        }
    }

    /// Moves to a new epoch (after a failed commit, or once hints a substitute wrote may be gone),
    /// durably if the engine lets it; until it is persisted the node coordinates no write (see
    /// `epoch_unpersisted`).
    fn renew_epoch(&mut self) {
        if !self.config.shard.is_control() {
            self.request_epoch();
            return;
        }
        let next = EpochState::on_start(None, self.now, Some(self.epoch.epoch));
        self.epoch = next;
        self.actor = next.actor(self.config.id.clone());
        self.emit(NodeEvent::EpochStarted { epoch: next.epoch });
        self.epoch_unpersisted = true;
        self.mark_view_dirty();
        self.persist_renewed_epoch();
    }

    /// Persists an epoch taken after a failed commit; on success the node writes again.
    fn persist_renewed_epoch(&mut self) {
        match self.store.persist_epoch(&self.epoch) {
            Ok(()) => {
                self.epoch_unpersisted = false;
                self.mark_view_dirty();
                self.announce_epoch();
            }
            Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
        }
    }

    /// Tick: expiry of operations past their deadline, failure detection (probes, ping
    /// timeouts), gossip, anti-entropy, reaping, hinted handoff and transfers; then the group
    /// commit of everything staged so far, handed to the driver as [`Output::Commit`].
    fn tick(&mut self) {
        let control = self.config.shard.is_control();
        if self.epoch_unpersisted && control {
            self.persist_renewed_epoch();
        }
        self.expire_ops();
        let now = self.now;
        self.forwards_seen.retain(|_, until| *until > now);
        if control {
            self.poll_failure();
            self.poll_gossip();
            self.poll_epoch_pull();
        }
        self.ae_tick();
        self.reap_tick();
        self.list_tick();
        // Hinted handoff, after the commit so that its scan sees the latest hints; the one
        // place it asks the failure view and the ring.
        let failure = &self.failure;
        let state = self.membership.state();
        let me = &self.config.id;
        let default_bucket = self.config.default_bucket;
        let route = |target: &NodeId, partition: PartitionId, bucket: &[u8]| {
            let Some(ring) = state.ring() else {
                return Destination::Wait;
            };
            if ring.contains_node(target) {
                return if failure.is_up(target) {
                    Destination::Node(target.clone())
                } else {
                    Destination::Wait
                };
            }
            // The intended node left the ring: the key's current replicas take the hint.
            let n = state.bucket_props(bucket).map_or(default_bucket.n, |p| p.n);
            for node in ring.preference_list(partition, usize::from(n)) {
                if node == me {
                    return Destination::Local;
                }
                if failure.is_up(node) {
                    return Destination::Node(node.clone());
                }
            }
            Destination::Wait
        };
        let handoff = self.handoff.poll(self.now, &mut self.store, route);
        self.outputs.extend(handoff);
        self.transfer_tick();
        if let Some(commit) = self.store.begin_commit(self.now) {
            self.outputs.push_back(Output::Commit(commit));
        }
    }

    fn emit(&mut self, event: NodeEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn send(&mut self, to: NodeId, message: PeerMessage) {
        if matches!(
            message,
            PeerMessage::Forward { .. }
                | PeerMessage::ReplicaGet { .. }
                | PeerMessage::ReplicaPut { .. }
        ) {
            // Their timeouts are the coordinator's (it reports them to the detector).
            self.failure.request_sent(&to, self.now);
        }
        self.outputs.push_back(Output::Send { to, message });
    }
}
