//! A toy replicated store implementing `SimNode`, to test the simulator without the real node.
//!
//! Every node replicates every key. A put is applied locally and sent to every peer; it is
//! acknowledged to the client once `w` nodes (the coordinator included) committed it. Commits
//! happen only on `Tick` (group commit: `next_deadline` is "now" while writes are pending), in
//! one engine batch. Gets answer from the local copy. Every `gossip_every` ms a node sends its
//! whole state to a random peer, which merges it. In `Merge` mode a key holds a set of
//! siblings (a put removes the siblings of its context and adds its value; merge is union); in
//! `Lww` mode a key holds one value and the highest (timestamp, value) wins.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use dynamo_core::rng::Rng;
use dynamo_core::{NodeId, Timestamp};
use dynamo_sim::check::growset::{ReadResult, SetApi};
use dynamo_sim::{Dump, Factory, Input, MemDisk, Output, SharedMemEngine, SimNode, Start};
use engine_api::{Direction, Durability, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Merge,
    Lww,
}

#[derive(Debug, Clone)]
pub struct ToyConfig {
    pub mode: Mode,
    pub w: usize,
    pub durability: Durability,
    pub gossip_every: u64,
    pub timeout: u64,
    /// A planted bug: puts ignore their context (every write becomes a sibling).
    pub ignore_context: bool,
}

impl Default for ToyConfig {
    fn default() -> Self {
        ToyConfig {
            mode: Mode::Merge,
            w: 2,
            durability: Durability::Sync,
            gossip_every: 500,
            timeout: 200,
            ignore_context: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub siblings: BTreeSet<Bytes>,
    pub stamp: u64,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Write {
        op: u64,
        key: Bytes,
        remove: Vec<Bytes>,
        add: Bytes,
        stamp: u64,
    },
    Ack {
        op: u64,
    },
    Gossip {
        state: Vec<(Bytes, Entry)>,
    },
}

#[derive(Debug, Clone)]
pub enum Req {
    Get {
        key: Bytes,
    },
    Put {
        key: Bytes,
        context: Vec<Bytes>,
        value: Bytes,
    },
    Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Get(Result<(Vec<Bytes>, Vec<Bytes>), String>),
    Put(Result<(), String>),
    Time(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Committed { writes: usize },
    Loaded { keys: usize },
}

enum Waiter {
    Local { op: u64 },
    Peer { to: NodeId, op: u64 },
}

struct PendingOp {
    client: u64,
    acked_by: BTreeSet<NodeId>,
    deadline: u64,
}

pub struct Toy {
    config: ToyConfig,
    id: NodeId,
    peers: Vec<NodeId>,
    engine: SharedMemEngine,
    ks: Keyspace,
    data: BTreeMap<Bytes, Entry>,
    dirty: BTreeSet<Bytes>,
    waiters: Vec<Waiter>,
    ops: BTreeMap<u64, PendingOp>,
    next_op: u64,
    next_gossip: u64,
    now: u64,
    rng: Rng,
    out: VecDeque<Output<Msg, Resp, Ev>>,
}

fn encode(e: &Entry) -> Bytes {
    let mut v = e.stamp.to_be_bytes().to_vec();
    for s in &e.siblings {
        v.extend_from_slice(&(s.len() as u32).to_be_bytes());
        v.extend_from_slice(s);
    }
    Bytes::from(v)
}

fn decode(b: &[u8]) -> Option<Entry> {
    let stamp = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let mut rest = &b[8..];
    let mut siblings = BTreeSet::new();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        siblings.insert(Bytes::copy_from_slice(rest.get(4..4 + len)?));
        rest = &rest[4 + len..];
    }
    Some(Entry { siblings, stamp })
}

impl Toy {
    pub fn new(config: ToyConfig, start: &Start, engine: SharedMemEngine) -> Result<Self, String> {
        let ks = engine.keyspace("data").map_err(|e| e.to_string())?;
        let mut data = BTreeMap::new();
        {
            let snap = engine.snapshot().map_err(|e| e.to_string())?;
            for item in snap
                .scan(ks, KeyRange::all(), Direction::Forward)
                .map_err(|e| e.to_string())?
            {
                let (k, v) = item.map_err(|e| e.to_string())?;
                data.insert(k, decode(&v).ok_or("corrupt record")?);
            }
        }
        let mut rng = Rng::seeded(start.seed);
        let now = start.now.0;
        let next_gossip = now + rng.between(1, config.gossip_every);
        let mut out = VecDeque::new();
        out.push_back(Output::Event(Ev::Loaded { keys: data.len() }));
        Ok(Toy {
            peers: start
                .cluster
                .iter()
                .filter(|p| **p != start.id)
                .cloned()
                .collect(),
            id: start.id.clone(),
            config,
            engine,
            ks,
            data,
            dirty: BTreeSet::new(),
            waiters: Vec::new(),
            ops: BTreeMap::new(),
            next_op: 0,
            next_gossip,
            now,
            rng,
            out,
        })
    }

    pub fn factory(config: ToyConfig) -> Factory<Toy> {
        let mut disk = MemDisk::new(["data"]).expect("keyspace name");
        Box::new(move |start| {
            let engine = disk.open(start.kind).map_err(|e| e.to_string())?;
            Toy::new(config.clone(), start, engine)
        })
    }

    fn apply(&mut self, key: Bytes, remove: &[Bytes], add: Bytes, stamp: u64) {
        let e = self.data.entry(key.clone()).or_default();
        match self.config.mode {
            Mode::Merge => {
                let remove = if self.config.ignore_context {
                    &[]
                } else {
                    remove
                };
                for r in remove {
                    e.siblings.remove(r);
                }
                e.siblings.insert(add);
            }
            Mode::Lww => {
                let current = e.siblings.iter().next().cloned().unwrap_or_default();
                if e.siblings.is_empty() || (stamp, &add) > (e.stamp, &current) {
                    e.siblings = [add].into_iter().collect();
                    e.stamp = stamp;
                }
            }
        }
        self.dirty.insert(key);
    }

    fn merge(&mut self, key: Bytes, other: Entry) {
        match self.config.mode {
            Mode::Merge => {
                let e = self.data.entry(key.clone()).or_default();
                if other.siblings.is_subset(&e.siblings) {
                    return;
                }
                e.siblings.extend(other.siblings);
                self.dirty.insert(key);
            }
            Mode::Lww => {
                if let Some(v) = other.siblings.iter().next().cloned() {
                    let before = self.data.get(&key).cloned();
                    self.apply(key.clone(), &[], v, other.stamp);
                    if self.data.get(&key) == before.as_ref() {
                        self.dirty.remove(&key);
                    }
                }
            }
        }
    }

    fn commit(&mut self) {
        if self.dirty.is_empty() && self.waiters.is_empty() {
            return;
        }
        let mut batch = WriteBatch::new();
        for k in &self.dirty {
            if let Some(e) = self.data.get(k) {
                batch.put(self.ks, k.clone(), encode(e));
            }
        }
        let writes = batch.len();
        if self.engine.write(&batch, self.config.durability).is_err() {
            return;
        }
        self.dirty.clear();
        self.out.push_back(Output::Event(Ev::Committed { writes }));
        for w in std::mem::take(&mut self.waiters) {
            match w {
                Waiter::Peer { to, op } => self.out.push_back(Output::Send {
                    to,
                    message: Msg::Ack { op },
                }),
                Waiter::Local { op } => {
                    let me = self.id.clone();
                    self.acked(op, me);
                }
            }
        }
    }

    fn acked(&mut self, op: u64, by: NodeId) {
        let Some(p) = self.ops.get_mut(&op) else {
            return;
        };
        p.acked_by.insert(by);
        if p.acked_by.len() >= self.config.w {
            let client = p.client;
            self.ops.remove(&op);
            self.out.push_back(Output::Reply {
                id: client,
                response: Resp::Put(Ok(())),
            });
        }
    }

    fn timers(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(op, _)| *op)
            .collect();
        for op in expired {
            if let Some(p) = self.ops.remove(&op) {
                self.out.push_back(Output::Reply {
                    id: p.client,
                    response: Resp::Put(Err(format!(
                        "unavailable: needed {}, answered {}",
                        self.config.w,
                        p.acked_by.len()
                    ))),
                });
            }
        }
        if now >= self.next_gossip {
            self.next_gossip = now + self.config.gossip_every;
            if let Some(to) = self.rng.choose(&self.peers).cloned() {
                let state = self
                    .data
                    .iter()
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect();
                self.out.push_back(Output::Send {
                    to,
                    message: Msg::Gossip { state },
                });
            }
        }
    }
}

impl SimNode for Toy {
    type Message = Msg;
    type Request = Req;
    type Response = Resp;
    type Event = Ev;
    type Stored = Vec<Bytes>;

    fn handle(&mut self, now: Timestamp, input: Input<Req, Msg>) {
        self.now = now.0;
        match input {
            Input::Client { id, request } => match request {
                Req::Time => self.out.push_back(Output::Reply {
                    id,
                    response: Resp::Time(now.0),
                }),
                Req::Get { key } => {
                    let sibs: Vec<Bytes> = self
                        .data
                        .get(&key)
                        .map(|e| e.siblings.iter().cloned().collect())
                        .unwrap_or_default();
                    self.out.push_back(Output::Reply {
                        id,
                        response: Resp::Get(Ok((sibs.clone(), sibs))),
                    });
                }
                Req::Put {
                    key,
                    context,
                    value,
                } => {
                    let op = self.next_op;
                    self.next_op += 1;
                    let stamp = now.0;
                    self.apply(key.clone(), &context, value.clone(), stamp);
                    self.waiters.push(Waiter::Local { op });
                    self.ops.insert(
                        op,
                        PendingOp {
                            client: id,
                            acked_by: BTreeSet::new(),
                            deadline: now.0 + self.config.timeout,
                        },
                    );
                    for to in self.peers.clone() {
                        self.out.push_back(Output::Send {
                            to,
                            message: Msg::Write {
                                op,
                                key: key.clone(),
                                remove: context.clone(),
                                add: value.clone(),
                                stamp,
                            },
                        });
                    }
                }
            },
            Input::Peer { from, message } => match message {
                Msg::Write {
                    op,
                    key,
                    remove,
                    add,
                    stamp,
                } => {
                    self.apply(key, &remove, add, stamp);
                    self.waiters.push(Waiter::Peer { to: from, op });
                }
                Msg::Ack { op } => self.acked(op, from),
                Msg::Gossip { state } => {
                    for (k, e) in state {
                        self.merge(k, e);
                    }
                }
            },
            Input::Tick => {
                self.commit();
                self.timers();
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output<Msg, Resp, Ev>> {
        self.out.pop_front()
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        if !self.dirty.is_empty() || !self.waiters.is_empty() {
            return Some(Timestamp(self.now));
        }
        let op_deadline = self.ops.values().map(|p| p.deadline).min();
        Some(Timestamp(
            op_deadline.map_or(self.next_gossip, |d| d.min(self.next_gossip)),
        ))
    }

    fn dump(&self) -> Dump<Vec<Bytes>> {
        Dump {
            data: self
                .data
                .iter()
                .map(|(k, e)| (k.to_vec(), e.siblings.iter().cloned().collect()))
                .collect(),
            pending_hints: 0,
            membership: Some(format!("{:?}", self.peers.len() + 1)),
        }
    }
}

impl SetApi for Toy {
    type Context = Vec<Bytes>;

    fn get_request(_bucket: &[u8], key: &[u8]) -> Req {
        Req::Get {
            key: Bytes::copy_from_slice(key),
        }
    }

    fn put_request(_bucket: &[u8], key: &[u8], context: Vec<Bytes>, value: Bytes) -> Req {
        Req::Put {
            key: Bytes::copy_from_slice(key),
            context,
            value,
        }
    }

    fn read_result(response: &Resp) -> ReadResult<Vec<Bytes>> {
        match response {
            Resp::Get(r) => r.clone(),
            other => Err(format!("not a read answer: {other:?}")),
        }
    }

    fn write_result(response: &Resp) -> Result<(), String> {
        match response {
            Resp::Put(r) => r.clone(),
            other => Err(format!("not a write answer: {other:?}")),
        }
    }
}

/// Builds a simulation of `n` toy nodes named n0.. and starts them.
pub fn cluster(seed: u64, n: usize, config: &ToyConfig) -> dynamo_sim::Sim<Toy> {
    cluster_with(dynamo_sim::SimConfig::new(seed), n, config)
}

/// Same as [`cluster`] with explicit simulator settings.
pub fn cluster_with(
    sim_config: dynamo_sim::SimConfig,
    n: usize,
    config: &ToyConfig,
) -> dynamo_sim::Sim<Toy> {
    let mut sim = dynamo_sim::Sim::new(sim_config);
    for i in 0..n {
        let id = NodeId::new(format!("n{i}")).expect("valid id");
        sim.add_node(id, Toy::factory(config.clone()));
    }
    sim.start_all();
    sim
}
