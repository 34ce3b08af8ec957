//! `dynamo-faults`: runs the fault harness (see the library's documentation) and prints its
//! report; exits with failure when a check failed. `dynamo-faults agent --spec FILE` is the
//! client agent the harness starts inside a client namespace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dynamo_faults::{FaultKind, RunConfig};

/// A fault-injection harness: dynamo nodes in network namespaces, a seeded nemesis, a set-add
/// workload through the partition-aware client, and the end checks. Needs root.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Nodes (split mode: 5).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Seconds of workload.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seed of the fault schedule and the clients.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the report goes (default target/faults/<mode>-seed<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fault kinds, comma separated, or `all`: pause,kill,wipe,partition,isolate,oneway,loss,latency.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Split mode: 5 nodes cut 2|3 for most of the run, a client on each side.
    #[arg(long)]
    split: bool,
    /// Client tasks (per client namespace).
    #[arg(long, default_value_t = 8)]
    clients: u16,
    /// Read-modify-write cycles per second per client task.
    #[arg(long, default_value_t = 25.0)]
    rate: f64,
    /// Set keys (0: 16 plus one per 10 s).
    #[arg(long, default_value_t = 0)]
    keys: u32,
    /// Storage engine of the nodes.
    #[arg(long, default_value = "lsm")]
    engine: String,
    /// Fail when the availability overall is below this share (e.g. 0.999).
    #[arg(long)]
    min_availability: Option<f64>,
    /// The `dynamo` executable (default: DYNAMO_BIN, else built with cargo next to this one).
    #[arg(long, env = "DYNAMO_BIN")]
    dynamo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The client agent (started by the harness inside a client namespace).
    #[command(hide = true)]
    Agent {
        /// Its settings (JSON).
        #[arg(long)]
        spec: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Agent { spec }) = &cli.command {
        return match dynamo_faults::agent::agent_main(spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dynamo-faults agent: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match harness(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("dynamo-faults: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn harness(cli: &Cli) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("the harness executable")?;
    let mut dynamo = cli.dynamo.clone();
    // Under `cargo run`, build the node binary of the same profile (it is another package's).
    if dynamo.is_none()
        && let Some(cargo) = std::env::var_os("CARGO")
    {
        eprintln!("dynamo-faults: building the dynamo binary");
        dynamo = Some(dynamo_faults::build_dynamo(&PathBuf::from(cargo), &exe)?);
    }
    let mode = if cli.split { "split" } else { "faults" };
    let config = RunConfig {
        nodes: cli.nodes,
        duration: Duration::from_secs(cli.duration),
        seed: cli.seed,
        out: cli
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("target/faults/{mode}-seed{}", cli.seed))),
        faults: FaultKind::parse_list(&cli.faults)?,
        split: cli.split,
        clients: cli.clients,
        rate: cli.rate,
        keys: cli.keys,
        engine: cli.engine.clone(),
        min_availability: cli.min_availability,
        dynamo,
        harness: Some(exe),
        ..RunConfig::default()
    };
    let report = dynamo_faults::run(&config)?;
    print!("{}", dynamo_faults::report::text(&report));
    Ok(report.passed())
}
