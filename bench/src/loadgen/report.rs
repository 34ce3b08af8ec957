//! What a load-generator run measured, merged over its clients, and its two renderings: a
//! text summary for people and JSON for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use dynamo_client::ClientError;
use serde_json::{Value, json};

use super::histogram::Histogram;

/// Failed operations by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// The read or write quorum was not met (503 `unavailable`).
    pub unavailable: u64,
    /// The node refused the request: its queue was full or it was stopping (503 `overloaded`).
    pub overloaded: u64,
    /// Anything else: connection failures, timeouts, other error answers.
    pub other: u64,
}

impl ErrorCounts {
    /// All failures.
    pub fn total(&self) -> u64 {
        self.unavailable + self.overloaded + self.other
    }

    /// Counts `error` under its kind.
    pub fn count(&mut self, error: &ClientError) {
        match error {
            ClientError::Unavailable { .. } => self.unavailable += 1,
            ClientError::Overloaded { .. } => self.overloaded += 1,
            _ => self.other += 1,
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
}

impl Measured {
    /// Remembers `error`'s message if it is the first of its kind.
    pub fn note_error(&mut self, error: &ClientError) {
        let slot = match error {
            ClientError::Unavailable { .. } => 0,
            ClientError::Overloaded { .. } => 1,
            _ => 2,
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
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        (n as f64 / s * 10.0).round() / 10.0
    } else {
        0.0
    }
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
        json!({
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
        })
    }

    /// The report as a few lines of text.
    pub fn to_text(&self) -> String {
        let m = &self.measured;
        let e = self.errors();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ops in {:.1} s: {:.0} ops/s ({} clients, {} nodes)",
            self.ops(),
            self.elapsed.as_secs_f64(),
            self.ops_per_sec(),
            self.clients,
            self.nodes.len()
        );
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
}
