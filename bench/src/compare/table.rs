//! The table printed at the end: one row per run, as a Markdown table whose columns are padded
//! so that it also reads well in a terminal.

use super::record::Record;

/// `n` rounded to a whole number, with thousands separators: `12,460`.
pub fn format_count(n: f64) -> String {
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < -0.5 {
        out.insert(0, '-');
    }
    out
}

/// Microseconds as milliseconds with three significant digits or so: `0.42`, `4.19`, `15.2`,
/// `119`.
pub fn format_ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// `value` formatted by `f`, or "-" when absent.
fn or_dash<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), f)
}

/// Three latency quantiles in microseconds as `p50 / p99 / p99.9` in milliseconds.
fn quantiles(us: &[Option<f64>; 3]) -> String {
    us.iter()
        .map(|q| or_dash(*q, format_ms))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The table of `records`, in their order. The rate columns appear when a run was open-loop,
/// the shards column when a run had a shard count.
pub fn render(records: &[Record]) -> String {
    let open_loop = records.iter().any(|r| r.rate.is_some());
    let sharded = records.iter().any(|r| r.shards.is_some());
    let mut header = vec!["system", "engine"];
    if sharded {
        header.push("shards");
    }
    header.extend(["durability", "protocol", "read", "round"]);
    if open_loop {
        header.extend(["intended rate", "achieved rate"]);
    }
    header.extend([
        "ops/s",
        "errors",
        "get p50 / p99 / p99.9 ms",
        "put p50 / p99 / p99.9 ms",
        "node CPU µs/op",
        "node cores",
        "loadgen CPU µs/op",
        "disk MB",
    ]);
    // The first six (seven with shards) columns are labels, left-aligned; the rest are
    // figures.
    let labels = if sharded { 7 } else { 6 };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let f = &r.figures;
            let mut row = vec![
                r.system.clone(),
                r.engine.clone().unwrap_or_else(|| "-".into()),
            ];
            if sharded {
                row.push(or_dash(r.shards, |n| n.to_string()));
            }
            row.extend([
                r.durability.clone().unwrap_or_else(|| "-".into()),
                f.protocol.clone().unwrap_or_else(|| "-".into()),
                r.read_ratio.to_string(),
                r.round.to_string(),
            ]);
            if open_loop {
                row.push(or_dash(r.rate, format_count));
                row.push(or_dash(f.achieved_rate, format_count));
            }
            let mut errors = or_dash(f.errors, format_count);
            if f.verify_passed == Some(false) {
                errors.push_str(" (verify FAILED)");
            }
            row.extend([
                or_dash(f.ops_per_sec, format_count),
                errors,
                quantiles(&f.get_us),
                quantiles(&f.put_us),
                or_dash(f.node_cpu_us_per_op, |v| format!("{v:.0}")),
                or_dash(f.node_cores, |v| format!("{v:.2}")),
                or_dash(f.loadgen_cpu_us_per_op, |v| format!("{v:.0}")),
                or_dash(r.disk_bytes, |b| format!("{:.0}", b as f64 / 1e6)),
            ]);
            row
        })
        .collect();

    let width = |col: usize| {
        rows.iter()
            .map(|row| row[col].chars().count())
            .chain([header[col].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, cell)| {
                if i < labels {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    // The rule under the header: a cell's width plus its two spaces, the figures' ending in
    // ':' (right-aligned).
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            if i < labels {
                "-".repeat(w + 2)
            } else {
                format!("{}:", "-".repeat(w + 1))
            }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::Figures;

    #[test]
    fn numbers_format() {
        assert_eq!(format_count(4679.5), "4,680");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1_234_567.0), "1,234,567");
        assert_eq!(format_count(0.0), "0");
        assert_eq!(format_ms(419.0), "0.42");
        assert_eq!(format_ms(15_240.0), "15.2");
        assert_eq!(format_ms(119_400.0), "119");
    }

    #[test]
    fn table_has_a_row_per_run_and_dashes_for_missing_figures() {
        let ours = Record {
            system: "ours".into(),
            engine: Some("lsm".into()),
            durability: Some("all".into()),
            shards: None,
            read_ratio: 0.5,
            round: 1,
            rate: None,
            disk_bytes: Some(528_000_000),
            figures: Figures {
                ops_per_sec: Some(4679.0),
                errors: Some(0.0),
                get_us: [Some(4190.0), Some(15_200.0), Some(119_000.0)],
                put_us: [Some(7740.0), Some(28_300.0), Some(171_000.0)],
                node_cpu_us_per_op: Some(171.4),
                ..Figures::default()
            },
        };
        let redis = Record {
            system: "redis".into(),
            engine: None,
            durability: None,
            disk_bytes: None,
            figures: Figures::default(),
            ..ours.clone()
        };
        let table = render(&[ours, redis]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("| system"));
        assert!(!lines[0].contains("rate"), "closed loop: no rate column");
        assert!(lines[1].starts_with("|--"));
        assert!(lines[1].ends_with("-:|"), "{}", lines[1]);
        assert!(!lines[1].contains(":-"), "{}", lines[1]);
        let cells = |line: &str| -> Vec<String> {
            line.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        };
        assert_eq!(
            cells(lines[2]),
            [
                "ours",
                "lsm",
                "all",
                "-",
                "0.5",
                "1",
                "4,679",
                "0",
                "4.19 / 15.2 / 119",
                "7.74 / 28.3 / 171",
                "171",
                "-",
                "-",
                "528"
            ]
        );
        assert_eq!(cells(lines[3])[8], "- / - / -");
        // Every line has the same width: the columns are padded.
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{table}");
        assert!(
            !lines[0].contains("shards"),
            "no shard counts: no shards column"
        );

        let sharded = Record {
            shards: Some(8),
            ..render_test_record()
        };
        let table = render(&[sharded, render_test_record()]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(cells(lines[0])[2], "shards");
        assert_eq!(cells(lines[2])[2], "8");
        assert_eq!(cells(lines[3])[2], "-");
        assert_eq!(cells(lines[2])[3], "all");
    }

    fn render_test_record() -> Record {
        Record {
            system: "ours".into(),
            engine: Some("lsm".into()),
            durability: Some("all".into()),
            shards: None,
            read_ratio: 0.5,
            round: 1,
            rate: None,
            disk_bytes: None,
            figures: Figures::default(),
        }
    }
}
