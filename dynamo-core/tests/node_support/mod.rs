//! A tiny in-process harness for node tests: a few `Node`s, a FIFO message queue, virtual
//! time, and per-node message dropping. (The full simulator lives in dynamo-sim.)

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use dynamo_core::node::{BucketProps, Input, KEYSPACES, Node, NodeConfig, NodeEvent, Output};
use dynamo_core::proto::{
    ClientId, ClientRequest, ClientResponse, PeerMessage, ReadResult, RequestError, WriteResult,
};
use dynamo_core::rng::Rng;
use dynamo_core::version::{ContentType, Context};
use dynamo_core::{NodeId, Timestamp};
use engine_api::{Durability, EngineConfig, Keyspace, StorageEngine, WriteBatch};
use engine_mem::MemEngine;

/// Start of virtual time.
pub const T0: Timestamp = Timestamp(1_000_000);

pub fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

pub fn ids(n: usize) -> Vec<NodeId> {
    (1..=n).map(|i| id(&format!("n{i}"))).collect()
}

pub fn mem() -> MemEngine {
    MemEngine::with_keyspaces(KEYSPACES).unwrap()
}

/// A `MemEngine` that counts engine `write` calls (group commit tests).
#[derive(Debug)]
pub struct Counting {
    pub inner: MemEngine,
    pub writes: Arc<AtomicUsize>,
    /// While set, every write fails.
    pub fail: Arc<AtomicBool>,
}

impl Counting {
    pub fn new() -> (Self, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        (
            Counting {
                inner: mem(),
                writes: writes.clone(),
                fail: Arc::new(AtomicBool::new(false)),
            },
            writes,
        )
    }
}

impl StorageEngine for Counting {
    type Snapshot<'e>
        = <MemEngine as StorageEngine>::Snapshot<'e>
    where
        Self: 'e;
    const NAME: &'static str = "counting-mem";
    const PERSISTENT: bool = false;

    fn open(config: &EngineConfig) -> engine_api::Result<Self> {
        Ok(Counting {
            inner: MemEngine::open(config)?,
            writes: Arc::new(AtomicUsize::new(0)),
            fail: Arc::new(AtomicBool::new(false)),
        })
    }
    fn keyspace_names(&self) -> &[String] {
        self.inner.keyspace_names()
    }
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> engine_api::Result<Option<Bytes>> {
        self.inner.get(keyspace, key)
    }
    fn write(&self, batch: &WriteBatch, durability: Durability) -> engine_api::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(engine_api::Error::InvalidConfig(
                "injected write failure".into(),
            ));
        }
        self.inner.write(batch, durability)
    }
    fn snapshot(&self) -> engine_api::Result<Self::Snapshot<'_>> {
        self.inner.snapshot()
    }
    fn flush(&self) -> engine_api::Result<()> {
        self.inner.flush()
    }
}

pub fn text() -> ContentType {
    ContentType::new("text/plain").unwrap()
}

pub fn put_req(key: &str, value: &str, context: Context) -> ClientRequest {
    ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context,
        value: Bytes::copy_from_slice(value.as_bytes()),
        content_type: text(),
        w: None,
        dw: None,
        return_body: false,
    }
}

pub fn get_req(key: &str) -> ClientRequest {
    ClientRequest::Get {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        r: None,
    }
}

pub fn delete_req(key: &str, context: Context) -> ClientRequest {
    ClientRequest::Delete {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context,
        w: None,
        dw: None,
    }
}

/// Live values of a read, sorted, as strings.
pub fn values(r: &ReadResult) -> Vec<String> {
    let mut v: Vec<String> = r
        .values()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    v.sort();
    v
}

/// What a [`Cluster::filter`] does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Deliver it as usual.
    Deliver,
    /// Drop it.
    Drop,
    /// Keep it aside in `held` until [`Cluster::release_held`].
    Hold,
}

/// Decides the fate of each message (from, to, message) before delivery.
pub type Filter = Box<dyn FnMut(&NodeId, &NodeId, &PeerMessage) -> Fate>;

/// Nodes, a FIFO network and virtual time.
pub struct Cluster<E> {
    pub nodes: BTreeMap<NodeId, Node<E>>,
    pub now: Timestamp,
    queue: VecDeque<(NodeId, NodeId, PeerMessage, bool)>,
    /// Chance (per million) that a delivered message is delivered once more, later.
    pub dup_per_million: u32,
    /// Deliver queued messages in a random (seeded) order instead of FIFO.
    pub reorder: bool,
    pub rng: Rng,
    /// Nodes cut off: every message from or to them is dropped.
    pub cut: BTreeSet<NodeId>,
    /// One-way cuts: every message from `.0` to `.1` is dropped (the other way still works).
    pub blocked: BTreeSet<(NodeId, NodeId)>,
    pub replies: BTreeMap<u64, ClientResponse>,
    pub events: Vec<(NodeId, NodeEvent)>,
    /// Every input and output, in order (for determinism checks).
    pub history: Vec<String>,
    pub sent: usize,
    next_client: u64,
    /// Chance (per million) that a message is lost (no draw when 0).
    pub loss_per_million: u32,
    /// Consulted for every message about to be delivered (after `cut`).
    pub filter: Option<Filter>,
    /// Messages a filter held: (from, to, message).
    pub held: Vec<(NodeId, NodeId, PeerMessage)>,
    /// Every node's configuration, for restarts.
    pub configs: BTreeMap<NodeId, NodeConfig>,
}

impl Cluster<MemEngine> {
    /// `n` nodes over `MemEngine` with the given bucket defaults.
    pub fn mem(n: usize, seed: u64, props: BucketProps) -> Self {
        Cluster::new(n, seed, props, |_| mem())
    }
}

impl<E: StorageEngine> Cluster<E> {
    pub fn new(
        n: usize,
        seed: u64,
        props: BucketProps,
        mut engine: impl FnMut(&NodeId) -> E,
    ) -> Self {
        let members = ids(n);
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            now: T0,
            queue: VecDeque::new(),
            dup_per_million: 0,
            reorder: false,
            rng: Rng::seeded(seed),
            cut: BTreeSet::new(),
            blocked: BTreeSet::new(),
            replies: BTreeMap::new(),
            events: Vec::new(),
            history: Vec::new(),
            sent: 0,
            next_client: 0,
            loss_per_million: 0,
            filter: None,
            held: Vec::new(),
            configs: BTreeMap::new(),
        };
        for (i, m) in members.iter().enumerate() {
            let mut config = NodeConfig::new(m.clone(), seed + i as u64, members.clone());
            config.default_bucket = props;
            // These clusters keep the behaviour the first node tests were written for: a
            // peer is down after one unanswered request (the node's default is 2).
            config.timing.failure_threshold = 1;
            c.configs.insert(m.clone(), config.clone());
            let node = Node::new(config, engine(m), T0).unwrap();
            c.nodes.insert(m.clone(), node);
            c.drain(m);
        }
        // Fresh nodes first ask each other which epoch they used before (none): a round
        // trip before they coordinate writes.
        c.settle();
        assert!(c.nodes.values().all(|n| n.epoch_confirmed()));
        c
    }

    pub fn node(&self, name: &str) -> &Node<E> {
        &self.nodes[&id(name)]
    }

    fn drain(&mut self, at: &NodeId) {
        let node = self.nodes.get_mut(at).unwrap();
        while let Some(out) = node.poll_output() {
            self.history.push(format!("{} {at} -> {out:?}", self.now.0));
            match out {
                Output::Send { to, message } => {
                    self.queue.push_back((at.clone(), to, message, false))
                }
                Output::Reply { id, response } => {
                    assert!(
                        self.replies.insert(id.0, response).is_none(),
                        "two replies to one request"
                    );
                }
                Output::Event(e) => self.events.push((at.clone(), e)),
                // The commit completes at once, as if the disk were instant.
                Output::Commit(commit) => node.run_commit(commit),
                // Nodes of one shard hand out no views or reports.
                other => panic!("a node of one shard output {other:?}"),
            }
        }
    }

    fn input(&mut self, at: &NodeId, input: Input) {
        self.history
            .push(format!("{} {at} <- {input:?}", self.now.0));
        let now = self.now;
        self.nodes.get_mut(at).unwrap().handle(now, input);
        self.drain(at);
    }

    /// Sends a client request to `at`; returns its id (the reply lands in `replies`).
    pub fn submit(&mut self, at: &str, request: ClientRequest) -> u64 {
        self.next_client += 1;
        let cid = self.next_client;
        self.input(
            &id(at),
            Input::Client {
                id: ClientId(cid),
                request,
            },
        );
        cid
    }

    /// Delivers messages and fires due ticks until nothing is left to do at this instant.
    pub fn settle(&mut self) {
        loop {
            let mut busy = false;
            while !self.queue.is_empty() {
                let i = if self.reorder {
                    self.rng.below(self.queue.len() as u64) as usize
                } else {
                    0
                };
                let (from, to, message, copy) = self.queue.remove(i).unwrap();
                busy = true;
                if !copy && self.rng.chance(self.dup_per_million) {
                    self.queue
                        .push_back((from.clone(), to.clone(), message.clone(), true));
                }
                if self.cut.contains(&from)
                    || self.cut.contains(&to)
                    || self.blocked.contains(&(from.clone(), to.clone()))
                {
                    self.history
                        .push(format!("{} drop {from}->{to}", self.now.0));
                    continue;
                }
                if self.loss_per_million > 0 && self.rng.chance(self.loss_per_million) {
                    self.history
                        .push(format!("{} lost {from}->{to}", self.now.0));
                    continue;
                }
                if let Some(f) = self.filter.as_mut() {
                    match f(&from, &to, &message) {
                        Fate::Deliver => {}
                        Fate::Drop => {
                            self.history
                                .push(format!("{} filtered {from}->{to}", self.now.0));
                            continue;
                        }
                        Fate::Hold => {
                            self.held.push((from, to, message));
                            continue;
                        }
                    }
                }
                self.sent += 1;
                self.input(&to, Input::Peer { from, message });
            }
            let due: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.next_deadline().is_some_and(|d| d <= self.now))
                .map(|(k, _)| k.clone())
                .collect();
            for n in due {
                busy = true;
                self.input(&n, Input::Tick);
            }
            if !busy {
                return;
            }
        }
    }

    /// Puts the held messages back on the network (they are delivered at the next settle,
    /// through the filter again).
    pub fn release_held(&mut self) {
        for (from, to, message) in self.held.drain(..) {
            self.queue.push_back((from, to, message, true));
        }
    }

    /// Replaces the node `name` by a new one started on its engine (a restart: what was not
    /// committed is lost, as in a crash).
    pub fn restart(&mut self, name: &str) {
        let n = id(name);
        let engine = self.nodes.remove(&n).unwrap().into_engine();
        let node = Node::new(self.configs[&n].clone(), engine, self.now).unwrap();
        self.nodes.insert(n.clone(), node);
        self.drain(&n);
    }

    /// Moves time forward by `ms`, then settles.
    pub fn advance(&mut self, ms: u64) {
        self.now = Timestamp(self.now.0 + ms);
        self.settle();
    }

    /// Submits and runs until the request is answered (advancing time in 100 ms steps).
    pub fn call(&mut self, at: &str, request: ClientRequest) -> ClientResponse {
        let cid = self.submit(at, request);
        self.settle();
        for _ in 0..100 {
            if let Some(r) = self.replies.get(&cid) {
                return r.clone();
            }
            self.advance(100);
        }
        panic!("request {cid} never answered");
    }

    pub fn put(
        &mut self,
        at: &str,
        key: &str,
        value: &str,
        ctx: Context,
    ) -> Result<WriteResult, RequestError> {
        match self.call(at, put_req(key, value, ctx)) {
            ClientResponse::Put(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn get(&mut self, at: &str, key: &str) -> Result<ReadResult, RequestError> {
        match self.call(at, get_req(key)) {
            ClientResponse::Get(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn delete(
        &mut self,
        at: &str,
        key: &str,
        ctx: Context,
    ) -> Result<WriteResult, RequestError> {
        match self.call(at, delete_req(key, ctx)) {
            ClientResponse::Delete(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Helpers of the anti-entropy tests (node_antientropy*.rs).
impl Cluster<MemEngine> {
    /// Like [`Cluster::mem`], with each node's configuration adjusted by `configure` before
    /// it starts (e.g. to turn anti-entropy on).
    pub fn mem_with(
        n: usize,
        seed: u64,
        props: BucketProps,
        mut configure: impl FnMut(&mut NodeConfig),
    ) -> Self {
        let mut c = Cluster::mem(n, seed, props);
        let names: Vec<NodeId> = c.nodes.keys().cloned().collect();
        for m in names {
            let old = c.nodes.remove(&m).unwrap();
            let mut config = old.config().clone();
            configure(&mut config);
            let node = Node::new(config, old.into_engine(), c.now).unwrap();
            c.nodes.insert(m.clone(), node);
            c.drain(&m);
        }
        c
    }

    /// Restarts node `name` on its own engine (a clean restart: what was committed stays).
    pub fn restart_same_disk(&mut self, name: &str) {
        let m = id(name);
        let mut old = self.nodes.remove(&m).unwrap();
        old.shutdown(self.now).unwrap();
        let config = old.config().clone();
        let node = Node::new(config, old.into_engine(), self.now).unwrap();
        self.nodes.insert(m.clone(), node);
        self.drain(&m);
    }

    /// Replaces node `name` by a fresh node with the same configuration over an empty engine
    /// (its disk was wiped).
    pub fn restart_wiped(&mut self, name: &str) {
        let m = id(name);
        let old = self.nodes.remove(&m).unwrap();
        let node = Node::new(old.config().clone(), mem(), self.now).unwrap();
        self.nodes.insert(m.clone(), node);
        self.drain(&m);
    }
}

impl<E: StorageEngine> Cluster<E> {
    /// Like [`Cluster::settle`] (duplication and reordering included), but each message is
    /// also lost with the given chance (per million), drawn from the cluster's seeded rng.
    pub fn settle_lossy(&mut self, loss_per_million: u32) {
        loop {
            let mut busy = false;
            while !self.queue.is_empty() {
                let i = if self.reorder {
                    self.rng.below(self.queue.len() as u64) as usize
                } else {
                    0
                };
                let (from, to, message, copy) = self.queue.remove(i).unwrap();
                busy = true;
                if !copy && self.rng.chance(self.dup_per_million) {
                    self.queue
                        .push_back((from.clone(), to.clone(), message.clone(), true));
                }
                if self.cut.contains(&from)
                    || self.cut.contains(&to)
                    || self.rng.chance(loss_per_million)
                {
                    self.history
                        .push(format!("{} drop {from}->{to}", self.now.0));
                    continue;
                }
                self.sent += 1;
                self.input(&to, Input::Peer { from, message });
            }
            let due: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.next_deadline().is_some_and(|d| d <= self.now))
                .map(|(k, _)| k.clone())
                .collect();
            for n in due {
                busy = true;
                self.input(&n, Input::Tick);
            }
            if !busy {
                return;
            }
        }
    }

    /// Moves time forward by `ms`, then settles with message loss.
    pub fn advance_lossy(&mut self, ms: u64, loss_per_million: u32) {
        self.now = Timestamp(self.now.0 + ms);
        self.settle_lossy(loss_per_million);
    }

    /// Every `AntiEntropy` report emitted so far, with the node that emitted it.
    pub fn ae_reports(&self) -> Vec<(NodeId, dynamo_core::antientropy::AeReport)> {
        self.events
            .iter()
            .filter_map(|(n, e)| match e {
                NodeEvent::AntiEntropy(r) => Some((n.clone(), r.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Every output `node` has queued, its commits carried out at once (as if the disk were
/// instant) and left out of the list.
pub fn drain_committing<E: StorageEngine>(node: &mut Node<E>) -> Vec<Output> {
    let mut out = Vec::new();
    while let Some(o) = node.poll_output() {
        match o {
            Output::Commit(commit) => node.run_commit(commit),
            other => out.push(other),
        }
    }
    out
}
