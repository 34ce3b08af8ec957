//! Shared helpers for the version/record/context tests: actors, and random write histories
//! played through the real `SiblingSet` API on a few replicas.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use dynamo_core::version::{Actor, ContentType, Context, Dot, Limits, SiblingSet, VersioningMode};
use dynamo_core::{NodeId, Timestamp};
use proptest::prelude::*;

/// Actor of node `n{i}` in epoch `epoch`.
pub fn actor_e(i: usize, epoch: u64) -> Actor {
    Actor::new(NodeId::new(format!("n{i}")).unwrap(), epoch)
}

/// Actor of node `n{i}` in epoch 1.
pub fn actor(i: usize) -> Actor {
    actor_e(i, 1)
}

/// One step of a history.
#[derive(Debug, Clone)]
pub enum Op {
    /// A client writes through replica `replica` (which coordinates, as actor `replica`).
    /// With `read_first`, it first reads that replica and uses its context; otherwise it uses
    /// the context its previous write returned (empty at first).
    Put {
        replica: usize,
        client: usize,
        read_first: bool,
        len: usize,
    },
    /// Same, deleting.
    Delete {
        replica: usize,
        client: usize,
        read_first: bool,
    },
    /// Replica `from` sends its set to replica `to`, which merges it.
    Merge { from: usize, to: usize },
}

pub const REPLICAS: usize = 3;
pub const CLIENTS: usize = 3;

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..REPLICAS, 0..CLIENTS, any::<bool>(), 0usize..48).prop_map(
            |(replica, client, read_first, len)| Op::Put { replica, client, read_first, len }
        ),
        1 => (0..REPLICAS, 0..CLIENTS, any::<bool>())
            .prop_map(|(replica, client, read_first)| Op::Delete { replica, client, read_first }),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

pub fn history(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..max_len)
}

pub fn mode() -> impl Strategy<Value = VersioningMode> {
    prop_oneof![
        Just(VersioningMode::VClock),
        Just(VersioningMode::Dvv),
        Just(VersioningMode::Lww),
    ]
}

/// Limits for the random histories: no cap (that has its own tests), short clocks so that
/// vector-clock truncation happens.
pub fn limits() -> Limits {
    Limits {
        max_siblings: 10_000,
        max_clock_entries: 2,
    }
}

/// What a played history produced.
pub struct Played {
    pub replicas: Vec<SiblingSet>,
    /// Every write: (value, the context the client wrote with). Values are unique, except
    /// that every tombstone is empty.
    pub writes: Vec<(Bytes, Context)>,
    /// The dot each write received, in write order.
    pub dots: Vec<Dot>,
}

impl Played {
    /// Dots of the writes that no write's context covered: the ones that must survive.
    pub fn unseen_dots(&self) -> std::collections::BTreeSet<Dot> {
        self.dots
            .iter()
            .filter(|d| !self.writes.iter().any(|(_, ctx)| ctx.covers(d)))
            .cloned()
            .collect()
    }
}

/// The dots of a set's siblings.
pub fn dots_of(s: &SiblingSet) -> std::collections::BTreeSet<Dot> {
    s.entries().iter().map(|(d, _)| d.clone()).collect()
}

/// A value unique to write number `n`, `len` bytes long (at least 8).
pub fn value(n: usize, len: usize) -> Bytes {
    let mut v = (n as u64).to_be_bytes().to_vec();
    v.extend((0..len).map(|i| (i * 7 + n) as u8));
    Bytes::from(v)
}

/// Plays `ops` on fresh replicas in `mode`. Timestamps grow by one per operation.
pub fn play(mode: VersioningMode, ops: &[Op]) -> Played {
    let mut replicas: Vec<SiblingSet> = (0..REPLICAS)
        .map(|_| SiblingSet::new(mode).with_limits(limits()))
        .collect();
    let mut clients: Vec<Context> = vec![Context::new(); CLIENTS];
    let mut writes = Vec::new();
    let mut dots = Vec::new();
    let ct = ContentType::new("application/test").unwrap();
    for (t, op) in ops.iter().enumerate() {
        let now = Timestamp(1_000 + t as u64);
        match *op {
            Op::Put {
                replica,
                client,
                read_first,
                len,
            } => {
                if read_first {
                    clients[client] = replicas[replica].context();
                }
                let v = value(writes.len(), len);
                writes.push((v.clone(), clients[client].clone()));
                clients[client] = replicas[replica]
                    .apply_put(&clients[client], v, ct.clone(), &actor(replica), now)
                    .unwrap();
                dots.push(last_dot(&replicas[replica], replica));
            }
            Op::Delete {
                replica,
                client,
                read_first,
            } => {
                if read_first {
                    clients[client] = replicas[replica].context();
                }
                writes.push((Bytes::new(), clients[client].clone()));
                clients[client] = replicas[replica]
                    .apply_delete(&clients[client], &actor(replica), now)
                    .unwrap();
                dots.push(last_dot(&replicas[replica], replica));
            }
            Op::Merge { from, to } => {
                let src = replicas[from].clone();
                replicas[to].merge(&src).unwrap();
            }
        }
    }
    Played {
        replicas,
        writes,
        dots,
    }
}

/// The dot of the write replica `r` just coordinated: its actor's highest counter.
fn last_dot(set: &SiblingSet, r: usize) -> Dot {
    let a = actor(r);
    let n = set.causal().max_counter(&a);
    Dot::new(a, n)
}

/// Merges every replica into one set.
pub fn merge_all(sets: &[SiblingSet]) -> SiblingSet {
    let mut out = sets[0].clone();
    for s in &sets[1..] {
        out.merge(s).unwrap();
    }
    out
}
