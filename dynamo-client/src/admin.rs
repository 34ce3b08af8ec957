//! What the admin and inspection endpoints answer: `/admin/status` (also after a join or a
//! leave), `/ring`, `/members`. Fields the node adds later are ignored, fields it leaves out
//! take their defaults, so a client and a node of neighbouring versions understand each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node's report on itself and the cluster as it sees it (`GET /admin/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminStatus {
    /// The node answering.
    pub node: String,
    /// Its own membership status: `joining`, `valid`, `leaving`, `exiting`.
    pub status: Option<String>,
    /// Every member it knows.
    pub members: Vec<MemberStatus>,
    /// The version of the ring it routes with (0: none yet).
    pub ring_version: u64,
    /// The digest of that ring: nodes agree on the ring when their digests are equal.
    pub ring_digest: Option<u64>,
    /// The member deciding ring changes.
    pub claimant: Option<String>,
    /// Hints kept for other nodes, by intended node.
    pub hints_pending: BTreeMap<String, usize>,
    /// Outgoing partition transfers not confirmed yet.
    pub transfers_pending: Option<usize>,
    /// Every outgoing partition transfer.
    pub transfers: Vec<TransferStatus>,
    /// Operations the node coordinates or forwards right now.
    pub open_operations: usize,
    /// Writes staged for its next group commit.
    pub pending_writes: usize,
}

impl AdminStatus {
    /// Total hints kept for other nodes.
    pub fn hints_total(&self) -> usize {
        self.hints_pending.values().sum()
    }

    /// Transfers still running.
    pub fn transfers_in_progress(&self) -> impl Iterator<Item = &TransferStatus> + '_ {
        self.transfers.iter().filter(|t| !t.done)
    }
}

/// One member in an [`AdminStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberStatus {
    /// The member.
    pub node: String,
    /// Its life-cycle status.
    pub status: String,
    /// Its peer address.
    pub address: String,
    /// False when the reporting node's failure detector considers it down.
    pub up: bool,
    /// Consecutive requests or pings it left unanswered.
    pub consecutive_timeouts: u32,
    /// When a message from it last arrived (ms since the UNIX epoch).
    pub last_heard: Option<u64>,
}

/// One outgoing partition transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferStatus {
    /// The partition.
    pub partition: u32,
    /// The node receiving it.
    pub to: String,
    /// Records the receiver acknowledged.
    pub keys_sent: u64,
    /// The receiver holds all of it.
    pub done: bool,
}

/// The ring a node routes with (`GET /ring`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RingInfo {
    /// The node answering.
    pub node: String,
    /// The ring's version (0: no ring yet).
    pub version: u64,
    /// Its digest.
    pub digest: Option<u64>,
    /// How many partitions.
    pub partition_count: u32,
    /// The length of the preference lists below.
    pub n: usize,
    /// The members, with how many partitions each owns.
    pub members: Vec<RingMember>,
    /// Every partition.
    pub partitions: Vec<RingPartition>,
}

/// A member of a [`RingInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RingMember {
    /// The node.
    pub node: String,
    /// Its failure zone, if any.
    pub zone: Option<String>,
    /// Partitions it owns.
    pub partitions: usize,
    /// Its HTTP API's base URL, as it announced it (absent from nodes that did not).
    pub http: Option<String>,
    /// Its binary protocol's `host:port`, when it listens.
    pub binary: Option<String>,
    /// False when the answering node considers it down (absent from older nodes).
    pub up: Option<bool>,
}

/// A partition of a [`RingInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RingPartition {
    /// The partition's number.
    pub id: u32,
    /// Its owner (first in the preference list).
    pub owner: String,
    /// The nodes that store its keys.
    pub preference_list: Vec<String>,
}

/// The members a node knows (`GET /members`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Members {
    /// The node answering.
    pub node: String,
    /// Every member.
    pub members: Vec<Member>,
}

/// One member of [`Members`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// The member.
    pub node: String,
    /// Its life-cycle status.
    pub status: String,
    /// Its peer address.
    pub address: String,
    /// Its HTTP API's base URL, as it announced it.
    pub http: Option<String>,
    /// Its binary protocol's `host:port`, when it listens.
    pub binary: Option<String>,
    /// Its failure zone, if any.
    pub zone: Option<String>,
    /// False when the answering node considers it down.
    pub up: bool,
    /// Consecutive requests or pings it left unanswered.
    pub consecutive_timeouts: u32,
    /// When a message from it last arrived (ms since the UNIX epoch).
    pub last_heard: Option<u64>,
}

/// A new access key, as [`Client::create_key`](crate::Client::create_key) answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    /// The key's id (public).
    pub id: String,
    /// What a client sends: `<id>.<secret>` (shown only once).
    pub token: String,
}

/// An access key as `GET /admin/keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's id.
    pub id: String,
    /// Whether it is an admin key.
    pub admin: bool,
    /// Buckets it may read (`*`: every bucket).
    pub read: Vec<String>,
    /// Buckets it may write.
    pub write: Vec<String>,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Whether it was revoked.
    pub revoked: bool,
}
