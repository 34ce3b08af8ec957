//! The Dynamo store as a server: the sans-IO node of `dynamo-core` driven over real sockets.
//!
//! - [`handle`]: the node runs on a thread of its own; async code talks to it through a
//!   [`NodeHandle`];
//! - [`metrics`]: counters for `/stats` and `/metrics`;
//! - [`http`]: the client-facing HTTP API (axum), Riak's conventions.

pub mod handle;
pub mod http;
pub mod metrics;

pub use handle::{Command, HandleError, NodeHandle, ServerNode};
pub use metrics::Metrics;
