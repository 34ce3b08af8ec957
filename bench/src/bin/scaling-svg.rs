//! `scaling-svg`: draws the scaling CSV file that `cluster-compare --shards ... --scaling-csv`
//! writes (issue "Many cores") as an SVG: throughput and node CPU against the shards per node,
//! the peers and the target as horizontal lines (see `bench::compare::scaling`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use bench::compare::scaling::{self, Marks};
use clap::Parser;

/// Draw the scaling curve of a `cluster-compare --scaling-csv` file.
///
/// Our runs with a shard count are curves (the median over rounds at each count); the runs
/// without one (Dynomite, redis) are horizontal lines. By default only the last session in
/// the file is drawn (the rows with the date and commit of its last row).
#[derive(Debug, Parser)]
#[command(name = "scaling-svg", version)]
struct Args {
    /// The CSV file (`cluster-compare --scaling-csv`).
    csv: PathBuf,
    /// The SVG file to write.
    svg: PathBuf,
    /// The throughput target, drawn as a dashed line (ops/s; 0 leaves it out).
    #[arg(long, default_value_t = 124_000.0)]
    target: f64,
    /// The machine's cores, drawn as a dashed line on the CPU panel (default: this
    /// machine's).
    #[arg(long)]
    machine_cores: Option<f64>,
    /// The chart's title (default: the session's date, commit and workload).
    #[arg(long)]
    title: Option<String>,
    /// Draw every session in the file, not only the last.
    #[arg(long)]
    all_sessions: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scaling-svg: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let rows = scaling::read(&args.csv)?;
    let rows = if args.all_sessions {
        rows
    } else {
        scaling::last_session(&rows)
    };
    if rows.is_empty() {
        bail!("{} holds no runs", args.csv.display());
    }
    let (curves, references) = scaling::curves(&rows);
    let title = args.title.unwrap_or_else(|| {
        let first = &rows[0];
        let clients = first
            .clients
            .map_or_else(String::new, |c| format!(", {c} clients"));
        format!(
            "ops/s against shards per node{clients} ({}, {})",
            first.date, first.commit
        )
    });
    let machine_cores = args.machine_cores.or_else(|| {
        std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as f64)
    });
    let marks = Marks {
        target: (args.target > 0.0).then_some(args.target),
        machine_cores,
    };
    scaling::draw(&args.svg, &title, &curves, &references, &marks)?;
    eprintln!(
        "scaling-svg: {} ({} curves, {} reference lines, from {} runs)",
        args.svg.display(),
        curves.len(),
        references.len(),
        rows.len()
    );
    Ok(())
}
