//! A deterministic simulator for the Dynamo node.
//!
//! Many nodes in one process, virtual time, and a seeded network that delays, loses,
//! duplicates and reorders messages and can be partitioned (also one way). Nodes crash and
//! restart with their storage kept, cut back to what was durable, or wiped; their clocks are
//! skewed. A run is determined by its seed: a failure seen once is replayed exactly, and the
//! recorded [`History`] of two runs of one seed compares equal.
//!
//! - [`node`]: the [`SimNode`] trait — the sans-IO contract (`handle`, `poll_output`,
//!   `next_deadline`, plus `dump` for the checkers) — and its [`Input`]/[`Output`] enums;
//! - [`sim`]: [`Sim`], the cluster, clock, clients and fault injection;
//! - [`network`]: the seeded network;
//! - [`disk`]: [`MemDisk`], an in-memory disk a node's factory keeps across restarts;
//! - [`fault`]: faults as values, scheduled or drawn at random ([`random_schedule`], or
//!   bounded episodes with [`episodes`]);
//! - [`history`], [`summary`]: what a run did;
//! - [`dynamo`]: the real node as a [`SimNode`], and a factory for it;
//! - [`check`]: invariant checkers (the grow-only set workload, convergence, the delete
//!   workload and its resurrection checker);
//! - [`scenario`]: the scenarios of issue 4 on the real node, run by `tests/scenario_*.rs`;
//! - [`mod@sweep`]: running a scenario over many seeds and naming the one that fails.
//!
//! # Plugging a node in
//!
//! Implement [`SimNode`] (and [`check::growset::SetApi`] for the workload) for the node type,
//! then give the simulator one factory per node. A factory owns the node's [`MemDisk`] and
//! builds the node for a [`Start`]: the disk's [`MemDisk::open`] turns the [`StartKind`] into
//! kept, crashed or wiped storage. The real node is plugged in by [`dynamo`]:
//! `sim.add_node(id, dynamo::node_factory(dynamo::default_config)?)`.
//!
//! # Writing a scenario
//!
//! Build a [`Sim`], add and start the nodes, drive a workload ([`check::growset::GrowSet`])
//! with [`Sim::run_until_with`] (or `GrowSet::run`), inject faults directly
//! ([`Sim::partition`], [`Sim::crash`], [`Sim::restart`], ...) or schedule them
//! ([`Sim::schedule`], [`random_schedule`]), heal, wait with
//! [`check::convergence::run_until_converged`], then check: `GrowSet::final_check` (no
//! acknowledged write lost), `GrowSet::check_resolves` (siblings only from concurrency),
//! [`check::convergence`] (replicas agree, hints drained, membership agreed). Put the
//! workload's report into [`Sim::summary`] and print it.
//!
//! # Many seeds
//!
//! Scenario tests run a bounded number of seeds through [`sweep::sweep`] with the range from
//! [`sweep::seeds_from_env`]. To run thousands and get the seed of any failure (the toy
//! cluster under random faults: about 10 seeds a second in release):
//!
//! ```text
//! SIM_SEEDS=10000 cargo test -p dynamo-sim --release --test toy_nemesis -- --ignored long_run --nocapture
//! ```
//!
//! # The scenarios on the real node
//!
//! One test file per scenario ([`scenario`]): `scenario_split_brain` (with the `lww`
//! contrast), `scenario_primary_crash`, `scenario_hint_holder_crash`, `scenario_disk_wipe`,
//! `scenario_join_leave`, `scenario_one_way_partition`, `scenario_lossy_network`,
//! `scenario_durability`, `scenario_deletes` (deletes under faults with a short tombstone
//! grace, checked for resurrected values by [`check::resurrection`]). Each runs a
//! bounded number of seeds in CI (its `DEFAULT_SEEDS`, chosen to stay under about a minute in
//! debug on two cores) and prints its figures. More seeds of one scenario:
//!
//! ```text
//! SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_primary_crash -- --nocapture
//! ```
//!
//! Every scenario over thousands of seeds, with one combined summary (seeds, operations,
//! faults injected, acknowledged writes, lost, max siblings, time to converge) and the `lww`
//! contrast; a failure prints its scenario and seed:
//!
//! ```text
//! SIM_SEEDS=1000 cargo test -p dynamo-sim --release --test scenario_all -- --ignored long_run --nocapture
//! ```
//!
//! Replay a failing seed of a scenario with its full history:
//! `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt cargo test -p dynamo-sim --test scenario_<name> -- --include-ignored --nocapture`.
//!
//! # Replaying a seed
//!
//! To replay a failing seed with its full history written to a file:
//! `SIM_SEED=<seed> SIM_HISTORY=/tmp/run.txt cargo test ...` (same test name). `SIM_SEED_START`
//! moves the range; `SIM_DIGEST=1` records history digests in sweeps.
//!
//! # Example
//!
//! ```
//! use dynamo_core::{NodeId, Timestamp};
//! use dynamo_sim::{Dump, Input, Output, Sim, SimConfig, SimNode};
//!
//! /// Answers every request with the node's clock.
//! struct Clock(Vec<(u64, u64)>);
//!
//! impl SimNode for Clock {
//!     type Message = ();
//!     type Request = ();
//!     type Response = u64;
//!     type Event = ();
//!     type Stored = ();
//!     fn handle(&mut self, now: Timestamp, input: Input<(), ()>) {
//!         if let Input::Client { id, .. } = input {
//!             self.0.push((id, now.0));
//!         }
//!     }
//!     fn poll_output(&mut self) -> Option<Output<(), u64, ()>> {
//!         self.0.pop().map(|(id, response)| Output::Reply { id, response })
//!     }
//!     fn next_deadline(&self) -> Option<Timestamp> {
//!         None
//!     }
//!     fn dump(&self) -> Dump<()> {
//!         Dump::default()
//!     }
//! }
//!
//! let mut sim = Sim::new(SimConfig::new(1));
//! let a = sim.add_node(NodeId::new("a").unwrap(), Box::new(|_| Ok(Clock(Vec::new()))));
//! sim.start_all();
//! sim.set_skew(a, 250);
//! sim.submit_at(100, a, ());
//! sim.run_until(1_000);
//! let done = sim.take_completions();
//! assert_eq!(done[0].result, Ok(sim.config().epoch_ms + 100 + 250));
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod disk;
pub mod dynamo;
pub mod fault;
pub mod history;
pub mod network;
pub mod node;
pub mod scenario;
pub mod sim;
pub mod summary;
pub mod sweep;

pub use disk::{MemDisk, SharedMemEngine};
pub use fault::{EpisodeConfig, Fault, NemesisConfig, episodes, random_schedule};
pub use history::{Entry, EntryKind, History};
pub use network::{Addr, Millis, NetConfig, NetStats};
pub use node::{Dump, Input, InputOf, Output, OutputOf, SimNode, Start, StartKind};
pub use sim::{ClientError, Completion, Factory, HistoryMode, Sim, SimConfig};
pub use summary::Summary;
pub use sweep::{
    SweepReport, history_mode, replay_seed, seeds_from_env, sweep, write_history_if_asked,
};
