//! What crosses the network: client requests and responses, messages between nodes, and the
//! typed errors a request can end with.
//!
//! Everything here derives serde's `Serialize`/`Deserialize` so that a driver (the server's
//! peer transport, the simulator) can frame it in any format. Types of [`crate::version`] that
//! have no serde form travel in their stable encodings:
//!
//! - a [`SiblingSet`] as the bytes of [`crate::record::encode`]
//!   (the receiver decodes and *merges* it, so duplicated or reordered messages are harmless);
//! - a [`Context`] as its opaque token ([`Context::to_token`]);
//! - a [`ContentType`] as its string, a [`VersioningMode`](crate::version::VersioningMode) as `"dvv"`, `"vclock"` or `"lww"`.
//!
//! [`Bytes`] fields travel as byte strings. These serde forms live in
//! [`crate::serde_helpers`], shared with the other modules that define messages
//! ([`crate::antientropy`], [`crate::transfer`]).
//!
//! Decoding never trusts the bytes: a malformed record, token or content type is an error
//! reply or a [`NodeEvent`](crate::node::NodeEvent), never a panic.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, Timestamp};
use crate::membership::keys::AccessKey;
use crate::membership::{BucketProps, ClusterState, MemberStatus};
use crate::serde_helpers::{bytes_serde, content_type_serde, context_serde, record_result_serde};
use crate::version::{ContentType, Context, SiblingSet};

/// Serde for [`VersioningMode`](crate::version::VersioningMode), re-exported from
/// [`crate::serde_helpers`] where it moved, for drivers that name it here
/// (`proto::mode_serde::name`).
pub use crate::serde_helpers::mode_serde;

/// A client request's handle, chosen by the driver and echoed in the
/// [`Output::Reply`](crate::node::Output::Reply) that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

/// The identity of one operation a node coordinates or forwards, unique per origin node for
/// the node's lifetime in memory: replies between nodes name it so the origin finds the
/// operation they answer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    /// The node that started the operation.
    pub origin: NodeId,
    /// Its sequence number at the origin.
    pub seq: u64,
}

/// A request from a client (HTTP, the simulator's workload) to any node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Read every causally maximal version of `key` in `bucket`.
    Get {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// Read quorum for this request, overriding the bucket's `r`.
        r: Option<u8>,
    },
    /// Write `value`, replacing the versions `context` has seen (empty context: a blind write,
    /// which becomes a sibling of whatever is there).
    Put {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// The context of the client's last read (or write) of this key.
        #[serde(with = "context_serde")]
        context: Context,
        /// The value.
        #[serde(with = "bytes_serde")]
        value: Bytes,
        /// The value's media type.
        #[serde(with = "content_type_serde")]
        content_type: ContentType,
        /// Write quorum for this request, overriding the bucket's `w`.
        w: Option<u8>,
        /// Durable-write quorum for this request (Riak's `dw`): how many of the
        /// acknowledgements must come from replicas that synced the write; overrides the
        /// bucket's durability (0: none, 1: the coordinator, more: every replica syncs).
        #[serde(default)]
        dw: Option<u8>,
        /// Return the key's versions after the write, as a read would.
        return_body: bool,
    },
    /// Delete `key`: write a tombstone replacing what `context` has seen.
    Delete {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// The context of the client's last read of this key.
        #[serde(with = "context_serde")]
        context: Context,
        /// Write quorum for this request, overriding the bucket's `w`.
        w: Option<u8>,
        /// Durable-write quorum for this request, as for a put.
        #[serde(default)]
        dw: Option<u8>,
    },
    /// The properties of a bucket (the defaults when never set).
    GetBucketProps {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
    },
    /// Sets the properties of a bucket, in the cluster state: the change spreads to every
    /// node by gossip (a node that has not heard of it yet still uses the old properties).
    SetBucketProps {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The new properties.
        props: BucketProps,
    },
    /// The cluster's properties for buckets without their own (the founders' defaults, or
    /// this node's configured default when the cluster state has none).
    GetDefaultProps,
    /// Sets the cluster's properties for buckets without their own, in the cluster state
    /// (gossiped like [`ClientRequest::SetBucketProps`]): how a cluster grown from a lone node
    /// (n = 1) moves to n = 3 once it has the nodes.
    SetDefaultProps {
        /// The new defaults.
        props: BucketProps,
    },
    /// Admin: join the cluster `seed` belongs to. The node forgets the cluster it knew (a
    /// fresh node, or a cluster of one) and gossips to `seed` as Joining; the claimant
    /// admits it into the ring. Refused to a member of a ring shared with other nodes
    /// (leave first). Answered at once with the node's status (Joining).
    Join {
        /// A member of the cluster to join.
        seed: NodeId,
    },
    /// Admin: this node leaves the cluster: it becomes Leaving, the claimant takes it out
    /// of the ring, and once its partitions are handed off it becomes Exiting. Answered at
    /// once with the node's status (Leaving).
    Leave,
    /// Admin: membership, health, ring and hints as this node sees them ([`AdminInfo`]).
    Status,
    /// Admin: adds an access key to the cluster state (gossiped to every node). The server
    /// made the secret and sends only its digest.
    CreateKey {
        /// The key's id.
        id: String,
        /// The key (digest, permissions, creation time).
        key: AccessKey,
    },
    /// Admin: revokes an access key, everywhere (the revocation is gossiped and wins).
    RevokeKey {
        /// The key's id.
        id: String,
    },
    /// Admin: every access key, revoked ones included (digests, never secrets).
    ListKeys,
    /// One bounded slice of a key or bucket listing ([`crate::listing`]), read from a live
    /// replica of its partition (this node when it is one).
    ListSlice(crate::listing::SliceRequest),
}

/// The answer to a [`ClientRequest`], one variant per kind of request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientResponse {
    /// Answer to [`ClientRequest::Get`].
    Get(Result<ReadResult, RequestError>),
    /// Answer to [`ClientRequest::Put`].
    Put(Result<WriteResult, RequestError>),
    /// Answer to [`ClientRequest::Delete`].
    Delete(Result<WriteResult, RequestError>),
    /// Answer to [`ClientRequest::GetBucketProps`], [`ClientRequest::SetBucketProps`],
    /// [`ClientRequest::GetDefaultProps`] and [`ClientRequest::SetDefaultProps`].
    BucketProps(Result<BucketProps, RequestError>),
    /// Answer to the admin requests.
    Admin(Result<AdminInfo, RequestError>),
    /// Answer to [`ClientRequest::CreateKey`], [`ClientRequest::RevokeKey`] and
    /// [`ClientRequest::ListKeys`]: the keys after the change, by id.
    Keys(Result<Vec<(String, AccessKey)>, RequestError>),
    /// Answer to [`ClientRequest::ListSlice`].
    ListSlice(Result<crate::listing::Slice, RequestError>),
}

/// One version of a key as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSibling {
    /// The value (empty for a tombstone).
    #[serde(with = "bytes_serde")]
    pub value: Bytes,
    /// Its media type.
    #[serde(with = "content_type_serde")]
    pub content_type: ContentType,
    /// When the coordinator of its write accepted it (that node's clock).
    pub last_modified: Timestamp,
    /// True for a tombstone: the version is a delete.
    pub deleted: bool,
}

/// What a read returns: every causally maximal version and one context covering them all.
///
/// No siblings: the key was never written (as far as the replicas that answered know).
/// Only tombstones: the key was deleted; the context still matters (a write with it
/// replaces the tombstones instead of becoming their sibling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResult {
    /// The versions, values and tombstones, in a deterministic order.
    pub siblings: Vec<ReadSibling>,
    /// The context to send back with the next write: it replaces every sibling returned.
    #[serde(with = "context_serde")]
    pub context: Context,
}

impl ReadResult {
    /// The result for a sibling set: all its siblings and its [`SiblingSet::context`].
    pub fn from_set(set: &SiblingSet) -> Self {
        ReadResult {
            siblings: set
                .siblings()
                .map(|s| ReadSibling {
                    value: s.bytes().clone(),
                    content_type: s.content_type().clone(),
                    last_modified: s.timestamp(),
                    deleted: s.is_tombstone(),
                })
                .collect(),
            context: set.context(),
        }
    }

    /// True when there is no version at all: the key was never written.
    pub fn is_absent(&self) -> bool {
        self.siblings.is_empty()
    }

    /// True when there are versions and all are tombstones: the key reads as deleted.
    pub fn is_deleted(&self) -> bool {
        !self.siblings.is_empty() && self.siblings.iter().all(|s| s.deleted)
    }

    /// True when the read found no value (absent or deleted): HTTP's 404.
    pub fn is_not_found(&self) -> bool {
        self.siblings.iter().all(|s| s.deleted)
    }

    /// The live values, tombstones left out.
    pub fn values(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.siblings
            .iter()
            .filter(|s| !s.deleted)
            .map(|s| &s.value)
    }
}

/// What a successful put or delete returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResult {
    /// The context of the new version: writing again with it replaces this write (and what
    /// the request's context had seen), but no version the client never saw.
    #[serde(with = "context_serde")]
    pub context: Context,
    /// The key's versions at the coordinator after the write, when `return_body` was asked.
    pub body: Option<ReadResult>,
}

/// What a node reports about itself to an admin request (`Join`, `Leave`, `Status`: each
/// answers with the state after it acted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminInfo {
    /// The node answering.
    pub node: NodeId,
    /// Its own membership status (`None` only if it is missing from its own state).
    pub status: Option<MemberStatus>,
    /// Every member it knows, by node id.
    pub members: Vec<MemberSummary>,
    /// The version of the ring it routes with (0: no ring yet, e.g. while joining).
    pub ring_version: u64,
    /// The digest of that ring ([`Ring::digest`](crate::ring::Ring::digest)), if any: nodes
    /// agree on the ring when they report equal digests.
    pub ring_digest: Option<u64>,
    /// The member that decides ring changes, as this node sees it.
    pub claimant: Option<NodeId>,
    /// Hints this node keeps for other nodes (committed), by intended node.
    pub hints_pending: BTreeMap<NodeId, usize>,
    /// Outgoing partition transfers not confirmed yet (a leave completes at 0).
    pub transfers_pending: Option<usize>,
    /// Every outgoing partition transfer: partition, receiver, records acknowledged, done.
    #[serde(default)]
    pub transfers: Vec<crate::transfer::TransferProgress>,
    /// Operations it is coordinating or forwarding right now.
    pub open_operations: usize,
    /// Writes staged for the next group commit.
    pub pending_writes: usize,
}

/// One member in an [`AdminInfo`]: its status in the cluster state and its health as this
/// node's failure detector sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSummary {
    /// The member.
    pub node: NodeId,
    /// Its life-cycle status.
    pub status: MemberStatus,
    /// Its address (opaque, for drivers).
    pub address: String,
    /// How clients reach it (opaque, for drivers; empty: not announced).
    pub client: String,
    /// True unless this node's failure detector considers it down.
    pub up: bool,
    /// Consecutive unanswered requests or pings.
    pub consecutive_timeouts: u32,
    /// When a message from it last arrived here.
    pub last_heard: Option<Timestamp>,
}

/// Which quorum a request failed to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuorumKind {
    /// The read quorum R.
    Read,
    /// The write quorum W.
    Write,
    /// The durable-write quorum DW: acknowledgements from replicas that synced.
    DurableWrite,
}

impl std::fmt::Display for QuorumKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuorumKind::Read => "read",
            QuorumKind::Write => "write",
            QuorumKind::DurableWrite => "durable write",
        })
    }
}

/// Why a client request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RequestError {
    /// Fewer replicas than the quorum answered before the request timed out (or every
    /// reachable replica answered and there were too few).
    #[error("{op} quorum not met: needed {needed}, {answered} answered")]
    Unavailable {
        /// The quorum (R or W).
        needed: u8,
        /// How many replicas answered successfully.
        answered: u8,
        /// Read or write.
        op: QuorumKind,
    },
    /// The request itself is wrong: bad N/R/W, key too long, value too large, unsupported.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The write would leave more siblings than the bucket allows: read, resolve, and write
    /// with the merged context.
    #[error("too many siblings (limit {limit})")]
    TooManySiblings {
        /// The bucket's cap.
        limit: usize,
    },
    /// The coordinator's storage engine failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// The node refuses work to protect itself (admission control).
    #[error("overloaded")]
    Overloaded,
}

/// A message between nodes.
///
/// Records are encoded sibling sets ([`crate::record::encode`]); the receiver merges them into
/// what it holds. Variants for gossip, transfers and anti-entropy are added by those modules
/// (hence `non_exhaustive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerMessage {
    /// A client request handed to a node of the key's preference list, which coordinates it
    /// and answers with [`PeerMessage::ForwardReply`].
    Forward {
        /// The forwarding node's operation.
        op: OpId,
        /// The client's request.
        request: ClientRequest,
        /// How many times the request has been forwarded, this time included (1 from the
        /// node a client asked); bounded by
        /// [`MAX_FORWARD_HOPS`](crate::node::MAX_FORWARD_HOPS).
        hops: u8,
    },
    /// The coordinator's answer to a [`PeerMessage::Forward`].
    ForwardReply {
        /// The forwarding node's operation.
        op: OpId,
        /// The answer to relay to the client.
        response: ClientResponse,
    },
    /// A coordinator asks a replica for its record of a key.
    ReplicaGet {
        /// The coordinator's operation.
        op: OpId,
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// `Some(primary)` when the receiver stands in for `primary` (read its hint).
        hinted_for: Option<NodeId>,
    },
    /// A replica's record: `Ok(None)` when it has none (or its copy was unreadable).
    ReplicaGetReply {
        /// The coordinator's operation.
        op: OpId,
        /// The encoded record, or why the replica could not read it.
        #[serde(with = "record_result_serde")]
        record: Result<Option<Bytes>, String>,
    },
    /// A coordinator sends a replica the new record of a key, to merge and store durably.
    ReplicaPut {
        /// The coordinator's operation.
        op: OpId,
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// The encoded record.
        #[serde(with = "bytes_serde")]
        record: Bytes,
        /// `Some(primary)` when the receiver stands in for `primary`: it keeps the record as a
        /// hint for that node, not as its own data.
        hinted_for: Option<NodeId>,
        /// Sync the record to stable storage before acknowledging; otherwise write it
        /// buffered (synced within the receiver's flush interval).
        sync: bool,
    },
    /// A replica acknowledges a [`PeerMessage::ReplicaPut`] once the record is written (synced
    /// when asked), or says why it failed.
    ReplicaPutAck {
        /// The coordinator's operation.
        op: OpId,
        /// `Ok` once durable.
        result: Result<(), String>,
    },
    /// Read repair (or any push of a newer record): merge it in; no answer expected.
    Repair {
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// The encoded record.
        #[serde(with = "bytes_serde")]
        record: Bytes,
    },
    /// A hint handed back to the node it was meant for.
    HintDeliver {
        /// The sender's id for the hint, echoed in the ack.
        id: u64,
        /// The bucket.
        #[serde(with = "bytes_serde")]
        bucket: Bytes,
        /// The key.
        #[serde(with = "bytes_serde")]
        key: Bytes,
        /// The encoded record.
        #[serde(with = "bytes_serde")]
        record: Bytes,
    },
    /// The receiver of a [`PeerMessage::HintDeliver`] stored it durably.
    HintAck {
        /// The hint's id.
        id: u64,
    },
    /// Liveness probe.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// A Merkle exchange between replicas of a partition (anti-entropy, paper §4.7); the
    /// protocol is in [`crate::antientropy::exchange`].
    AntiEntropy(crate::antientropy::AeMessage),
    /// A batch of a partition's records streamed to a new holder (paper §4.9); the protocol
    /// is in [`crate::transfer`].
    TransferBatch(crate::transfer::TransferBatch),
    /// The receiver of a [`PeerMessage::TransferBatch`] holds its records durably.
    TransferAck(crate::transfer::TransferAck),
    /// The sender's cluster state (membership, ring, bucket properties), sent to a random
    /// peer every gossip interval and merged by the receiver, which answers with its own
    /// state when the sender lacks something (push-pull). Accepted from unknown nodes: this
    /// is how a joining node reaches its seed.
    Gossip {
        /// The state.
        state: ClusterState,
    },
    /// Tombstone reaping: the first replica of some keys asks another replica whether it
    /// holds exactly these tombstones; answered with [`PeerMessage::ReapReply`].
    ReapQuery {
        /// The round, echoed in the reply.
        id: u64,
        /// The keys and the digests of their tombstone records.
        keys: Vec<ReapKey>,
    },
    /// Answer to [`PeerMessage::ReapQuery`]: for each key in order, whether the receiver
    /// holds a record with that digest.
    ReapReply {
        /// The round.
        id: u64,
        /// One flag per key asked.
        held: Vec<bool>,
    },
    /// Every replica holds these tombstones: delete each where the record still has that
    /// digest (a record changed since is kept).
    Reap {
        /// The keys and digests.
        keys: Vec<ReapKey>,
    },
    /// Asks for the receiver's cluster state, answered with [`PeerMessage::Gossip`]: sent by a
    /// node that started without a stored epoch, to learn which epoch the cluster last saw it
    /// use before it coordinates writes.
    GossipPull,
    /// A slice of a listing asked of a replica, and its answer ([`crate::listing`]).
    List(crate::listing::ListMessage),
}

/// A key proposed for tombstone reaping, with the digest of its record
/// ([`record_digest`](crate::node::store::record_digest) of the encoded record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapKey {
    /// The bucket.
    #[serde(with = "bytes_serde")]
    pub bucket: Bytes,
    /// The key.
    #[serde(with = "bytes_serde")]
    pub key: Bytes,
    /// Digest of the tombstone record.
    pub digest: u64,
}
