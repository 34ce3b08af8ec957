//! What a run found: availability overall, per fault kind and without faults; latency per
//! phase; every fault with the requests around it; the end checks (acknowledged elements
//! lost, convergence, hints drained); as a [`Report`] (also `summary.json`), a text table
//! (`summary.txt`) and an SVG timeline (`timeline.svg`).
//!
//! A request belongs to the phase of a fault when it was in flight during the fault or its
//! recovery: from the fault's start until [`RECOVERY`] after it healed (a restarted node
//! catching up, clients' breakers closing), cut short by the next fault. So a request sent
//! just before a node was paused, and failed because of it, counts against the pause. The
//! other requests are in phase `none`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::agent::FinalState;
use crate::error::{FaultsError, Result};
use crate::nemesis::Interval;
use crate::workload::Op;

/// How long after a fault healed its requests still count as its own.
pub const RECOVERY: f64 = 5.0;

/// The phase without faults.
pub const NO_FAULT: &str = "none";

/// Requests of one phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `none`, or a fault kind.
    pub name: String,
    /// Seconds the phase lasted in all.
    pub seconds: f64,
    /// Requests started in it.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// The share that succeeded (1 when there were none).
    pub availability: f64,
    /// Writes started / failed.
    pub writes: u64,
    /// Writes that failed.
    pub writes_failed: u64,
    /// Latency of the successful requests, milliseconds: p50, p99, p99.9, max.
    pub latency_ms: [f64; 4],
}

/// One fault and the requests around it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSummary {
    /// Its kind.
    pub kind: String,
    /// The node it hit.
    pub node: String,
    /// How it was applied.
    pub how: String,
    /// Applied, seconds since the start.
    pub start: f64,
    /// Healing began.
    pub end: f64,
    /// Healed.
    pub healed: f64,
    /// Requests in its phase.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// Failures by class.
    pub errors: BTreeMap<String, u64>,
    /// The slowest successful request in its phase, milliseconds.
    pub max_ms: f64,
}

/// The end checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// Elements whose write was acknowledged.
    pub acknowledged: u64,
    /// Elements whose write failed (may or may not be there).
    pub unacknowledged: u64,
    /// Of those, how many are in the final sets.
    pub unacknowledged_present: u64,
    /// Acknowledged elements missing from the final read of some node (must be 0).
    pub lost: u64,
    /// A few of them: (key, element).
    pub lost_examples: Vec<(u32, u64)>,
    /// Elements in the final sets that no client ever tried to add (must be 0).
    pub phantoms: u64,
    /// Values in the final reads that were not sets (must be 0).
    pub bad_values: u64,
    /// Every node returned the same set for every key, with no read repair in the last pass.
    pub converged: bool,
    /// Read passes until then.
    pub passes: usize,
    /// Read repairs of the first pass (replicas still apart after the settle).
    pub repairs_first_pass: u64,
    /// Every node up in every view, no hints, no transfers, within the deadline.
    pub hints_drained: bool,
    /// How long that took after healing, milliseconds.
    pub settle_ms: f64,
    /// Why not, if not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_error: Option<String>,
    /// Keys that had siblings at the end, resolved by the check's merge pass.
    pub sibling_keys: usize,
    /// Keys whose merge failed.
    pub merge_failures: usize,
    /// Keys that still had siblings in the last pass.
    pub sibling_keys_after_merge: usize,
}

/// One client agent's view of a split (the side it reached).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitSide {
    /// The agent.
    pub agent: u8,
    /// The nodes it reached during the split.
    pub nodes: Vec<String>,
    /// Reads started during the split / succeeded.
    pub reads: u64,
    /// Reads that succeeded.
    pub reads_ok: u64,
    /// Writes started during the split.
    pub writes: u64,
    /// Writes acknowledged during the split.
    pub writes_ok: u64,
    /// Keys with a write acknowledged on this side during the split (after its first
    /// seconds, while the failure detectors notice it).
    pub keys_written: usize,
    /// Of those, keys with a write acknowledged on the other side too (concurrent versions
    /// that healing must merge).
    pub keys_written_both_sides: usize,
    /// Reads after healing that returned siblings (concurrent writes from both sides).
    pub sibling_reads_after: u64,
}

/// Everything a run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `faults` or `split`.
    pub mode: String,
    /// The seed.
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// N, R, W.
    pub nrw: [u8; 3],
    /// The storage engine.
    pub engine: String,
    /// Whether netem was available (else loss and latency were made another way).
    pub netem: bool,
    /// Seconds of workload.
    pub seconds: f64,
    /// Requests in all.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// The share that succeeded.
    pub availability: f64,
    /// Failures by class.
    pub errors: BTreeMap<String, u64>,
    /// Per phase: `none` first, then each kind.
    pub phases: Vec<Phase>,
    /// Every fault.
    pub faults: Vec<FaultSummary>,
    /// The end checks.
    pub checks: Checks,
    /// In split mode, each side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split: Vec<SplitSide>,
    /// The availability asked for, if any.
    pub min_availability: Option<f64>,
    /// The checks that failed (empty: the run passed).
    pub failures: Vec<String>,
    /// Where the report's files are.
    pub out: PathBuf,
}

impl Report {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The phase called `name`.
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// The phase of a request in flight from `t` for `ms` milliseconds: the index of the first
/// fault in `intervals` whose phase it overlaps, or `None`.
pub fn phase_of(t: f64, ms: f64, intervals: &[Interval]) -> Option<usize> {
    let done = t + ms / 1000.0;
    intervals.iter().enumerate().find_map(|(i, f)| {
        let next = intervals.get(i + 1).map_or(f64::INFINITY, |n| n.start);
        let until = (f.healed + RECOVERY).min(next);
        (done >= f.start && t < until).then_some(i)
    })
}

/// Percentile `q` (0..1) of sorted `values` (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn latency(mut ok: Vec<f64>) -> [f64; 4] {
    ok.sort_by(f64::total_cmp);
    [
        percentile(&ok, 0.5),
        percentile(&ok, 0.99),
        percentile(&ok, 0.999),
        ok.last().copied().unwrap_or(0.0),
    ]
}

/// Availability and latency per phase, and per fault.
pub fn phases(ops: &[Op], intervals: &[Interval], seconds: f64) -> (Vec<Phase>, Vec<FaultSummary>) {
    let mut by_phase: BTreeMap<String, (Phase, Vec<f64>)> = BTreeMap::new();
    let mut by_fault: Vec<(FaultSummary, Vec<f64>)> = intervals
        .iter()
        .map(|f| {
            (
                FaultSummary {
                    kind: f.kind.clone(),
                    node: f.node.clone(),
                    how: f.how.clone(),
                    start: f.start,
                    end: f.end,
                    healed: f.healed,
                    ..FaultSummary::default()
                },
                Vec::new(),
            )
        })
        .collect();
    by_phase.insert(NO_FAULT.to_owned(), Default::default());
    for f in intervals {
        by_phase.entry(f.kind.clone()).or_default();
    }
    for op in ops {
        let fault = phase_of(op.t, op.ms, intervals);
        let name = fault.map_or(NO_FAULT, |i| intervals[i].kind.as_str());
        let (phase, ok) = by_phase.entry(name.to_owned()).or_default();
        phase.requests += 1;
        phase.writes += u64::from(op.write);
        if op.ok {
            ok.push(op.ms);
        } else {
            phase.failed += 1;
            phase.writes_failed += u64::from(op.write);
        }
        if let Some((summary, ok)) = fault.and_then(|i| by_fault.get_mut(i)) {
            summary.requests += 1;
            if op.ok {
                ok.push(op.ms);
            } else {
                summary.failed += 1;
                *summary
                    .errors
                    .entry(op.error.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    // Seconds per phase.
    let mut fault_seconds: BTreeMap<String, f64> = BTreeMap::new();
    for (i, f) in intervals.iter().enumerate() {
        let next = intervals.get(i + 1).map_or(f64::INFINITY, |n| n.start);
        let until = (f.healed + RECOVERY).min(next).min(seconds);
        *fault_seconds.entry(f.kind.clone()).or_default() += (until - f.start).max(0.0);
    }
    let faulty: f64 = fault_seconds.values().sum();
    let mut out: Vec<Phase> = by_phase
        .into_iter()
        .map(|(name, (mut phase, ok))| {
            phase.seconds = if name == NO_FAULT {
                (seconds - faulty).max(0.0)
            } else {
                fault_seconds.get(&name).copied().unwrap_or(0.0)
            };
            phase.availability = share(phase.requests, phase.failed);
            phase.latency_ms = latency(ok);
            phase.name = name;
            phase
        })
        .collect();
    // `none` first.
    out.sort_by_key(|p| p.name != NO_FAULT);
    let faults = by_fault
        .into_iter()
        .map(|(mut s, mut ok)| {
            ok.sort_by(f64::total_cmp);
            s.max_ms = ok.last().copied().unwrap_or(0.0);
            s
        })
        .collect();
    (out, faults)
}

/// The share of `requests` that did not fail (1 when there were none).
pub fn share(requests: u64, failed: u64) -> f64 {
    if requests == 0 {
        1.0
    } else {
        (requests - failed.min(requests)) as f64 / requests as f64
    }
}

/// Judges the final reads against the records: lost, phantoms, unacknowledged present.
pub fn judge(ops: &[Op], state: &FinalState) -> Checks {
    let mut acked: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    let mut tried: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.write) {
        let Some(x) = op.element else { continue };
        tried.entry(op.key).or_default().insert(x);
        if op.ok {
            acked.entry(op.key).or_default().insert(x);
        }
    }
    let mut checks = Checks {
        converged: state.converged,
        passes: state.passes,
        repairs_first_pass: state.repairs_first_pass,
        sibling_keys: state.sibling_keys,
        merge_failures: state.merge_failures,
        ..Checks::default()
    };
    let empty = BTreeSet::new();
    let mut lost: BTreeSet<(u32, u64)> = BTreeSet::new();
    let mut present_unacked: BTreeSet<u64> = BTreeSet::new();
    let mut phantoms: BTreeSet<u64> = BTreeSet::new();
    let finals: BTreeMap<u32, _> = state.keys.iter().map(|k| (k.key, k)).collect();
    for (key, elements) in &acked {
        checks.acknowledged += elements.len() as u64;
        for x in elements {
            let everywhere = finals.get(key).is_some_and(|k| {
                !k.reads.is_empty()
                    && k.reads
                        .iter()
                        .all(|r| r.error.is_none() && r.elements.contains(x))
            });
            if !everywhere {
                lost.insert((*key, *x));
            }
        }
    }
    for k in &state.keys {
        let tried = tried.get(&k.key).unwrap_or(&empty);
        let acked = acked.get(&k.key).unwrap_or(&empty);
        if k.reads.iter().any(|r| r.siblings > 1) {
            checks.sibling_keys_after_merge += 1;
        }
        for r in &k.reads {
            checks.bad_values += r.bad_values as u64;
            for x in &r.elements {
                if !tried.contains(x) {
                    phantoms.insert(*x);
                } else if !acked.contains(x) {
                    present_unacked.insert(*x);
                }
            }
        }
    }
    checks.unacknowledged =
        tried.values().map(|s| s.len() as u64).sum::<u64>() - checks.acknowledged;
    checks.unacknowledged_present = present_unacked.len() as u64;
    checks.phantoms = phantoms.len() as u64;
    checks.lost = lost.len() as u64;
    checks.lost_examples = lost.into_iter().take(10).collect();
    checks
}

/// Failures by class.
pub fn errors(ops: &[Op]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for op in ops.iter().filter(|o| !o.ok) {
        *out.entry(op.error.clone().unwrap_or_default()).or_default() += 1;
    }
    out
}

/// The report as a text table.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let pct = |a: f64| format!("{:.3}%", a * 100.0);
    let _ = writeln!(
        s,
        "dynamo-faults {}: seed {}, {} nodes, N={} R={} W={}, engine {}, {:.0} s, netem {}",
        report.mode,
        report.seed,
        report.nodes,
        report.nrw[0],
        report.nrw[1],
        report.nrw[2],
        report.engine,
        report.seconds,
        if report.netem {
            "available"
        } else {
            "unavailable (loss by nft, latency emulated by SIGSTOP duty cycle)"
        }
    );
    let _ = writeln!(
        s,
        "requests {}  failed {}  availability {}  errors {:?}",
        report.requests,
        report.failed,
        pct(report.availability),
        report.errors
    );
    let _ = writeln!(
        s,
        "\n{:<10} {:>7} {:>9} {:>7} {:>10} {:>8} {:>8} {:>9} {:>9}",
        "phase", "secs", "requests", "failed", "avail", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for p in &report.phases {
        let _ = writeln!(
            s,
            "{:<10} {:>7.1} {:>9} {:>7} {:>10} {:>8.2} {:>8.2} {:>9.2} {:>9.1}",
            p.name,
            p.seconds,
            p.requests,
            p.failed,
            pct(p.availability),
            p.latency_ms[0],
            p.latency_ms[1],
            p.latency_ms[2],
            p.latency_ms[3]
        );
    }
    let _ = writeln!(s, "\nfaults:");
    for f in &report.faults {
        let _ = writeln!(
            s,
            "  {:>6.1}-{:>6.1}s (healed {:>6.1}) {:<9} {:<3} requests {:>6} failed {:>4} max {:>7.1} ms  {}{}",
            f.start,
            f.end,
            f.healed,
            f.kind,
            f.node,
            f.requests,
            f.failed,
            f.max_ms,
            f.how,
            if f.errors.is_empty() {
                String::new()
            } else {
                format!("  {:?}", f.errors)
            }
        );
    }
    for side in &report.split {
        let _ = writeln!(
            s,
            "split side of agent {} (nodes {}): reads {}/{} ok, writes {}/{} acknowledged on {} keys ({} written on both sides); reads with siblings after healing {}",
            side.agent,
            side.nodes.join(","),
            side.reads_ok,
            side.reads,
            side.writes_ok,
            side.writes,
            side.keys_written,
            side.keys_written_both_sides,
            side.sibling_reads_after
        );
    }
    let c = &report.checks;
    let _ = writeln!(
        s,
        "\nchecks: acknowledged {} lost {} phantoms {} bad values {}; unacknowledged {} (present {}); \
         converged {} ({} passes, {} repairs in the first); hints drained {} ({:.1} s); \
         keys with siblings at the end {} (merged; {} after, {} merge failures)",
        c.acknowledged,
        c.lost,
        c.phantoms,
        c.bad_values,
        c.unacknowledged,
        c.unacknowledged_present,
        c.converged,
        c.passes,
        c.repairs_first_pass,
        c.hints_drained,
        c.settle_ms / 1000.0,
        c.sibling_keys,
        c.sibling_keys_after_merge,
        c.merge_failures
    );
    if let Some(e) = &c.settle_error {
        let _ = writeln!(s, "settle: {e}");
    }
    if report.failures.is_empty() {
        let _ = writeln!(s, "PASSED");
    } else {
        let _ = writeln!(s, "FAILED: {}", report.failures.join("; "));
    }
    let _ = writeln!(s, "files: {}", report.out.display());
    s
}

/// The colour of fault kind `kind`.
fn kind_color(kind: &str) -> RGBColor {
    match kind {
        "pause" => RGBColor(255, 127, 14),
        "kill" => RGBColor(214, 39, 40),
        "wipe" => RGBColor(140, 86, 75),
        "partition" => RGBColor(31, 119, 180),
        "isolate" => RGBColor(148, 103, 189),
        "oneway" => RGBColor(23, 190, 207),
        "loss" => RGBColor(188, 189, 34),
        "latency" => RGBColor(227, 119, 194),
        _ => RGBColor(127, 127, 127),
    }
}

/// Draws the timeline into `path`: request latency over time (per bin: median and slowest
/// successful request; every failure a red cross at its latency) above the successful and
/// failed requests per second, with each fault shaded in its kind's colour.
///
/// # Errors
/// [`FaultsError::Plot`].
pub fn timeline(
    path: &Path,
    title: &str,
    ops: &[Op],
    intervals: &[Interval],
    seconds: f64,
) -> Result<()> {
    draw_timeline(path, title, ops, intervals, seconds).map_err(|message| FaultsError::Plot {
        path: path.to_owned(),
        message,
    })
}

fn draw_timeline(
    path: &Path,
    title: &str,
    ops: &[Op],
    intervals: &[Interval],
    seconds: f64,
) -> std::result::Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let end = seconds.max(1.0);
    let bin = (end / 600.0).max(0.25);
    let bins = (end / bin).ceil() as usize + 1;
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); bins];
    let mut failed = vec![0u64; bins];
    let mut fails: Vec<(f64, f64)> = Vec::new();
    for op in ops {
        let b = ((op.t / bin).floor().max(0.0) as usize).min(bins - 1);
        if op.ok {
            lat[b].push(op.ms);
        } else {
            failed[b] += 1;
            fails.push((op.t, op.ms));
        }
    }
    let max_ms = ops.iter().map(|o| o.ms).fold(10.0, f64::max) * 1.5;
    let rate = |n: usize| n as f64 / bin;
    let mut p50 = Vec::new();
    let mut top = Vec::new();
    let mut ok_rate = Vec::new();
    let mut fail_rate = Vec::new();
    let mut peak: f64 = 1.0;
    for (b, l) in lat.iter_mut().enumerate() {
        let t = (b as f64 + 0.5) * bin;
        l.sort_by(f64::total_cmp);
        if !l.is_empty() {
            p50.push((t, percentile(l, 0.5).max(0.01)));
            top.push((t, l.last().copied().unwrap_or(0.0).max(0.01)));
        }
        ok_rate.push((t, rate(l.len())));
        fail_rate.push((t, failed[b] as f64 / bin));
        peak = peak.max(rate(l.len())).max(failed[b] as f64 / bin);
    }
    let root = SVGBackend::new(path, (1400, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| text(&e))?;
    let (upper, lower) = root.split_vertically(520);
    let mut chart = ChartBuilder::on(&upper)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, (0.05f64..max_ms).log_scale())
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| text(&e))?;
    // Each fault shaded; named on the chart when there is room, else by colour in the legend.
    let named = intervals.len() <= 20;
    for f in intervals {
        let color = kind_color(&f.kind);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(f.start, 0.05), (f.healed.max(f.start + 0.05), max_ms)],
                color.mix(0.18).filled(),
            )))
            .map_err(|e| text(&e))?;
        if named {
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{} {}", f.kind, f.node),
                    (f.start, max_ms / 1.6),
                    ("sans-serif", 11).into_font().color(&color),
                )))
                .map_err(|e| text(&e))?;
        }
    }
    if !named {
        let kinds: BTreeSet<&str> = intervals.iter().map(|f| f.kind.as_str()).collect();
        for kind in kinds {
            let color = kind_color(kind);
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(|e| text(&e))?
                .label(kind.to_owned())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.mix(0.35).filled())
                });
        }
    }
    chart
        .draw_series(LineSeries::new(top, &RGBColor(150, 150, 150)))
        .map_err(|e| text(&e))?
        .label("slowest successful request per bin")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 150, 150)));
    chart
        .draw_series(LineSeries::new(p50, &BLUE))
        .map_err(|e| text(&e))?
        .label("median latency per bin")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    // At most 3,000 crosses (every n-th when more).
    let step = fails.len().div_ceil(3000).max(1);
    chart
        .draw_series(
            fails
                .iter()
                .step_by(step)
                .map(|&(t, ms)| Cross::new((t, ms.max(0.06)), 3, RED)),
        )
        .map_err(|e| text(&e))?
        .label("failed request (at its latency)")
        .legend(|(x, y)| Cross::new((x + 10, y), 3, RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))?;
    let mut chart = ChartBuilder::on(&lower)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..peak * 1.1)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("requests / s")
        .draw()
        .map_err(|e| text(&e))?;
    for f in intervals {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(f.start, 0.0), (f.healed.max(f.start + 0.05), peak * 1.1)],
                kind_color(&f.kind).mix(0.18).filled(),
            )))
            .map_err(|e| text(&e))?;
    }
    chart
        .draw_series(LineSeries::new(ok_rate, &GREEN))
        .map_err(|e| text(&e))?
        .label("succeeded")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart
        .draw_series(LineSeries::new(fail_rate, &RED))
        .map_err(|e| text(&e))?
        .label("failed")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))?;
    root.present().map_err(|e| text(&e))?;
    Ok(())
}

/// Reads the records of every agent.
///
/// # Errors
/// A file that cannot be read or a line that does not decode.
pub fn read_ops(paths: &[PathBuf]) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(FaultsError::io(path))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let op: Op = serde_json::from_str(line).map_err(|source| FaultsError::Json {
                what: format!("{} line {}", path.display(), i + 1),
                source,
            })?;
            ops.push(op);
        }
    }
    ops.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{FinalKey, NodeRead};

    fn op(t: f64, write: bool, ok: bool, key: u32, element: Option<u64>) -> Op {
        Op {
            t,
            agent: 0,
            client: 0,
            write,
            key,
            ok,
            error: (!ok).then(|| "unavailable".to_owned()),
            ms: 1.0,
            element,
            siblings: 0,
        }
    }

    fn interval(kind: &str, start: f64, healed: f64) -> Interval {
        Interval {
            kind: kind.to_owned(),
            node: "n1".to_owned(),
            how: String::new(),
            start,
            end: healed,
            healed,
        }
    }

    #[test]
    fn requests_belong_to_the_fault_and_its_recovery() {
        let faults = [interval("pause", 10.0, 15.0), interval("kill", 16.0, 20.0)];
        assert_eq!(phase_of(9.9, 1.0, &faults), None);
        // In flight when the fault began.
        assert_eq!(phase_of(9.9, 200.0, &faults), Some(0));
        assert_eq!(phase_of(10.0, 1.0, &faults), Some(0));
        // The recovery of the first is cut short by the second.
        assert_eq!(phase_of(15.9, 1.0, &faults), Some(0));
        assert_eq!(phase_of(16.0, 1.0, &faults), Some(1));
        assert_eq!(phase_of(24.9, 1.0, &faults), Some(1));
        assert_eq!(phase_of(25.0, 1.0, &faults), None);
    }

    #[test]
    fn availability_per_phase() {
        let faults = [interval("pause", 10.0, 12.0)];
        let ops = [
            op(1.0, false, true, 0, None),
            op(11.0, true, false, 0, Some(1)),
            op(12.0, false, true, 0, None),
            op(30.0, true, true, 0, Some(2)),
        ];
        let (phases, per_fault) = phases(&ops, &faults, 40.0);
        assert_eq!(phases[0].name, NO_FAULT);
        assert_eq!(phases[0].requests, 2);
        assert_eq!(phases[0].availability, 1.0);
        assert_eq!(phases[1].name, "pause");
        assert_eq!(phases[1].availability, 0.5);
        assert_eq!(phases[1].seconds, 7.0);
        assert_eq!(phases[0].seconds, 33.0);
        assert_eq!(per_fault[0].failed, 1);
        assert_eq!(per_fault[0].errors["unavailable"], 1);
    }

    #[test]
    fn lost_and_phantom_elements_are_found() {
        let ops = [
            op(1.0, true, true, 0, Some(1)),
            op(2.0, true, true, 0, Some(2)),
            op(3.0, true, false, 0, Some(3)),
            op(4.0, true, false, 0, Some(4)),
        ];
        let read = |node: &str, elements: &[u64]| NodeRead {
            node: node.to_owned(),
            elements: elements.iter().copied().collect(),
            siblings: 1,
            ..NodeRead::default()
        };
        let state = FinalState {
            keys: vec![FinalKey {
                key: 0,
                // 2 is missing on n2; 3 (unacknowledged) is present; 9 was never written.
                reads: vec![read("n1", &[1, 2, 3, 9]), read("n2", &[1, 3])],
            }],
            converged: false,
            ..FinalState::default()
        };
        let c = judge(&ops, &state);
        assert_eq!(c.acknowledged, 2);
        assert_eq!(c.lost, 1);
        assert_eq!(c.lost_examples, [(0, 2)]);
        assert_eq!(c.unacknowledged, 2);
        assert_eq!(c.unacknowledged_present, 1);
        assert_eq!(c.phantoms, 1);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 500.0);
        assert_eq!(percentile(&v, 0.99), 990.0);
        assert_eq!(percentile(&v, 0.999), 999.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_timeline_draws() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        let ops: Vec<Op> = (0..2000)
            .map(|i| op(f64::from(i) * 0.03, i % 2 == 0, i % 97 != 0, 0, None))
            .collect();
        timeline(&path, "test", &ops, &[interval("kill", 10.0, 20.0)], 60.0).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("kill n1"));
        // Many faults: named in the legend instead.
        let many: Vec<Interval> = (0..30)
            .map(|i| interval("pause", f64::from(i) * 2.0, f64::from(i) * 2.0 + 1.0))
            .collect();
        timeline(&path, "test", &ops, &many, 60.0).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(!svg.contains("pause n1") && svg.contains("pause"));
    }
}
