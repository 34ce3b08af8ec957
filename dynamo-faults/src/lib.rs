//! A fault-injection harness with real processes and a real network.
//!
//! Each node is a `dynamo node` process in a network namespace of its own, joined to the
//! others by a veth pair to a bridge (in a hub namespace): a separate host with its own
//! address in 10.77.0.0/24, reached only over that network. The clients run in namespaces of
//! their own ([`agent`]), a set-add [`workload`] through the partition-aware
//! [`ClusterClient`](dynamo_client::ClusterClient). A seeded [`nemesis`] breaks the cluster
//! one node at a time: partitions and one-way partitions (nft drop rules in the node's
//! namespace), packet loss and latency (tc netem where the kernel has it; otherwise nft
//! random drops, and latency emulated by stopping the node for part of every period),
//! pauses (SIGSTOP), kills and restarts (SIGKILL), and wiped data directories. A split mode
//! cuts a five-node cluster 2|3 with a client on each side, to show the sloppy quorum.
//!
//! At the end, as the simulator does, it heals everything, waits until every member is up in
//! every view with no hints left, reads every key through every node with R = N until a pass
//! repairs nothing, and checks that no acknowledged element was lost and every node returns
//! the same set. The [`report`] gives availability (the share of requests that succeeded)
//! overall, per fault kind and without faults, latency per phase, and an SVG timeline.
//!
//! ```text
//! cargo run -p dynamo-faults --release -- --duration 600 --seed 1
//! cargo run -p dynamo-faults --release -- --split
//! ```
//!
//! It needs root (namespaces, nft, signals), `ip` (iproute2) and `nft` (nftables). Every
//! namespace is named `dyf<pid>-...` and deleted at the end, also on an error; the next run
//! deletes those of runs that were killed ([`net::cleanup_stale`]).

pub mod agent;
pub mod cluster;
pub mod error;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod run;
pub mod workload;

pub use error::{FaultsError, Result};
pub use nemesis::{FaultKind, Shape};
pub use report::Report;
pub use run::{RunConfig, build_dynamo, locate_dynamo, run};
