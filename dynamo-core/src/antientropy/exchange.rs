//! Merkle exchanges between two replicas of a partition (paper §4.7): the protocol, its
//! messages, and the initiator's state machine. The node glue (choosing partitions and peers,
//! reading and merging records, timers) lives in the node; everything here is pure.
//!
//! # Protocol
//!
//! An exchange is driven by its *initiator*; the responder keeps no state (every request is
//! answered from its current Merkle tree and store), and every request is idempotent. Each
//! request carries a fresh id from the initiator's counter (its `exchange` field; the
//! exchange itself is numbered from the same counter) and the partition; the reply echoes it,
//! and a reply whose id or sender is not the request in flight is ignored (a late duplicate,
//! a reply to an abandoned exchange). A request unanswered for
//! [`AntiEntropyConfig::timeout_ms`] is sent again with a new id, up to
//! [`AntiEntropyConfig::max_retries`] times, then the exchange is abandoned: message loss
//! costs a retransmission, not the whole exchange.
//!
//! 1. **Descent.** The initiator sends [`AeMessage::Hashes`]: its hashes of some inner tree
//!    nodes (first the root alone). The responder answers [`AeMessage::Children`] with *its*
//!    hashes of the children of every node whose hash differs on its side (nothing when they
//!    all match: equal roots end the exchange after two messages). The initiator compares
//!    those children with its own: equal ones are dropped, differing inner nodes are sent in
//!    the next `Hashes`, differing leaves (buckets) are kept. Only differing subtrees are ever
//!    described, level by level: with `d` differing keys in a tree of fanout `f` and depth
//!    `h`, about `2·h` messages and `(f + 1)·d·h` hashes, whatever the number of keys.
//! 2. **Keys.** The initiator sends [`AeMessage::Keys`] with differing buckets; the responder
//!    answers [`AeMessage::KeyList`]: (bucket, key, record digest) of each of its keys in those
//!    buckets. The initiator lists its own keys of the same buckets and compares: a key only
//!    it has, or whose digest differs, is pushed; a key only the responder has, or whose
//!    digest differs, is pulled.
//! 3. **Sync.** [`AeMessage::Push`] carries records for the responder to merge and the keys
//!    the initiator wants; [`AeMessage::PushReply`] carries those records back for the
//!    initiator to merge. Record merge is commutative, associative and idempotent, so
//!    duplicated, reordered or partially lost pushes are harmless: what is left unrepaired is
//!    found again by the next exchange. Both sides write through the group-commit path, which
//!    keeps their Merkle trees current.
//!
//! A busy responder (too many open client operations) answers [`AeMessage::Busy`], and one
//! that does not replicate the partition by its own ring (rings differ for a while when
//! membership changes) answers [`AeMessage::NotReplica`] and merges nothing; the initiator
//! gives up this round.
//!
//! # Throttling (paper §6.5)
//!
//! Foreground requests come first: a node runs at most one exchange at a time, starts one
//! at most every `anti_entropy_interval_ms`, defers it while it coordinates more than
//! [`AntiEntropyConfig::max_open_operations`] operations, bounds every message (hashes,
//! buckets, keys) and the keys repaired per exchange (the rest waits for the next exchange),
//! and abandons an exchange whose peer stays silent for
//! [`AntiEntropyConfig::timeout_ms`].
//!
//! # Cost of listing a bucket
//!
//! The tree stores hashes only, so finding the keys of a bucket scans the whole partition
//! (one range scan per `Keys` request on each side, keys filtered by bucket): O(keys of the
//! partition) reads per round of up to `max_buckets_per_message` buckets. An index by bucket
//! would make it O(keys of the bucket); the scan is bounded by the partition's size and
//! happens only for partitions that differ.
//!
//! # Tombstones
//!
//! Tombstones are ordinary records here: an exchange spreads them like any other version,
//! so a delete reaches every replica. They are never reaped (removed) yet, which is the
//! safe side of "reaped only after a delay and once every replica holds them". Reaping needs
//! more than a confirm round among the replicas:
//! - removing a tombstone before every replica holds it lets an older live copy (a stale
//!   replica, a late hint) come back — hence the delay and the all-replicas confirmation;
//! - removing it also removes the key's causal history: the next write to the key starts
//!   its dots again from 1 under the same actor and epoch, and any replica (or hint) still
//!   holding the old tombstone, whose history already covers those dots, would silently
//!   drop that new, acknowledged write (the tombstone form of Riak's KV679). A reap must
//!   therefore keep what the key's next dots must exceed (a small per-key marker holding the
//!   causal context, or a per-node counter floor), not just delete the record.

use std::cmp::Ordering;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::merkle::{MerkleTree, NodeIndex};
use crate::ids::{NodeId, Timestamp};
use crate::record::KeyedRecord;
use crate::ring::PartitionId;
use crate::serde_helpers::bytes_serde;

/// Limits of anti-entropy; the interval between exchanges is
/// [`Timing::anti_entropy_interval_ms`](crate::node::Timing::anti_entropy_interval_ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AntiEntropyConfig {
    /// A request unanswered for this long is sent again (or the exchange abandoned).
    pub timeout_ms: u64,
    /// Retransmissions of one request before the exchange is abandoned.
    pub max_retries: u32,
    /// Most tree hashes the initiator sends in one `Hashes` message (the reply holds at most
    /// `fanout` times as many).
    pub max_hashes_per_message: usize,
    /// Most buckets asked in one `Keys` message.
    pub max_buckets_per_message: usize,
    /// Most records (pushed plus wanted) in one `Push` message.
    pub max_keys_per_message: usize,
    /// Most differing keys one exchange repairs; the rest waits for the next exchange.
    pub max_keys_per_exchange: usize,
    /// An exchange is deferred (and a responder answers `Busy`) while the node coordinates
    /// more operations than this.
    pub max_open_operations: usize,
}

impl Default for AntiEntropyConfig {
    fn default() -> Self {
        AntiEntropyConfig {
            timeout_ms: 2_000,
            max_retries: 2,
            max_hashes_per_message: 256,
            max_buckets_per_message: 64,
            max_keys_per_message: 64,
            max_keys_per_exchange: 1_024,
            max_open_operations: 32,
        }
    }
}

/// Most tree nodes or buckets a responder looks at in one request, whatever the initiator
/// asks (a bound on the work a peer can demand with one message).
pub const MAX_REQUEST_ITEMS: usize = 4_096;

/// A key and the digest of its stored record, as listed by [`AeMessage::KeyList`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyDigest {
    /// The bucket.
    #[serde(with = "bytes_serde")]
    pub bucket: Bytes,
    /// The key.
    #[serde(with = "bytes_serde")]
    pub key: Bytes,
    /// [`record_digest`](crate::node::store::record_digest) of the stored bytes.
    pub digest: u64,
}

/// A key named in a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AeKey {
    /// The bucket.
    #[serde(with = "bytes_serde")]
    pub bucket: Bytes,
    /// The key.
    #[serde(with = "bytes_serde")]
    pub key: Bytes,
}

/// The messages of an exchange; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AeMessage {
    /// Initiator → responder: my hashes of these inner nodes; send me your children of those
    /// that differ.
    Hashes {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// (node, the initiator's hash).
        nodes: Vec<(NodeIndex, u64)>,
    },
    /// Responder → initiator: its hashes of the children of the nodes that differed.
    Children {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// (child, the responder's hash).
        hashes: Vec<(NodeIndex, u64)>,
    },
    /// Initiator → responder: list your keys in these buckets.
    Keys {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// Leaf indexes.
        buckets: Vec<u32>,
    },
    /// Responder → initiator: its keys in the buckets asked, with their record digests.
    KeyList {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// The keys.
        keys: Vec<KeyDigest>,
    },
    /// Initiator → responder: merge these records; send me yours of the wanted keys.
    Push {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// Records to merge.
        records: Vec<KeyedRecord>,
        /// Keys whose records the initiator wants.
        want: Vec<AeKey>,
    },
    /// Responder → initiator: the wanted records it holds (absent or unreadable ones are
    /// left out).
    PushReply {
        /// The exchange.
        exchange: u64,
        /// The partition compared.
        partition: PartitionId,
        /// Records to merge.
        records: Vec<KeyedRecord>,
    },
    /// Responder → initiator: too busy with foreground work; try later.
    Busy {
        /// The exchange.
        exchange: u64,
    },
    /// Responder → initiator: by its ring, it does not replicate the partition (rings differ
    /// while membership changes); it neither answers nor merges records for it.
    NotReplica {
        /// The exchange.
        exchange: u64,
    },
}

impl AeMessage {
    /// The exchange the message belongs to.
    pub fn exchange(&self) -> u64 {
        match self {
            AeMessage::Hashes { exchange, .. }
            | AeMessage::Children { exchange, .. }
            | AeMessage::Keys { exchange, .. }
            | AeMessage::KeyList { exchange, .. }
            | AeMessage::Push { exchange, .. }
            | AeMessage::PushReply { exchange, .. }
            | AeMessage::Busy { exchange }
            | AeMessage::NotReplica { exchange } => *exchange,
        }
    }

    /// Tree hashes carried (for the cost figures).
    pub fn hashes(&self) -> usize {
        match self {
            AeMessage::Hashes { nodes, .. } => nodes.len(),
            AeMessage::Children { hashes, .. } => hashes.len(),
            _ => 0,
        }
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeOutcome {
    /// Every difference found was synced (both trees were equal if `keys_repaired` is 0).
    Completed,
    /// The per-exchange key budget ran out; the rest waits for the next exchange.
    Truncated,
    /// The peer was silent past the timeout.
    TimedOut,
    /// The peer was too busy.
    PeerBusy,
    /// The peer does not replicate the partition by its ring.
    NotReplica,
}

/// What one exchange did: reported as [`NodeEvent::AntiEntropy`](crate::node::NodeEvent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AeReport {
    /// The exchange id.
    pub exchange: u64,
    /// The partition compared.
    pub partition: PartitionId,
    /// The other replica.
    pub peer: NodeId,
    /// How it ended.
    pub outcome: AeOutcome,
    /// Distinct keys found different (pushed, pulled, or both).
    pub keys_repaired: usize,
    /// Records sent to the peer.
    pub records_pushed: usize,
    /// Records received from the peer.
    pub records_pulled: usize,
    /// Messages sent and received by the initiator.
    pub messages: usize,
    /// Tree hashes sent and received.
    pub hashes: usize,
    /// Keys listed by the peer and locally.
    pub keys_listed: usize,
}

/// Counters of a node's anti-entropy since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AeStats {
    /// Exchanges started by this node.
    pub started: u64,
    /// Exchanges that ended `Completed` or `Truncated`.
    pub completed: u64,
    /// Exchanges abandoned (timeout or busy peer).
    pub abandoned: u64,
    /// Requests sent again after a timeout.
    pub retransmitted: u64,
    /// Times an exchange was due but deferred for foreground work.
    pub deferred: u64,
    /// Replies ignored because they did not belong to the exchange in flight.
    pub stale_replies: u64,
    /// Requests answered `Busy` or `NotReplica` as a responder.
    pub refused: u64,
    /// Requests answered as a responder.
    pub served: u64,
    /// Keys found different by exchanges this node initiated.
    pub keys_repaired: u64,
}

/// What the initiator does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these hashes ([`AeMessage::Hashes`]).
    Hashes(Vec<(NodeIndex, u64)>),
    /// Ask for the keys of these buckets ([`AeMessage::Keys`]).
    Keys(Vec<u32>),
    /// Send these records and ask for those ([`AeMessage::Push`]); the node reads the records.
    Push {
        /// Keys whose local records to send.
        push: Vec<AeKey>,
        /// Keys whose records to ask for.
        want: Vec<AeKey>,
    },
    /// The exchange is over.
    Done(AeOutcome),
}

/// What the initiator waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Children,
    KeyList,
    PushReply,
}

/// The initiator's side of one exchange; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Exchange {
    id: u64,
    /// Id of the request in flight (the id its reply must echo).
    request: u64,
    /// The request in flight, for retransmission.
    last: Option<AeMessage>,
    retries: u32,
    partition: PartitionId,
    peer: NodeId,
    deadline: Timestamp,
    awaiting: Awaiting,
    /// Inner nodes known to differ, whose hashes are still to send.
    compare: Vec<NodeIndex>,
    /// Differing buckets not yet listed.
    buckets: Vec<u32>,
    /// Buckets of the `Keys` request in flight.
    asked: Vec<u32>,
    push: Vec<AeKey>,
    pull: Vec<AeKey>,
    budget: usize,
    truncated: bool,
    report: AeReport,
}

impl Exchange {
    /// Starts exchange `id` of `partition` with `peer`; returns it and its first step (the
    /// root's hash). `deadline` is when to give up if the peer stays silent.
    pub fn start(
        id: u64,
        partition: PartitionId,
        peer: NodeId,
        tree: &MerkleTree,
        deadline: Timestamp,
        config: &AntiEntropyConfig,
    ) -> (Exchange, Step) {
        let root = NodeIndex { level: 0, index: 0 };
        let ex = Exchange {
            id,
            request: id,
            last: None,
            retries: 0,
            partition,
            peer: peer.clone(),
            deadline,
            awaiting: Awaiting::Children,
            compare: Vec::new(),
            buckets: Vec::new(),
            asked: Vec::new(),
            push: Vec::new(),
            pull: Vec::new(),
            budget: config.max_keys_per_exchange.max(1),
            truncated: false,
            report: AeReport {
                exchange: id,
                partition,
                peer,
                outcome: AeOutcome::Completed,
                keys_repaired: 0,
                records_pushed: 0,
                records_pulled: 0,
                messages: 0,
                hashes: 0,
                keys_listed: 0,
            },
        };
        (ex, Step::Hashes(vec![(root, tree.root())]))
    }

    /// The exchange id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The partition compared.
    pub fn partition(&self) -> PartitionId {
        self.partition
    }

    /// The other replica.
    pub fn peer(&self) -> &NodeId {
        &self.peer
    }

    /// When to give up on a silent peer.
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// Records `message` (whose id is `request`) as the request in flight until `deadline`.
    pub fn sent(&mut self, request: u64, message: AeMessage, deadline: Timestamp) {
        self.count(&message);
        self.request = request;
        self.last = Some(message);
        self.deadline = deadline;
    }

    /// The request in flight timed out: the request to send again (give it the fresh id
    /// `request` and record it with [`sent`](Self::sent)), or `None` when the retries are
    /// used up and the exchange must be abandoned.
    pub fn retransmit(&mut self, request: u64, config: &AntiEntropyConfig) -> Option<AeMessage> {
        if self.retries >= config.max_retries {
            return None;
        }
        self.retries += 1;
        let mut m = self.last.clone()?;
        match &mut m {
            AeMessage::Hashes { exchange, .. }
            | AeMessage::Keys { exchange, .. }
            | AeMessage::Push { exchange, .. } => *exchange = request,
            _ => return None,
        }
        Some(m)
    }

    /// Buckets of the `Keys` request in flight: the node lists its own keys of these.
    pub fn asked_buckets(&self) -> &[u32] {
        &self.asked
    }

    /// The report so far (final once [`Step::Done`] was returned).
    pub fn report(&self) -> &AeReport {
        &self.report
    }

    /// Ends the report with `outcome` and hands it over.
    pub fn finish(mut self, outcome: AeOutcome) -> AeReport {
        self.report.outcome = outcome;
        self.report
    }

    /// Counts a message sent or received, with its hashes.
    pub fn count(&mut self, message: &AeMessage) {
        self.report.messages += 1;
        self.report.hashes += message.hashes();
    }

    /// Counts records sent.
    pub fn pushed(&mut self, records: usize) {
        self.report.records_pushed += records;
    }

    /// True when `message` from `from` is the reply this exchange waits for; if so, the
    /// request in flight is answered (its retries start again from 0 for the next one).
    pub fn expects(&mut self, from: &NodeId, message: &AeMessage) -> bool {
        if *from != self.peer || message.exchange() != self.request {
            return false;
        }
        self.retries = 0;
        matches!(
            (self.awaiting, message),
            (Awaiting::Children, AeMessage::Children { .. })
                | (Awaiting::KeyList, AeMessage::KeyList { .. })
                | (Awaiting::PushReply, AeMessage::PushReply { .. })
                | (_, AeMessage::Busy { .. })
                | (_, AeMessage::NotReplica { .. })
        )
    }

    /// The responder's children hashes arrived: keep the differing ones, then go on.
    pub fn on_children(
        &mut self,
        tree: &MerkleTree,
        hashes: &[(NodeIndex, u64)],
        config: &AntiEntropyConfig,
    ) -> Step {
        for node in tree.differing(hashes) {
            if tree.hash(node).is_none() {
                continue; // not of this tree's shape: ignore rather than trust
            }
            if tree.is_leaf(node) {
                self.buckets.push(node.index);
            } else {
                self.compare.push(node);
            }
        }
        self.next(tree, config)
    }

    /// The responder's keys of the asked buckets arrived; `local` are this node's keys of
    /// the same buckets ([`asked_buckets`](Self::asked_buckets)).
    pub fn on_key_list(
        &mut self,
        tree: &MerkleTree,
        local: Vec<KeyDigest>,
        remote: Vec<KeyDigest>,
        config: &AntiEntropyConfig,
    ) -> Step {
        self.report.keys_listed += local.len() + remote.len();
        let asked = std::mem::take(&mut self.asked);
        // Keep only remote keys of the buckets asked (a peer cannot make us pull others).
        let remote: Vec<KeyDigest> = remote
            .into_iter()
            .filter(|k| asked.contains(&tree.bucket_of(crate::ring::key_hash(&k.bucket, &k.key))))
            .collect();
        let (push, pull, differing) = diff_keys(local, remote);
        let mut differing = differing;
        if differing.len() > self.budget {
            differing.truncate(self.budget);
            self.truncated = true;
        }
        self.budget -= differing.len();
        self.report.keys_repaired += differing.len();
        for k in push {
            if differing.binary_search(&k).is_ok() {
                self.push.push(k);
            }
        }
        for k in pull {
            if differing.binary_search(&k).is_ok() {
                self.pull.push(k);
            }
        }
        self.next(tree, config)
    }

    /// The wanted records arrived (the node merged them): count them and go on.
    pub fn on_push_reply(
        &mut self,
        tree: &MerkleTree,
        records: usize,
        config: &AntiEntropyConfig,
    ) -> Step {
        self.report.records_pulled += records;
        self.next(tree, config)
    }

    /// The next request, in order: hashes still to compare, buckets still to list, records
    /// still to sync; `Done` when nothing is left (or the budget ran out).
    fn next(&mut self, tree: &MerkleTree, config: &AntiEntropyConfig) -> Step {
        if !self.push.is_empty() || !self.pull.is_empty() {
            let mut room = config.max_keys_per_message.max(1);
            let push = take_front(&mut self.push, room);
            room -= push.len();
            let want = take_front(&mut self.pull, room);
            self.awaiting = Awaiting::PushReply;
            return Step::Push { push, want };
        }
        if !self.compare.is_empty() {
            let nodes = take_front(&mut self.compare, config.max_hashes_per_message.max(1));
            let hashes = nodes
                .into_iter()
                .filter_map(|n| tree.hash(n).map(|h| (n, h)))
                .collect();
            self.awaiting = Awaiting::Children;
            return Step::Hashes(hashes);
        }
        if !self.buckets.is_empty() && self.budget > 0 {
            self.buckets.sort_unstable();
            self.buckets.dedup();
            self.asked = take_front(&mut self.buckets, config.max_buckets_per_message.max(1));
            self.awaiting = Awaiting::KeyList;
            return Step::Keys(self.asked.clone());
        }
        if self.truncated || !self.buckets.is_empty() {
            Step::Done(AeOutcome::Truncated)
        } else {
            Step::Done(AeOutcome::Completed)
        }
    }
}

fn take_front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
    let n = n.min(v.len());
    v.drain(..n).collect()
}

/// The responder's answer to [`AeMessage::Hashes`]: its hashes of the children of every
/// inner node whose hash differs from the initiator's (at most [`MAX_REQUEST_ITEMS`] nodes
/// looked at). Nodes outside the tree's shape and leaves are skipped.
pub fn children_of_differing(
    tree: &MerkleTree,
    nodes: &[(NodeIndex, u64)],
) -> Vec<(NodeIndex, u64)> {
    let mut nodes: Vec<(NodeIndex, u64)> = nodes.iter().take(MAX_REQUEST_ITEMS).copied().collect();
    // A node named twice is answered once.
    nodes.sort_unstable_by_key(|(n, _)| *n);
    nodes.dedup_by_key(|(n, _)| *n);
    nodes
        .iter()
        .filter(|(n, h)| tree.hash(*n).is_some_and(|mine| mine != *h) && !tree.is_leaf(*n))
        .flat_map(|(n, _)| tree.children(*n))
        .collect()
}

/// Compares key lists of the same buckets: keys to push (only local, or different), keys to
/// pull (only remote, or different), and every differing key, each sorted.
pub fn diff_keys(
    mut local: Vec<KeyDigest>,
    mut remote: Vec<KeyDigest>,
) -> (Vec<AeKey>, Vec<AeKey>, Vec<AeKey>) {
    let order = |a: &KeyDigest, b: &KeyDigest| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key));
    local.sort_by(order);
    local.dedup_by(|a, b| a.bucket == b.bucket && a.key == b.key);
    remote.sort_by(order);
    remote.dedup_by(|a, b| a.bucket == b.bucket && a.key == b.key);
    let key = |k: &KeyDigest| AeKey {
        bucket: k.bucket.clone(),
        key: k.key.clone(),
    };
    let (mut push, mut pull, mut differing) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < local.len() || j < remote.len() {
        let ord = match (local.get(i), remote.get(j)) {
            (Some(l), Some(r)) => order(l, r),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                push.push(key(&local[i]));
                differing.push(key(&local[i]));
                i += 1;
            }
            Ordering::Greater => {
                pull.push(key(&remote[j]));
                differing.push(key(&remote[j]));
                j += 1;
            }
            Ordering::Equal => {
                if local[i].digest != remote[j].digest {
                    push.push(key(&local[i]));
                    pull.push(key(&local[i]));
                    differing.push(key(&local[i]));
                }
                i += 1;
                j += 1;
            }
        }
    }
    (push, pull, differing)
}

/// The anti-entropy state of a node: when the next exchange is due, the round-robin cursors,
/// the exchange in flight, and counters.
#[derive(Debug, Clone, Default)]
pub struct AntiEntropy {
    /// When the next exchange may start; `None` while anti-entropy is off.
    pub next_due: Option<Timestamp>,
    /// Round-robin position over the partitions this node replicates.
    pub partition_cursor: usize,
    /// Round-robin position over a partition's other replicas.
    pub peer_cursor: usize,
    /// Last exchange id used.
    pub last_id: u64,
    /// The exchange in flight.
    pub current: Option<Exchange>,
    /// Counters.
    pub stats: AeStats,
}

impl AntiEntropy {
    /// The state of a node started at `now`: the first exchange one interval later (none when
    /// `interval_ms` is 0). `seed` (the node's) picks where the partition round-robin starts,
    /// so that replicas do not all visit the same partition at the same time.
    pub fn new(now: Timestamp, interval_ms: u64, seed: u64) -> Self {
        AntiEntropy {
            next_due: (interval_ms > 0).then(|| Timestamp(now.0.saturating_add(interval_ms))),
            partition_cursor: (crate::rng::Rng::seeded(seed ^ 0xAE).next_u64() % (1 << 20))
                as usize,
            ..AntiEntropy::default()
        }
    }

    /// The earliest of the next start and the timeout of the exchange in flight.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match &self.current {
            Some(ex) => Some(ex.deadline()),
            None => self.next_due,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn kd(k: &str, d: u64) -> KeyDigest {
        KeyDigest {
            bucket: Bytes::from_static(b"b"),
            key: Bytes::copy_from_slice(k.as_bytes()),
            digest: d,
        }
    }

    fn names(v: &[AeKey]) -> Vec<String> {
        v.iter()
            .map(|k| String::from_utf8_lossy(&k.key).into_owned())
            .collect()
    }

    #[test]
    fn diff_keys_pushes_pulls_and_both() {
        let (push, pull, diff) = diff_keys(
            vec![kd("a", 1), kd("b", 2), kd("c", 3)],
            vec![kd("b", 2), kd("c", 4), kd("d", 5)],
        );
        assert_eq!(names(&push), ["a", "c"]);
        assert_eq!(names(&pull), ["c", "d"]);
        assert_eq!(names(&diff), ["a", "c", "d"]);
    }

    /// Runs the whole protocol between two trees in one process (no records: only the
    /// descent), returning the messages and hashes and the buckets found.
    fn descend(
        a: &MerkleTree,
        b: &MerkleTree,
        config: &AntiEntropyConfig,
    ) -> (usize, usize, Vec<u32>) {
        let peer = NodeId::new("p").expect("id");
        let (mut ex, mut step) = Exchange::start(1, PartitionId(0), peer, a, Timestamp(0), config);
        let (mut messages, mut hashes, mut buckets) = (0, 0, Vec::new());
        loop {
            match step {
                Step::Hashes(nodes) => {
                    let reply = children_of_differing(b, &nodes);
                    messages += 2;
                    hashes += nodes.len() + reply.len();
                    step = ex.on_children(a, &reply, config);
                }
                Step::Keys(bs) => {
                    buckets.extend(bs);
                    step = ex.on_key_list(a, Vec::new(), Vec::new(), config);
                }
                Step::Push { .. } => unreachable!("no keys listed"),
                Step::Done(_) => return (messages, hashes, buckets),
            }
        }
    }

    #[test]
    fn descent_finds_the_differing_buckets_with_few_hashes() {
        let mut rng = Rng::seeded(3);
        let mut a = MerkleTree::new();
        for _ in 0..20_000 {
            a.insert(rng.next_u64(), rng.next_u64());
        }
        let config = AntiEntropyConfig::default();
        let (m, h, none) = descend(&a, &a.clone(), &config);
        assert_eq!((m, h, none.len()), (2, 1, 0), "equal roots: one round trip");
        for d in [1usize, 5, 20] {
            let mut b = a.clone();
            for _ in 0..d {
                b.insert(rng.next_u64(), rng.next_u64());
            }
            let (m, h, buckets) = descend(&a, &b, &config);
            assert_eq!(buckets, a.diff_leaves(&b));
            assert_eq!(m, 2 * 3, "one round trip per level");
            assert!(h <= 17 + 34 * d, "{h} hashes for {d} differences");
        }
    }
}
