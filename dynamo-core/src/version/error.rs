//! Errors of the versioning operations.

use super::siblings::VersioningMode;

/// Why a write or a merge of sibling sets was refused. The set is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The result would hold more siblings than the bucket allows. Nothing is dropped
    /// silently: the caller must refuse the write (or have a client resolve the siblings, by
    /// writing with a context that has seen them).
    #[error("too many siblings: {count} would exceed the limit of {limit}")]
    TooManySiblings {
        /// The configured cap.
        limit: usize,
        /// How many siblings the operation would have produced.
        count: usize,
    },
    /// The two sets were written under different versioning modes and cannot be merged.
    #[error("cannot merge a {theirs:?} sibling set into a {ours:?} one")]
    ModeMismatch {
        /// Mode of the receiving set.
        ours: VersioningMode,
        /// Mode of the other set.
        theirs: VersioningMode,
    },
}
