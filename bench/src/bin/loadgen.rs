//! `loadgen`: loads a running Dynamo cluster over its HTTP API and reports throughput, failures
//! and latency quantiles (see `bench::loadgen`).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bench::loadgen::{LoadConfig, WriteMode, parse_duration, run_until};
use clap::Parser;

/// Load generator for a running Dynamo cluster.
///
/// Concurrent clients send a mix of reads and writes over the HTTP API, each client to one node
/// (round-robin over --nodes), for --duration after a --warmup; then it prints the throughput,
/// the failures by kind (unavailable, overloaded, other) and the latency quantiles of reads and
/// writes. Progress goes to stderr every few seconds; Ctrl-C stops early and still reports.
///
/// It starts no nodes: it is a client of a cluster already running. Start one in another
/// terminal with `cargo run --release --bin dynamo -- up` (three nodes on 127.0.0.1, HTTP on
/// ports 8001-8003, the default --nodes here), then run e.g.
/// `cargo run --release -p bench --bin loadgen -- --clients 32 --duration 30s --preload`.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// Base URLs of the nodes, comma-separated; clients are spread over them round-robin.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003"
    )]
    nodes: Vec<String>,
    /// Concurrent clients, each with one request in flight at a time.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Length of the measured phase (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Number of keys (key00000000, key00000001, ...).
    #[arg(long, default_value_t = 10_000)]
    keys: u32,
    /// Bytes per value (at least 16: a header naming the write, for --verify).
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Fraction of operations that are reads, 0 to 1.
    #[arg(long, default_value_t = 0.5)]
    read_ratio: f64,
    /// Writes carry the latest context known for the key (`context`), or none (`blind`: every
    /// write becomes a sibling).
    #[arg(long, default_value = "context")]
    mode: WriteMode,
    /// Zipf exponent of key popularity (e.g. 0.99); uniform when absent.
    #[arg(long, value_name = "S")]
    zipf: Option<f64>,
    /// Seed of the clients' random generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bucket to write to.
    #[arg(long, default_value = "loadgen")]
    bucket: String,
    /// Read quorum of every read (default: the bucket's).
    #[arg(long)]
    r: Option<u8>,
    /// Write quorum of every write (default: the bucket's).
    #[arg(long)]
    w: Option<u8>,
    /// Write every key once before the warm-up, so that reads find values.
    #[arg(long)]
    preload: bool,
    /// After the run, read back every key written and check its values (use a fresh --bucket:
    /// values of earlier runs count as foreign).
    #[arg(long)]
    verify: bool,
    /// Progress line interval on stderr.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    progress: Duration,
    /// Time limit of one request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Worker threads of the client runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = LoadConfig {
        nodes: args.nodes,
        clients: args.clients,
        duration: args.duration,
        warmup: args.warmup,
        keys: args.keys,
        value_size: args.value_size,
        read_ratio: args.read_ratio,
        mode: args.mode,
        zipf: args.zipf,
        seed: args.seed,
        bucket: args.bucket,
        r: args.r,
        w: args.w,
        preload: args.preload,
        verify: args.verify,
        progress: Some(args.progress),
        timeout: args.timeout,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(t) = args.threads {
        runtime.worker_threads(t.max(1));
    }
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: stopping (Ctrl-C)");
                flag.store(true, Ordering::Relaxed);
            }
        });
        run_until(&config, stop).await
    });
    match outcome {
        Ok(report) => {
            if args.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            if report.verify.as_ref().is_some_and(|v| !v.passed()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
