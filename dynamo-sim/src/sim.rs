//! The simulator: nodes, virtual time, the network, clients and faults.
//!
//! [`Sim`] owns every node (each built by its factory, so that it can be restarted), a seeded
//! [`Network`], the client requests in flight and the [`History`]. Time is virtual: each
//! [`Sim::step`] jumps to the next thing that happens — a client request due, a message due, or
//! the earliest node deadline — and at that instant feeds every client request due, then every
//! message due, then ticks every node whose deadline has passed (the group commit rule of the
//! design). Each node sees its own clock: virtual time plus its skew, plus a fixed epoch so that
//! timestamps look like wall-clock milliseconds.

use std::collections::{BTreeMap, BTreeSet};

use dynamo_core::rng::Rng;
use dynamo_core::{NodeId, Timestamp};

use crate::fault::Fault;
use crate::history::{EntryKind, History};
use crate::network::{Addr, Envelope, Millis, NetConfig, NetStats, Network};
use crate::node::{Dump, Input, Output, SimNode, Start, StartKind};
use crate::summary::Summary;

/// Builds a node for a [`Start`]; the closure owns whatever must outlive one incarnation (its
/// [`crate::disk::MemDisk`], configuration). An `Err` leaves the node down and is recorded.
pub type Factory<N> = Box<dyn FnMut(&Start) -> Result<N, String>>;

/// What the history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryMode {
    /// Every entry, rendered (replay comparisons, debugging a seed).
    Full,
    /// Only the digest and the count (long sweeps: still detects nondeterminism).
    Digest,
    /// Nothing (fastest).
    Off,
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed every random draw of the run derives from.
    pub seed: u64,
    /// The network's delays and fault rates at the start.
    pub net: NetConfig,
    /// Added to virtual time to make node clocks (milliseconds since the UNIX epoch).
    pub epoch_ms: u64,
    /// What the history keeps.
    pub history: HistoryMode,
    /// Whether node events are kept for [`Sim::take_events`].
    pub keep_events: bool,
    /// Steps allowed at one instant before the simulator declares a stall (a node whose
    /// deadline stays in the past) and moves time on by 1 ms.
    pub max_steps_per_instant: u32,
}

impl SimConfig {
    /// Defaults with the given seed: a healthy LAN, full history, events kept.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            net: NetConfig::default(),
            epoch_ms: 1_700_000_000_000,
            history: HistoryMode::Full,
            keep_events: true,
            max_steps_per_instant: 10_000,
        }
    }
}

/// Why a client request failed without an answer from its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// The node was down when the request arrived, or crashed before answering (what a real
    /// client sees as a refused or reset connection).
    NodeDown,
}

/// A finished client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion<R> {
    /// The id [`Sim::submit`] returned.
    pub id: u64,
    /// The node the request went to.
    pub node: Addr,
    /// When it was handed to the node.
    pub submitted_at: Millis,
    /// When it finished.
    pub completed_at: Millis,
    /// The node's answer, or why there is none.
    pub result: Result<R, ClientError>,
}

impl<R> Completion<R> {
    /// Time from submission to completion.
    pub fn latency(&self) -> Millis {
        self.completed_at.saturating_sub(self.submitted_at)
    }
}

struct Slot<N> {
    id: NodeId,
    node: Option<N>,
    factory: Factory<N>,
    skew: i64,
    incarnation: u32,
    /// Client requests this node holds, unanswered.
    pending: BTreeSet<u64>,
}

struct Request<Q> {
    node: Addr,
    at: Millis,
    /// Taken when handed to the node.
    request: Option<Q>,
}

/// Counters not kept by the network.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    requests: u64,
    answered: u64,
    node_down: u64,
    max_latency: Millis,
    total_latency: u64,
    dropped_to_down: u64,
    anomalies: u64,
}

/// The simulation of a cluster of `N` nodes; see the module documentation.
pub struct Sim<N: SimNode> {
    config: SimConfig,
    now: Millis,
    steps_at_now: u32,
    slots: Vec<Slot<N>>,
    by_id: BTreeMap<NodeId, Addr>,
    net: Network<N::Message>,
    rng: Rng,
    /// Client requests not yet handed over, by (due time, id).
    scheduled: BTreeSet<(Millis, u64)>,
    /// Faults to inject, by (due time, sequence).
    planned: BTreeMap<(Millis, u64), Fault>,
    next_planned: u64,
    requests: BTreeMap<u64, Request<N::Request>>,
    next_request: u64,
    completions: Vec<Completion<N::Response>>,
    events: Vec<(Millis, Addr, N::Event)>,
    history: History,
    faults: BTreeMap<String, u64>,
    counters: Counters,
}

impl<N: SimNode> Sim<N> {
    /// An empty simulation; add nodes with [`Sim::add_node`].
    pub fn new(config: SimConfig) -> Self {
        let mut root = Rng::seeded(config.seed);
        let net = Network::new(config.net.clone(), root.next_u64());
        let rng = root.fork();
        let history = History::new(config.history == HistoryMode::Full);
        Sim {
            config,
            now: 0,
            steps_at_now: 0,
            slots: Vec::new(),
            by_id: BTreeMap::new(),
            net,
            rng,
            scheduled: BTreeSet::new(),
            planned: BTreeMap::new(),
            next_planned: 0,
            requests: BTreeMap::new(),
            next_request: 0,
            completions: Vec::new(),
            events: Vec::new(),
            history,
            faults: BTreeMap::new(),
            counters: Counters::default(),
        }
    }

    // ----- getters -----

    /// The run's settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Virtual time, in milliseconds since the start of the run.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Number of nodes added (up or down).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no node was added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Name of node `addr`.
    ///
    /// # Panics
    /// When `addr` was not returned by [`Sim::add_node`] (a bug in the test).
    pub fn id(&self, addr: Addr) -> &NodeId {
        &self.slots[addr].id
    }

    /// Address of the node called `id`.
    pub fn addr_of(&self, id: &NodeId) -> Option<Addr> {
        self.by_id.get(id).copied()
    }

    /// True when node `addr` is running.
    pub fn is_up(&self, addr: Addr) -> bool {
        self.slots.get(addr).is_some_and(|s| s.node.is_some())
    }

    /// Addresses of the running nodes.
    pub fn up_nodes(&self) -> Vec<Addr> {
        (0..self.slots.len()).filter(|&a| self.is_up(a)).collect()
    }

    /// Node `addr`, when it is running.
    pub fn node(&self, addr: Addr) -> Option<&N> {
        self.slots.get(addr).and_then(|s| s.node.as_ref())
    }

    /// Node `addr`, mutably, when it is running (for admin actions a test performs directly;
    /// outputs it produces are drained at the next step).
    pub fn node_mut(&mut self, addr: Addr) -> Option<&mut N> {
        self.slots.get_mut(addr).and_then(|s| s.node.as_mut())
    }

    /// The clock node `addr` sees now: epoch + virtual time + its skew.
    pub fn local_now(&self, addr: Addr) -> Timestamp {
        let skew = self.slots.get(addr).map_or(0, |s| s.skew);
        let t = i128::from(self.config.epoch_ms) + i128::from(self.now) + i128::from(skew);
        Timestamp(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }

    /// The comparable state of every running node.
    pub fn dumps(&self) -> Vec<(Addr, Dump<N::Stored>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(a, s)| s.node.as_ref().map(|n| (a, n.dump())))
            .collect()
    }

    /// What the network did so far.
    pub fn net_stats(&self) -> NetStats {
        self.net.stats()
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// A generator for the test's own draws (workloads, fault schedules), derived from the
    /// seed and independent of the network's.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Client requests submitted and not finished yet.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// The figures of the run so far (the workload adds its own, see [`Summary`]).
    pub fn summary(&self) -> Summary {
        let c = &self.counters;
        Summary {
            seeds: 1,
            virtual_ms: self.now,
            requests: c.requests,
            answered: c.answered,
            node_down: c.node_down,
            unfinished: self.requests.len() as u64,
            max_latency_ms: c.max_latency,
            total_latency_ms: c.total_latency,
            faults: self.faults.clone(),
            net: self.net.stats(),
            dropped_to_down: c.dropped_to_down,
            history_entries: self.history.len(),
            history_digest: self.history.digest(),
            anomalies: c.anomalies,
            ..Summary::default()
        }
    }

    // ----- nodes and faults -----

    /// Registers a node called `id`, down until [`Sim::start`] or [`Sim::start_all`]; returns
    /// its address.
    ///
    /// # Panics
    /// When a node called `id` was already added (a bug in the test).
    pub fn add_node(&mut self, id: NodeId, factory: Factory<N>) -> Addr {
        let addr = self.slots.len();
        assert!(
            self.by_id.insert(id.clone(), addr).is_none(),
            "node {id} added twice"
        );
        self.slots.push(Slot {
            id,
            node: None,
            factory,
            skew: 0,
            incarnation: 0,
            pending: BTreeSet::new(),
        });
        addr
    }

    /// Starts every node that is down, as [`StartKind::Fresh`].
    pub fn start_all(&mut self) {
        for addr in 0..self.slots.len() {
            if !self.is_up(addr) {
                self.start(addr);
            }
        }
    }

    /// Starts node `addr` for the first time ([`StartKind::Fresh`]); returns whether it runs.
    pub fn start(&mut self, addr: Addr) -> bool {
        self.boot(addr, StartKind::Fresh)
    }

    /// Kills node `addr`: its state is dropped, messages in flight to it are lost, its
    /// unanswered client requests fail with [`ClientError::NodeDown`]. No-op when it is down.
    pub fn crash(&mut self, addr: Addr) {
        let Some(slot) = self.slots.get_mut(addr) else {
            return;
        };
        if slot.node.take().is_none() {
            return;
        }
        let pending = std::mem::take(&mut slot.pending);
        self.net.drop_messages_to(addr);
        self.fault(Some(addr), "crash", String::new());
        for id in pending {
            self.fail_request(id);
        }
    }

    /// Restarts node `addr` (crashing it first if it runs) through its factory, telling it
    /// what its storage went through; returns whether it runs.
    pub fn restart(&mut self, addr: Addr, kind: StartKind) -> bool {
        self.crash(addr);
        self.boot(addr, kind)
    }

    fn boot(&mut self, addr: Addr, kind: StartKind) -> bool {
        if addr >= self.slots.len() || self.is_up(addr) {
            return false;
        }
        let now = self.local_now(addr);
        let cluster: Vec<NodeId> = self.slots.iter().map(|s| s.id.clone()).collect();
        let slot = &mut self.slots[addr];
        let seed = Rng::seeded(
            self.config.seed
                ^ (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ u64::from(slot.incarnation).wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        )
        .next_u64();
        let start = Start {
            addr,
            id: slot.id.clone(),
            cluster,
            now,
            kind,
            incarnation: slot.incarnation,
            seed,
        };
        slot.incarnation += 1;
        match (slot.factory)(&start) {
            Ok(node) => {
                slot.node = Some(node);
                if kind != StartKind::Fresh {
                    self.fault(Some(addr), kind.name(), String::new());
                } else {
                    self.record(Some(addr), EntryKind::Fault, format_args!("start"));
                }
                self.drain(addr);
                true
            }
            Err(e) => {
                self.anomaly(Some(addr), format!("start failed: {e}"));
                false
            }
        }
    }

    /// Cuts both directions between the nodes of `side_a` and those of `side_b`.
    pub fn partition(&mut self, side_a: &[Addr], side_b: &[Addr]) {
        self.net.partition(side_a, side_b);
        self.fault(None, "partition", format!("{side_a:?} | {side_b:?}"));
    }

    /// Cuts the links from each node of `from` to each node of `to`, one way.
    pub fn block(&mut self, from: &[Addr], to: &[Addr]) {
        self.net.block(from, to);
        self.fault(None, "one_way_block", format!("{from:?} -> {to:?}"));
    }

    /// Removes every partition and block.
    pub fn heal(&mut self) {
        self.net.heal();
        self.fault(None, "heal", String::new());
    }

    /// Sets the loss rate for messages sent from now on, per million.
    pub fn set_loss(&mut self, per_million: u32) {
        let mut c = self.net.config().clone();
        c.loss_per_million = per_million;
        self.net.set_config(c);
        self.fault(None, "set_loss", per_million.to_string());
    }

    /// Sets the duplication rate for messages sent from now on, per million.
    pub fn set_duplication(&mut self, per_million: u32) {
        let mut c = self.net.config().clone();
        c.duplicate_per_million = per_million;
        self.net.set_config(c);
        self.fault(None, "set_duplication", per_million.to_string());
    }

    /// Replaces the network's delays and rates for messages sent from now on.
    pub fn set_net_config(&mut self, config: NetConfig) {
        let detail = format!("{config:?}");
        self.net.set_config(config);
        self.fault(None, "set_net", detail);
    }

    /// Sets the skew of node `addr`'s clock relative to virtual time, in milliseconds
    /// (negative: behind).
    pub fn set_skew(&mut self, addr: Addr, skew_ms: i64) {
        if let Some(s) = self.slots.get_mut(addr) {
            s.skew = skew_ms;
            self.fault(Some(addr), "clock_skew", skew_ms.to_string());
        }
    }

    /// Injects `fault` now.
    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::Partition(a, b) => self.partition(&a, &b),
            Fault::Block(a, b) => self.block(&a, &b),
            Fault::Heal => self.heal(),
            Fault::Crash(a) => self.crash(a),
            Fault::Restart(a, kind) => {
                self.restart(a, kind);
            }
            Fault::Skew(a, ms) => self.set_skew(a, ms),
            Fault::Loss(p) => self.set_loss(p),
            Fault::Duplication(p) => self.set_duplication(p),
            Fault::Net(c) => self.set_net_config(c),
        }
    }

    /// Schedules `fault` for virtual time `at` (now if past). Faults due at an instant are
    /// injected before anything else happens at that instant, in the order scheduled.
    pub fn schedule(&mut self, at: Millis, fault: Fault) {
        let seq = self.next_planned;
        self.next_planned += 1;
        self.planned.insert((at.max(self.now), seq), fault);
    }

    /// Schedules every fault of `plan` (for example a [`crate::fault::random_schedule`]).
    pub fn schedule_all(&mut self, plan: impl IntoIterator<Item = (Millis, Fault)>) {
        for (at, fault) in plan {
            self.schedule(at, fault);
        }
    }

    /// Faults scheduled and not injected yet.
    pub fn faults_pending(&self) -> usize {
        self.planned.len()
    }

    // ----- clients -----

    /// Submits `request` to node `node` now; returns the request's id.
    pub fn submit(&mut self, node: Addr, request: N::Request) -> u64 {
        self.submit_at(self.now, node, request)
    }

    /// Submits `request` to node `node` at virtual time `at` (now if `at` is past); returns
    /// the request's id. It fails with [`ClientError::NodeDown`] if the node is down then.
    pub fn submit_at(&mut self, at: Millis, node: Addr, request: N::Request) -> u64 {
        let at = at.max(self.now);
        let id = self.next_request;
        self.next_request += 1;
        self.counters.requests += 1;
        self.requests.insert(
            id,
            Request {
                node,
                at,
                request: Some(request),
            },
        );
        self.scheduled.insert((at, id));
        id
    }

    /// Finished client requests not taken yet, in completion order.
    pub fn take_completions(&mut self) -> Vec<Completion<N::Response>> {
        std::mem::take(&mut self.completions)
    }

    /// Node events not taken yet, with their time and node (kept when
    /// [`SimConfig::keep_events`]).
    pub fn take_events(&mut self) -> Vec<(Millis, Addr, N::Event)> {
        std::mem::take(&mut self.events)
    }

    // ----- running -----

    /// When the next thing happens, in virtual time: a client request due, a message due or
    /// a node deadline (never before now).
    pub fn next_event_time(&self) -> Option<Millis> {
        let mut next = self.scheduled.first().map(|&(at, _)| at);
        let mut consider = |t: Millis| next = Some(next.map_or(t, |n: Millis| n.min(t)));
        if let Some((&(t, _), _)) = self.planned.first_key_value() {
            consider(t);
        }
        if let Some(t) = self.net.next_delivery() {
            consider(t);
        }
        for addr in 0..self.slots.len() {
            if let Some(t) = self.virtual_deadline(addr) {
                consider(t);
            }
        }
        next.map(|t| t.max(self.now))
    }

    /// Node `addr`'s deadline in virtual time (never before now), when it runs and has one.
    pub fn virtual_deadline(&self, addr: Addr) -> Option<Millis> {
        let slot = self.slots.get(addr)?;
        let d = slot.node.as_ref()?.next_deadline()?;
        let t = i128::from(d.0) - i128::from(self.config.epoch_ms) - i128::from(slot.skew);
        Some(u64::try_from(t.max(i128::from(self.now))).unwrap_or(u64::MAX))
    }

    /// Runs one instant: moves time to the next event if it is at or before `limit`, injects
    /// the faults due, feeds every client request due, then every message due, then ticks
    /// every node whose deadline has passed. Returns false (with time moved to `limit`) when nothing happens until then.
    pub fn step(&mut self, limit: Millis) -> bool {
        let Some(t) = self.next_event_time().filter(|&t| t <= limit) else {
            self.now = self.now.max(limit);
            return false;
        };
        if t > self.now {
            self.now = t;
            self.steps_at_now = 0;
        } else {
            self.steps_at_now += 1;
            if self.steps_at_now > self.config.max_steps_per_instant {
                self.steps_at_now = 0;
                if self.now >= limit {
                    self.anomaly(None, "stall: stopped at the limit".into());
                    return false;
                }
                self.anomaly(None, "stall: time moved on by 1 ms".into());
                self.now += 1;
            }
        }
        let now = self.now;
        while let Some(entry) = self.planned.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let fault = entry.remove();
            self.inject(fault);
        }
        while let Some(&(at, id)) = self.scheduled.first() {
            if at > now {
                break;
            }
            self.scheduled.pop_first();
            self.deliver_client(id);
        }
        while let Some(envelope) = self.net.deliver_due(now) {
            self.deliver_peer(envelope);
        }
        for addr in 0..self.slots.len() {
            if self.virtual_deadline(addr).is_some_and(|d| d <= now) {
                self.feed(addr, Input::Tick);
            }
        }
        true
    }

    /// Steps until virtual time `until`; finished requests wait in [`Sim::take_completions`].
    pub fn run_until(&mut self, until: Millis) {
        while self.step(until) {}
    }

    /// Steps for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Millis) {
        self.run_until(self.now.saturating_add(duration));
    }

    /// Steps until virtual time `until`, calling `on_completion` for each finished request as
    /// soon as it finishes (it may submit new requests: a closed-loop client).
    pub fn run_until_with<F>(&mut self, until: Millis, mut on_completion: F)
    where
        F: FnMut(&mut Self, Completion<N::Response>),
    {
        loop {
            let more = self.step(until);
            for c in self.take_completions() {
                on_completion(self, c);
            }
            if !more {
                break;
            }
        }
    }

    /// Submits `request` to `node` now and runs until it finishes (at most `timeout` ms):
    /// a blocking call, for admin steps and checks. Other requests finishing meanwhile stay
    /// in [`Sim::take_completions`]. `None` when it did not finish in time.
    pub fn call(
        &mut self,
        node: Addr,
        request: N::Request,
        timeout: Millis,
    ) -> Option<Completion<N::Response>> {
        let id = self.submit(node, request);
        let deadline = self.now.saturating_add(timeout);
        loop {
            if let Some(i) = self.completions.iter().position(|c| c.id == id) {
                return Some(self.completions.remove(i));
            }
            if !self.step(deadline) {
                return None;
            }
        }
    }

    // ----- internals -----

    fn deliver_client(&mut self, id: u64) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let addr = req.node;
        req.at = self.now;
        let Some(request) = req.request.take() else {
            return;
        };
        match self.slots.get_mut(addr) {
            Some(slot) if slot.node.is_some() => {
                slot.pending.insert(id);
                self.feed(addr, Input::Client { id, request });
            }
            _ => self.fail_request(id),
        }
    }

    fn deliver_peer(&mut self, envelope: Envelope<N::Message>) {
        let to = envelope.to;
        if !self.is_up(to) {
            self.counters.dropped_to_down += 1;
            return;
        }
        let from = self.slots[envelope.from].id.clone();
        self.feed(
            to,
            Input::Peer {
                from,
                message: envelope.message,
            },
        );
    }

    /// Hands one input to a running node and drains its outputs.
    fn feed(&mut self, addr: Addr, input: Input<N::Request, N::Message>) {
        let now = self.local_now(addr);
        if self.history_on() {
            let (at, node) = (self.now, Some(addr));
            match &input {
                Input::Client { id, request } => self.history.push(
                    at,
                    node,
                    EntryKind::ClientInput,
                    format_args!("#{id} {request:?}"),
                ),
                Input::Peer { from, message } => self.history.push(
                    at,
                    node,
                    EntryKind::PeerInput,
                    format_args!("from {from} {message:?}"),
                ),
                Input::Tick => {
                    self.history
                        .push(at, node, EntryKind::Tick, format_args!("local {}", now.0))
                }
            }
        }
        let Some(node) = self.slots.get_mut(addr).and_then(|s| s.node.as_mut()) else {
            return;
        };
        node.handle(now, input);
        self.drain(addr);
    }

    fn drain(&mut self, addr: Addr) {
        loop {
            let Some(out) = self
                .slots
                .get_mut(addr)
                .and_then(|s| s.node.as_mut())
                .and_then(|n| n.poll_output())
            else {
                return;
            };
            match out {
                Output::Send { to, message } => {
                    self.record(
                        Some(addr),
                        EntryKind::Send,
                        format_args!("to {to} {message:?}"),
                    );
                    match self.by_id.get(&to) {
                        Some(&dest) => self.net.send(self.now, addr, dest, message),
                        None => self.anomaly(Some(addr), format!("send to unknown node {to}")),
                    }
                }
                Output::Reply { id, response } => {
                    self.record(
                        Some(addr),
                        EntryKind::Reply,
                        format_args!("#{id} {response:?}"),
                    );
                    let held = self.slots[addr].pending.remove(&id);
                    match self.requests.remove(&id) {
                        Some(req) if held => {
                            let latency = self.now.saturating_sub(req.at);
                            self.counters.answered += 1;
                            self.counters.total_latency += latency;
                            self.counters.max_latency = self.counters.max_latency.max(latency);
                            self.complete(Completion {
                                id,
                                node: addr,
                                submitted_at: req.at,
                                completed_at: self.now,
                                result: Ok(response),
                            });
                        }
                        Some(req) => {
                            self.requests.insert(id, req);
                            self.anomaly(
                                Some(addr),
                                format!("reply #{id} from a node not holding it"),
                            );
                        }
                        None => self.anomaly(Some(addr), format!("stray reply #{id}")),
                    }
                }
                Output::Event(event) => {
                    self.record(Some(addr), EntryKind::Event, format_args!("{event:?}"));
                    if self.config.keep_events {
                        self.events.push((self.now, addr, event));
                    }
                }
            }
        }
    }

    fn fail_request(&mut self, id: u64) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        self.counters.node_down += 1;
        self.complete(Completion {
            id,
            node: req.node,
            submitted_at: req.at,
            completed_at: self.now,
            result: Err(ClientError::NodeDown),
        });
    }

    fn complete(&mut self, c: Completion<N::Response>) {
        self.record(
            Some(c.node),
            EntryKind::Completion,
            format_args!("#{} after {} ms: {:?}", c.id, c.latency(), c.result),
        );
        self.completions.push(c);
    }

    fn fault(&mut self, node: Option<Addr>, kind: &str, detail: String) {
        *self.faults.entry(kind.to_owned()).or_default() += 1;
        self.record(node, EntryKind::Fault, format_args!("{kind} {detail}"));
    }

    fn anomaly(&mut self, node: Option<Addr>, detail: String) {
        self.counters.anomalies += 1;
        self.record(node, EntryKind::Anomaly, format_args!("{detail}"));
    }

    fn history_on(&self) -> bool {
        self.config.history != HistoryMode::Off
    }

    fn record(&mut self, node: Option<Addr>, kind: EntryKind, detail: std::fmt::Arguments<'_>) {
        if self.history_on() {
            self.history.push(self.now, node, kind, detail);
        }
    }
}
