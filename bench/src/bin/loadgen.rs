//! `loadgen`: loads a running Dynamo cluster over its HTTP API or its binary protocol, or a
//! Redis-protocol server (redis-server, Dynomite), and reports throughput, failures, latency
//! quantiles and CPU per operation (see `bench::loadgen`).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bench::loadgen::cpu::parse_pid_lines;
use bench::loadgen::{LoadConfig, Protocol, Routing, WriteMode, parse_duration, run_until};
use clap::Parser;

/// Load generator for a running Dynamo cluster (HTTP or binary protocol), or a Redis-protocol
/// server.
///
/// Concurrent clients send a mix of reads and writes, each client to one node (round-robin over
/// --nodes), for --duration after a --warmup; then it prints the throughput, the failures by
/// kind (unavailable, overloaded, other) and the latency quantiles of reads and writes.
/// Progress goes to stderr every few seconds; Ctrl-C stops early and still reports.
///
/// --protocol http (the default) speaks Dynamo's HTTP API. --protocol binary speaks Dynamo's
/// binary protocol to the nodes' binary addresses (host:port; `dynamo up` gives them ports
/// 7001, 7002, ...), the same workload with the same contexts and quorums; the clients of a
/// node share one pipelined connection. --protocol resp speaks the Redis
/// protocol (GET and SET of the same keys and values, one connection per client) to
/// redis-server or Netflix Dynomite: writes are blind SETs, a GET of a missing key is a
/// successful read of nothing, error replies are failures; --bucket, --mode, --r and --w do not
/// apply. For --verify over RESP, start from an empty database (FLUSHALL).
///
/// Closed loop by default: each client sends its next operation when the last one is
/// answered. With --rate R the loop is open: operations are due at fixed times (R per second
/// over all clients), each client sends the next one due, and latency is counted from when it
/// was due, queueing for a busy client included; the report adds the achieved rate, the starts
/// later than 1 ms and the operations never sent. --clients must be large enough to keep up.
///
/// With --cpu-pids (or --cpu-pids-file) the CPU time of those processes (the nodes; all their
/// threads) is read from /proc/PID/stat at the start and the end of the measured phase: the
/// report gives node CPU per operation and cores used, and loadgen's own CPU per operation.
///
/// It starts no nodes: it is a client of a cluster already running. Start one in another
/// terminal with `cargo run --release --bin dynamo -- up` (three nodes on 127.0.0.1, HTTP on
/// ports 8001-8003, the default --nodes here), then run e.g.
/// `cargo run --release -p bench --bin loadgen -- --clients 32 --duration 30s --preload`,
/// or against redis-server:
/// `loadgen --protocol resp --nodes 127.0.0.1:6379 --rate 20000 --cpu-pids $(pidof redis-server)`.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// The protocol: http (Dynamo's API), binary (Dynamo's binary protocol) or resp (Redis
    /// GET/SET).
    #[arg(long, default_value = "http")]
    protocol: Protocol,
    /// Which node each request goes to (http only): any (client i to node i % nodes, which
    /// forwards to a replica when it stores no copy: server-driven coordination) or
    /// partition-aware (one routing client learns the ring from the nodes and sends each
    /// request to a replica of its key, failing over: client-driven coordination).
    #[arg(long, default_value = "any")]
    routing: Routing,
    /// The nodes, comma-separated; clients are spread over them round-robin. Over http, base
    /// URLs (default http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003); over
    /// binary, host:port of the binary listeners (default 127.0.0.1:7001,127.0.0.1:7002,
    /// 127.0.0.1:7003); over resp, host:port or redis://host:port (default 127.0.0.1:6379).
    #[arg(long, alias = "node", value_delimiter = ',')]
    nodes: Option<Vec<String>>,
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
    /// Access key (`<id>.<secret>`) for a cluster with auth on; better in DYNAMO_TOKEN.
    #[arg(long, env = "DYNAMO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA file (PEM) that signs the nodes' certificates, for nodes with TLS on: give the
    /// nodes as https:// URLs (the binary protocol then speaks TLS too).
    #[arg(long, env = "DYNAMO_CA")]
    ca: Option<std::path::PathBuf>,
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
    /// Open loop: operations per second over all clients, due at fixed times; latency is
    /// counted from when each was due. Closed loop when absent.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// Process ids whose CPU time is measured (the nodes), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "PID,...")]
    cpu_pids: Vec<u32>,
    /// A file of process ids to measure, one a line (added to --cpu-pids).
    #[arg(long, value_name = "FILE")]
    cpu_pids_file: Option<std::path::PathBuf>,
    /// Worker threads of the client runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// The nodes loaded when --nodes is not given.
fn default_nodes(protocol: Protocol) -> Vec<String> {
    match protocol {
        Protocol::Http => (8001..=8003)
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect(),
        Protocol::Binary => (7001..=7003)
            .map(|port| format!("127.0.0.1:{port}"))
            .collect(),
        Protocol::Resp => vec!["127.0.0.1:6379".into()],
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut cpu_pids = args.cpu_pids;
    if let Some(file) = &args.cpu_pids_file {
        match std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_pid_lines(&t))
        {
            Ok(pids) => cpu_pids.extend(pids),
            Err(e) => {
                eprintln!("loadgen: --cpu-pids-file {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let tls = match args
        .ca
        .as_deref()
        .map(dynamo_client::TlsConfig::from_ca_file)
    {
        None => None,
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => {
            eprintln!("loadgen: --ca: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = LoadConfig {
        protocol: args.protocol,
        routing: args.routing,
        nodes: args.nodes.unwrap_or_else(|| default_nodes(args.protocol)),
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
        token: args.token,
        tls,
        r: args.r,
        w: args.w,
        preload: args.preload,
        verify: args.verify,
        progress: Some(args.progress),
        timeout: args.timeout,
        rate: args.rate,
        cpu_pids,
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
