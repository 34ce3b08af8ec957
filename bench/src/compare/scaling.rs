//! The scaling curve of issue "Many cores": our 3-node cluster at several shard counts per node
//! beside its peers, under the same workload. `cluster-compare --scaling-csv FILE` appends one
//! line per run to FILE ([`COLUMNS`]: the shard count, throughput, latency quantiles, errors,
//! and the CPU the node processes used); the `scaling-svg` binary reads it back ([`read`]) and
//! draws it ([`draw`]): throughput and node cores against the shard count, one line per
//! configuration of ours, the runs without a shard count (the peers) as horizontal reference
//! lines, and the target as a dashed one.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::csv::{Session, append_to, field, number};
use super::record::Record;
use super::table::format_count;
use super::{CompareError, CompareResult};

/// The columns of the scaling CSV file, in order.
pub const COLUMNS: [&str; 24] = [
    "date",
    "commit",
    "system",
    "engine",
    "durability",
    "protocol",
    "shards",
    "clients",
    "value_size",
    "read_ratio",
    "round",
    "duration_s",
    "ops_per_sec",
    "errors",
    "get_p50_ms",
    "get_p99_ms",
    "get_p999_ms",
    "put_p50_ms",
    "put_p99_ms",
    "put_p999_ms",
    "node_cpu_s",
    "node_cores",
    "node_cpu_us_per_op",
    "loadgen_cpu_us_per_op",
];

/// The header line of the scaling CSV file (without its newline).
pub fn header() -> String {
    COLUMNS.join(",")
}

/// The line of `record` in the scaling CSV file (without its newline). `node_cpu_s` is the
/// CPU time of the node processes over the measured phase, `node_cores` that time divided by
/// the phase's wall-clock length.
pub fn line(session: &Session<'_>, record: &Record) -> String {
    let f = &record.figures;
    let ms = |us: Option<f64>| number(us.map(|us| us / 1000.0));
    let w = session.workload;
    let cells: [String; COLUMNS.len()] = [
        field(&session.date),
        field(&session.commit),
        field(&record.system),
        field(record.engine.as_deref().unwrap_or("")),
        field(record.durability.as_deref().unwrap_or("")),
        field(f.protocol.as_deref().unwrap_or("")),
        record.shards.map(|n| n.to_string()).unwrap_or_default(),
        w.clients.to_string(),
        w.value_size.to_string(),
        record.read_ratio.to_string(),
        record.round.to_string(),
        number(f.elapsed_s.or(Some(w.duration.as_secs_f64()))),
        number(f.ops_per_sec),
        number(f.errors),
        ms(f.get_us[0]),
        ms(f.get_us[1]),
        ms(f.get_us[2]),
        ms(f.put_us[0]),
        ms(f.put_us[1]),
        ms(f.put_us[2]),
        number(f.node_cpu_s),
        number(f.node_cores),
        number(f.node_cpu_us_per_op),
        number(f.loadgen_cpu_us_per_op),
    ];
    cells.join(",")
}

/// Appends `lines` (of [`line`]) to the scaling CSV file at `path`, creating it with the
/// header when it does not exist or is empty.
///
/// # Errors
/// [`CompareError::CsvColumns`] when the file starts with another header; [`CompareError::Io`]
/// when it cannot be read or written.
pub fn append(path: &Path, lines: &[String]) -> CompareResult<()> {
    append_to(path, &header(), None, lines)
}

/// One line of the scaling CSV file, as read back: the fields the chart needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// When the session started.
    pub date: String,
    /// The commit its binaries were built from.
    pub commit: String,
    /// The system (`ours`, `dynomite`, `redis`, ...).
    pub system: String,
    /// The storage engine (ours only; empty otherwise).
    pub engine: String,
    /// The durability mode (ours only).
    pub durability: String,
    /// The client protocol.
    pub protocol: String,
    /// Shards per node (`None`: a run without a shard count, a peer's).
    pub shards: Option<u32>,
    /// Concurrent clients.
    pub clients: Option<u32>,
    /// Successful operations per second.
    pub ops_per_sec: Option<f64>,
    /// Failed operations.
    pub errors: Option<f64>,
    /// CPU cores the node processes used.
    pub node_cores: Option<f64>,
}

impl Row {
    /// The name of the line the row belongs to: `ours lsm all binary`, `dynomite + redis`,
    /// `redis (1 process)`.
    pub fn series_name(&self) -> String {
        match self.system.as_str() {
            "dynomite" => "dynomite + redis".to_owned(),
            "redis" => "redis (1 process)".to_owned(),
            _ => [
                self.system.as_str(),
                &self.engine,
                &self.durability,
                &self.protocol,
            ]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        }
    }
}

/// The fields of one CSV line, quoted fields unquoted (`""` inside them is one quote).
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    fields.push(current);
    fields
}

/// Parses the text of a scaling CSV file: its columns are found by name, so a file with more
/// columns, or in another order, reads too.
///
/// # Errors
/// A message naming the column missing from the header, or the line whose field does not
/// parse.
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    let header = split_fields(lines.next().ok_or("an empty file")?);
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("no column {name:?} in the header"))
    };
    let [
        date,
        commit,
        system,
        engine,
        durability,
        protocol,
        shards,
        clients,
        ops,
        errors,
        cores,
    ] = [
        "date",
        "commit",
        "system",
        "engine",
        "durability",
        "protocol",
        "shards",
        "clients",
        "ops_per_sec",
        "errors",
        "node_cores",
    ]
    .map(at);
    let (date, commit, system, engine, durability, protocol) =
        (date?, commit?, system?, engine?, durability?, protocol?);
    let (shards, clients, ops, errors, cores) = (shards?, clients?, ops?, errors?, cores?);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        let text = |i: usize| {
            fields
                .get(i)
                .map(|f| f.trim().to_owned())
                .unwrap_or_default()
        };
        let value = |i: usize| -> Result<Option<f64>, String> {
            let t = text(i);
            if t.is_empty() {
                return Ok(None);
            }
            t.parse()
                .map(Some)
                .map_err(|_| format!("line {}: {:?} is not a number", n + 2, t))
        };
        let count = |i: usize| -> Result<Option<u32>, String> {
            let t = text(i);
            if t.is_empty() {
                return Ok(None);
            }
            t.parse()
                .map(Some)
                .map_err(|_| format!("line {}: {:?} is not a count", n + 2, t))
        };
        rows.push(Row {
            date: text(date),
            commit: text(commit),
            system: text(system),
            engine: text(engine),
            durability: text(durability),
            protocol: text(protocol),
            shards: count(shards)?,
            clients: count(clients)?,
            ops_per_sec: value(ops)?,
            errors: value(errors)?,
            node_cores: value(cores)?,
        });
    }
    Ok(rows)
}

/// Reads the scaling CSV file at `path`.
///
/// # Errors
/// [`CompareError::Io`] when it cannot be read or does not parse.
pub fn read(path: &Path) -> CompareResult<Vec<Row>> {
    let what = format!("read {}", path.display());
    let text = std::fs::read_to_string(path).map_err(CompareError::io(what.clone()))?;
    parse(&text).map_err(|e| CompareError::io(what)(std::io::Error::other(e)))
}

/// The rows of the last session in `rows` (the date and commit of the last row): a file
/// appended to by several runs is drawn as its latest run.
pub fn last_session(rows: &[Row]) -> Vec<Row> {
    let Some(last) = rows.last() else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.date == last.date && r.commit == last.commit)
        .cloned()
        .collect()
}

/// One point of a curve: the runs of one configuration at one shard count.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Shards per node.
    pub shards: u32,
    /// Operations per second (the median over rounds).
    pub ops_per_sec: f64,
    /// CPU cores the nodes used (the median over rounds).
    pub node_cores: Option<f64>,
}

/// A configuration of ours measured at several shard counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Its name in the legend.
    pub name: String,
    /// Its points, by increasing shard count.
    pub points: Vec<Point>,
}

/// A system measured without a shard count (a peer): a horizontal line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Its name in the legend.
    pub name: String,
    /// Operations per second (the median over rounds).
    pub ops_per_sec: f64,
    /// CPU cores its processes used (the median over rounds).
    pub node_cores: Option<f64>,
}

/// The median of `values` (`None` when empty).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if !n.is_multiple_of(2) => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The curves (rows with a shard count, grouped by [`Row::series_name`]) and the references
/// (rows without one) of `rows`, each figure the median over the rounds, in the order their
/// first row came. Rows without a throughput are left out.
pub fn curves(rows: &[Row]) -> (Vec<Curve>, Vec<Reference>) {
    let mut order: Vec<(String, bool)> = Vec::new();
    let mut groups: BTreeMap<(String, Option<u32>), Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.ops_per_sec.is_some()) {
        let name = row.series_name();
        let key = (name.clone(), row.shards.is_some());
        if !order.contains(&key) {
            order.push(key);
        }
        groups.entry((name, row.shards)).or_default().push(row);
    }
    let ops = |runs: &[&Row]| median(runs.iter().filter_map(|r| r.ops_per_sec).collect());
    let cores = |runs: &[&Row]| median(runs.iter().filter_map(|r| r.node_cores).collect());
    let mut out_curves = Vec::new();
    let mut out_refs = Vec::new();
    for (name, sharded) in order {
        if sharded {
            let points = groups
                .iter()
                .filter(|((n, shards), _)| *n == name && shards.is_some())
                .filter_map(|((_, shards), runs)| {
                    Some(Point {
                        shards: (*shards)?,
                        ops_per_sec: ops(runs)?,
                        node_cores: cores(runs),
                    })
                })
                .collect();
            out_curves.push(Curve { name, points });
        } else if let Some(runs) = groups.get(&(name.clone(), None))
            && let Some(ops_per_sec) = ops(runs)
        {
            out_refs.push(Reference {
                name,
                ops_per_sec,
                node_cores: cores(runs),
            });
        }
    }
    (out_curves, out_refs)
}

/// What the chart shows besides the runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    /// The throughput target, drawn as a dashed line (ops/s).
    pub target: Option<f64>,
    /// The machine's cores, drawn as a dashed line on the CPU panel.
    pub machine_cores: Option<f64>,
}

/// Draws `curves` and `references` into the SVG file `path`, under `title`: on the left
/// throughput against shards per node, each curve with a dotted line of linear scaling from
/// its first point; on the right the CPU cores the nodes used.
///
/// # Errors
/// [`CompareError::Plot`] when the file cannot be written.
pub fn draw(
    path: &Path,
    title: &str,
    curves: &[Curve],
    references: &[Reference],
    marks: &Marks,
) -> CompareResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(CompareError::io(format!("create {}", dir.display())))?;
    }
    draw_panels(path, title, curves, references, marks).map_err(|message| CompareError::Plot {
        path: path.to_owned(),
        message,
    })
}

/// The colour of curve `i`, and after the curves, of the references.
fn color(i: usize) -> RGBColor {
    const COLORS: [(u8, u8, u8); 8] = [
        (31, 119, 180),  // blue
        (44, 160, 44),   // green
        (255, 127, 14),  // orange
        (148, 103, 189), // purple
        (140, 86, 75),   // brown
        (23, 190, 207),  // cyan
        (227, 119, 194), // pink
        (127, 127, 127), // grey
    ];
    let (r, g, b) = COLORS[i % COLORS.len()];
    RGBColor(r, g, b)
}

/// The red of the target line.
const TARGET: RGBColor = RGBColor(214, 39, 40);

fn draw_panels(
    path: &Path,
    title: &str,
    curves: &[Curve],
    references: &[Reference],
    marks: &Marks,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1500, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| text(&e))?;
    let max_shards = curves
        .iter()
        .flat_map(|c| &c.points)
        .map(|p| p.shards)
        .max()
        .unwrap_or(8);
    let x_range = 0.0..f64::from(max_shards) + 1.0;
    let (left, right) = root.split_horizontally(900);

    // Throughput.
    let linear = |c: &Curve| -> Vec<(f64, f64)> {
        match (c.points.first(), c.points.len()) {
            (Some(first), 2..) => {
                let per_shard = first.ops_per_sec / f64::from(first.shards);
                c.points
                    .iter()
                    .map(|p| (f64::from(p.shards), per_shard * f64::from(p.shards)))
                    .collect()
            }
            _ => Vec::new(),
        }
    };
    let y_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.ops_per_sec).chain(linear(c).into_iter().map(|p| p.1)))
        .chain(references.iter().map(|r| r.ops_per_sec))
        .chain(marks.target)
        .fold(1000.0, f64::max)
        // Room above the highest line for the legend.
        * 1.3;
    let mut chart = ChartBuilder::on(&left)
        .caption("throughput", ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(x_range.clone(), 0.0..y_max)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc("shards per node")
        .y_desc("ops/s")
        .x_labels(max_shards as usize + 2)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format_count(*y))
        .draw()
        .map_err(|e| text(&e))?;
    let horizontal = |y: f64| vec![(x_range.start, y), (x_range.end, y)];
    if let Some(target) = marks.target {
        chart
            .draw_series(DashedLineSeries::new(
                horizontal(target),
                10,
                6,
                TARGET.stroke_width(2),
            ))
            .map_err(|e| text(&e))?
            .label(format!("target: {} ops/s", format_count(target)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TARGET.stroke_width(2)));
    }
    for (i, r) in references.iter().enumerate() {
        let color = color(curves.len() + i);
        chart
            .draw_series(LineSeries::new(
                horizontal(r.ops_per_sec),
                color.stroke_width(2),
            ))
            .map_err(|e| text(&e))?
            .label(format!("{}: {} ops/s", r.name, format_count(r.ops_per_sec)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for (i, c) in curves.iter().enumerate() {
        let color = color(i);
        let points: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| (f64::from(p.shards), p.ops_per_sec))
            .collect();
        let ideal = linear(c);
        if !ideal.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(ideal, 3, 4, color.stroke_width(1)))
                .map_err(|e| text(&e))?;
        }
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))
            .map_err(|e| text(&e))?
            .label(format!("{} (dotted: linear from its first point)", c.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(format_count(p.1), (6, -18), ("sans-serif", 13))
            }))
            .map_err(|e| text(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))?;

    // CPU.
    let y_max = curves
        .iter()
        .flat_map(|c| c.points.iter().filter_map(|p| p.node_cores))
        .chain(references.iter().filter_map(|r| r.node_cores))
        .chain(marks.machine_cores)
        .fold(1.0, f64::max)
        * 1.3;
    let mut chart = ChartBuilder::on(&right)
        .caption("CPU of the node processes", ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x_range.clone(), 0.0..y_max)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc("shards per node")
        .y_desc("cores used (CPU s / s)")
        .x_labels(max_shards as usize + 2)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| text(&e))?;
    if let Some(cores) = marks.machine_cores {
        chart
            .draw_series(DashedLineSeries::new(
                horizontal(cores),
                10,
                6,
                BLACK.stroke_width(1),
            ))
            .map_err(|e| text(&e))?
            .label(format!("the machine: {cores} cores"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    }
    for (i, r) in references.iter().enumerate() {
        let Some(cores) = r.node_cores else { continue };
        let color = color(curves.len() + i);
        chart
            .draw_series(LineSeries::new(horizontal(cores), color.stroke_width(2)))
            .map_err(|e| text(&e))?
            .label(format!("{}: {cores:.2}", r.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for (i, c) in curves.iter().enumerate() {
        let color = color(i);
        let points: Vec<(f64, f64)> = c
            .points
            .iter()
            .filter_map(|p| p.node_cores.map(|cores| (f64::from(p.shards), cores)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))
            .map_err(|e| text(&e))?
            .label(c.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(format!("{:.2}", p.1), (6, -18), ("sans-serif", 13))
            }))
            .map_err(|e| text(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| text(&e))?;
    root.present().map_err(|e| text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::Figures;
    use crate::compare::run::Workload;
    use std::time::Duration;

    fn record(system: &str, shards: Option<u32>, round: u32, ops: f64, cores: f64) -> Record {
        let ours = system == "ours";
        Record {
            system: system.into(),
            engine: ours.then(|| "lsm".into()),
            durability: ours.then(|| "all".into()),
            shards,
            read_ratio: 0.5,
            round,
            rate: None,
            disk_bytes: None,
            figures: Figures {
                protocol: Some(if ours { "binary" } else { "resp" }.into()),
                ops_per_sec: Some(ops),
                errors: Some(0.0),
                get_us: [Some(400.0), Some(2000.0), Some(5000.0)],
                put_us: [Some(900.0), Some(4000.0), Some(9000.0)],
                node_cpu_s: Some(cores * 20.0),
                node_cores: Some(cores),
                elapsed_s: Some(20.0),
                ..Figures::default()
            },
        }
    }

    fn file(records: &[Record]) -> String {
        let workload = Workload {
            clients: 64,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(3),
            keys: 10_000,
            value_size: 1024,
            preload: true,
            verify: false,
            progress: Duration::from_secs(10),
        };
        let session = Session {
            date: "2026-12-05T10:00:00Z".into(),
            commit: "abc1234".into(),
            workload: &workload,
        };
        let mut text = header();
        for r in records {
            text.push('\n');
            text.push_str(&line(&session, r));
        }
        text
    }

    #[test]
    fn lines_read_back_into_curves_and_references() {
        let records = [
            record("ours", Some(1), 1, 20_000.0, 3.0),
            record("ours", Some(2), 1, 36_000.0, 5.5),
            record("ours", Some(2), 2, 40_000.0, 6.5),
            record("ours", Some(2), 3, 38_000.0, 6.0),
            record("dynomite", None, 1, 90_000.0, 7.0),
            record("redis", None, 1, 150_000.0, 1.0),
        ];
        let text = file(&records);
        let first = text.lines().nth(1).unwrap();
        assert_eq!(first.split(',').count(), COLUMNS.len(), "{first}");
        assert_eq!(
            first,
            "2026-12-05T10:00:00Z,abc1234,ours,lsm,all,binary,1,64,1024,0.5,1,20,20000,0,0.4,2,5,\
             0.9,4,9,60,3,,"
        );
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].shards, Some(1));
        assert_eq!(rows[4].shards, None);
        let (curves, refs) = curves(&rows);
        assert_eq!(curves.len(), 1);
        assert_eq!(curves[0].name, "ours lsm all binary");
        assert_eq!(
            curves[0].points,
            [
                Point {
                    shards: 1,
                    ops_per_sec: 20_000.0,
                    node_cores: Some(3.0)
                },
                Point {
                    shards: 2,
                    ops_per_sec: 38_000.0,
                    node_cores: Some(6.0)
                },
            ]
        );
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["dynomite + redis", "redis (1 process)"]);
        assert_eq!(refs[1].ops_per_sec, 150_000.0);
    }

    #[test]
    fn columns_are_found_by_name_and_quotes_are_read() {
        let text = "ops_per_sec,system,shards,x,date,commit,engine,durability,protocol,clients,\
                    errors,node_cores\n\
                    1500.5,\"ours, \"\"new\"\"\",4,,d,c,lsm,all,binary,64,0,2.5\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows[0].system, "ours, \"new\"");
        assert_eq!(rows[0].ops_per_sec, Some(1500.5));
        assert_eq!(rows[0].shards, Some(4));
        assert!(
            parse(&header().replace("ops_per_sec", "ops"))
                .unwrap_err()
                .contains("ops_per_sec")
        );
        let bad = format!("{}\nd,c,ours,lsm,all,binary,x", header());
        assert!(parse(&bad).unwrap_err().contains("line 2"));
    }

    #[test]
    fn the_last_session_is_kept() {
        let row = |date: &str| Row {
            date: date.into(),
            ..Row::default()
        };
        let rows = [row("a"), row("b"), row("a"), row("b")];
        assert_eq!(last_session(&rows).len(), 2);
        assert!(last_session(&[]).is_empty());
    }

    #[test]
    fn the_chart_is_an_svg_naming_every_line() {
        let records = [
            record("ours", Some(1), 1, 20_000.0, 3.0),
            record("ours", Some(4), 1, 61_000.0, 11.0),
            record("dynomite", None, 1, 90_000.0, 7.0),
        ];
        let rows = parse(&file(&records)).unwrap();
        let (curves, refs) = curves(&rows);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        let marks = Marks {
            target: Some(124_000.0),
            machine_cores: Some(16.0),
        };
        draw(&path, "test", &curves, &refs, &marks).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "ours lsm all binary",
            "dynomite + redis: 90,000 ops/s",
            "target: 124,000 ops/s",
            "61,000",
            "the machine: 16 cores",
        ] {
            assert!(svg.contains(text), "{text}");
        }
    }
}
