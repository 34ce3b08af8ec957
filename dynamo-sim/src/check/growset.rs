//! The grow-only set workload: "no acknowledged write is lost".
//!
//! Each client repeatedly picks a key and a node, reads the key (siblings and context),
//! merges the siblings by union, adds one element no one else ever adds, and writes the set
//! back with the context. When the write is acknowledged the element is recorded as
//! acknowledged. At the end every acknowledged element must appear in the final read of its
//! key — under DVV or vector clocks, concurrent writes become siblings that the union merges;
//! under last-writer-wins they overwrite each other, and the final check shows the losses.
//!
//! The workload talks to the node through [`SetApi`], a small mapping to the node's client
//! requests and responses, so that it runs against the toy nodes of the tests and the real
//! node alike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use bytes::Bytes;
use dynamo_core::rng::Rng;

use crate::network::{Addr, Millis};
use crate::node::SimNode;
use crate::sim::{Completion, Sim};
use crate::summary::Summary;

/// What a read returns to the workload: the values of the live siblings (tombstones left out)
/// and the context to write back with.
pub type ReadResult<C> = Result<(Vec<Bytes>, C), String>;

/// The client API the workload needs from a node.
pub trait SetApi: SimNode {
    /// The causal context a read returns and a write takes back.
    type Context: Clone + Debug;

    /// A request reading `key` of `bucket`.
    fn get_request(bucket: &[u8], key: &[u8]) -> Self::Request;

    /// A request writing `value` to `key` of `bucket` with the context of an earlier read.
    fn put_request(
        bucket: &[u8],
        key: &[u8],
        context: Self::Context,
        value: Bytes,
    ) -> Self::Request;

    /// The outcome of a read request; `Err` with a reason when it failed (quorum not met...).
    fn read_result(response: &Self::Response) -> ReadResult<Self::Context>;

    /// The outcome of a write request.
    ///
    /// # Errors
    /// The reason it failed, when it did.
    fn write_result(response: &Self::Response) -> Result<(), String>;
}

/// Encodes a set of elements as a value: 8 bytes big-endian per element, in order.
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

/// Settings of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowSetConfig {
    /// Concurrent clients.
    pub clients: usize,
    /// Keys the sets live under (`set-0`, `set-1`, ...).
    pub keys: usize,
    /// The bucket of the keys.
    pub bucket: Bytes,
    /// Nodes the clients talk to (each operation picks one at random); empty: every node.
    pub nodes: Vec<Addr>,
    /// Shortest pause between two operations of a client.
    pub think_min: Millis,
    /// Longest pause between two operations of a client.
    pub think_max: Millis,
    /// No operation starts at or after this virtual time.
    pub stop_at: Millis,
}

impl Default for GrowSetConfig {
    fn default() -> Self {
        GrowSetConfig {
            clients: 5,
            keys: 3,
            bucket: Bytes::from_static(b"sets"),
            nodes: Vec::new(),
            think_min: 5,
            think_max: 50,
            stop_at: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read {
        client: usize,
        key: usize,
    },
    Write {
        client: usize,
        key: usize,
        element: u64,
    },
    Final {
        key: usize,
    },
}

/// The result of the final check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrowSetReport {
    /// Writes acknowledged.
    pub acknowledged: u64,
    /// Writes that failed or were never answered: their element may or may not be stored.
    pub indeterminate: u64,
    /// Reads of the workload that failed.
    pub failed_reads: u64,
    /// Values read that were not sets (a node returned something no client wrote).
    pub undecodable: u64,
    /// Most siblings seen in one read.
    pub max_siblings: u64,
    /// Final reads answered successfully.
    pub final_reads: u64,
    /// Final reads that failed.
    pub final_reads_failed: u64,
    /// Acknowledged elements missing from at least one successful final read of their key:
    /// (key, element).
    pub lost: Vec<(String, u64)>,
    /// Why operations failed, with counts (the first [`MAX_REASONS`] distinct reasons).
    pub failure_reasons: BTreeMap<String, u64>,
}

/// How many distinct failure reasons a [`GrowSetReport`] keeps.
pub const MAX_REASONS: usize = 20;

impl GrowSetReport {
    /// Adds the workload's figures to a run's summary.
    pub fn fill(&self, summary: &mut Summary) {
        summary.acknowledged_writes += self.acknowledged;
        summary.indeterminate_writes += self.indeterminate;
        summary.lost_writes += self.lost.len() as u64;
        summary.max_siblings = summary.max_siblings.max(self.max_siblings);
    }

    /// `Ok` when nothing acknowledged was lost, no value was garbage, and the final reads
    /// were answered.
    ///
    /// # Errors
    /// What went wrong, with the first lost elements.
    pub fn check(&self) -> Result<(), String> {
        if !self.lost.is_empty() {
            let shown: Vec<_> = self.lost.iter().take(10).collect();
            return Err(format!(
                "{} acknowledged elements lost (of {}): {shown:?}",
                self.lost.len(),
                self.acknowledged
            ));
        }
        if self.undecodable > 0 {
            return Err(format!("{} values were not sets", self.undecodable));
        }
        if self.final_reads == 0 || self.final_reads_failed > 0 {
            return Err(format!(
                "final reads: {} answered, {} failed; failures: {:?}",
                self.final_reads, self.final_reads_failed, self.failure_reasons
            ));
        }
        Ok(())
    }
}

/// The workload's state; drive it with [`GrowSet::run`], finish with [`GrowSet::final_check`].
#[derive(Debug)]
pub struct GrowSet<N: SetApi> {
    config: GrowSetConfig,
    rng: Rng,
    ops: BTreeMap<u64, Op>,
    next_element: Vec<u32>,
    acked: BTreeMap<usize, BTreeSet<u64>>,
    /// When each acknowledged element was acknowledged, in virtual time.
    acked_at: BTreeMap<(usize, u64), Millis>,
    finals: BTreeMap<usize, Vec<Option<BTreeSet<u64>>>>,
    report: GrowSetReport,
    finishing: bool,
    _node: std::marker::PhantomData<fn() -> N>,
}

impl<N: SetApi> GrowSet<N> {
    /// A workload drawing from a generator forked from the simulation's.
    pub fn new(config: GrowSetConfig, sim: &mut Sim<N>) -> Self {
        let rng = sim.rng().fork();
        GrowSet {
            next_element: vec![0; config.clients],
            config,
            rng,
            ops: BTreeMap::new(),
            acked: BTreeMap::new(),
            acked_at: BTreeMap::new(),
            finals: BTreeMap::new(),
            report: GrowSetReport::default(),
            finishing: false,
            _node: std::marker::PhantomData,
        }
    }

    /// The name of key number `key`.
    pub fn key_name(key: usize) -> String {
        format!("set-{key}")
    }

    /// When `element` of the key called `key_name` was acknowledged, in virtual time (for
    /// checkers that bound *when* a lost element may have been written).
    pub fn acknowledged_at(&self, key_name: &str, element: u64) -> Option<Millis> {
        let key = key_name.strip_prefix("set-")?.parse().ok()?;
        self.acked_at.get(&(key, element)).copied()
    }

    /// Elements acknowledged so far, by key number.
    pub fn acknowledged(&self) -> &BTreeMap<usize, BTreeSet<u64>> {
        &self.acked
    }

    /// Figures so far.
    pub fn report(&self) -> &GrowSetReport {
        &self.report
    }

    /// Schedules every client's first operation (within `think_max` from now).
    pub fn start(&mut self, sim: &mut Sim<N>) {
        for client in 0..self.config.clients {
            let at = sim.now() + self.rng.between(0, self.config.think_max);
            self.read_at(sim, client, at);
        }
    }

    /// Runs the simulation until `until`, feeding the workload's completions back into it.
    pub fn run(&mut self, sim: &mut Sim<N>, until: Millis) {
        sim.run_until_with(until, |sim, c| {
            self.on_completion(sim, c);
        });
    }

    /// Handles a finished request; returns false when it was not one of the workload's.
    pub fn on_completion(&mut self, sim: &mut Sim<N>, c: Completion<N::Response>) -> bool {
        let Some(op) = self.ops.remove(&c.id) else {
            return false;
        };
        match op {
            Op::Read { .. } if self.finishing => {}
            Op::Read { client, key } => {
                match c
                    .result
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|r| N::read_result(&r))
                {
                    Ok((siblings, context)) => {
                        let mut set = self.union(&siblings);
                        let element = (client as u64) << 32 | u64::from(self.next_element[client]);
                        self.next_element[client] += 1;
                        set.insert(element);
                        let request = N::put_request(
                            &self.config.bucket,
                            Self::key_name(key).as_bytes(),
                            context,
                            encode_set(&set),
                        );
                        let node = self.pick_node(sim);
                        let id = sim.submit(node, request);
                        self.ops.insert(
                            id,
                            Op::Write {
                                client,
                                key,
                                element,
                            },
                        );
                    }
                    Err(e) => {
                        self.report.failed_reads += 1;
                        self.reason("read", e);
                        self.next(sim, client);
                    }
                }
            }
            Op::Write {
                client,
                key,
                element,
            } => {
                match c
                    .result
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|r| N::write_result(&r))
                {
                    Ok(()) => {
                        self.report.acknowledged += 1;
                        self.acked.entry(key).or_default().insert(element);
                        self.acked_at.insert((key, element), c.completed_at);
                    }
                    Err(e) => {
                        self.report.indeterminate += 1;
                        self.reason("write", e);
                    }
                }
                self.next(sim, client);
            }
            Op::Final { key } => {
                let read = c
                    .result
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|r| N::read_result(&r));
                let got = match read {
                    Ok((siblings, _)) => {
                        self.report.final_reads += 1;
                        Some(self.union(&siblings))
                    }
                    Err(e) => {
                        self.report.final_reads_failed += 1;
                        self.reason("final read", e);
                        None
                    }
                };
                self.finals.entry(key).or_default().push(got);
            }
        }
        true
    }

    /// Stops the clients, waits (at most `timeout` ms) for their operations in flight — those
    /// still unanswered count as indeterminate —, then reads every key from every running
    /// node, waits for the answers (at most `timeout` ms again), and checks that every
    /// acknowledged element is in every successful read.
    ///
    /// Call it after healing the faults and letting the cluster converge.
    pub fn final_check(&mut self, sim: &mut Sim<N>, timeout: Millis) -> GrowSetReport {
        // First let the workload's own operations finish, so that no write is acknowledged
        // after the final read of its key (that would look like a loss).
        self.finishing = true;
        let deadline = sim.now() + timeout;
        while sim.now() < deadline && !self.ops.is_empty() {
            if !sim.step(deadline) {
                break;
            }
            for c in sim.take_completions() {
                self.on_completion(sim, c);
            }
        }
        for op in std::mem::take(&mut self.ops).into_values() {
            if let Op::Write { .. } = op {
                self.report.indeterminate += 1;
            }
        }
        for key in 0..self.config.keys {
            for node in sim.up_nodes() {
                let request = N::get_request(&self.config.bucket, Self::key_name(key).as_bytes());
                let id = sim.submit(node, request);
                self.ops.insert(id, Op::Final { key });
            }
        }
        let deadline = sim.now() + timeout;
        while sim.now() < deadline && !self.ops.is_empty() {
            if !sim.step(deadline) {
                break;
            }
            for c in sim.take_completions() {
                self.on_completion(sim, c);
            }
        }
        for op in std::mem::take(&mut self.ops).into_values() {
            match op {
                Op::Final { .. } => self.report.final_reads_failed += 1,
                Op::Read { .. } | Op::Write { .. } => {}
            }
        }
        let mut lost = BTreeSet::new();
        for (key, elements) in &self.acked {
            for read in self.finals.get(key).into_iter().flatten().flatten() {
                for e in elements.difference(read) {
                    lost.insert((Self::key_name(*key), *e));
                }
            }
        }
        self.report.lost = lost.into_iter().collect();
        self.report.clone()
    }

    /// Checks that siblings come only from concurrency: once the workload has stopped, for
    /// each key, reads it at `node`, writes the union of its siblings back with the read's
    /// context, and reads it again, which must show exactly one sibling holding the union.
    /// Run it after [`GrowSet::final_check`], on a healed and quiet cluster. Returns the
    /// most siblings the first reads showed.
    ///
    /// # Errors
    /// The first key where a request failed or the write did not resolve the siblings.
    pub fn check_resolves(
        &mut self,
        sim: &mut Sim<N>,
        node: Addr,
        timeout: Millis,
    ) -> Result<u64, String> {
        self.finishing = true;
        let mut most = 0;
        let bucket = self.config.bucket.clone();
        for key in 0..self.config.keys {
            let name = Self::key_name(key);
            let read = |sim: &mut Sim<N>| {
                let request = N::get_request(&bucket, name.as_bytes());
                let c = sim
                    .call(node, request, timeout)
                    .ok_or_else(|| format!("{name}: read unanswered"))?;
                let response = c.result.map_err(|e| format!("{name}: read {e:?}"))?;
                N::read_result(&response).map_err(|e| format!("{name}: read {e}"))
            };
            let (siblings, context) = read(sim)?;
            most = most.max(siblings.len() as u64);
            let union = self.union(&siblings);
            let request = N::put_request(&bucket, name.as_bytes(), context, encode_set(&union));
            let c = sim
                .call(node, request, timeout)
                .ok_or_else(|| format!("{name}: write unanswered"))?;
            let response = c.result.map_err(|e| format!("{name}: write {e:?}"))?;
            N::write_result(&response).map_err(|e| format!("{name}: write {e}"))?;
            let (after, _) = read(sim)?;
            let values: Vec<Option<BTreeSet<u64>>> = after.iter().map(|v| decode_set(v)).collect();
            if values != [Some(union.clone())] {
                return Err(format!(
                    "{name}: a write with the merged context of {} siblings left {} siblings",
                    siblings.len(),
                    after.len()
                ));
            }
        }
        Ok(most)
    }

    fn reason(&mut self, what: &str, why: String) {
        let key = format!("{what}: {why}");
        let reasons = &mut self.report.failure_reasons;
        if let Some(n) = reasons.get_mut(&key) {
            *n += 1;
        } else if reasons.len() < MAX_REASONS {
            reasons.insert(key, 1);
        }
    }

    fn union(&mut self, siblings: &[Bytes]) -> BTreeSet<u64> {
        self.report.max_siblings = self.report.max_siblings.max(siblings.len() as u64);
        let mut set = BTreeSet::new();
        for s in siblings {
            match decode_set(s) {
                Some(part) => set.extend(part),
                None => self.report.undecodable += 1,
            }
        }
        set
    }

    fn pick_node(&mut self, sim: &Sim<N>) -> Addr {
        if self.config.nodes.is_empty() {
            self.rng.below(sim.len() as u64) as Addr
        } else {
            self.config.nodes[self.rng.below(self.config.nodes.len() as u64) as usize]
        }
    }

    fn next(&mut self, sim: &mut Sim<N>, client: usize) {
        let pause = self
            .rng
            .between(self.config.think_min, self.config.think_max);
        self.read_at(sim, client, sim.now() + pause);
    }

    fn read_at(&mut self, sim: &mut Sim<N>, client: usize, at: Millis) {
        if self.finishing || at >= self.config.stop_at {
            return;
        }
        let key = self.rng.below(self.config.keys as u64) as usize;
        let node = self.pick_node(sim);
        let request = N::get_request(&self.config.bucket, Self::key_name(key).as_bytes());
        let id = sim.submit_at(at, node, request);
        self.ops.insert(id, Op::Read { client, key });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_encoding_round_trips_and_rejects_garbage() {
        let set: BTreeSet<u64> = [1, 5, u64::MAX, 1 << 40].into_iter().collect();
        assert_eq!(decode_set(&encode_set(&set)), Some(set));
        assert_eq!(decode_set(b""), Some(BTreeSet::new()));
        assert_eq!(decode_set(b"abc"), None);
    }
}
