//! One run's labels and figures. The figures are read from `loadgen`'s JSON report leniently:
//! a field the report lacks (an older `loadgen`, a figure it could not measure) is `None`, shown
//! as "-" in the table and left empty in the CSV file, never a failure.

use serde_json::Value;

/// The figures of one run, from `loadgen --json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Protocol spoken (`http`, `resp`).
    pub protocol: Option<String>,
    /// Successful operations per second of the measured phase.
    pub ops_per_sec: Option<f64>,
    /// Intended operations per second (open loop).
    pub intended_rate: Option<f64>,
    /// Operations started per second, as achieved (open loop).
    pub achieved_rate: Option<f64>,
    /// Operations started late (open loop: the clients could not keep up with the schedule).
    pub late_starts: Option<f64>,
    /// Failed operations.
    pub errors: Option<f64>,
    /// Read latency quantiles p50, p99, p99.9, in microseconds.
    pub get_us: [Option<f64>; 3],
    /// Write latency quantiles p50, p99, p99.9, in microseconds.
    pub put_us: [Option<f64>; 3],
    /// CPU time of the nodes per operation, in microseconds.
    pub node_cpu_us_per_op: Option<f64>,
    /// CPU the nodes used, in cores (CPU seconds per second).
    pub node_cores: Option<f64>,
    /// CPU time the nodes used over the measured phase, in seconds (all their threads).
    pub node_cpu_s: Option<f64>,
    /// Length of the measured phase, in seconds (wall clock).
    pub elapsed_s: Option<f64>,
    /// CPU time of `loadgen` per operation, in microseconds.
    pub loadgen_cpu_us_per_op: Option<f64>,
    /// The read-back check: `Some(true)` passed, `Some(false)` failed, `None` not asked.
    pub verify_passed: Option<bool>,
}

/// The latency quantiles read, in the order of [`Figures::get_us`].
const QUANTILES: [&str; 3] = ["p50", "p99", "p999"];

impl Figures {
    /// Reads the figures of a `loadgen --json` report.
    ///
    /// The fields the load generator has always had are read at their place (`ops_per_sec`,
    /// `errors.total`, `get.latency_us.p50`, ...); the newer ones (`protocol`,
    /// `intended_rate`, `achieved_rate`, `late_starts`, `node_cpu_us_per_op`, `node_cores`,
    /// `loadgen_cpu_us_per_op`, `node_us`, `elapsed_secs`) at the top level, or else wherever
    /// the report nests them.
    pub fn from_report(report: &Value) -> Figures {
        let quantiles = |op: &str| {
            QUANTILES.map(|q| {
                report
                    .get(op)
                    .and_then(|o| o.get("latency_us"))
                    .and_then(|l| l.get(q))
                    .and_then(Value::as_f64)
            })
        };
        let newer = |name: &str| find_field(report, name).and_then(Value::as_f64);
        Figures {
            protocol: find_field(report, "protocol")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ops_per_sec: report.get("ops_per_sec").and_then(Value::as_f64),
            intended_rate: newer("intended_rate"),
            achieved_rate: newer("achieved_rate"),
            late_starts: newer("late_starts"),
            errors: report
                .get("errors")
                .and_then(|e| e.get("total"))
                .and_then(Value::as_f64),
            get_us: quantiles("get"),
            put_us: quantiles("put"),
            node_cpu_us_per_op: newer("node_cpu_us_per_op"),
            node_cores: newer("node_cores"),
            node_cpu_s: newer("node_us").map(|us| us / 1e6),
            elapsed_s: newer("elapsed_secs"),
            loadgen_cpu_us_per_op: newer("loadgen_cpu_us_per_op"),
            verify_passed: report
                .get("verify")
                .and_then(|v| v.get("passed"))
                .and_then(Value::as_bool),
        }
    }
}

/// The value of field `name`: at the top of `value` if there, else the first found depth-first
/// in the objects nested in it.
fn find_field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(found) = object.get(name).filter(|v| !v.is_null()) {
        return Some(found);
    }
    object.values().find_map(|v| find_field(v, name))
}

/// One run: what ran, and what it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The system (`ours`, `ours-1node`, `dynomite`, `redis`).
    pub system: String,
    /// The storage engine (ours only).
    pub engine: Option<String>,
    /// The durability mode in force (ours only).
    pub durability: Option<String>,
    /// Shards per node (ours, when the run asked for a count; `None` otherwise).
    pub shards: Option<u32>,
    /// Fraction of reads.
    pub read_ratio: f64,
    /// Round, from 1.
    pub round: u32,
    /// Intended rate of an open-loop run (`None`: closed loop).
    pub rate: Option<f64>,
    /// Disk use of the system's data directories after the run, in bytes (ours only).
    pub disk_bytes: Option<u64>,
    /// What `loadgen` measured.
    pub figures: Figures,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_fields_are_read_and_missing_ones_are_none() {
        let report = json!({
            "ops_per_sec": 4679.5,
            "errors": {"total": 3},
            "get": {"ops_per_sec": 1.0, "latency_us": {"p50": 4190, "p99": 15200, "p999": 119000}},
            "put": {"latency_us": {"p50": 7740}},
            "verify": null,
        });
        let f = Figures::from_report(&report);
        assert_eq!(f.ops_per_sec, Some(4679.5));
        assert_eq!(f.errors, Some(3.0));
        assert_eq!(f.get_us, [Some(4190.0), Some(15200.0), Some(119000.0)]);
        assert_eq!(f.put_us, [Some(7740.0), None, None]);
        assert_eq!(f.node_cpu_us_per_op, None);
        assert_eq!(f.protocol, None);
        assert_eq!(f.verify_passed, None);
    }

    #[test]
    fn newer_fields_are_found_at_the_top_or_nested() {
        let report = json!({
            "protocol": "resp",
            "intended_rate": 5000,
            "elapsed_secs": 20.004,
            "cpu": {"node_cpu_us_per_op": 171.2, "node_cores": 0.79, "loadgen_cpu_us_per_op": null,
                    "node_us": 15_800_000},
            "open_loop": {"achieved_rate": 4990.1, "late_starts": 12},
            "verify": {"passed": true},
        });
        let f = Figures::from_report(&report);
        assert_eq!(f.protocol.as_deref(), Some("resp"));
        assert_eq!(f.intended_rate, Some(5000.0));
        assert_eq!(f.achieved_rate, Some(4990.1));
        assert_eq!(f.late_starts, Some(12.0));
        assert_eq!(f.node_cpu_us_per_op, Some(171.2));
        assert_eq!(f.node_cores, Some(0.79));
        assert_eq!(f.node_cpu_s, Some(15.8));
        assert_eq!(f.elapsed_s, Some(20.004));
        assert_eq!(f.loadgen_cpu_us_per_op, None);
        assert_eq!(f.verify_passed, Some(true));
    }
}
