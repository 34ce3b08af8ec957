//! Errors of membership operations.

use crate::NodeId;
use crate::ring::RingError;

/// Why a membership operation was refused or a received state rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// Bucket properties break a quorum rule.
    #[error("invalid bucket properties: {0}")]
    InvalidBucketProps(&'static str),
    /// A versioning mode name other than `vclock`, `dvv`, `lww`.
    #[error("unknown versioning mode {0:?}: use vclock, dvv or lww")]
    UnknownVersioningMode(String),
    /// A durability name other than `all`, `one`, `none`.
    #[error("unknown durability {0:?}: use all, one or none")]
    UnknownDurability(String),
    /// The operation needs `node` to be a member, and it is not.
    #[error("{0} is not a member")]
    NotAMember(NodeId),
    /// The operation does not apply to the member's current status.
    #[error("{node} is {status}: {why}")]
    WrongStatus {
        /// The member.
        node: NodeId,
        /// Its status, by name.
        status: &'static str,
        /// What the operation needed.
        why: &'static str,
    },
    /// A leaving node asked to exit while the ring still gives it partitions.
    #[error("{0} still owns partitions in the ring")]
    StillInRing(NodeId),
    /// A node was listed twice when founding a cluster.
    #[error("{0} is listed more than once")]
    DuplicateMember(NodeId),
    /// The ring refused the member set.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// A received or stored state breaks an invariant (a bug on the sending side, or a
    /// forgery).
    #[error("invalid cluster state: {0}")]
    InvalidState(&'static str),
}
