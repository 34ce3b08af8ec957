//! What a load-generator run measured, merged over its clients, and its two renderings: a
//! text summary for people and JSON for scripts.
//!
//! Besides throughput, failures and latencies, a report has the rate asked for (open loop)
//! and the rate achieved, the operations that started late, and the CPU time one operation
//! cost the watched node processes and the load generator itself.

use std::fmt::Write as _;
use std::time::Duration;

use dynamo_client::ClientError;
use serde_json::{Value, json};

use super::LATE_START;
use super::cpu::CpuReport;
use super::histogram::Histogram;
use super::{Protocol, Routing};

/// The kinds failures are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The read or write quorum was not met.
    Unavailable,
    /// The node refused the request for load.
    Overloaded,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The kind of an HTTP client's error.
    pub fn of(error: &ClientError) -> FailureKind {
        match error {
            ClientError::Unavailable { .. } => FailureKind::Unavailable,
            ClientError::Overloaded { .. } => FailureKind::Overloaded,
            _ => FailureKind::Other,
        }
    }
}

/// Failed operations by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// The read or write quorum was not met (503 `unavailable`).
    pub unavailable: u64,
    /// The node refused the request: its queue was full or it was stopping (503 `overloaded`).
    pub overloaded: u64,
    /// Anything else: connection failures, timeouts, other error answers (every RESP failure,
    /// error replies included).
    pub other: u64,
}

impl ErrorCounts {
    /// All failures.
    pub fn total(&self) -> u64 {
        self.unavailable + self.overloaded + self.other
    }

    /// Counts `error` under its kind.
    pub fn count(&mut self, error: &ClientError) {
        self.add(FailureKind::of(error));
    }

    /// Counts one failure of `kind`.
    pub fn add(&mut self, kind: FailureKind) {
        match kind {
            FailureKind::Unavailable => self.unavailable += 1,
            FailureKind::Overloaded => self.overloaded += 1,
            FailureKind::Other => self.other += 1,
        }
    }

    fn merge(&mut self, other: &ErrorCounts) {
        self.unavailable += other.unavailable;
        self.overloaded += other.overloaded;
        self.other += other.other;
    }
}

/// One operation type's results.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Latencies of the successful operations, in microseconds.
    pub latency_us: Histogram,
    /// Failed operations.
    pub errors: ErrorCounts,
}

impl OpStats {
    /// Successful operations.
    pub fn ok(&self) -> u64 {
        self.latency_us.count()
    }

    fn merge(&mut self, other: &OpStats) {
        self.latency_us.merge(&other.latency_us);
        self.errors.merge(&other.errors);
    }

    fn json(&self, elapsed: Duration) -> Value {
        let h = &self.latency_us;
        json!({
            "ok": self.ok(),
            "ops_per_sec": per_sec(self.ok(), elapsed),
            "errors": {
                "unavailable": self.errors.unavailable,
                "overloaded": self.errors.overloaded,
                "other": self.errors.other,
            },
            "latency_us": {
                "mean": (h.mean() * 10.0).round() / 10.0,
                "p50": h.quantile(0.50),
                "p90": h.quantile(0.90),
                "p99": h.quantile(0.99),
                "p999": h.quantile(0.999),
                "max": h.max(),
            },
        })
    }
}

/// What one client (or, merged, the whole run) measured during the measured phase.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Reads.
    pub get: OpStats,
    /// Writes.
    pub put: OpStats,
    /// Successful reads that found no live value (never written, or not yet).
    pub not_found: u64,
    /// Successful reads that returned several siblings.
    pub reads_with_siblings: u64,
    /// The most siblings one read returned.
    pub max_siblings: usize,
    /// Successful writes sent with a context (the rest were blind).
    pub puts_with_context: u64,
    /// A message of the first failure of each kind: unavailable, overloaded, other.
    pub first_errors: [Option<String>; 3],
    /// Open loop: operations sent more than [`LATE_START`] after their intended start (every client
    /// was busy, or the load generator could not keep up).
    pub late_starts: u64,
}

impl Measured {
    /// Remembers `error`'s message if it is the first of its kind.
    pub fn note_error(&mut self, error: &ClientError) {
        self.note_failure(FailureKind::of(error), error);
    }

    /// Remembers the message of a failure of `kind` if it is the first of its kind.
    pub fn note_failure(&mut self, kind: FailureKind, error: &dyn std::fmt::Display) {
        let slot = match kind {
            FailureKind::Unavailable => 0,
            FailureKind::Overloaded => 1,
            FailureKind::Other => 2,
        };
        if self.first_errors[slot].is_none() {
            self.first_errors[slot] = Some(error.to_string());
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Measured) {
        self.get.merge(&other.get);
        self.put.merge(&other.put);
        self.not_found += other.not_found;
        self.reads_with_siblings += other.reads_with_siblings;
        self.max_siblings = self.max_siblings.max(other.max_siblings);
        self.puts_with_context += other.puts_with_context;
        self.late_starts += other.late_starts;
        for (mine, theirs) in self.first_errors.iter_mut().zip(&other.first_errors) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// What the read-back of every written key found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Keys read back (every key at least one write was sent to).
    pub keys_checked: u64,
    /// Keys that read as absent or deleted although written.
    pub missing: u64,
    /// Siblings that are not a value this run wrote to that key.
    pub foreign_values: u64,
    /// Reads that failed.
    pub read_errors: u64,
    /// Keys that still had several siblings.
    pub keys_with_siblings: u64,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when every written key read back with only values written to it by this run.
    pub fn passed(&self) -> bool {
        self.missing == 0 && self.foreign_values == 0 && self.read_errors == 0
    }

    /// Adds `other`'s counts, keeping at most 10 problems.
    pub fn merge(&mut self, other: &VerifyReport) {
        self.keys_checked += other.keys_checked;
        self.missing += other.missing;
        self.foreign_values += other.foreign_values;
        self.read_errors += other.read_errors;
        self.keys_with_siblings += other.keys_with_siblings;
        for p in &other.problems {
            if self.problems.len() < 10 {
                self.problems.push(p.clone());
            }
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The protocol spoken.
    pub protocol: Protocol,
    /// Which node each request went to.
    pub routing: Routing,
    /// Requests the nodes forwarded to another coordinator during the measured phase (sum
    /// of their `forwards` counters; HTTP only, `None` when not every node could be read).
    pub forwards: Option<u64>,
    /// The nodes the clients talked to.
    pub nodes: Vec<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// Keys preloaded before the run (0: no preload).
    pub preloaded: u64,
    /// Preload writes that failed.
    pub preload_errors: u64,
    /// Length of the measured phase: from the end of the warm-up until the last client's last
    /// operation ended.
    pub elapsed: Duration,
    /// Operations done during the warm-up (not measured).
    pub warmup_ops: u64,
    /// What the measured phase saw.
    pub measured: Measured,
    /// The read-back, when asked.
    pub verify: Option<VerifyReport>,
    /// Open loop: the operations per second asked for (`None`: closed loop).
    pub intended_rate: Option<f64>,
    /// Open loop: operations whose intended start came before the end that were never sent,
    /// every client being busy until then (their latency is not in the histograms).
    pub unsent_slots: Option<u64>,
    /// CPU time used during the measured phase.
    pub cpu: CpuReport,
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        (n as f64 / s * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// `us` microseconds shared over `ops` operations, to 0.01 µs (`None` without operations).
fn per_op(us: u64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| (us as f64 / ops as f64 * 100.0).round() / 100.0)
}

/// Microseconds as milliseconds with 2 decimals.
fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

impl LoadReport {
    /// Successful operations in the measured phase.
    pub fn ops(&self) -> u64 {
        self.measured.get.ok() + self.measured.put.ok()
    }

    /// Failed operations in the measured phase.
    pub fn errors(&self) -> ErrorCounts {
        let mut e = self.measured.get.errors.clone();
        e.merge(&self.measured.put.errors);
        e
    }

    /// Successful operations per second of the measured phase.
    pub fn ops_per_sec(&self) -> f64 {
        per_sec(self.ops(), self.elapsed)
    }

    /// Operations sent in the measured phase, successful or failed.
    pub fn ops_done(&self) -> u64 {
        self.ops() + self.errors().total()
    }

    /// Operations per second done in the measured phase, successful or failed: in an open
    /// loop, the rate achieved, to compare with the one intended.
    pub fn achieved_rate(&self) -> f64 {
        per_sec(self.ops_done(), self.elapsed)
    }

    /// Microseconds of CPU time of the watched node processes per operation done (successful
    /// or failed). `None` without watched processes, or when none could be read at both ends,
    /// or without operations.
    pub fn node_cpu_us_per_op(&self) -> Option<f64> {
        per_op(self.cpu.node_us()?, self.ops_done())
    }

    /// The CPU cores the watched node processes kept busy on average during the measured
    /// phase.
    pub fn node_cores(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let cores = self.cpu.node_us()? as f64 / 1e6 / seconds;
        Some((cores * 1000.0).round() / 1000.0)
    }

    /// Microseconds of the load generator's own CPU time per operation done.
    pub fn loadgen_cpu_us_per_op(&self) -> Option<f64> {
        per_op(self.cpu.loadgen_us?, self.ops_done())
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let m = &self.measured;
        let e = self.errors();
        let verify = self.verify.as_ref().map(|v| {
            json!({
                "passed": v.passed(),
                "keys_checked": v.keys_checked,
                "missing": v.missing,
                "foreign_values": v.foreign_values,
                "read_errors": v.read_errors,
                "keys_with_siblings": v.keys_with_siblings,
                "problems": v.problems,
            })
        });
        let cpu = &self.cpu;
        json!({
            "protocol": self.protocol.to_string(),
            "routing": self.routing.to_string(),
            "forwards": self.forwards,
            "nodes": self.nodes,
            "clients": self.clients,
            "preloaded": self.preloaded,
            "preload_errors": self.preload_errors,
            "elapsed_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "warmup_ops": self.warmup_ops,
            "ops": self.ops(),
            "ops_per_sec": self.ops_per_sec(),
            "errors": {
                "total": e.total(),
                "unavailable": e.unavailable,
                "overloaded": e.overloaded,
                "other": e.other,
            },
            "first_errors": m.first_errors,
            "get": m.get.json(self.elapsed),
            "put": m.put.json(self.elapsed),
            "not_found": m.not_found,
            "reads_with_siblings": m.reads_with_siblings,
            "max_siblings": m.max_siblings,
            "puts_with_context": m.puts_with_context,
            "verify": verify,
            "intended_rate": self.intended_rate,
            "achieved_rate": self.achieved_rate(),
            "late_starts": m.late_starts,
            "unsent_slots": self.unsent_slots,
            "node_cpu_us_per_op": self.node_cpu_us_per_op(),
            "node_cores": self.node_cores(),
            "loadgen_cpu_us_per_op": self.loadgen_cpu_us_per_op(),
            "cpu": {
                "node_pids": cpu.nodes.iter().map(|p| p.pid).collect::<Vec<_>>(),
                "node_us": cpu.node_us(),
                "vanished": cpu.vanished().map(|p| json!({
                    "pid": p.pid,
                    "why": p.cpu_us.as_ref().err(),
                })).collect::<Vec<_>>(),
                "loadgen_us": cpu.loadgen_us,
                "clock_ticks_per_sec": cpu.ticks.map(|t| t.per_second),
                "clock_ticks_assumed": cpu.ticks.map(|t| t.assumed),
            },
        })
    }

    /// The report as a few lines of text.
    pub fn to_text(&self) -> String {
        let m = &self.measured;
        let e = self.errors();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ops in {:.1} s: {:.0} ops/s ({} clients, {} nodes, {}, routing {})",
            self.ops(),
            self.elapsed.as_secs_f64(),
            self.ops_per_sec(),
            self.clients,
            self.nodes.len(),
            self.protocol,
            self.routing,
        );
        if let Some(forwards) = self.forwards {
            let _ = writeln!(
                out,
                "forwarded by the nodes: {forwards} ({:.1}% of operations)",
                forwards as f64 * 100.0 / self.ops_done().max(1) as f64
            );
        }
        match self.intended_rate {
            Some(rate) => {
                let _ = writeln!(
                    out,
                    "open loop: {rate:.0} ops/s intended, {:.0} achieved; {} started more than \
                     {} ms late, {} never sent (latency counted from the intended start)",
                    self.achieved_rate(),
                    m.late_starts,
                    LATE_START.as_millis(),
                    self.unsent_slots.unwrap_or(0),
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "closed loop: {:.0} ops/s achieved (successes and failures)",
                    self.achieved_rate()
                );
            }
        }
        let _ = writeln!(
            out,
            "errors: {} (unavailable {}, overloaded {}, other {})",
            e.total(),
            e.unavailable,
            e.overloaded,
            e.other
        );
        for (kind, first) in ["unavailable", "overloaded", "other"]
            .iter()
            .zip(&m.first_errors)
        {
            if let Some(message) = first {
                let _ = writeln!(out, "  first {kind}: {message}");
            }
        }
        let _ = writeln!(
            out,
            "latency (ms)      ok     ops/s    mean     p50     p90     p99    p999     max"
        );
        for (name, s) in [("get", &m.get), ("put", &m.put)] {
            let h = &s.latency_us;
            let _ = writeln!(
                out,
                "  {name:<5} {:>10} {:>9.0} {:>7.2} {:>7} {:>7} {:>7} {:>7} {:>7}",
                s.ok(),
                per_sec(s.ok(), self.elapsed),
                h.mean() / 1000.0,
                ms(h.quantile(0.5)),
                ms(h.quantile(0.9)),
                ms(h.quantile(0.99)),
                ms(h.quantile(0.999)),
                ms(h.max()),
            );
        }
        let _ = writeln!(
            out,
            "reads: {} not found, {} with siblings (at most {}); puts with a context: {}",
            m.not_found, m.reads_with_siblings, m.max_siblings, m.puts_with_context
        );
        if self.preloaded > 0 || self.warmup_ops > 0 {
            let _ = writeln!(
                out,
                "before measuring: {} keys preloaded ({} failed), {} warm-up ops",
                self.preloaded, self.preload_errors, self.warmup_ops
            );
        }
        self.cpu_text(&mut out);
        if let Some(v) = &self.verify {
            let _ = writeln!(
                out,
                "verify: {} — {} keys read back, {} missing, {} foreign values, {} read errors, \
                 {} still with siblings",
                if v.passed() { "passed" } else { "FAILED" },
                v.keys_checked,
                v.missing,
                v.foreign_values,
                v.read_errors,
                v.keys_with_siblings
            );
            for p in &v.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        out
    }

    /// The CPU lines of the text report.
    fn cpu_text(&self, out: &mut String) {
        let cpu = &self.cpu;
        let mut parts = Vec::new();
        if let (Some(per_op), Some(cores)) = (self.node_cpu_us_per_op(), self.node_cores()) {
            let pids: Vec<String> = cpu
                .nodes
                .iter()
                .filter(|p| p.cpu_us.is_ok())
                .map(|p| p.pid.to_string())
                .collect();
            parts.push(format!(
                "nodes {per_op:.1} µs/op, {cores:.2} cores (pids {})",
                pids.join(", ")
            ));
        }
        if let Some(per_op) = self.loadgen_cpu_us_per_op() {
            parts.push(format!("loadgen {per_op:.1} µs/op"));
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "CPU: {}", parts.join("; "));
        }
        for p in cpu.vanished() {
            if let Err(why) = &p.cpu_us {
                let _ = writeln!(out, "  pid {}: not counted, {why}", p.pid);
            }
        }
        if cpu.ticks.is_some_and(|t| t.assumed) {
            let _ = writeln!(
                out,
                "  (`getconf CLK_TCK` failed: 100 clock ticks per second assumed)"
            );
        }
    }
}
