//! The set-add workload, as the simulator's grow-only set: each client repeatedly picks one
//! of K set keys, reads it through the partition-aware [`ClusterClient`] (siblings merged by
//! union), adds an element no one else ever adds, and writes the set back with the read's
//! context. Every request, read or write, is recorded ([`Op`]): when it started, how long
//! it took, whether it succeeded and why not. An element whose write succeeded is
//! *acknowledged* and must be in the final read of its key; one whose write failed may or
//! may not be there (a write that was sent and not answered may have been applied).
//!
//! Clients are paced: each starts a read-modify-write cycle every `1/rate` seconds (later when
//! the last one took longer), so a fault that makes requests fail fast does not make more
//! requests, and availability is the share of a steady offered load.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dynamo_client::{ClientError, ClusterClient, PutOptions};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// One request of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// When it started, in seconds since the run's start.
    pub t: f64,
    /// The agent (client namespace) that sent it.
    #[serde(rename = "a")]
    pub agent: u8,
    /// The client task within the agent.
    #[serde(rename = "c")]
    pub client: u16,
    /// `true` for a write, `false` for a read.
    #[serde(rename = "w")]
    pub write: bool,
    /// The set key's number.
    #[serde(rename = "k")]
    pub key: u32,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why it failed (see [`error_class`]).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// The element a write added.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u64>,
    /// How many siblings a successful read returned.
    #[serde(rename = "s", default, skip_serializing_if = "is_zero")]
    pub siblings: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The bucket the sets live in.
pub const BUCKET: &str = "faults";

/// The name of set key `k`.
pub fn key_name(k: u32) -> String {
    format!("set-{k}")
}

/// The element number `seq` of client `client` of agent `agent`: unique in a run.
pub fn element(agent: u8, client: u16, seq: u64) -> u64 {
    (u64::from(agent) << 56) | (u64::from(client & 0xff) << 48) | (seq & 0xffff_ffff_ffff)
}

/// Encodes a set: 8 bytes big-endian per element, in order (the simulator's encoding).
pub fn encode_set(set: &BTreeSet<u64>) -> Bytes {
    let mut v = Vec::with_capacity(set.len() * 8);
    for e in set {
        v.extend_from_slice(&e.to_be_bytes());
    }
    Bytes::from(v)
}

/// Decodes a value made by [`encode_set`]; `None` when it is not one.
pub fn decode_set(value: &[u8]) -> Option<BTreeSet<u64>> {
    if !value.len().is_multiple_of(8) {
        return None;
    }
    value
        .chunks_exact(8)
        .map(|c| c.try_into().ok().map(u64::from_be_bytes))
        .collect()
}

/// The union of the sets of `values`, and how many values were not sets.
pub fn union<'a>(values: impl Iterator<Item = &'a Bytes>) -> (BTreeSet<u64>, usize) {
    let mut set = BTreeSet::new();
    let mut bad = 0;
    for v in values {
        match decode_set(v) {
            Some(s) => set.extend(s),
            None => bad += 1,
        }
    }
    (set, bad)
}

/// A short name for why a request failed.
pub fn error_class(e: &ClientError) -> &'static str {
    match e {
        ClientError::OutcomeUnknown { .. } => "outcome_unknown",
        ClientError::Unavailable { .. } => "unavailable",
        ClientError::Timeout(_) => "timeout",
        ClientError::Transport(_)
        | ClientError::Connect { .. }
        | ClientError::Connection(_)
        | ClientError::ConnectionClosed => "transport",
        ClientError::Overloaded { .. } => "overloaded",
        ClientError::TooManySiblings { .. } => "too_many_siblings",
        ClientError::Decode { .. } => "decode",
        _ => "other",
    }
}

/// Settings of one agent's clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// The agent's number (in every element it adds).
    pub agent: u8,
    /// Client tasks.
    pub clients: u16,
    /// Read-modify-write cycles per second per client.
    pub rate: f64,
    /// Set keys (`set-0` ...).
    pub keys: u32,
    /// Seed of the clients' key choice.
    pub seed: u64,
}

/// The running clients of one agent.
pub struct Workload {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<u64>>,
}

impl Workload {
    /// Starts the clients; each [`Op`] goes to `ops`. `clock` gives the run's time in seconds.
    pub fn start(
        spec: &WorkloadSpec,
        cluster: ClusterClient,
        clock: Arc<dyn Fn() -> f64 + Send + Sync>,
        ops: mpsc::UnboundedSender<Op>,
    ) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..spec.clients)
            .map(|client| {
                let spec = spec.clone();
                let cluster = cluster.clone();
                let clock = Arc::clone(&clock);
                let ops = ops.clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    run_client(&spec, client, &cluster, &*clock, &ops, &stop).await
                })
            })
            .collect();
        Workload { stop, tasks }
    }

    /// Stops the clients (each finishes its cycle) and returns how many requests they made.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = 0;
        for t in self.tasks {
            total += t.await.unwrap_or(0);
        }
        total
    }
}

/// One client's loop; returns its request count.
async fn run_client(
    spec: &WorkloadSpec,
    client: u16,
    cluster: &ClusterClient,
    clock: &(dyn Fn() -> f64 + Send + Sync),
    ops: &mpsc::UnboundedSender<Op>,
    stop: &AtomicBool,
) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(
        spec.seed ^ (u64::from(spec.agent) << 40) ^ (u64::from(client) << 20) ^ 0x5e7_add,
    );
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(0.01));
    // Clients start spread over one interval.
    let mut next = Instant::now() + interval.mul_f64(f64::from(client) / f64::from(spec.clients));
    let mut seq = 0u64;
    let mut requests = 0u64;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep_until(next.into()).await;
        next = (next + interval).max(Instant::now());
        let k = rng.random_range(0..spec.keys.max(1));
        let key = key_name(k);
        let record = |write: bool, t: f64, started: Instant| Op {
            t,
            agent: spec.agent,
            client,
            write,
            key: k,
            ok: true,
            error: None,
            ms: started.elapsed().as_secs_f64() * 1000.0,
            element: None,
            siblings: 0,
        };
        // Read.
        let (t, started) = (clock(), Instant::now());
        let read = cluster.get(BUCKET, &key).await;
        requests += 1;
        let mut op = record(false, t, started);
        let read = match read {
            Ok(read) => {
                op.siblings = u32::try_from(read.siblings.len()).unwrap_or(u32::MAX);
                let _ = ops.send(op);
                read
            }
            Err(e) => {
                op.ok = false;
                op.error = Some(error_class(&e).to_owned());
                let _ = ops.send(op);
                continue;
            }
        };
        let (mut set, _bad) = union(read.values());
        seq += 1;
        let x = element(spec.agent, client, seq);
        set.insert(x);
        // Write back with the read's context.
        let options = PutOptions::with_context(read.context);
        let (t, started) = (clock(), Instant::now());
        let written = cluster.put(BUCKET, &key, encode_set(&set), &options).await;
        requests += 1;
        let mut op = record(true, t, started);
        op.element = Some(x);
        if let Err(e) = written {
            op.ok = false;
            op.error = Some(error_class(&e).to_owned());
        }
        let _ = ops.send(op);
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip_and_bad_values_are_counted() {
        let set: BTreeSet<u64> = [1, 5, u64::MAX].into_iter().collect();
        let bytes = encode_set(&set);
        assert_eq!(decode_set(&bytes), Some(set.clone()));
        assert_eq!(decode_set(b"abc"), None);
        let other = encode_set(&[2].into_iter().collect());
        let bad = Bytes::from_static(b"xyz");
        let (u, n) = union([&bytes, &other, &bad].into_iter());
        assert_eq!(u.len(), 4);
        assert_eq!(n, 1);
    }

    #[test]
    fn elements_are_unique_per_agent_client_and_sequence() {
        assert_ne!(element(0, 1, 1), element(1, 1, 1));
        assert_ne!(element(0, 1, 1), element(0, 2, 1));
        assert_ne!(element(0, 1, 1), element(0, 1, 2));
    }

    #[test]
    fn ops_are_compact_json() {
        let op = Op {
            t: 1.5,
            agent: 0,
            client: 2,
            write: true,
            key: 3,
            ok: false,
            error: Some("unavailable".into()),
            ms: 2.0,
            element: Some(9),
            siblings: 0,
        };
        let line = serde_json::to_string(&op).unwrap_or_default();
        assert!(!line.contains("\"s\""), "{line}");
        let back: Op = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(back, op);
    }
}
