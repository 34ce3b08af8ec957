//! A Rust client for the Dynamo store's HTTP API: get, put and delete with causal contexts
//! and siblings, bucket properties, and the admin endpoints.
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
//! This crate speaks HTTP/1.1 over plain TCP (`TCP_NODELAY` set) through `reqwest`, asks for
//! reads in JSON (`Accept: application/json`) and maps the API's JSON errors to
//! [`ClientError`]'s variants. It does not depend on the server's crates.

mod admin;
mod client;
mod error;
mod types;

pub use admin::{
    AdminStatus, Member, MemberStatus, Members, RingInfo, RingMember, RingPartition, TransferStatus,
};
pub use client::{CONTEXT_HEADER, Client};
pub use error::ClientError;
pub use types::{
    BucketProps, BucketPropsUpdate, Context, DeleteOptions, GetOptions, Object, PutOptions,
    PutResult, Sibling,
};
