//! Reads criterion's results and renders the markdown tables of `BENCHMARKS.engines.md`.
//!
//! criterion writes, for every benchmark `<workload>/<engine>/<variant>`, a file
//! `<criterion dir>/<workload>/<engine>/<variant>/new/estimates.json`; the median time per
//! iteration is its `median.point_estimate`, in nanoseconds. [`collect`] gathers them all,
//! [`render`] tables them: per workload and engine the adapter's and the raw crate's medians,
//! the adapter's speed as a fraction of the raw crate's (target: at least
//! [`ADAPTER_TARGET`]), and each engine's speed relative to LMDB's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::BenchResult;
use crate::workload::Workload;

/// The slowest an adapter may be: its speed at least this fraction of its raw crate's.
pub const ADAPTER_TARGET: f64 = 0.9;

/// Engines in table order; LMDB first, as the reference.
pub const ENGINES: [&str; 4] = ["lmdb", "lsm", "redb", "mem"];

/// The median of one benchmark, with criterion's 95% confidence interval, in nanoseconds per
/// iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Median {
    /// Point estimate.
    pub ns: f64,
    /// Lower bound of the confidence interval.
    pub low: f64,
    /// Upper bound of the confidence interval.
    pub high: f64,
}

/// Medians keyed by (workload, engine, variant).
pub type Results = BTreeMap<(String, String, String), Median>;

/// Parses the median out of the text of an `estimates.json`.
///
/// # Errors
/// When the text is not JSON or lacks `median.point_estimate`.
pub fn parse_estimates(text: &str) -> BenchResult<Median> {
    let json: serde_json::Value = serde_json::from_str(text)?;
    let median = &json["median"];
    let number = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| format!("estimates.json has no number at median.{what}"))
    };
    Ok(Median {
        ns: number(&median["point_estimate"], "point_estimate")?,
        low: number(&median["confidence_interval"]["lower_bound"], "lower_bound")?,
        high: number(&median["confidence_interval"]["upper_bound"], "upper_bound")?,
    })
}

/// Every `<workload>/<engine>/<variant>/new/estimates.json` under `criterion_dir` whose
/// workload is one of [`Workload::ALL`].
///
/// # Errors
/// When a directory cannot be read or an estimates file cannot be parsed.
pub fn collect(criterion_dir: &Path) -> BenchResult<Results> {
    let mut results = Results::new();
    for workload in Workload::ALL.map(Workload::name) {
        let dir = criterion_dir.join(workload);
        if !dir.is_dir() {
            continue;
        }
        for engine in subdirs(&dir)? {
            for variant in subdirs(&dir.join(&engine))? {
                let file: PathBuf = [&dir, Path::new(&engine), Path::new(&variant)]
                    .iter()
                    .collect::<PathBuf>()
                    .join("new")
                    .join("estimates.json");
                if !file.is_file() {
                    continue;
                }
                let text = fs::read_to_string(&file)?;
                let median =
                    parse_estimates(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                results.insert((workload.to_owned(), engine.clone(), variant), median);
            }
        }
    }
    Ok(results)
}

fn subdirs(dir: &Path) -> BenchResult<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(name) = entry.file_name().to_str()
            && name != "report"
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// A duration in nanoseconds with a unit that keeps 3 significant digits.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {unit}")
}

/// The markdown tables for `results`: one row per workload and engine with the medians of
/// adapter and raw crate, the adapter's speed relative to its raw crate, and the speed of the
/// engine's adapter and raw crate relative to LMDB's; then a compact table of the adapters
/// alone, one column per engine, in the shape of redb's published table.
pub fn render(results: &Results) -> String {
    let get = |w: &str, e: &str, v: &str| {
        results
            .get(&(w.to_owned(), e.to_owned(), v.to_owned()))
            .copied()
    };
    let speed = |reference: Option<Median>, this: Option<Median>| match (reference, this) {
        (Some(r), Some(t)) if t.ns > 0.0 => Some(r.ns / t.ns),
        _ => None,
    };
    let cell = |m: Option<Median>| m.map_or_else(|| "—".to_owned(), |m| format_ns(m.ns));
    let ratio = |r: Option<f64>| r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));

    let mut out = String::new();
    out.push_str(
        "| workload (one iteration) | engine | adapter | raw | adapter speed / raw | adapter vs LMDB adapter | raw vs LMDB raw |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut misses = Vec::new();
    for workload in Workload::ALL {
        let iteration = workload.iteration();
        let workload = workload.name();
        let mut first = true;
        for engine in ENGINES {
            let (adapter, raw) = (
                get(workload, engine, "adapter"),
                get(workload, engine, "raw"),
            );
            if adapter.is_none() && raw.is_none() {
                continue;
            }
            let own = speed(raw, adapter);
            let mark = match own {
                Some(r) if r < ADAPTER_TARGET => {
                    misses.push(format!("{workload}/{engine}"));
                    " ✗"
                }
                _ => "",
            };
            let label = if first {
                format!("{workload} ({iteration})")
            } else {
                String::new()
            };
            first = false;
            let _ = writeln!(
                out,
                "| {label} | {engine} | {} | {} | {}{mark} | {} | {} |",
                cell(adapter),
                cell(raw),
                ratio(own),
                ratio(speed(get(workload, "lmdb", "adapter"), adapter)),
                ratio(speed(get(workload, "lmdb", "raw"), raw)),
            );
        }
    }
    out.push('\n');
    out.push_str(
        "Medians of time per iteration. \"adapter speed / raw\" is raw time ÷ adapter time \
         (1.00× = no overhead; target ≥ 0.90×, ✗ below it). \"vs LMDB\" is LMDB's time ÷ this \
         engine's time (above 1× = faster than LMDB).\n",
    );
    if !misses.is_empty() {
        let _ = writeln!(out, "\nBelow target: {}.", misses.join(", "));
    }

    out.push_str("\nAdapters only, median time per iteration:\n\n| workload |");
    let present: Vec<&str> = ENGINES
        .into_iter()
        .filter(|e| {
            Workload::ALL
                .iter()
                .any(|w| get(w.name(), e, "adapter").is_some())
        })
        .collect();
    for engine in &present {
        let _ = write!(out, " {engine} |");
    }
    out.push_str("\n|---|");
    for _ in &present {
        out.push_str("---:|");
    }
    out.push('\n');
    for workload in Workload::ALL.map(Workload::name) {
        let _ = write!(out, "| {workload} |");
        for engine in &present {
            let _ = write!(out, " {} |", cell(get(workload, engine, "adapter")));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":160.5,"upper_bound":189.5},"point_estimate":170.25,"standard_error":7.8}}"#;

    #[test]
    fn parses_the_median() {
        let m = parse_estimates(ESTIMATES).unwrap();
        assert_eq!(
            m,
            Median {
                ns: 170.25,
                low: 160.5,
                high: 189.5
            }
        );
        assert!(parse_estimates("{}").is_err());
        assert!(parse_estimates("not json").is_err());
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_ns(170.25), "170 ns");
        assert_eq!(format_ns(1_534.0), "1.53 µs");
        assert_eq!(format_ns(25_300_000.0), "25.3 ms");
        assert_eq!(format_ns(2_500_000_000.0), "2.50 s");
    }

    #[test]
    fn collects_and_renders_ratios() {
        let dir = tempfile::tempdir().unwrap();
        let write = |w: &str, e: &str, v: &str, ns: f64| {
            let d = dir.path().join(w).join(e).join(v).join("new");
            fs::create_dir_all(&d).unwrap();
            let text = ESTIMATES.replace("170.25", &ns.to_string());
            fs::write(d.join("estimates.json"), text).unwrap();
        };
        write("random_reads", "lmdb", "adapter", 200.0);
        write("random_reads", "lmdb", "raw", 100.0);
        write("random_reads", "redb", "adapter", 400.0);
        write("random_reads", "redb", "raw", 380.0);
        write("not_a_workload", "lmdb", "raw", 1.0);
        let results = collect(dir.path()).unwrap();
        assert_eq!(results.len(), 4);
        let table = render(&results);
        // lmdb: adapter at half the raw speed, below target.
        assert!(
            table.contains("| lmdb | 200 ns | 100 ns | 0.50× ✗ | 1.00× | 1.00× |"),
            "{table}"
        );
        // redb: 380/400 = 0.95, relative to lmdb 200/400 and 100/380.
        assert!(
            table.contains("| redb | 400 ns | 380 ns | 0.95× | 0.50× | 0.26× |"),
            "{table}"
        );
        assert!(
            table.contains("Below target: random_reads/lmdb."),
            "{table}"
        );
    }
}
