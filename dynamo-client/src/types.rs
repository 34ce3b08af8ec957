//! What reads and writes carry: contexts, objects with their siblings, request options,
//! bucket properties.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The causal context of a key: an opaque token the node returns with every read and write,
/// to be sent back, unchanged, with the next write or delete of the same key. A write with
/// the context of a read replaces exactly the versions that read returned; a write without
/// a context replaces nothing (it becomes a sibling of what is there).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Context(String);

impl Context {
    /// Wraps a token received some other way (for example on a command line). The node
    /// checks it; a malformed token makes the request fail with
    /// [`ClientError::BadRequest`](crate::ClientError::BadRequest).
    pub fn from_token(token: impl Into<String>) -> Self {
        Context(token.into())
    }

    /// The token, as sent in the `X-Dynamo-Context` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    /// The value (empty for a tombstone).
    pub value: Bytes,
    /// Its media type, as given by the writer.
    pub content_type: String,
    /// True for a tombstone: this version is a delete.
    pub deleted: bool,
    /// When its write was accepted, in milliseconds since the UNIX epoch (the coordinator's
    /// clock), when the node said.
    pub last_modified: Option<u64>,
}

/// What a read returns: every causally maximal version of the key, and the context that
/// covers them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Object {
    /// The context to send back with the next write (present on every read, even of an
    /// absent key, unless the node could not encode it).
    pub context: Option<Context>,
    /// The versions: none when the key was never written, only tombstones when it was
    /// deleted, several when writes were concurrent.
    pub siblings: Vec<Sibling>,
}

impl Object {
    /// True when the key was never written (as far as the replicas that answered know).
    pub fn is_absent(&self) -> bool {
        self.siblings.is_empty()
    }

    /// True when every version is a tombstone: the key reads as deleted.
    pub fn is_deleted(&self) -> bool {
        !self.siblings.is_empty() && self.siblings.iter().all(|s| s.deleted)
    }

    /// True when there is no live value (absent or deleted): HTTP's 404.
    pub fn is_not_found(&self) -> bool {
        self.siblings.iter().all(|s| s.deleted)
    }

    /// True when there are several versions: the application should resolve them and write
    /// the result with [`Object::context`].
    pub fn has_siblings(&self) -> bool {
        self.siblings.len() > 1
    }

    /// The live values, tombstones left out.
    pub fn values(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.siblings
            .iter()
            .filter(|s| !s.deleted)
            .map(|s| &s.value)
    }

    /// The value when there is exactly one version and it is live.
    pub fn value(&self) -> Option<&Bytes> {
        match self.siblings.as_slice() {
            [one] if !one.deleted => Some(&one.value),
            _ => None,
        }
    }
}

/// Options of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Read quorum for this request (default: the bucket's `r`).
    pub r: Option<u8>,
}

/// Options of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// The context of the last read of the key (none: a blind write, kept beside whatever
    /// is there as a sibling).
    pub context: Option<Context>,
    /// The value's media type (default `application/octet-stream`).
    pub content_type: Option<String>,
    /// Write quorum for this request (default: the bucket's `w`).
    pub w: Option<u8>,
    /// Durable-write quorum for this request: how many of the acknowledgements must come
    /// from replicas that synced the write (default: the bucket's `durability`; 0 none, 1
    /// the coordinator, more every replica).
    pub dw: Option<u8>,
    /// Ask for the key's versions after the write, as a read would return them.
    pub return_body: bool,
}

impl PutOptions {
    /// Options carrying `context` (if any), the rest default.
    pub fn with_context(context: Option<Context>) -> Self {
        PutOptions {
            context,
            ..PutOptions::default()
        }
    }
}

/// Options of a delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// The context of the last read of the key (none: the tombstone becomes a sibling of the
    /// values there).
    pub context: Option<Context>,
    /// Write quorum for this request.
    pub w: Option<u8>,
    /// Durable-write quorum for this request (see [`PutOptions::dw`]).
    pub dw: Option<u8>,
}

/// What a successful write returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The context of the new version (with `return_body`, the context of the versions in
    /// `body`).
    pub context: Option<Context>,
    /// The key's versions after the write, when [`PutOptions::return_body`] was asked.
    pub body: Option<Object>,
}

/// A bucket's replication and versioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketProps {
    /// Replicas per key.
    pub n: u8,
    /// Replies a read waits for.
    pub r: u8,
    /// Acknowledgements a write waits for.
    pub w: u8,
    /// `dvv`, `vclock` or `lww`.
    pub versioning: String,
    /// `all`, `one` or `none`: which replicas sync a write before it is acknowledged.
    #[serde(default = "default_durability")]
    pub durability: String,
}

fn default_durability() -> String {
    "all".to_owned()
}

/// A change of bucket properties: the fields given are set, the others kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketPropsUpdate {
    /// Replicas per key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u8>,
    /// Read quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r: Option<u8>,
    /// Write quorum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w: Option<u8>,
    /// `dvv`, `vclock` or `lww`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// `all`, `one` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durability: Option<String>,
}

/// The JSON form of a read, as the node sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct ReadJson {
    pub(crate) context: Option<String>,
    #[serde(default)]
    pub(crate) siblings: Vec<SiblingJson>,
}

/// One sibling in a [`ReadJson`].
#[derive(Debug, Deserialize)]
pub(crate) struct SiblingJson {
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) content_type: String,
    #[serde(default)]
    pub(crate) deleted: bool,
    pub(crate) last_modified: Option<u64>,
}
