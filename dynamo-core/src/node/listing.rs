//! Listing slices ([`crate::listing`]): which replica reads a slice, reading it here, asking
//! a peer for it, and retrying with the next live replica when the one asked does not
//! answer in time.
//!
//! A slice is served from this node's copy of the partition when it is one of the
//! partition's replicas (no message at all), else from the first replica of the preference
//! list that the failure detector considers up. One slice reads at most
//! [`MAX_SLICE`](crate::listing::MAX_SLICE) records, so serving one holds the node for
//! a bounded time; the driver produces a page from as many slices as it needs, and the node
//! serves its other inputs between them.

use std::collections::BTreeMap;

use engine_api::StorageEngine;

use super::coordinator::ReplyTo;
use super::{KEYSPACES, MAX_CLIENT_KEY_LEN, Node, Output};
use crate::ids::{NodeId, Timestamp};
use crate::listing::{ListMessage, MAX_SLICE, Scope, Slice, SliceRequest};
use crate::proto::{ClientResponse, OpId, PeerMessage, QuorumKind, RequestError};

/// Slices asked of other replicas, awaiting their answer.
#[derive(Debug, Default)]
pub(super) struct Listings {
    next_seq: u64,
    pending: BTreeMap<u64, Pending>,
}

#[derive(Debug)]
struct Pending {
    reply_to: ReplyTo,
    request: SliceRequest,
    /// The replica asked.
    asked: NodeId,
    /// The replicas to try next, in order.
    rest: Vec<NodeId>,
    deadline: Timestamp,
}

impl Listings {
    /// The earliest deadline of a slice in flight.
    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        self.pending.values().map(|p| p.deadline).min()
    }
}

impl<E: StorageEngine> Node<E> {
    /// A client asks for one slice of a listing.
    pub(super) fn list_slice(&mut self, reply_to: ReplyTo, request: SliceRequest) {
        let candidates = match self.list_check(&request) {
            Ok(c) => c,
            Err(e) => return self.list_answer(reply_to, Err(e)),
        };
        self.list_try(reply_to, request, candidates);
    }

    /// Checks a slice request and answers the replicas to read it from, in order.
    fn list_check(&self, request: &SliceRequest) -> Result<Vec<NodeId>, RequestError> {
        let partitions = self.config.ring.partitions();
        if request.partition.0 >= partitions {
            return Err(RequestError::InvalidRequest(format!(
                "partition {} out of range (the ring has {partitions})",
                request.partition.0
            )));
        }
        if request.max == 0 || request.max > MAX_SLICE {
            return Err(RequestError::InvalidRequest(format!(
                "a slice reads 1 to {MAX_SLICE} records"
            )));
        }
        let n = match &request.scope {
            Scope::Keys { bucket } => {
                if bucket.is_empty() || bucket.len() >= MAX_CLIENT_KEY_LEN {
                    return Err(RequestError::InvalidRequest("bad bucket length".into()));
                }
                self.bucket_props(bucket).n
            }
            Scope::Buckets => self.default_props().n,
        };
        let ring = self.ring().ok_or(RequestError::Unavailable {
            needed: 1,
            answered: 0,
            op: QuorumKind::Read,
        })?;
        let me = &self.config.id;
        let list = ring.preference_list(request.partition, usize::from(n.max(1)));
        let mut candidates: Vec<NodeId> = Vec::with_capacity(list.len());
        if list.contains(&me) {
            candidates.push(me.clone());
        }
        candidates.extend(
            list.into_iter()
                .filter(|node| *node != me && self.failure.is_up(node))
                .cloned(),
        );
        Ok(candidates)
    }

    /// Reads the slice from the first of `candidates`: here, or by asking that replica.
    fn list_try(&mut self, reply_to: ReplyTo, request: SliceRequest, mut candidates: Vec<NodeId>) {
        if candidates.is_empty() {
            return self.list_answer(
                reply_to,
                Err(RequestError::Unavailable {
                    needed: 1,
                    answered: 0,
                    op: QuorumKind::Read,
                }),
            );
        }
        let asked = candidates.remove(0);
        if asked == self.config.id {
            let result = self.list_local(&request).map_err(RequestError::Storage);
            return self.list_answer(reply_to, result);
        }
        let seq = self.config.shard.tag(self.listings.next_seq);
        self.listings.next_seq += 1;
        let op = OpId {
            origin: self.config.id.clone(),
            seq,
        };
        let deadline = Timestamp(
            self.now
                .0
                .saturating_add(self.config.timing.request_timeout_ms),
        );
        self.failure.request_sent(&asked, self.now);
        self.outputs.push_back(Output::Send {
            to: asked.clone(),
            message: PeerMessage::List(ListMessage::Request {
                op,
                slice: request.clone(),
            }),
        });
        self.listings.pending.insert(
            seq,
            Pending {
                reply_to,
                request,
                asked,
                rest: candidates,
                deadline,
            },
        );
    }

    /// Reads a slice of this node's copy of the partition.
    fn list_local(&self, request: &SliceRequest) -> Result<Slice, String> {
        let engine = self.store.engine();
        let data = engine.keyspace(KEYSPACES[0]).map_err(|e| e.to_string())?;
        let snapshot = engine.snapshot().map_err(|e| e.to_string())?;
        crate::listing::scan(&snapshot, data, request).map_err(|e| e.to_string())
    }

    fn list_answer(&mut self, reply_to: ReplyTo, result: Result<Slice, RequestError>) {
        let response = ClientResponse::ListSlice(result);
        match reply_to {
            ReplyTo::Client(id) => self.outputs.push_back(Output::Reply { id, response }),
            ReplyTo::Peer { to, op } => self.send(to, PeerMessage::ForwardReply { op, response }),
        }
    }

    /// A listing message from a peer.
    pub(super) fn list_message(&mut self, from: NodeId, message: ListMessage) {
        match message {
            ListMessage::Request { op, slice } => {
                // Checked as a client's request, so that a peer cannot ask for more.
                let result = match self.list_check(&slice) {
                    Ok(_) => self.list_local(&slice),
                    Err(e) => Err(e.to_string()),
                };
                self.send(from, PeerMessage::List(ListMessage::Reply { op, result }));
            }
            ListMessage::Reply { op, result } => {
                if op.origin != self.config.id {
                    return;
                }
                // Only the replica asked may answer (a late answer of one given up on is
                // dropped).
                if self
                    .listings
                    .pending
                    .get(&op.seq)
                    .is_none_or(|p| p.asked != from)
                {
                    return;
                }
                let Some(pending) = self.listings.pending.remove(&op.seq) else {
                    return;
                };
                match result {
                    Ok(slice) => self.list_answer(pending.reply_to, Ok(slice)),
                    // That replica could not read it: the next one may.
                    Err(e) if pending.rest.is_empty() => {
                        self.list_answer(pending.reply_to, Err(RequestError::Storage(e)));
                    }
                    Err(_) => self.list_try(pending.reply_to, pending.request, pending.rest),
                }
            }
        }
    }

    /// Tick: slices whose replica did not answer in time go to the next live replica.
    pub(super) fn list_tick(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .listings
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in expired {
            let Some(p) = self.listings.pending.remove(&seq) else {
                continue;
            };
            self.peers_timed_out(vec![p.asked.clone()]);
            let rest: Vec<NodeId> = p
                .rest
                .into_iter()
                .filter(|n| self.failure.is_up(n))
                .collect();
            self.list_try(p.reply_to, p.request, rest);
        }
    }
}
