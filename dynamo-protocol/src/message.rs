//! What the frames carry: requests, answers and errors.
//!
//! The shapes follow the HTTP API one for one, so that both protocols mean the same thing:
//! quorums override the bucket's, an absent context is a blind write, and a read with no
//! sibling is a key never written.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A request and the id its answer will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Chosen by the client, echoed in the answer; ids of requests in flight on one
    /// connection should differ (0 is reserved for connection-level errors).
    pub id: u64,
    /// The request.
    pub request: Request,
}

/// A data operation, as the HTTP API's `GET`, `PUT` and `DELETE` on
/// `/buckets/{bucket}/keys/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read every causally maximal version of a key.
    Get {
        /// The bucket.
        bucket: Bytes,
        /// The key.
        key: Bytes,
        /// Read quorum, overriding the bucket's `r`.
        r: Option<u8>,
    },
    /// Write a value, replacing the versions the context has seen.
    Put {
        /// The bucket.
        bucket: Bytes,
        /// The key.
        key: Bytes,
        /// The context token of the client's last read or write of this key; `None` for a
        /// blind write.
        context: Option<String>,
        /// The value.
        value: Bytes,
        /// The value's media type (`application/octet-stream` when `None`).
        content_type: Option<String>,
        /// Write quorum, overriding the bucket's `w`.
        w: Option<u8>,
        /// Durable-write quorum, overriding the bucket's durability.
        dw: Option<u8>,
        /// Answer with the key's versions after the write, as a read would.
        return_body: bool,
    },
    /// Write a tombstone replacing the versions the context has seen.
    Delete {
        /// The bucket.
        bucket: Bytes,
        /// The key.
        key: Bytes,
        /// The context token of the client's last read of this key.
        context: Option<String>,
        /// Write quorum, overriding the bucket's `w`.
        w: Option<u8>,
        /// Durable-write quorum, overriding the bucket's durability.
        dw: Option<u8>,
    },
    /// Answered with [`Response::Pong`] without touching the store: a liveness check.
    Ping,
    /// Presents an access key (`<id>.<secret>`) for the connection's later requests; needed
    /// first when the node has `auth = "on"`. Answered with [`Response::Authenticated`], or
    /// an [`ErrorKind::Unauthorized`] error (the connection stays open, unauthenticated).
    Auth {
        /// The key's token.
        token: String,
    },
}

/// An answer and the id of the request it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// The request's id (0: an error about the connection, after which the server closes it).
    pub id: u64,
    /// The answer, or why there is none.
    pub result: Result<Response, ErrorReply>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The answer to a get.
    Read(Read),
    /// The answer to a put or a delete.
    Written {
        /// The context of the new version: writing with it replaces this write.
        context: Option<String>,
        /// The key's versions after the write, when `return_body` was asked.
        body: Option<Read>,
    },
    /// The answer to a ping.
    Pong,
    /// The answer to [`Request::Auth`]: the key is valid; later requests are checked
    /// against its permissions.
    Authenticated,
}

/// A key's versions and the context covering them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// The context token to send back with the next write (`None` only when the context was
    /// too large for a token; a write then replaces nothing).
    pub context: Option<String>,
    /// The versions, values and tombstones; empty when the key was never written.
    pub siblings: Vec<Sibling>,
}

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sibling {
    /// The value (empty for a tombstone).
    pub value: Bytes,
    /// Its media type.
    pub content_type: String,
    /// When its write was accepted, in milliseconds since the Unix epoch (the coordinator's
    /// clock).
    pub last_modified: u64,
    /// True for a tombstone.
    pub deleted: bool,
}

/// Why a request failed. The kinds are the HTTP API's error kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A sentence for a person.
    pub message: String,
}

/// The kind of an [`ErrorReply`], with what a client needs to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed (HTTP 400): a bad context, bucket or key.
    BadRequest,
    /// The value is larger than the server accepts (HTTP 413).
    TooLarge {
        /// The server's maximum value size in bytes.
        max: u64,
    },
    /// The write would leave more siblings than the bucket allows (HTTP 409).
    TooManySiblings {
        /// The bucket's cap.
        limit: u64,
    },
    /// The quorum was not met (HTTP 503): the write may still have been applied on some
    /// replicas.
    Unavailable {
        /// The quorum.
        needed: u8,
        /// Replicas that answered successfully.
        answered: u8,
    },
    /// The node refused the request to protect itself (HTTP 503); nothing was applied.
    Overloaded,
    /// The node is shutting down (HTTP 503).
    Stopped,
    /// The storage engine failed (HTTP 500).
    Storage,
    /// A bug: the node answered with the wrong kind of response (HTTP 500).
    Internal,
    /// The frame could not be decoded (wrong version, malformed, oversized); the server
    /// closes the connection after this answer.
    Protocol,
    /// No valid access key on this connection (HTTP 401).
    Unauthorized,
    /// The connection's key lacks the permission (HTTP 403).
    Forbidden,
}
