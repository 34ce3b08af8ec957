//! The replica side of replication: what a node does with messages from peers — store or
//! read a record for a coordinator, merge a repair or a delivered hint, answer pings — and
//! the dispatch of replies to the coordinator's operations.
//!
//! Every record received is decoded and *merged* into what is stored (read-merge-write,
//! staged for the next group commit), so duplicated or reordered messages are harmless. A
//! malformed record or an out-of-bounds key is answered with an error (when the sender waits
//! for an answer) and reported as [`NodeEvent::BadPeerMessage`]; it never panics.

use bytes::Bytes;
use engine_api::StorageEngine;

use super::coordinator::ReplyTo;
use super::store::{KeyAt, Location, Waiter};
use super::{MAX_CLIENT_KEY_LEN, Node, NodeEvent};
use crate::ids::{NodeId, Timestamp};
use crate::proto::PeerMessage;
use crate::record;

impl<E: StorageEngine> Node<E> {
    /// Handles a message from a peer.
    pub(super) fn peer_message(&mut self, from: NodeId, message: PeerMessage) {
        if !self.accepts_from(&from, &message) {
            self.emit(NodeEvent::BadPeerMessage {
                from,
                reason: "sender is not a member".into(),
            });
            return;
        }
        self.heard_from(&from);
        match message {
            PeerMessage::Forward { op, request, hops } => {
                // A duplicated forward must not write twice (that would make a sibling of a
                // write with itself): remember forwards until their sender gave up on them.
                if self.forwards_seen.contains_key(&op) {
                    return;
                }
                let until = Timestamp(
                    self.now
                        .0
                        .saturating_add(self.config.timing.forward_timeout_ms),
                );
                self.forwards_seen.insert(op.clone(), until);
                self.client_request(ReplyTo::Peer { to: from, op }, request, hops.max(1));
            }
            PeerMessage::ForwardReply { op, response } => {
                self.forward_reply(&from, op, response);
            }
            PeerMessage::ReplicaGet {
                op,
                bucket,
                key,
                hinted_for,
            } => {
                let loc = self.location_for(hinted_for);
                let record = self.replica_read(&loc, &bucket, &key);
                self.send(from, PeerMessage::ReplicaGetReply { op, record });
            }
            PeerMessage::ReplicaGetReply { op, record } => {
                self.replica_get_reply(from, op, record);
            }
            PeerMessage::ReplicaPut {
                op,
                bucket,
                key,
                record,
                hinted_for,
                sync,
            } => {
                let loc = self.location_for(hinted_for);
                let waiter = Waiter::Ack {
                    to: from.clone(),
                    op: op.clone(),
                    sync,
                };
                if let Err(reason) = self.replica_merge(&from, &loc, &bucket, &key, &record, waiter)
                {
                    self.send(
                        from,
                        PeerMessage::ReplicaPutAck {
                            op,
                            result: Err(reason),
                        },
                    );
                }
            }
            PeerMessage::ReplicaPutAck { op, result } => {
                if op.origin == self.config.id {
                    self.write_ack(op.seq, &from, result);
                }
            }
            PeerMessage::Repair {
                bucket,
                key,
                record,
            } => {
                // Errors are already reported as events; a repair has no answer.
                let _ = self.replica_merge(
                    &from,
                    &Location::Data,
                    &bucket,
                    &key,
                    &record,
                    Waiter::Nobody,
                );
            }
            PeerMessage::HintDeliver {
                id,
                bucket,
                key,
                record,
            } => {
                let waiter = Waiter::HintAck {
                    to: from.clone(),
                    id,
                };
                // Without an ack the holder keeps the hint and retries; with it, the holder
                // deletes its copy, so this one is synced first (`Waiter::needs_sync`).
                let _ = self.replica_merge(&from, &Location::Data, &bucket, &key, &record, waiter);
            }
            PeerMessage::HintAck { id } => {
                let outputs = self.handoff.acked(self.now, &from, id, &mut self.store);
                self.outputs.extend(outputs);
            }
            PeerMessage::Pong { nonce } => self.pong_received(&from, nonce),
            PeerMessage::Ping { nonce } => self.send(from, PeerMessage::Pong { nonce }),
            PeerMessage::Gossip { state } => self.gossip_received(from, state),
            PeerMessage::ReapQuery { id, keys } => self.reap_query(from, id, &keys),
            PeerMessage::ReapReply { id, held } => self.reap_reply(&from, id, &held),
            PeerMessage::Reap { keys } => self.reap_apply(&keys),
            PeerMessage::GossipPull => {
                let state = self.membership.state().clone();
                self.send(from, PeerMessage::Gossip { state });
            }
            PeerMessage::AntiEntropy(message) => self.ae_message(from, message),
            PeerMessage::TransferBatch(batch) => self.transfer_batch_received(from, batch),
            PeerMessage::TransferAck(ack) => self.transfer_ack_received(from, ack),
            PeerMessage::List(message) => self.list_message(from, message),
        }
    }

    fn location_for(&self, hinted_for: Option<NodeId>) -> Location {
        match hinted_for {
            Some(p) if p != self.config.id => Location::Hint(p),
            _ => Location::Data,
        }
    }

    /// Where (`bucket`, `key`) is stored, after the bounds every client key obeys.
    pub(super) fn key_at<'a>(&self, bucket: &'a [u8], key: &'a [u8]) -> Result<KeyAt<'a>, String> {
        if key.is_empty() || bucket.len() + key.len() > MAX_CLIENT_KEY_LEN {
            return Err(format!(
                "bucket and key of {} bytes are out of bounds",
                bucket.len() + key.len()
            ));
        }
        Ok(KeyAt {
            partition: self.config.ring.partition_of(bucket, key),
            bucket,
            key,
        })
    }

    /// A replica's read for a coordinator: the stored bytes as they are (checksum checked,
    /// not decoded: the coordinator decodes them), `None` when absent or corrupt.
    fn replica_read(
        &mut self,
        loc: &Location,
        bucket: &Bytes,
        key: &Bytes,
    ) -> Result<Option<Bytes>, String> {
        let at = self.key_at(bucket, key)?;
        match self.store.read_raw(loc, at) {
            Ok(Ok(raw)) => Ok(raw),
            Ok(Err(error)) => {
                self.emit(NodeEvent::CorruptRecord {
                    location: loc.clone(),
                    bucket: bucket.clone(),
                    key: key.clone(),
                    error,
                });
                Ok(None)
            }
            Err(e) => {
                let msg = e.to_string();
                self.emit(NodeEvent::StorageFailed(msg.clone()));
                Err(msg)
            }
        }
    }

    /// Decodes a record from `from` and merges it in at `loc`, `waiter` waiting for the
    /// commit. Errors are reported as events and returned for an error answer.
    pub(super) fn replica_merge(
        &mut self,
        from: &NodeId,
        loc: &Location,
        bucket: &Bytes,
        key: &Bytes,
        record: &Bytes,
        waiter: Waiter,
    ) -> Result<(), String> {
        let bad = |reason: String| NodeEvent::BadPeerMessage {
            from: from.clone(),
            reason,
        };
        let at = match self.key_at(bucket, key) {
            Ok(at) => at,
            Err(reason) => {
                self.emit(bad(reason.clone()));
                return Err(reason);
            }
        };
        let set = match record::decode_shared(record) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("malformed record: {e}");
                self.emit(bad(reason.clone()));
                return Err(reason);
            }
        };
        match self.store.merge_in(loc, at, &set, waiter) {
            Ok((_, corrupt)) => {
                if let Some(error) = corrupt {
                    self.emit(NodeEvent::CorruptRecord {
                        location: loc.clone(),
                        bucket: bucket.clone(),
                        key: key.clone(),
                        error,
                    });
                }
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                self.emit(NodeEvent::StorageFailed(msg.clone()));
                Err(msg)
            }
        }
    }
}
