//! Request coordination (paper §5, §4.6): quorums, timeouts, forwarding, read repair and the
//! sloppy quorum (the replica side of the replication messages is `replica.rs`).
//!
//! Any node accepts a request. It computes the key's sloppy preference list — the first N
//! nodes for the key, each unreachable one replaced by the next reachable node round the
//! ring — and coordinates if it is in the list, or forwards the request to the first node of
//! the list otherwise. Writes are coordinated by a *primary* when the list holds one (a
//! substitute forwards them there); with every primary unreachable — the side of a partition
//! without them — a substitute of the list coordinates, and numbers its version from every
//! local copy that may hold its actor's dots (see `substitute.rs` for why a hint copy alone
//! is not enough). A write whose list holds fewer reachable nodes than its quorum is refused
//! at once as `Unavailable`, before anything is written. A request is
//! forwarded at most [`MAX_FORWARD_HOPS`] times: during a ring change the node it was
//! forwarded to may route by another ring and pass it on once more, and the bound keeps
//! disagreeing views from passing it round for ever.
//!
//! - **put/delete**: read the local record, apply the write with this node's actor, stage it
//!   locally (group commit) and, at the same moment, send the new record to the other
//!   targets; a substitute is told whom it stands in for and keeps the record as a hint.
//!   Answer after W acknowledgements (the local write counts as one), of which DW come from
//!   replicas that synced (the bucket's durability, or the request's `dw`: `all` asks every
//!   replica to sync, `one` the coordinator only, `none` nobody). A dot sent out before the
//!   local write is durable can never be numbered again: a node that crashed restarts as a
//!   new epoch (a new actor), and a failed local commit moves the node to a new epoch at
//!   once.
//! - **get**: read locally and ask the other targets; answer once R replied, with the merge
//!   of the replies (every causally maximal sibling, one context). Keep collecting until all
//!   replied or the timeout, then send the merge to every primary whose record does not
//!   descend it (read repair).
//! - **timeouts**: a request short of its quorum at its deadline fails with
//!   [`RequestError::Unavailable`] saying how many were needed and how many answered; the
//!   targets that never answered count as timeouts for the failure detector.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use engine_api::StorageEngine;

use super::store::{KeyAt, Location, Store, Waiter};
use super::{MAX_CLIENT_KEY_LEN, Node, NodeEvent, Output};
use crate::ids::{NodeId, Timestamp};
use crate::membership::DurabilityMode;
use crate::proto::{
    ClientRequest, ClientResponse, OpId, PeerMessage, QuorumKind, ReadResult, RequestError,
    WriteResult,
};
use crate::record;
use crate::ring::PartitionId;
use crate::version::{ContentType, Context, SiblingSet, VersionError, VersioningMode};

/// Where the answer to a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyTo {
    /// A client of this node.
    Client(crate::proto::ClientId),
    /// A node that forwarded the request.
    Peer {
        /// That node.
        to: NodeId,
        /// Its operation.
        op: OpId,
    },
}

/// Which kind of client request an operation serves (to shape its error answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Get,
    Put,
    Delete,
}

impl Kind {
    fn quorum(self) -> QuorumKind {
        match self {
            Kind::Get => QuorumKind::Read,
            Kind::Put | Kind::Delete => QuorumKind::Write,
        }
    }

    fn error(self, e: RequestError) -> ClientResponse {
        match self {
            Kind::Get => ClientResponse::Get(Err(e)),
            Kind::Put => ClientResponse::Put(Err(e)),
            Kind::Delete => ClientResponse::Delete(Err(e)),
        }
    }
}

/// One replica target of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    node: NodeId,
    hinted_for: Option<NodeId>,
}

impl Target {
    fn location_here(&self) -> Location {
        match &self.hinted_for {
            None => Location::Data,
            Some(p) => Location::Hint(p.clone()),
        }
    }
}

/// The key an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpKey {
    partition: PartitionId,
    bucket: Bytes,
    key: Bytes,
}

impl OpKey {
    fn at(&self) -> KeyAt<'_> {
        KeyAt {
            partition: self.partition,
            bucket: &self.bucket,
            key: &self.key,
        }
    }
}

/// An operation in flight at this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// A request forwarded to a coordinator.
    Forward {
        reply_to: ReplyTo,
        kind: Kind,
        to: NodeId,
        needed: u8,
        deadline: Timestamp,
    },
    /// A put or delete this node coordinates.
    Write {
        reply_to: ReplyTo,
        kind: Kind,
        key: OpKey,
        needed: u8,
        targets: Vec<Target>,
        acks: BTreeSet<NodeId>,
        failed: BTreeSet<NodeId>,
        /// Durable-write quorum: acknowledgements needed from targets that synced.
        dw: u8,
        /// Targets asked to sync before they acknowledge.
        syncing: BTreeSet<NodeId>,
        result: WriteResult,
        replied: bool,
        deadline: Timestamp,
    },
    /// A put or delete that waits until this node knows its epoch (see
    /// `Node::epoch_confirmed`): started again once it does, refused at its deadline.
    Parked {
        reply_to: ReplyTo,
        kind: Kind,
        needed: u8,
        request: ClientRequest,
        hops: u8,
        deadline: Timestamp,
    },
    /// A get this node coordinates.
    Read {
        reply_to: ReplyTo,
        key: OpKey,
        mode: VersioningMode,
        needed: u8,
        targets: Vec<Target>,
        replies: BTreeMap<NodeId, Option<SiblingSet>>,
        failed: BTreeSet<NodeId>,
        replied: bool,
        deadline: Timestamp,
    },
}

impl Op {
    pub(crate) fn deadline(&self) -> Timestamp {
        match self {
            Op::Forward { deadline, .. }
            | Op::Write { deadline, .. }
            | Op::Parked { deadline, .. }
            | Op::Read { deadline, .. } => *deadline,
        }
    }
}

/// A request's routing: its key, quorum, and replica targets.
struct Plan {
    key: OpKey,
    mode: VersioningMode,
    durability: DurabilityMode,
    needed: u8,
    targets: Vec<Target>,
}

/// Who syncs a write before acknowledging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syncing {
    Every,
    Coordinator,
    Nobody,
}

/// The durable-write quorum of a write and who syncs, from the bucket's durability and the
/// request's `dw` (which overrides it: 0 nobody, 1 the coordinator, more every replica).
fn durable_plan(durability: DurabilityMode, dw: Option<u8>, w: u8) -> (u8, Syncing) {
    match dw {
        Some(0) => (0, Syncing::Nobody),
        Some(1) => (1, Syncing::Coordinator),
        Some(k) => (k, Syncing::Every),
        None => {
            let syncing = match durability {
                DurabilityMode::All => Syncing::Every,
                DurabilityMode::One => Syncing::Coordinator,
                DurabilityMode::None => Syncing::Nobody,
            };
            (durability.dw(w), syncing)
        }
    }
}

/// The answer of a follower shard to an admin request (which changes or reports what only
/// the control shard holds); `None` for the requests any shard answers.
fn admin_refusal(request: &ClientRequest) -> Option<ClientResponse> {
    let e = || RequestError::InvalidRequest("admin requests go to the control shard".into());
    match request {
        ClientRequest::SetDefaultProps { .. } | ClientRequest::SetBucketProps { .. } => {
            Some(ClientResponse::BucketProps(Err(e())))
        }
        ClientRequest::Join { .. } | ClientRequest::Leave | ClientRequest::Status => {
            Some(ClientResponse::Admin(Err(e())))
        }
        ClientRequest::CreateKey { .. } | ClientRequest::RevokeKey { .. } => {
            Some(ClientResponse::Keys(Err(e())))
        }
        _ => None,
    }
}

fn too_many(e: &VersionError) -> RequestError {
    match e {
        VersionError::TooManySiblings { limit, .. } => {
            RequestError::TooManySiblings { limit: *limit }
        }
        other => RequestError::InvalidRequest(other.to_string()),
    }
}

impl<E: StorageEngine> Node<E> {
    /// A fresh operation number, tagged with this shard (answers find their way back).
    fn next_op(&mut self) -> u64 {
        self.next_seq += 1;
        self.config.shard.tag(self.next_seq)
    }

    fn op_id(&self, seq: u64) -> OpId {
        OpId {
            origin: self.config.id.clone(),
            seq,
        }
    }

    fn deadline_in(&self, ms: u64) -> Timestamp {
        Timestamp(self.now.0.saturating_add(ms))
    }

    fn reply(&mut self, to: ReplyTo, response: ClientResponse) {
        match to {
            ReplyTo::Client(id) => self.outputs.push_back(Output::Reply { id, response }),
            ReplyTo::Peer { to, op } => self.send(to, PeerMessage::ForwardReply { op, response }),
        }
    }

    /// Handles a client request, from a client (`hops` 0) or forwarded by a peer (`hops` times
    /// so far).
    pub(crate) fn client_request(&mut self, reply_to: ReplyTo, request: ClientRequest, hops: u8) {
        if !self.config.shard.is_control()
            && let Some(refusal) = admin_refusal(&request)
        {
            // Routed to the control shard, which holds the cluster state.
            self.reply(reply_to, refusal);
            return;
        }
        // Cheap: the payloads are reference-counted.
        let original = request.clone();
        match request {
            ClientRequest::Get { bucket, key, r } => match self.plan(Kind::Get, bucket, key, r) {
                Err(e) => self.reply(reply_to, Kind::Get.error(e)),
                Ok(plan) => {
                    if let Some(plan) =
                        self.route(reply_to.clone(), Kind::Get, plan, hops, original)
                    {
                        self.start_read(reply_to, plan);
                    }
                }
            },
            ClientRequest::Put {
                bucket,
                key,
                context,
                value,
                content_type,
                w,
                dw,
                return_body,
            } => {
                if value.len() > self.config.max_value_size {
                    let e = RequestError::InvalidRequest(format!(
                        "value of {} bytes exceeds the maximum of {}",
                        value.len(),
                        self.config.max_value_size
                    ));
                    self.reply(reply_to, Kind::Put.error(e));
                    return;
                }
                let write = Write {
                    context,
                    value: Some((value, content_type)),
                    w,
                    dw,
                    return_body,
                };
                let routing = Routing { hops, original };
                self.client_write(reply_to, Kind::Put, bucket, key, write, routing);
            }
            ClientRequest::Delete {
                bucket,
                key,
                context,
                w,
                dw,
            } => {
                let write = Write {
                    context,
                    value: None,
                    w,
                    dw,
                    return_body: false,
                };
                let routing = Routing { hops, original };
                self.client_write(reply_to, Kind::Delete, bucket, key, write, routing);
            }
            ClientRequest::GetBucketProps { bucket } => {
                let props = self.bucket_props(&bucket);
                self.reply(reply_to, ClientResponse::BucketProps(Ok(props)));
            }
            ClientRequest::GetDefaultProps => {
                let props = self.default_props();
                self.reply(reply_to, ClientResponse::BucketProps(Ok(props)));
            }
            ClientRequest::SetDefaultProps { props } => {
                let response = self.admin_set_default_props(props);
                self.reply(reply_to, ClientResponse::BucketProps(response));
            }
            ClientRequest::SetBucketProps { bucket, props } => {
                let response = self.admin_set_bucket_props(bucket, props);
                self.reply(reply_to, ClientResponse::BucketProps(response));
            }
            ClientRequest::Join { seed } => {
                let response = self.admin_join(seed);
                self.reply(reply_to, ClientResponse::Admin(response));
            }
            ClientRequest::Leave => {
                let response = self.admin_leave();
                self.reply(reply_to, ClientResponse::Admin(response));
            }
            ClientRequest::Status => {
                let info = self.admin_info();
                self.reply(reply_to, ClientResponse::Admin(info));
            }
            ClientRequest::CreateKey { id, key } => {
                let response = self.admin_create_key(id, key);
                self.reply(reply_to, ClientResponse::Keys(response));
            }
            ClientRequest::RevokeKey { id } => {
                let response = self.admin_revoke_key(&id);
                self.reply(reply_to, ClientResponse::Keys(response));
            }
            ClientRequest::ListKeys => {
                let keys = self.access_keys();
                self.reply(reply_to, ClientResponse::Keys(Ok(keys)));
            }
            ClientRequest::ListSlice(request) => self.list_slice(reply_to, request),
        }
    }

    fn client_write(
        &mut self,
        reply_to: ReplyTo,
        kind: Kind,
        bucket: Bytes,
        key: Bytes,
        write: Write,
        routing: Routing,
    ) {
        let plan = self
            .plan(kind, bucket, key, write.w)
            .and_then(|plan| match write.dw {
                Some(dw) if dw > plan.targets.len() as u8 => {
                    Err(RequestError::InvalidRequest(format!(
                        "durable write quorum {dw} is above n = {}",
                        plan.targets.len()
                    )))
                }
                _ => Ok(plan),
            });
        match plan {
            Err(e) => self.reply(reply_to, kind.error(e)),
            Ok(_) if self.epoch_unpersisted => {
                let e = RequestError::Storage(
                    "a commit failed and the node's new epoch is not yet persisted".into(),
                );
                self.reply(reply_to, kind.error(e));
            }
            Ok(plan) if !self.epoch_confirmed() => {
                // A node back from a lost disk does not yet know which epoch it wrote as
                // before: the write waits (one gossip round trip) rather than risk reusing
                // that actor's counters.
                let seq = self.next_op();
                let deadline = self.deadline_in(self.config.timing.request_timeout_ms);
                self.ops.insert(
                    seq,
                    Op::Parked {
                        reply_to,
                        kind,
                        needed: plan.needed,
                        request: routing.original,
                        hops: routing.hops,
                        deadline,
                    },
                );
            }
            Ok(plan) => {
                let Routing { hops, original } = routing;
                if let Some(plan) = self.route(reply_to.clone(), kind, plan, hops, original) {
                    self.start_write(reply_to, kind, plan, write);
                }
            }
        }
    }

    /// Checks a request and computes its targets.
    fn plan(
        &self,
        kind: Kind,
        bucket: Bytes,
        key: Bytes,
        quorum: Option<u8>,
    ) -> Result<Plan, RequestError> {
        if key.is_empty() {
            return Err(RequestError::InvalidRequest("empty key".into()));
        }
        if bucket.len() + key.len() > MAX_CLIENT_KEY_LEN {
            return Err(RequestError::InvalidRequest(format!(
                "bucket and key are {} bytes together; the maximum is {MAX_CLIENT_KEY_LEN}",
                bucket.len() + key.len()
            )));
        }
        let props = self.bucket_props(&bucket);
        let default = match kind {
            Kind::Get => props.r,
            Kind::Put | Kind::Delete => props.w,
        };
        let needed = quorum.unwrap_or(default);
        if needed == 0 || needed > props.n {
            return Err(RequestError::InvalidRequest(format!(
                "{} quorum {needed} must be between 1 and n = {}",
                kind.quorum(),
                props.n
            )));
        }
        let partition = self.config.ring.partition_of(&bucket, &key);
        // No ring yet (a joining node before its seed answered): nobody to route to.
        let Some(ring) = self.membership.state().ring() else {
            return Err(RequestError::Unavailable {
                needed,
                answered: 0,
                op: kind.quorum(),
            });
        };
        let failure = &self.failure;
        let targets = ring
            .sloppy_preference_list(partition, usize::from(props.n), |n| failure.is_up(n))
            .into_iter()
            .map(|r| Target {
                node: r.node.clone(),
                hinted_for: r.stands_in_for.cloned(),
            })
            .collect();
        Ok(Plan {
            key: OpKey {
                partition,
                bucket,
                key,
            },
            mode: props.mode,
            durability: props.durability,
            needed,
            targets,
        })
    }

    /// Decides who coordinates: returns the plan when this node does; otherwise forwards
    /// `request` to the first target or answers it.
    fn route(
        &mut self,
        reply_to: ReplyTo,
        kind: Kind,
        plan: Plan,
        hops: u8,
        request: ClientRequest,
    ) -> Option<Plan> {
        // A write is coordinated by a primary replica when the list holds one (substitute
        // actors in a key's clock are kept for the partitions that need them); with every
        // primary unreachable, by a substitute, which numbers safely (`substitute.rs`).
        // Reads may be coordinated by any node of the list.
        let primary_reachable = plan.targets.iter().any(|t| t.hinted_for.is_none());
        let may_coordinate = |t: &Target| match kind {
            Kind::Get => true,
            Kind::Put | Kind::Delete => t.hinted_for.is_none() || !primary_reachable,
        };
        // Fewer reachable nodes than the write quorum: the write cannot succeed, so it is
        // refused now rather than applied here and answered at the timeout.
        if kind != Kind::Get && plan.targets.len() < usize::from(plan.needed) {
            self.refuse_unavailable(reply_to, kind, plan.needed);
            return None;
        }
        let me = &self.config.id;
        if plan
            .targets
            .iter()
            .any(|t| t.node == *me && may_coordinate(t))
        {
            return Some(plan);
        }
        // Forwarded at most MAX_FORWARD_HOPS times (views may disagree; no loops).
        let coordinator = plan
            .targets
            .iter()
            .find(|t| t.node != *me && may_coordinate(t));
        let Some(first) = coordinator.filter(|_| hops < MAX_FORWARD_HOPS) else {
            self.refuse_unavailable(reply_to, kind, plan.needed);
            return None;
        };
        let to = first.node.clone();
        let seq = self.next_op();
        let deadline = self.deadline_in(self.config.timing.forward_timeout_ms);
        self.ops.insert(
            seq,
            Op::Forward {
                reply_to,
                kind,
                to: to.clone(),
                needed: plan.needed,
                deadline,
            },
        );
        let op = self.op_id(seq);
        self.send(
            to,
            PeerMessage::Forward {
                op,
                request,
                hops: hops.saturating_add(1),
            },
        );
        None
    }

    fn my_target(&self, targets: &[Target]) -> Option<Target> {
        targets.iter().find(|t| t.node == self.config.id).cloned()
    }

    fn start_write(&mut self, reply_to: ReplyTo, kind: Kind, plan: Plan, write: Write) {
        let Some(me) = self.my_target(&plan.targets) else {
            return;
        };
        if self.substitute_dots_may_be_lost() {
            // A new actor has no dots anywhere (rule 2 of `substitute.rs`).
            self.renew_epoch();
            if self.epoch_unpersisted {
                let e = RequestError::Storage(
                    "the node's new epoch (after delivering hints) is not yet persisted".into(),
                );
                self.reply(reply_to, kind.error(e));
                return;
            }
        }
        let loc = me.location_here();
        let at = plan.key.at();
        let read = self
            .store
            .read(&loc, at)
            .and_then(|stored| Ok((self.numbering_base(&loc, at, stored.set.clone())?, stored)));
        let (base, stored) = match read {
            Ok(r) => r,
            Err(e) => {
                let msg = e.to_string();
                self.emit(NodeEvent::StorageFailed(msg.clone()));
                self.reply(reply_to, kind.error(RequestError::Storage(msg)));
                return;
            }
        };
        if let Some(error) = stored.corrupt.clone() {
            self.emit(NodeEvent::CorruptRecord {
                location: loc.clone(),
                bucket: plan.key.bucket.clone(),
                key: plan.key.key.clone(),
                error,
            });
        }
        let mut set = base.unwrap_or_else(|| Store::<E>::empty(plan.mode));
        let applied = match write.value {
            Some((value, ct)) => set.apply_put(&write.context, value, ct, &self.actor, self.now),
            None => set.apply_delete(&write.context, &self.actor, self.now),
        };
        let context = match applied {
            Ok(c) => c,
            Err(e) => {
                self.reply(reply_to, kind.error(too_many(&e)));
                return;
            }
        };
        let (dw, syncing) = durable_plan(plan.durability, write.dw, plan.needed);
        let seq = self.next_op();
        let local_sync = syncing != Syncing::Nobody;
        let encoded = match self.store.stage(
            &loc,
            plan.key.at(),
            &stored,
            &set,
            Waiter::Local {
                seq,
                sync: local_sync,
            },
        ) {
            Ok(b) => b,
            Err(e) => {
                let msg = e.to_string();
                self.reply(reply_to, kind.error(RequestError::Storage(msg)));
                return;
            }
        };
        if let Some(target) = &me.hinted_for {
            self.numbered_as_substitute(target);
        }
        // The replicas are sent the new version as it is staged here, not after the local
        // commit: the dot cannot be numbered again should the local write be lost (see the
        // module documentation).
        let op = self.op_id(seq);
        let me = self.config.id.clone();
        let mut syncing_targets = BTreeSet::new();
        if local_sync {
            syncing_targets.insert(me.clone());
        }
        for t in plan.targets.iter().filter(|t| t.node != me) {
            let sync = syncing == Syncing::Every;
            if sync {
                syncing_targets.insert(t.node.clone());
            }
            self.send(
                t.node.clone(),
                PeerMessage::ReplicaPut {
                    op: op.clone(),
                    bucket: plan.key.bucket.clone(),
                    key: plan.key.key.clone(),
                    record: encoded.clone(),
                    hinted_for: t.hinted_for.clone(),
                    sync,
                },
            );
        }
        let body = write.return_body.then(|| ReadResult::from_set(&set));
        let deadline = self.deadline_in(self.config.timing.request_timeout_ms);
        self.ops.insert(
            seq,
            Op::Write {
                reply_to,
                kind,
                key: plan.key,
                needed: plan.needed,
                targets: plan.targets,
                acks: BTreeSet::new(),
                failed: BTreeSet::new(),
                dw,
                syncing: syncing_targets,
                result: WriteResult { context, body },
                replied: false,
                deadline,
            },
        );
    }

    fn start_read(&mut self, reply_to: ReplyTo, plan: Plan) {
        let Some(me) = self.my_target(&plan.targets) else {
            return;
        };
        let loc = me.location_here();
        let seq = self.next_op();
        let mut replies = BTreeMap::new();
        let mut failed = BTreeSet::new();
        match self.store.read(&loc, plan.key.at()) {
            Ok(stored) => {
                if let Some(error) = stored.corrupt {
                    self.emit(NodeEvent::CorruptRecord {
                        location: loc,
                        bucket: plan.key.bucket.clone(),
                        key: plan.key.key.clone(),
                        error,
                    });
                }
                replies.insert(self.config.id.clone(), stored.set);
            }
            Err(e) => {
                self.emit(NodeEvent::StorageFailed(e.to_string()));
                failed.insert(self.config.id.clone());
            }
        }
        let op = self.op_id(seq);
        let me = self.config.id.clone();
        for t in plan.targets.iter().filter(|t| t.node != me) {
            self.send(
                t.node.clone(),
                PeerMessage::ReplicaGet {
                    op: op.clone(),
                    bucket: plan.key.bucket.clone(),
                    key: plan.key.key.clone(),
                    hinted_for: t.hinted_for.clone(),
                },
            );
        }
        let deadline = self.deadline_in(self.config.timing.request_timeout_ms);
        self.ops.insert(
            seq,
            Op::Read {
                reply_to,
                key: plan.key,
                mode: plan.mode,
                needed: plan.needed,
                targets: plan.targets,
                replies,
                failed,
                replied: false,
                deadline,
            },
        );
        self.check_read(seq, false);
    }

    /// Records a write acknowledgement (or failure) from `from` for operation `seq`.
    pub(super) fn write_ack(&mut self, seq: u64, from: &NodeId, result: Result<(), String>) {
        let Some(Op::Write {
            targets,
            acks,
            failed,
            ..
        }) = self.ops.get_mut(&seq)
        else {
            return;
        };
        if !targets.iter().any(|t| t.node == *from) {
            return;
        }
        match result {
            Ok(()) => {
                acks.insert(from.clone());
            }
            Err(_) => {
                failed.insert(from.clone());
            }
        }
        self.check_write(seq, false);
    }

    /// Answers a write once it has its quorum, or can no longer get it; forgets it once every
    /// target answered (or `expired`).
    fn check_write(&mut self, seq: u64, expired: bool) {
        let Some(Op::Write {
            reply_to,
            kind,
            needed,
            targets,
            acks,
            failed,
            dw,
            syncing,
            result,
            replied,
            ..
        }) = self.ops.get_mut(&seq)
        else {
            return;
        };
        let answered = u8::try_from(acks.len()).unwrap_or(u8::MAX);
        let durable = u8::try_from(acks.intersection(syncing).count()).unwrap_or(u8::MAX);
        let mut response = None;
        if !*replied && answered >= *needed && durable >= *dw {
            *replied = true;
            response = Some(match kind {
                Kind::Delete => ClientResponse::Delete(Ok(result.clone())),
                _ => ClientResponse::Put(Ok(result.clone())),
            });
        }
        let done = expired || acks.len() + failed.len() >= targets.len();
        if done && !*replied {
            *replied = true;
            let e = if answered >= *needed {
                RequestError::Unavailable {
                    needed: *dw,
                    answered: durable,
                    op: QuorumKind::DurableWrite,
                }
            } else {
                RequestError::Unavailable {
                    needed: *needed,
                    answered,
                    op: QuorumKind::Write,
                }
            };
            response = Some(kind.error(e));
        }
        let reply_to = reply_to.clone();
        let silent: Vec<NodeId> = targets
            .iter()
            .filter(|t| !acks.contains(&t.node) && !failed.contains(&t.node))
            .map(|t| t.node.clone())
            .collect();
        if let Some(r) = response {
            self.reply(reply_to, r);
        }
        if done {
            self.ops.remove(&seq);
            if expired {
                self.mark_down(silent);
            }
        }
    }

    /// Answers a read once it has R replies (or can no longer get them); once every target
    /// answered (or `expired`), read-repairs and forgets it.
    fn check_read(&mut self, seq: u64, expired: bool) {
        let Some(Op::Read {
            reply_to,
            mode,
            needed,
            targets,
            replies,
            failed,
            replied,
            ..
        }) = self.ops.get_mut(&seq)
        else {
            return;
        };
        let answered = u8::try_from(replies.len()).unwrap_or(u8::MAX);
        let mut response = None;
        if !*replied && answered >= *needed {
            *replied = true;
            let merged = merge_replies(*mode, replies.values());
            response = Some(ClientResponse::Get(Ok(ReadResult::from_set(&merged))));
        }
        let done = expired || replies.len() + failed.len() >= targets.len();
        if done && !*replied {
            *replied = true;
            response = Some(ClientResponse::Get(Err(RequestError::Unavailable {
                needed: *needed,
                answered,
                op: QuorumKind::Read,
            })));
        }
        let reply_to = reply_to.clone();
        if let Some(r) = response {
            self.reply(reply_to, r);
        }
        if done && let Some(op) = self.ops.remove(&seq) {
            self.finish_read(op, expired);
        }
    }

    /// Read repair after a read: sends the merge of all replies to every primary replica
    /// whose record does not descend it.
    fn finish_read(&mut self, op: Op, expired: bool) {
        let Op::Read {
            key,
            mode,
            targets,
            replies,
            failed,
            ..
        } = op
        else {
            return;
        };
        if expired {
            let silent = targets
                .iter()
                .filter(|t| !replies.contains_key(&t.node) && !failed.contains(&t.node))
                .map(|t| t.node.clone())
                .collect();
            self.mark_down(silent);
        }
        let merged = merge_replies(mode, replies.values());
        if merged.is_empty() {
            return;
        }
        let mut encoded: Option<Bytes> = None;
        for t in &targets {
            let Some(theirs) = replies.get(&t.node) else {
                continue;
            };
            let stale = theirs.as_ref().is_none_or(|s| !s.descends(&merged));
            if !stale {
                continue;
            }
            if t.node == self.config.id {
                let loc = t.location_here();
                match self.store.merge_in(&loc, key.at(), &merged, Waiter::Nobody) {
                    Ok(_) => self.emit(NodeEvent::ReadRepair {
                        replica: t.node.clone(),
                        bucket: key.bucket.clone(),
                        key: key.key.clone(),
                    }),
                    Err(e) => self.emit(NodeEvent::StorageFailed(e.to_string())),
                }
                continue;
            }
            if t.hinted_for.is_some() {
                // Substitutes keep hints, not data; handoff and anti-entropy cover them.
                continue;
            }
            let record = match &encoded {
                Some(b) => b.clone(),
                None => match record::encode(&merged) {
                    Ok(v) => {
                        let b = Bytes::from(v);
                        encoded = Some(b.clone());
                        b
                    }
                    Err(e) => {
                        self.emit(NodeEvent::StorageFailed(e.to_string()));
                        return;
                    }
                },
            };
            self.send(
                t.node.clone(),
                PeerMessage::Repair {
                    bucket: key.bucket.clone(),
                    key: key.key.clone(),
                    record,
                },
            );
            self.emit(NodeEvent::ReadRepair {
                replica: t.node.clone(),
                bucket: key.bucket.clone(),
                key: key.key.clone(),
            });
        }
    }

    /// Reports targets that left a request unanswered to the failure detector.
    fn mark_down(&mut self, nodes: Vec<NodeId>) {
        self.peers_timed_out(nodes);
    }

    /// Ends every operation past its deadline: answers those short of their quorum with
    /// `Unavailable`, read-repairs finished reads, and marks silent targets down.
    /// Starts the writes parked while this node's epoch was unconfirmed.
    pub(super) fn resume_parked(&mut self) {
        let parked: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| matches!(op, Op::Parked { .. }))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in parked {
            if let Some(Op::Parked {
                reply_to,
                request,
                hops,
                ..
            }) = self.ops.remove(&seq)
            {
                self.client_request(reply_to, request, hops);
            }
        }
    }

    pub(super) fn expire_ops(&mut self) {
        let expired: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| op.deadline() <= self.now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in expired {
            match self.ops.get(&seq) {
                Some(Op::Write { .. }) => self.check_write(seq, true),
                Some(Op::Read { .. }) => self.check_read(seq, true),
                Some(Op::Forward { .. } | Op::Parked { .. }) => match self.ops.remove(&seq) {
                    Some(Op::Forward {
                        reply_to,
                        kind,
                        to,
                        needed,
                        ..
                    }) => {
                        self.refuse_unavailable(reply_to, kind, needed);
                        self.mark_down(vec![to]);
                    }
                    Some(Op::Parked {
                        reply_to,
                        kind,
                        needed,
                        ..
                    }) => self.refuse_unavailable(reply_to, kind, needed),
                    _ => {}
                },
                None => {}
            }
        }
    }

    /// Answers `reply_to` that its request could not reach any replica (`needed` of them).
    fn refuse_unavailable(&mut self, reply_to: ReplyTo, kind: Kind, needed: u8) {
        let e = RequestError::Unavailable {
            needed,
            answered: 0,
            op: kind.quorum(),
        };
        self.reply(reply_to, kind.error(e));
    }

    /// Relays a coordinator's answer to a request this node forwarded.
    pub(super) fn forward_reply(&mut self, from: &NodeId, op: OpId, response: ClientResponse) {
        if op.origin != self.config.id {
            return;
        }
        let ours = matches!(self.ops.get(&op.seq), Some(Op::Forward { to, .. }) if to == from);
        if ours && let Some(Op::Forward { reply_to, .. }) = self.ops.remove(&op.seq) {
            self.reply(reply_to, response);
        }
    }

    /// Records a replica's answer to a read this node coordinates.
    pub(super) fn replica_get_reply(
        &mut self,
        from: NodeId,
        op: OpId,
        record: Result<Option<Bytes>, String>,
    ) {
        if op.origin != self.config.id {
            return;
        }
        let Some(Op::Read { targets, mode, .. }) = self.ops.get(&op.seq) else {
            return;
        };
        if !targets.iter().any(|t| t.node == from) {
            return;
        }
        let mode = *mode;
        let reply = match record {
            Ok(None) => Ok(None),
            Ok(Some(bytes)) => match record::decode_shared(&bytes) {
                Ok(set) if set.mode() == mode => Ok(Some(set)),
                Ok(set) => Err(format!(
                    "record in mode {:?}, bucket is {:?}",
                    set.mode(),
                    mode
                )),
                Err(e) => Err(format!("malformed record: {e}")),
            },
            Err(e) => Err(e),
        };
        if let Err(reason) = &reply {
            self.emit(NodeEvent::BadPeerMessage {
                from: from.clone(),
                reason: reason.clone(),
            });
        }
        if let Some(Op::Read {
            replies, failed, ..
        }) = self.ops.get_mut(&op.seq)
        {
            match reply {
                Ok(set) => {
                    replies.insert(from, set);
                }
                Err(_) => {
                    failed.insert(from);
                }
            }
        }
        self.check_read(op.seq, false);
    }
}

/// The merge of read replies, unbounded (the client resolves); replies of another mode are
/// left out.
fn merge_replies<'a>(
    mode: VersioningMode,
    replies: impl Iterator<Item = &'a Option<SiblingSet>>,
) -> SiblingSet {
    let mut merged = SiblingSet::new(mode);
    for set in replies.flatten() {
        // A mode mismatch leaves `merged` unchanged: that reply is ignored.
        let _ = merged.merge_unbounded(set);
    }
    merged
}

/// How a request arrived: how many times it was forwarded (0: from a client), and its
/// original form (to forward).
struct Routing {
    hops: u8,
    original: ClientRequest,
}

/// How many times a request may be forwarded: once by the node a client asked, once more by
/// a node that routes by another ring (during a ring change).
pub const MAX_FORWARD_HOPS: u8 = 2;

/// The write part of a put or delete.
#[derive(Debug, Clone)]
struct Write {
    context: Context,
    value: Option<(Bytes, ContentType)>,
    w: Option<u8>,
    dw: Option<u8>,
    return_body: bool,
}
