//! Deletes that stay deleted: a delete-heavy workload and its resurrection checker.
//!
//! # The workload ([`DeleteLoad`])
//!
//! Each client repeatedly picks a key of a small key space and a node, reads the key, and
//! then either deletes it with the read's context ([`DeleteLoadConfig::delete_per_million`]
//! of the time) or writes a new value with that context. Every put writes a value no other
//! put ever writes (a number, [`encode_value`]), so that a value read maps to exactly one
//! put. Everything is recorded in an [`OpRecord`] history: what each read returned, which
//! read's context each put and delete wrote with (and the context itself, rendered), when
//! each operation was handed to its node and when it finished, and whether it was
//! acknowledged, failed, or never answered.
//!
//! # What counts as a resurrection
//!
//! A delete with context `C` writes a tombstone that replaces exactly the versions `C` has
//! seen; a put `C` has not seen (concurrent, or blind) is a sibling of the tombstone, not
//! something the delete removed. The checker computes what a delete covered from the history
//! alone, without trusting the node's clocks: the values its read returned, and, since the put
//! of each of those values wrote with the context of an earlier read, everything that read
//! covered, transitively. (A read that returned only tombstones covers them too, but the
//! history cannot tell which delete a tombstone came from, so the checker leaves that edge
//! out: what it computes is a subset of what the context covered, so it never reports a value
//! the delete did not replace.) A put whose outcome is unknown (failed, timed out, node down)
//! may or may not have been applied; its value is simply allowed, unless a later acknowledged
//! delete read and covered it.
//!
//! The rule: **a value covered by an acknowledged delete must never be read again after that
//! delete's acknowledgement.** Dynamo's sloppy quorums allow stale reads, though: a delete
//! acknowledged by one replica and a hint holder leaves the other replicas with the old value
//! until handoff, read repair or anti-entropy reach them, and a read served by them returns
//! it. Those reads are not resurrections — the tombstone still exists and replaces the value
//! wherever they meet. A value can only *come back* once the tombstone is gone, and the reaper
//! removes no tombstone younger than its grace period. So [`check_history`] takes a staleness
//! allowance (`stale_ms`, the grace period in the scenarios): a read of a covered value that
//! starts within that time of the delete's acknowledgement is counted as stale
//! ([`ResurrectionReport::stale_reads`], with the longest such staleness), and one that starts
//! later is a resurrection. The scenarios' faults all heal well within the grace (the design's
//! contract, see `scenario::deletes`), so a stale read past it is a bug; the final reads,
//! taken once the cluster converged and every tombstone past its grace was reaped, are
//! checked by the same rule.

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::Bytes;
use dynamo_core::rng::Rng;

use crate::check::growset::SetApi;
use crate::network::{Addr, Millis};
use crate::sim::{Completion, Sim};
use crate::summary::Summary;

/// The client API the delete workload needs beyond [`SetApi`]'s reads and writes.
pub trait DeleteApi: SetApi {
    /// A request deleting `key` of `bucket`, replacing what `context` has seen.
    fn delete_request(bucket: &[u8], key: &[u8], context: Self::Context) -> Self::Request;

    /// The outcome of a delete request.
    ///
    /// # Errors
    /// The reason it failed, when it did.
    fn delete_result(response: &Self::Response) -> Result<(), String>;
}

/// Encodes a value number as the bytes a put writes (8 bytes, big-endian).
pub fn encode_value(value: u64) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Decodes bytes made by [`encode_value`]; `None` when they are not 8 bytes.
pub fn decode_value(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// What an operation of the history was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// A read; the live values it returned (tombstones left out; empty when it failed).
    Read {
        /// The values, as numbers.
        values: Vec<u64>,
    },
    /// A put of a value no other put writes.
    Put {
        /// The value, as a number.
        value: u64,
    },
    /// A delete.
    Delete,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged (a read: answered).
    Ok,
    /// Answered with an error, or failed on a node that was down: a write may still have
    /// been applied by some replicas.
    Failed(String),
    /// Never answered before the run ended: a write may or may not have been applied.
    Unknown,
}

/// One operation of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// The client that issued it (`None`: the final reads of the check).
    pub client: Option<usize>,
    /// The key's number.
    pub key: usize,
    /// What it was.
    pub kind: OpKind,
    /// For a put or a delete: the index in the history of the read whose context it wrote
    /// with (`None`: the empty context).
    pub context_from: Option<usize>,
    /// The context it wrote with, rendered (empty for reads).
    pub context: String,
    /// When it was handed to its node.
    pub invoked_at: Millis,
    /// When it finished (`None`: never).
    pub completed_at: Option<Millis>,
    /// How it ended.
    pub outcome: Outcome,
}

/// A value read after an acknowledged delete covered it, once the staleness allowance had
/// passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resurrection {
    /// The key's number.
    pub key: usize,
    /// The value read again.
    pub value: u64,
    /// Index of the acknowledged delete that covered it (the earliest acknowledged).
    pub delete: usize,
    /// When that delete was acknowledged.
    pub deleted_at: Millis,
    /// Index of the read that returned it.
    pub read: usize,
    /// When that read was handed to its node.
    pub read_at: Millis,
}

/// What [`check_history`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResurrectionReport {
    /// Reads answered.
    pub reads: u64,
    /// Reads that failed or were never answered.
    pub failed_reads: u64,
    /// Puts acknowledged.
    pub puts_acknowledged: u64,
    /// Puts failed or never answered (they may or may not have been applied).
    pub puts_indeterminate: u64,
    /// Deletes acknowledged.
    pub deletes_acknowledged: u64,
    /// Deletes failed or never answered.
    pub deletes_indeterminate: u64,
    /// Distinct values some acknowledged delete covered.
    pub values_deleted: u64,
    /// Reads that returned a covered value within the staleness allowance of the delete
    /// that covered it (allowed: sloppy quorums serve stale replicas).
    pub stale_reads: u64,
    /// The longest time from a delete's acknowledgement to the start of a stale read of a
    /// value it covered.
    pub max_staleness_ms: Millis,
    /// Values read that no put of that key wrote (key number, value): a node made them up.
    pub unknown_values: Vec<(usize, u64)>,
    /// Values read again past the allowance: the resurrections.
    pub resurrections: Vec<Resurrection>,
}

impl ResurrectionReport {
    /// `Ok` when nothing was resurrected and every value read was written by a put.
    ///
    /// # Errors
    /// The first resurrections or unknown values, described.
    pub fn check(&self) -> Result<(), String> {
        if !self.resurrections.is_empty() {
            let shown: Vec<String> = self
                .resurrections
                .iter()
                .take(5)
                .map(|r| {
                    format!(
                        "key {} value {} deleted by op {} acknowledged at {} ms, read again by op {} \
                         at {} ms",
                        r.key, r.value, r.delete, r.deleted_at, r.read, r.read_at
                    )
                })
                .collect();
            return Err(format!(
                "{} reads of deleted values ({} values deleted): {}",
                self.resurrections.len(),
                self.values_deleted,
                shown.join("; ")
            ));
        }
        if !self.unknown_values.is_empty() {
            return Err(format!(
                "values no put wrote were read (key, value): {:?}",
                &self.unknown_values[..self.unknown_values.len().min(10)]
            ));
        }
        Ok(())
    }

    /// Adds the figures to a run's summary.
    pub fn fill(&self, summary: &mut Summary) {
        summary.acknowledged_writes += self.puts_acknowledged;
        summary.indeterminate_writes += self.puts_indeterminate;
        summary.acknowledged_deletes += self.deletes_acknowledged;
        summary.stale_reads += self.stale_reads;
        summary.max_staleness_ms = summary.max_staleness_ms.max(self.max_staleness_ms);
        summary.resurrections += self.resurrections.len() as u64;
    }
}

/// Checks a history for resurrections (see the [module documentation](self)): a read
/// starting `stale_ms` or more after the acknowledgement of a delete that covered a value it
/// returns is one.
pub fn check_history(history: &[OpRecord], stale_ms: Millis) -> ResurrectionReport {
    let mut report = ResurrectionReport::default();
    // Which put wrote each value.
    let mut writer: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        let acked = op.outcome == Outcome::Ok;
        match &op.kind {
            OpKind::Put { value } => {
                writer.insert(*value, i);
                if acked {
                    report.puts_acknowledged += 1;
                } else {
                    report.puts_indeterminate += 1;
                }
            }
            OpKind::Delete if acked => report.deletes_acknowledged += 1,
            OpKind::Delete => report.deletes_indeterminate += 1,
            OpKind::Read { .. } if acked => report.reads += 1,
            OpKind::Read { .. } => report.failed_reads += 1,
        }
    }
    // For each value, the earliest acknowledgement of a delete that covered it. Deletes are
    // taken in order of acknowledgement, so a value already reached by an earlier one (and
    // with it everything it covers) need not be walked again.
    let mut deletes: Vec<(Millis, usize)> = history
        .iter()
        .enumerate()
        .filter(|(_, op)| op.kind == OpKind::Delete && op.outcome == Outcome::Ok)
        .filter_map(|(i, op)| op.completed_at.map(|t| (t, i)))
        .collect();
    deletes.sort_unstable();
    let mut covered_by: BTreeMap<u64, (Millis, usize)> = BTreeMap::new();
    for (acked_at, d) in deletes {
        let mut stack: Vec<usize> = history[d].context_from.into_iter().collect();
        while let Some(read) = stack.pop() {
            let Some(OpRecord {
                kind: OpKind::Read { values },
                ..
            }) = history.get(read)
            else {
                continue;
            };
            for v in values {
                if covered_by.contains_key(v) {
                    continue;
                }
                covered_by.insert(*v, (acked_at, d));
                if let Some(from) = writer.get(v).and_then(|&p| history[p].context_from) {
                    stack.push(from);
                }
            }
        }
    }
    report.values_deleted = covered_by.len() as u64;
    for (i, op) in history.iter().enumerate() {
        let OpKind::Read { values } = &op.kind else {
            continue;
        };
        for v in values {
            let done = op.completed_at.unwrap_or(Millis::MAX);
            if writer
                .get(v)
                .is_none_or(|&p| history[p].key != op.key || history[p].invoked_at > done)
            {
                report.unknown_values.push((op.key, *v));
                continue;
            }
            let Some(&(deleted_at, delete)) = covered_by.get(v) else {
                continue;
            };
            if op.invoked_at < deleted_at {
                continue; // read before the delete was acknowledged
            }
            let staleness = op.invoked_at - deleted_at;
            if staleness < stale_ms {
                report.stale_reads += 1;
                report.max_staleness_ms = report.max_staleness_ms.max(staleness);
            } else {
                report.resurrections.push(Resurrection {
                    key: op.key,
                    value: *v,
                    delete,
                    deleted_at,
                    read: i,
                    read_at: op.invoked_at,
                });
            }
        }
    }
    report
}

/// Settings of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteLoadConfig {
    /// Concurrent clients.
    pub clients: usize,
    /// Keys (`del-0`, `del-1`, ...).
    pub keys: usize,
    /// The bucket of the keys.
    pub bucket: Bytes,
    /// Nodes the clients talk to (each operation picks one at random); empty: every node.
    pub nodes: Vec<Addr>,
    /// Share of the writes that are deletes, per million.
    pub delete_per_million: u32,
    /// How many keys the clients work on at a time (0: all of them). The hot keys are
    /// consecutive (wrapping) and move on by half their number every `hot_phase_ms`, so each
    /// key is written for a while, then left alone (long enough, with a short grace, for its
    /// tombstone to be reaped), then written again.
    pub hot_keys: usize,
    /// How long the hot keys stay the same.
    pub hot_phase_ms: Millis,
    /// Shortest pause between two operations of a client.
    pub think_min: Millis,
    /// Longest pause between two operations of a client.
    pub think_max: Millis,
    /// No operation starts at or after this virtual time.
    pub stop_at: Millis,
}

impl Default for DeleteLoadConfig {
    fn default() -> Self {
        DeleteLoadConfig {
            clients: 6,
            keys: 4,
            bucket: Bytes::from_static(b"deletes"),
            nodes: Vec::new(),
            delete_per_million: 400_000,
            hot_keys: 0,
            hot_phase_ms: 4_000,
            think_min: 5,
            think_max: 50,
            stop_at: 10_000,
        }
    }
}

/// The delete-heavy workload; drive it with [`DeleteLoad::run`], read everything at the end
/// with [`DeleteLoad::final_reads`], check with [`DeleteLoad::check`].
#[derive(Debug)]
pub struct DeleteLoad<N: DeleteApi> {
    config: DeleteLoadConfig,
    rng: Rng,
    /// Requests in flight: simulator id to (history index, client).
    ops: BTreeMap<u64, (usize, Option<usize>)>,
    history: Vec<OpRecord>,
    next_value: u64,
    finishing: bool,
    _node: std::marker::PhantomData<fn() -> N>,
}

impl<N: DeleteApi> DeleteLoad<N> {
    /// A workload drawing from a generator forked from the simulation's.
    pub fn new(config: DeleteLoadConfig, sim: &mut Sim<N>) -> Self {
        DeleteLoad {
            rng: sim.rng().fork(),
            config,
            ops: BTreeMap::new(),
            history: Vec::new(),
            next_value: 1,
            finishing: false,
            _node: std::marker::PhantomData,
        }
    }

    /// The name of key number `key`.
    pub fn key_name(key: usize) -> String {
        format!("del-{key}")
    }

    /// The history so far.
    pub fn history(&self) -> &[OpRecord] {
        &self.history
    }

    /// The workload's settings.
    pub fn config(&self) -> &DeleteLoadConfig {
        &self.config
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

    /// Stops the clients and waits (at most `timeout` ms) for their operations in flight;
    /// those still unanswered stay [`Outcome::Unknown`].
    pub fn stop(&mut self, sim: &mut Sim<N>, timeout: Millis) {
        self.finishing = true;
        self.wait(sim, timeout);
        self.ops.clear();
    }

    /// Reads every key from every running node (recorded as reads of no client) and waits
    /// for the answers (at most `timeout` ms); returns, per key, the values of each
    /// successful read. Call it after [`DeleteLoad::stop`], on a healed cluster.
    pub fn final_reads(&mut self, sim: &mut Sim<N>, timeout: Millis) -> Vec<Vec<Vec<u64>>> {
        self.finishing = true;
        let first = self.history.len();
        for key in 0..self.config.keys {
            for node in sim.up_nodes() {
                self.submit_read(sim, None, key, node, sim.now());
            }
        }
        self.wait(sim, timeout);
        self.ops.clear();
        let mut out = vec![Vec::new(); self.config.keys];
        for op in &self.history[first..] {
            if let (OpKind::Read { values }, Outcome::Ok) = (&op.kind, &op.outcome) {
                let mut values = values.clone();
                values.sort_unstable();
                out[op.key].push(values);
            }
        }
        out
    }

    /// Reads `key` at `node` and waits for the answer (at most `timeout` ms): a blocking
    /// client step for scripted scenarios. Returns the history index of the read.
    pub fn read_now(&mut self, sim: &mut Sim<N>, node: Addr, key: usize, timeout: Millis) -> usize {
        let i = self.submit_read(sim, None, key, node, sim.now());
        self.wait(sim, timeout);
        i
    }

    /// Reads `key` at `node`, writes a new value with the read's context and waits for the
    /// answer (at most `timeout` ms each); returns the history index of the put (`None` when
    /// the read was not answered in time).
    pub fn put_now(
        &mut self,
        sim: &mut Sim<N>,
        node: Addr,
        key: usize,
        timeout: Millis,
    ) -> Option<usize> {
        self.write_now(sim, node, key, false, timeout)
    }

    /// Reads `key` at `node`, deletes it with the read's context and waits for the answer (at
    /// most `timeout` ms each); returns the history index of the delete (`None` when the read
    /// was not answered in time).
    pub fn delete_now(
        &mut self,
        sim: &mut Sim<N>,
        node: Addr,
        key: usize,
        timeout: Millis,
    ) -> Option<usize> {
        self.write_now(sim, node, key, true, timeout)
    }

    fn write_now(
        &mut self,
        sim: &mut Sim<N>,
        node: Addr,
        key: usize,
        delete: bool,
        timeout: Millis,
    ) -> Option<usize> {
        let request = N::get_request(&self.config.bucket, Self::key_name(key).as_bytes());
        let c = sim.call(node, request, timeout)?;
        let read = self.history.len();
        let context = self.record_read(None, key, &c)?;
        let i = self.submit_write(sim, None, key, node, read, context, delete);
        self.wait(sim, timeout);
        Some(i)
    }

    /// Checks the history so far (see [`check_history`]).
    pub fn check(&self, stale_ms: Millis) -> ResurrectionReport {
        check_history(&self.history, stale_ms)
    }

    /// Handles a finished request; returns false when it was not one of the workload's.
    pub fn on_completion(&mut self, sim: &mut Sim<N>, c: Completion<N::Response>) -> bool {
        let Some((i, client)) = self.ops.remove(&c.id) else {
            return false;
        };
        let key = self.history[i].key;
        match self.history[i].kind {
            OpKind::Read { .. } => {
                let context = self.complete_read(i, &c);
                match (client, context) {
                    (Some(client), Some(context)) if !self.finishing => {
                        let delete = self.rng.chance(self.config.delete_per_million);
                        let node = self.pick_node(sim);
                        self.submit_write(sim, Some(client), key, node, i, context, delete);
                    }
                    (Some(client), _) => self.next(sim, client),
                    (None, _) => {}
                }
            }
            OpKind::Put { .. } | OpKind::Delete => {
                let op = &mut self.history[i];
                op.invoked_at = c.submitted_at;
                op.completed_at = Some(c.completed_at);
                let result = c.result.map_err(|e| format!("{e:?}")).and_then(|r| {
                    if op.kind == OpKind::Delete {
                        N::delete_result(&r)
                    } else {
                        N::write_result(&r)
                    }
                });
                op.outcome = match result {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Failed(e),
                };
                if let Some(client) = client {
                    self.next(sim, client);
                }
            }
        }
        true
    }

    /// Records a read finished outside the workload's loop (a blocking call); returns its
    /// context when it succeeded.
    fn record_read(
        &mut self,
        client: Option<usize>,
        key: usize,
        c: &Completion<N::Response>,
    ) -> Option<N::Context> {
        self.history.push(OpRecord {
            client,
            key,
            kind: OpKind::Read { values: Vec::new() },
            context_from: None,
            context: String::new(),
            invoked_at: c.submitted_at,
            completed_at: None,
            outcome: Outcome::Unknown,
        });
        self.complete_read(self.history.len() - 1, c)
    }

    fn complete_read(&mut self, i: usize, c: &Completion<N::Response>) -> Option<N::Context> {
        let op = &mut self.history[i];
        op.invoked_at = c.submitted_at;
        op.completed_at = Some(c.completed_at);
        let result = c
            .result
            .clone()
            .map_err(|e| format!("{e:?}"))
            .and_then(|r| N::read_result(&r));
        match result {
            Ok((values, context)) => {
                // A value that is not a number is recorded as one no put wrote.
                let values = values
                    .iter()
                    .map(|v| decode_value(v).unwrap_or(0))
                    .collect();
                op.kind = OpKind::Read { values };
                op.outcome = Outcome::Ok;
                Some(context)
            }
            Err(e) => {
                op.outcome = Outcome::Failed(e);
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn submit_write(
        &mut self,
        sim: &mut Sim<N>,
        client: Option<usize>,
        key: usize,
        node: Addr,
        read: usize,
        context: N::Context,
        delete: bool,
    ) -> usize {
        let name = Self::key_name(key);
        let rendered = format!("{context:?}");
        let (kind, request) = if delete {
            let request = N::delete_request(&self.config.bucket, name.as_bytes(), context);
            (OpKind::Delete, request)
        } else {
            let value = self.next_value;
            self.next_value += 1;
            let request = N::put_request(
                &self.config.bucket,
                name.as_bytes(),
                context,
                encode_value(value),
            );
            (OpKind::Put { value }, request)
        };
        let i = self.history.len();
        self.history.push(OpRecord {
            client,
            key,
            kind,
            context_from: Some(read),
            context: rendered,
            invoked_at: sim.now(),
            completed_at: None,
            outcome: Outcome::Unknown,
        });
        let id = sim.submit(node, request);
        self.ops.insert(id, (i, client));
        i
    }

    fn submit_read(
        &mut self,
        sim: &mut Sim<N>,
        client: Option<usize>,
        key: usize,
        node: Addr,
        at: Millis,
    ) -> usize {
        let request = N::get_request(&self.config.bucket, Self::key_name(key).as_bytes());
        let i = self.history.len();
        self.history.push(OpRecord {
            client,
            key,
            kind: OpKind::Read { values: Vec::new() },
            context_from: None,
            context: String::new(),
            invoked_at: at,
            completed_at: None,
            outcome: Outcome::Unknown,
        });
        let id = sim.submit_at(at, node, request);
        self.ops.insert(id, (i, client));
        i
    }

    /// Runs until every operation of the workload in flight finished (at most `timeout` ms).
    fn wait(&mut self, sim: &mut Sim<N>, timeout: Millis) {
        let deadline = sim.now() + timeout;
        while !self.ops.is_empty() && sim.step(deadline) {
            for c in sim.take_completions() {
                self.on_completion(sim, c);
            }
        }
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
        let key = self.pick_key(at);
        let node = self.pick_node(sim);
        self.submit_read(sim, Some(client), key, node, at);
    }

    /// A key among the hot ones at `at`.
    fn pick_key(&mut self, at: Millis) -> usize {
        let keys = self.config.keys.max(1);
        let hot = self.config.hot_keys;
        if hot == 0 || hot >= keys {
            return self.rng.below(keys as u64) as usize;
        }
        let phase = at / self.config.hot_phase_ms.max(1);
        let shift = (hot / 2).max(1) as u64;
        let first = (phase.wrapping_mul(shift) % keys as u64) as usize;
        (first + self.rng.below(hot as u64) as usize) % keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small history builder: operations in the order given, one key unless said.
    #[derive(Default)]
    struct H(Vec<OpRecord>);

    impl H {
        fn push(&mut self, kind: OpKind, from: Option<usize>, at: Millis, done: Millis) -> usize {
            self.push_outcome(kind, from, at, Some(done), Outcome::Ok)
        }

        fn push_outcome(
            &mut self,
            kind: OpKind,
            from: Option<usize>,
            at: Millis,
            done: Option<Millis>,
            outcome: Outcome,
        ) -> usize {
            self.0.push(OpRecord {
                client: Some(0),
                key: 0,
                kind,
                context_from: from,
                context: String::new(),
                invoked_at: at,
                completed_at: done,
                outcome,
            });
            self.0.len() - 1
        }

        fn read(&mut self, values: &[u64], at: Millis) -> usize {
            let values = values.to_vec();
            self.push(OpKind::Read { values }, None, at, at + 2)
        }

        fn put(&mut self, value: u64, from: usize, at: Millis) -> usize {
            self.push(OpKind::Put { value }, Some(from), at, at + 5)
        }

        fn delete(&mut self, from: usize, at: Millis) -> usize {
            self.push(OpKind::Delete, Some(from), at, at + 5)
        }
    }

    const STALE: Millis = 1_000;

    #[test]
    fn a_deleted_value_read_again_after_the_allowance_is_a_resurrection() {
        let mut h = H::default();
        let r0 = h.read(&[], 0);
        h.put(1, r0, 10);
        let r1 = h.read(&[1], 20);
        let d = h.delete(r1, 30); // acknowledged at 35
        h.read(&[], 40);
        h.read(&[1], 500); // stale: allowed
        let bad = h.read(&[1], 35 + STALE);
        let report = check_history(&h.0, STALE);
        assert_eq!(report.stale_reads, 1);
        assert_eq!(report.max_staleness_ms, 465);
        assert_eq!(report.values_deleted, 1);
        assert_eq!(
            report.resurrections,
            [Resurrection {
                key: 0,
                value: 1,
                delete: d,
                deleted_at: 35,
                read: bad,
                read_at: 35 + STALE,
            }]
        );
        let e = report.check().unwrap_err();
        assert!(e.contains("key 0 value 1"), "{e}");
    }

    #[test]
    fn what_the_delete_covered_transitively_stays_deleted() {
        // 1 is overwritten by 2, 2 is deleted: both are covered.
        let mut h = H::default();
        let r0 = h.read(&[], 0);
        h.put(1, r0, 10);
        let r1 = h.read(&[1], 20);
        h.put(2, r1, 30);
        let r2 = h.read(&[2], 40);
        h.delete(r2, 50);
        h.read(&[1], 5_000);
        let report = check_history(&h.0, STALE);
        assert_eq!(report.values_deleted, 2);
        assert_eq!(report.resurrections.len(), 1);
        assert_eq!(report.resurrections[0].value, 1);
    }

    #[test]
    fn concurrent_and_later_writes_are_not_resurrections() {
        let mut h = H::default();
        let r0 = h.read(&[], 0);
        h.put(1, r0, 10);
        let r1 = h.read(&[1], 20);
        // A put concurrent with the delete (its context did not see 1): a sibling.
        let r_old = h.read(&[], 21);
        h.put(2, r_old, 25);
        // A put that failed, with the context that saw 1: it may have been applied.
        h.push_outcome(
            OpKind::Put { value: 3 },
            Some(r1),
            26,
            Some(40),
            Outcome::Failed("timeout".into()),
        );
        h.push_outcome(
            OpKind::Put { value: 4 },
            Some(r1),
            27,
            None,
            Outcome::Unknown,
        );
        h.delete(r1, 30);
        // A put after the delete.
        let r3 = h.read(&[2, 3, 4], 100);
        h.put(5, r3, 110);
        h.read(&[2, 3, 4], 5_000);
        h.read(&[5], 6_000);
        let report = check_history(&h.0, STALE);
        assert_eq!(report.check(), Ok(()));
        assert_eq!(report.values_deleted, 1);
        assert_eq!(report.puts_indeterminate, 2);
        assert_eq!(report.deletes_acknowledged, 1);
    }

    #[test]
    fn unacknowledged_deletes_cover_nothing_and_made_up_values_are_reported() {
        let mut h = H::default();
        let r0 = h.read(&[], 0);
        h.put(1, r0, 10);
        let r1 = h.read(&[1], 20);
        h.push_outcome(
            OpKind::Delete,
            Some(r1),
            30,
            Some(1_030),
            Outcome::Failed("unavailable".into()),
        );
        h.read(&[1], 5_000);
        let report = check_history(&h.0, STALE);
        assert_eq!(report.check(), Ok(()));
        assert_eq!(report.values_deleted, 0);

        h.read(&[77], 6_000);
        let e = check_history(&h.0, STALE).check().unwrap_err();
        assert!(e.contains("77"), "{e}");
    }

    #[test]
    fn a_value_of_another_key_is_unknown() {
        let mut h = H::default();
        let r0 = h.read(&[], 0);
        h.put(1, r0, 10);
        let r = h.read(&[1], 20);
        h.0[r].key = 1;
        assert_eq!(check_history(&h.0, STALE).unknown_values, [(1, 1)]);
    }

    #[test]
    fn values_round_trip() {
        assert_eq!(decode_value(&encode_value(42)), Some(42));
        assert_eq!(decode_value(b"abc"), None);
    }
}
