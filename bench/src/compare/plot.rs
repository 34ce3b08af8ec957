//! Latency against throughput, for a sweep of open-loop rates: six panels (reads and writes;
//! p50, p99, p99.9), each with one line per system, the latency on a logarithmic axis against
//! the achieved throughput. Drawn as an SVG with plotters.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::record::Record;
use super::{CompareError, CompareResult};

/// One point of a line: the runs of one system at one intended rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The intended rate, in operations per second.
    pub intended: f64,
    /// The achieved throughput (the median over rounds).
    pub achieved: f64,
    /// Read latency p50, p99, p99.9 in milliseconds (medians over rounds).
    pub get_ms: [Option<f64>; 3],
    /// Write latency p50, p99, p99.9 in milliseconds (medians over rounds).
    pub put_ms: [Option<f64>; 3],
}

/// One line: a system's points, by increasing intended rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The line's name in the legend.
    pub name: String,
    /// Its points.
    pub points: Vec<Point>,
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

/// The lines of a sweep: the open-loop `records` grouped by `name` (the system and whatever
/// else tells lines apart), one point per intended rate, each figure the median over the
/// rounds. The achieved throughput is the report's `achieved_rate`, else its ops/s. Lines come
/// in the order their first record came.
pub fn series(records: &[Record], name: impl Fn(&Record) -> String) -> Vec<Series> {
    let mut order: Vec<String> = Vec::new();
    // name -> intended rate (in thousandths, as a sortable key) -> the runs
    let mut groups: BTreeMap<String, BTreeMap<u64, Vec<&Record>>> = BTreeMap::new();
    for record in records {
        let Some(rate) = record.rate else { continue };
        let key = name(record);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups
            .entry(key)
            .or_default()
            .entry((rate * 1000.0).round() as u64)
            .or_default()
            .push(record);
    }
    order
        .into_iter()
        .map(|name| {
            let points = groups[&name]
                .iter()
                .filter_map(|(&rate, runs)| {
                    let figure = |f: &dyn Fn(&Record) -> Option<f64>| {
                        median(runs.iter().filter_map(|r| f(r)).collect())
                    };
                    let achieved = figure(&|r| r.figures.achieved_rate.or(r.figures.ops_per_sec))?;
                    let ms = |q: usize, get: bool| {
                        figure(&|r| {
                            let us = if get {
                                r.figures.get_us
                            } else {
                                r.figures.put_us
                            };
                            us[q].map(|us| us / 1000.0)
                        })
                    };
                    Some(Point {
                        intended: rate as f64 / 1000.0,
                        achieved,
                        get_ms: [0, 1, 2].map(|q| ms(q, true)),
                        put_ms: [0, 1, 2].map(|q| ms(q, false)),
                    })
                })
                .collect();
            Series { name, points }
        })
        .collect()
}

/// Draws `series` into the SVG file `path`, under `title`.
///
/// # Errors
/// [`CompareError::Plot`] when the file cannot be written.
pub fn draw(path: &Path, title: &str, series: &[Series]) -> CompareResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(CompareError::io(format!("create {}", dir.display())))?;
    }
    draw_panels(path, title, series).map_err(|message| CompareError::Plot {
        path: path.to_owned(),
        message,
    })
}

/// The colour of line `i`: ten dark, well-separated colours, then plotters' palette.
fn color(i: usize) -> RGBAColor {
    const COLORS: [(u8, u8, u8); 10] = [
        (31, 119, 180),  // blue
        (214, 39, 40),   // red
        (44, 160, 44),   // green
        (255, 127, 14),  // orange
        (148, 103, 189), // purple
        (140, 86, 75),   // brown
        (227, 119, 194), // pink
        (127, 127, 127), // grey
        (23, 190, 207),  // cyan
        (188, 189, 34),  // olive
    ];
    match COLORS.get(i) {
        Some(&(r, g, b)) => RGBColor(r, g, b).to_rgba(),
        None => Palette99::pick(i).to_rgba(),
    }
}

/// The six panels, in reading order: reads on the first row, writes on the second.
const PANELS: [(&str, bool, usize); 6] = [
    ("read p50", true, 0),
    ("read p99", true, 1),
    ("read p99.9", true, 2),
    ("write p50", false, 0),
    ("write p99", false, 1),
    ("write p99.9", false, 2),
];

fn draw_panels(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1500, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| text(&e))?;
    let x_max = series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.achieved)
        .fold(1.0, f64::max)
        * 1.05;
    for (area, &(caption, get, q)) in root.split_evenly((2, 3)).iter().zip(&PANELS) {
        let latency = |p: &Point| if get { p.get_ms[q] } else { p.put_ms[q] };
        let values: Vec<f64> = series
            .iter()
            .flat_map(|s| &s.points)
            .filter_map(latency)
            .filter(|&ms| ms > 0.0)
            .collect();
        let y_min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let y_max = values.iter().copied().fold(0.0, f64::max);
        let (y_min, y_max) = if values.is_empty() {
            (0.1, 100.0)
        } else {
            (y_min / 1.5, y_max * 1.5)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())
            .map_err(|e| text(&e))?;
        chart
            .configure_mesh()
            .x_desc("achieved ops/s")
            .y_desc("latency, ms")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .draw()
            .map_err(|e| text(&e))?;
        for (i, s) in series.iter().enumerate() {
            let color = color(i);
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|p| latency(p).filter(|&ms| ms > 0.0).map(|ms| (p.achieved, ms)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| text(&e))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| text(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| text(&e))?;
    }
    root.present().map_err(|e| text(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::Figures;

    fn run(system: &str, round: u32, rate: f64, achieved: f64, p50_us: f64) -> Record {
        Record {
            system: system.into(),
            engine: None,
            durability: None,
            shards: None,
            read_ratio: 0.5,
            round,
            rate: Some(rate),
            disk_bytes: None,
            figures: Figures {
                achieved_rate: Some(achieved),
                get_us: [Some(p50_us), Some(p50_us * 4.0), Some(p50_us * 10.0)],
                put_us: [Some(p50_us * 2.0), None, None],
                ..Figures::default()
            },
        }
    }

    #[test]
    fn points_are_medians_over_rounds_by_rate() {
        let records = [
            run("redis", 1, 2000.0, 1990.0, 300.0),
            run("ours", 1, 1000.0, 1000.0, 1000.0),
            run("ours", 2, 1000.0, 998.0, 3000.0),
            run("ours", 1, 2000.0, 1900.0, 2000.0),
        ];
        let lines = series(&records, |r| r.system.clone());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].name, "redis");
        let ours = &lines[1];
        assert_eq!(ours.points.len(), 2);
        assert_eq!(ours.points[0].intended, 1000.0);
        assert_eq!(ours.points[0].achieved, 999.0);
        assert_eq!(ours.points[0].get_ms[0], Some(2.0));
        assert_eq!(ours.points[1].put_ms[0], Some(4.0));
        assert_eq!(ours.points[1].put_ms[1], None);
    }

    #[test]
    fn the_chart_is_an_svg_naming_every_line() {
        let records = [
            run("ours lsm", 1, 1000.0, 1000.0, 1000.0),
            run("ours lsm", 1, 4000.0, 3500.0, 5000.0),
            run("dynomite", 1, 1000.0, 1000.0, 400.0),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        draw(&path, "test", &series(&records, |r| r.system.clone())).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("ours lsm") && svg.contains("dynomite"));
        assert!(svg.contains("write p99.9"));
    }
}
