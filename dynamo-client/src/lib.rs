//! A Rust client for the Dynamo store's HTTP API: get, put and delete with causal contexts
//! and siblings, bucket properties, and the admin endpoints; and for the data path only (get,
//! put, delete, ping), a client of its binary protocol, [`BinaryClient`].
//!
//! Every read returns an [`Object`]: the key's versions ([`Sibling`]s) and the [`Context`]
//! covering them. Send that context back with the next write to replace what you read; when
//! a read returns several siblings (concurrent writes), resolve them in the application and
//! write the result with the read's context, which replaces them all.
//!
//! ```no_run
//! use dynamo_client::{Client, DeleteOptions, PutOptions};
//!
//! # async fn demo() -> Result<(), dynamo_client::ClientError> {
//! let client = Client::new("http://127.0.0.1:8001")?;
//!
//! // A first write needs no context.
//! let mut options = PutOptions::default();
//! options.content_type = Some("text/plain".into());
//! client.put("cart", "alice", "apples", &options).await?;
//!
//! // Read, resolve siblings if any, write back with the read's context.
//! let read = client.get("cart", "alice").await?;
//! let mut merged: Vec<u8> = Vec::new();
//! for value in read.values() {
//!     merged.extend_from_slice(value);
//! }
//! client
//!     .put("cart", "alice", merged, &PutOptions::with_context(read.context))
//!     .await?;
//!
//! // Delete with the context of a read, so that the tombstone replaces what was read.
//! let read = client.get("cart", "alice").await?;
//! client
//!     .delete("cart", "alice", &DeleteOptions { context: read.context, w: None, dw: None })
//!     .await?;
//! assert!(client.get("cart", "alice").await?.is_not_found());
//! # Ok(())
//! # }
//! ```
//!
//! A bucket's keys are listed page by page: [`Client::list_keys_page`] for one page,
//! [`Client::list_keys`] for all of them ([`KeyPages`]); [`Client::buckets`] lists buckets.
//!
//! This crate speaks HTTP/1.1 over TCP (`TCP_NODELAY` set), or over TLS for an `https://` URL
//! (see [`TlsConfig`] for which certificates it trusts), through `reqwest`, asks for
//! reads in JSON (`Accept: application/json`) and maps the API's JSON errors to
//! [`ClientError`]'s variants. It does not depend on the server's crates.
//!
//! # A whole cluster
//!
//! [`ClusterClient`] is the client for an application: given some seed nodes it learns the
//! ring and every node, sends each request to a replica of its key (no forwarding hop) and
//! fails over between nodes with a circuit breaker per node. Reads are retried on another
//! node after any failure; a write only when it cannot have been applied, else the error is
//! [`ClientError::OutcomeUnknown`]. See its module documentation for the details.
//!
//! # The binary protocol
//!
//! [`BinaryClient`] speaks the node's binary protocol ([`dynamo_protocol`]: length-prefixed
//! postcard frames over TCP, at the node's `binary_addr`) with the same methods, types and
//! errors as [`Client`] for `get`, `get_with`, `put`, `delete` and `ping`; contexts are the
//! same tokens, so a context read over one protocol can be written back over the other. It
//! costs the client and the node less per request than HTTP, and one connection carries the
//! requests of every task sharing the client at once (pipelining: a writer task sends the
//! frames of all waiting callers in one write, a reader task hands each answer to the caller
//! whose id it carries). A broken connection fails every request in flight on it with a
//! transport error ([`ClientError::Connection`], [`ClientError::ConnectionClosed`],
//! [`ClientError::Protocol`]) and is opened again by the next request; a request unanswered
//! in time fails with [`ClientError::Timeout`]. Bucket properties and the admin endpoints are
//! HTTP only.
//!
//! ```no_run
//! use dynamo_client::{BinaryClient, BinaryOptions, PutOptions};
//!
//! # async fn demo() -> Result<(), dynamo_client::ClientError> {
//! let options = BinaryOptions {
//!     connections: 2,
//!     ..BinaryOptions::default()
//! };
//! let client = BinaryClient::connect_with("127.0.0.1:7001", options).await?;
//! // Many tasks share one client; their requests are in flight together.
//! let mut tasks = Vec::new();
//! for i in 0..16 {
//!     let client = client.clone();
//!     tasks.push(tokio::spawn(async move {
//!         client.put("cart", format!("user{i}"), "apples", &PutOptions::default()).await
//!     }));
//! }
//! for task in tasks {
//!     task.await.expect("the task panicked")?;
//! }
//! # Ok(())
//! # }
//! ```

mod admin;
mod binary;
mod client;
mod cluster;
mod error;
mod listing;
mod tls;
mod types;

pub use admin::{
    AdminStatus, KeyInfo, Member, MemberStatus, Members, NewKey, RingInfo, RingMember,
    RingPartition, TransferStatus,
};
pub use binary::{BinaryClient, BinaryOptions};
pub use client::{CONTEXT_HEADER, Client, ClientBuilder, RING_HEADER};
pub use cluster::{ClusterClient, ClusterOptions};
pub use error::ClientError;
pub use listing::{KeyPage, KeyPages};
pub use tls::{TlsConfig, http_builder};
pub use types::{
    BucketProps, BucketPropsUpdate, Context, DeleteOptions, GetOptions, Object, PutOptions,
    PutResult, Sibling,
};
