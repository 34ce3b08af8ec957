//! The Dynamo store as a server: the sans-IO node of `dynamo-core` driven over real sockets.
//!
//! - [`server`]: [`Server::start`] runs one node (storage, peer transport, HTTP API) inside
//!   any tokio program; the `dynamo` binary is a thin layer of commands over it;
//! - [`config`]: [`ServerConfig`], from a TOML file and/or flags, turned into the core's
//!   `NodeConfig`;
//! - [`driver`]: the node thread, which feeds the node and carries out its outputs (storage
//!   never runs on the event loop); `committer`: the commit thread its shards share;
//! - [`handle`]: the node runs on a thread of its own; async code talks to it through a
//!   [`NodeHandle`];
//! - [`transport`] and [`wire`]: TCP between nodes, length-delimited postcard frames with a
//!   protocol version;
//! - [`endpoints`]: how clients reach a node, announced in the cluster state for routing
//!   clients;
//! - [`metrics`]: counters for `/stats` and `/metrics`;
//! - [`history`]: the last minutes of client load (operations per second, p99), for the
//!   status page `/ui` and `dynamo top`;
//! - [`http`]: the client-facing HTTP API (axum), Riak's conventions;
//! - [`tls`]: TLS on the client ports, and the local authority of `dynamo up --tls`.

pub mod auth;
pub mod binary;
mod committer;
pub mod config;
pub mod driver;
pub mod endpoints;
pub mod handle;
pub mod history;
pub mod http;
pub mod metrics;
pub mod secure;
pub mod server;
pub mod tls;
pub mod transport;
pub mod wire;

pub use config::ServerConfig;
pub use handle::{Command, HandleError, NodeHandle, ServerNode};
pub use metrics::Metrics;
pub use server::{Listeners, Server, ServerError};
