//! The figures of a run or of a sweep over seeds, printable as a table.

use std::collections::BTreeMap;
use std::fmt;

use crate::network::{Millis, NetStats};

/// Figures of one run, or of many merged with [`Summary::merge`].
///
/// The simulator fills the counters it sees ([`crate::Sim::summary`]); the workload and the
/// checkers fill the rest (acknowledged and lost writes, siblings, convergence time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of runs merged.
    pub seeds: u64,
    /// Simulated time, summed over runs, in milliseconds.
    pub virtual_ms: Millis,
    /// Client requests submitted.
    pub requests: u64,
    /// Client requests answered by their node (successfully or with an error response).
    pub answered: u64,
    /// Client requests that failed because their node was down (as a driver's connection
    /// error would).
    pub node_down: u64,
    /// Client requests not finished when the run ended.
    pub unfinished: u64,
    /// Longest latency of an answered request.
    pub max_latency_ms: Millis,
    /// Sum of the latencies of answered requests (for the mean).
    pub total_latency_ms: u64,
    /// Faults injected, by kind (`crash`, `partition`, `restart_wiped`, ...).
    pub faults: BTreeMap<String, u64>,
    /// What the network did.
    pub net: NetStats,
    /// Messages dropped because their receiver was down.
    pub dropped_to_down: u64,
    /// Entries in the history.
    pub history_entries: u64,
    /// Digest of the history (of each run's digests, for merged summaries): equal for
    /// replays of the same seeds.
    pub history_digest: u64,
    /// Anomalies the simulator noticed (unknown receivers, stray replies, stalls).
    pub anomalies: u64,
    /// Writes acknowledged to the workload's clients.
    pub acknowledged_writes: u64,
    /// Writes whose outcome is unknown (failed or unanswered: they may or may not be stored).
    pub indeterminate_writes: u64,
    /// Acknowledged writes missing from the final reads.
    pub lost_writes: u64,
    /// Most siblings seen in one read.
    pub max_siblings: u64,
    /// Deletes acknowledged to the workload's clients (the delete workload).
    pub acknowledged_deletes: u64,
    /// Reads that returned a deleted value within the staleness allowance (the delete
    /// workload: allowed, a replica not reached by the tombstone yet).
    pub stale_reads: u64,
    /// Longest time from a delete's acknowledgement to a stale read of what it deleted.
    pub max_staleness_ms: Millis,
    /// Reads of a deleted value past the allowance: deleted values that came back.
    pub resurrections: u64,
    /// Tombstones the nodes reaped (counted from their events).
    pub tombstones_reaped: u64,
    /// Longest time from heal to convergence, over runs.
    pub max_time_to_converge_ms: Option<Millis>,
}

impl Summary {
    /// Adds the figures of another run (counters summed, maxima kept).
    pub fn merge(&mut self, other: &Summary) {
        self.seeds += other.seeds;
        self.virtual_ms += other.virtual_ms;
        self.requests += other.requests;
        self.answered += other.answered;
        self.node_down += other.node_down;
        self.unfinished += other.unfinished;
        self.max_latency_ms = self.max_latency_ms.max(other.max_latency_ms);
        self.total_latency_ms += other.total_latency_ms;
        for (k, v) in &other.faults {
            *self.faults.entry(k.clone()).or_default() += v;
        }
        self.net.sent += other.net.sent;
        self.net.delivered += other.net.delivered;
        self.net.lost += other.net.lost;
        self.net.partitioned += other.net.partitioned;
        self.net.duplicated += other.net.duplicated;
        self.dropped_to_down += other.dropped_to_down;
        self.history_entries += other.history_entries;
        self.history_digest = self.history_digest.rotate_left(5) ^ other.history_digest;
        self.anomalies += other.anomalies;
        self.acknowledged_writes += other.acknowledged_writes;
        self.indeterminate_writes += other.indeterminate_writes;
        self.lost_writes += other.lost_writes;
        self.max_siblings = self.max_siblings.max(other.max_siblings);
        self.acknowledged_deletes += other.acknowledged_deletes;
        self.stale_reads += other.stale_reads;
        self.max_staleness_ms = self.max_staleness_ms.max(other.max_staleness_ms);
        self.resurrections += other.resurrections;
        self.tombstones_reaped += other.tombstones_reaped;
        self.max_time_to_converge_ms =
            match (self.max_time_to_converge_ms, other.max_time_to_converge_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
    }

    /// Mean latency of answered requests, in milliseconds.
    pub fn mean_latency_ms(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            self.total_latency_ms as f64 / self.answered as f64
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(String, String)> = vec![
            ("seeds".into(), self.seeds.to_string()),
            (
                "simulated time (s)".into(),
                format!("{:.1}", self.virtual_ms as f64 / 1000.0),
            ),
            ("client requests".into(), self.requests.to_string()),
            ("  answered".into(), self.answered.to_string()),
            ("  failed: node down".into(), self.node_down.to_string()),
            ("  unfinished".into(), self.unfinished.to_string()),
            (
                "latency mean / max (ms)".into(),
                format!("{:.1} / {}", self.mean_latency_ms(), self.max_latency_ms),
            ),
        ];
        let total_faults: u64 = self.faults.values().sum();
        rows.push(("faults injected".into(), total_faults.to_string()));
        for (k, v) in &self.faults {
            rows.push((format!("  {k}"), v.to_string()));
        }
        rows.extend([
            ("messages sent".into(), self.net.sent.to_string()),
            ("  delivered".into(), self.net.delivered.to_string()),
            ("  lost".into(), self.net.lost.to_string()),
            ("  duplicated".into(), self.net.duplicated.to_string()),
            (
                "  cut by partitions".into(),
                self.net.partitioned.to_string(),
            ),
            ("  to a down node".into(), self.dropped_to_down.to_string()),
            ("history entries".into(), self.history_entries.to_string()),
            (
                "history digest".into(),
                if self.history_entries == 0 {
                    "-".into()
                } else {
                    format!("{:016x}", self.history_digest)
                },
            ),
            ("anomalies".into(), self.anomalies.to_string()),
            (
                "acknowledged writes".into(),
                self.acknowledged_writes.to_string(),
            ),
            (
                "indeterminate writes".into(),
                self.indeterminate_writes.to_string(),
            ),
            ("lost writes".into(), self.lost_writes.to_string()),
            ("max siblings".into(), self.max_siblings.to_string()),
        ]);
        if self.acknowledged_deletes > 0 || self.resurrections > 0 {
            rows.extend([
                (
                    "acknowledged deletes".into(),
                    self.acknowledged_deletes.to_string(),
                ),
                (
                    "tombstones reaped".into(),
                    self.tombstones_reaped.to_string(),
                ),
                (
                    "stale reads of deleted".into(),
                    self.stale_reads.to_string(),
                ),
                (
                    "max staleness (ms)".into(),
                    self.max_staleness_ms.to_string(),
                ),
                ("resurrections".into(), self.resurrections.to_string()),
            ]);
        }
        rows.push((
            "time to converge (ms, max)".into(),
            self.max_time_to_converge_ms
                .map_or("-".into(), |t| t.to_string()),
        ));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        writeln!(f, "| {:width$} | {:>16} |", "figure", "value")?;
        writeln!(f, "|-{}-|-{}-|", "-".repeat(width), "-".repeat(16))?;
        for (k, v) in rows {
            writeln!(f, "| {k:width$} | {v:>16} |")?;
        }
        Ok(())
    }
}
