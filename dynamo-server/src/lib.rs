//! The Dynamo store as a server: the sans-IO node of `dynamo-core` driven over real sockets.
//!
//! - [`config`]: [`ServerConfig`], from a TOML file and/or flags, turned into the core's
//!   `NodeConfig`;
//! - [`handle`]: the node runs on a thread of its own; async code talks to it through a
//!   [`NodeHandle`];
//! - [`wire`]: peer framing, length-delimited postcard frames with a protocol version;
//! - [`metrics`]: counters for `/stats` and `/metrics`;
//! - [`http`]: the client-facing HTTP API (axum), Riak's conventions.

pub mod config;
pub mod handle;
pub mod http;
pub mod metrics;
pub mod wire;

pub use config::ServerConfig;
pub use handle::{Command, HandleError, NodeHandle, ServerNode};
pub use metrics::Metrics;
