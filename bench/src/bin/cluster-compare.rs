//! `cluster-compare`: our cluster beside its peers under the same `loadgen` workload, in
//! alternating rounds; one table on stdout, one CSV line per run appended to a file, for a
//! sweep of open-loop rates an SVG of latency against throughput, and with `--shards` the
//! lines of a scaling curve (see `bench::compare`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use bench::compare::cluster::{Cluster, Ports, UpSpec};
use bench::compare::http::{PropsOutcome, set_durability};
use bench::compare::plan::{System, Variant, round_order, variants};
use bench::compare::record::{Figures, Record};
use bench::compare::run::{RunSpec, Workload, loadgen_args, run_loadgen};
use bench::compare::{CompareError, csv, plot, scaling, signals, table};
use bench::loadgen::parse_duration;
use clap::Parser;

/// Compare our cluster with its peers, in alternating rounds.
///
/// Starts every system once — a 3-node `dynamo up` cluster per engine (`ours`), optionally a
/// 1-node one per engine run with durability `none` (`ours-1node`), a 3-rack Dynomite cluster
/// over redis (`dynomite`, through bench/peers/dynomite-up.sh) and one redis-server (`redis`,
/// bench/peers/redis-up.sh) — then, round after round, runs `loadgen` once against each of them
/// with the same workload, in forward order in odd rounds and backward in even ones. Before each
/// run of ours it sets the cluster's durability mode (`PUT /props`), and each run writes to a
/// fresh bucket. At the end it prints one table, having appended one CSV line per run to --csv
/// as it went, and stops every system (also on Ctrl-C).
///
/// With --sweep, every run is open-loop at each of the rates given, and the latency quantiles
/// are drawn against the achieved throughput in --svg, one line per system.
///
/// With --shards, our clusters are started once per shard count (`dynamo up --shards N`), and
/// --scaling-csv gets one line per run for the `scaling-svg` chart (bench/MANY-CORES.md).
///
/// Run it from the workspace root after `cargo build --release --bin dynamo` and
/// `cargo build --release -p bench --bin loadgen --bin cluster-compare`; bench/peers/README.md
/// tells how to get redis and Dynomite.
#[derive(Debug, Parser)]
#[command(name = "cluster-compare", version)]
struct Args {
    /// Systems to run: ours, ours-1node, dynomite, redis (comma-separated). A peer whose
    /// binaries are missing is skipped with a warning.
    #[arg(long, value_delimiter = ',', default_value = "ours,dynomite,redis")]
    systems: Vec<System>,
    /// Storage engines of our clusters (one cluster each).
    #[arg(long, value_delimiter = ',', default_value = "lsm,lmdb")]
    engines: Vec<String>,
    /// Durability modes our 3-node clusters run with, each set before its run.
    #[arg(long, value_delimiter = ',', default_value = "all,one,none")]
    durabilities: Vec<String>,
    /// Shards per node of our clusters (comma-separated): one cluster per engine and count,
    /// started with `dynamo up --shards N`. Empty: the flag is left out. A `dynamo up`
    /// without the flag runs a count of 1 without it, and skips the others with a warning.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    shards: Vec<u32>,
    /// Client protocols loadgen speaks to our clusters: binary, http (each a variant). A
    /// --dynamo from before the binary protocol takes only http.
    #[arg(long, value_delimiter = ',', default_value = "binary")]
    protocols: Vec<String>,
    /// Fractions of reads; every system runs each.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.95")]
    read_ratios: Vec<f64>,
    /// Rounds; each runs every system once per read ratio (and rate).
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Concurrent clients of loadgen.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Measured phase of each run (e.g. 20s, 1m).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before it.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    warmup: Duration,
    /// Number of keys.
    #[arg(long, default_value_t = 10_000)]
    keys: u32,
    /// Bytes per value.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Do not write every key before each run (reads of a fresh bucket then miss).
    #[arg(long)]
    no_preload: bool,
    /// Read every key back after each run and check it (loadgen --verify); the peers' redis
    /// servers are emptied (FLUSHALL) before each of their runs for it.
    #[arg(long)]
    verify: bool,
    /// Open loop: intended operations per second of every run (default: closed loop).
    #[arg(long, conflicts_with = "sweep")]
    rate: Option<f64>,
    /// Open-loop sweep: run each system at each of these intended rates (ops/s,
    /// comma-separated) and draw latency against throughput in --svg.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<f64>,
    /// The `dynamo` executable (default: the one beside this executable).
    #[arg(long)]
    dynamo: Option<PathBuf>,
    /// The `loadgen` executable (default: the one beside this executable).
    #[arg(long)]
    loadgen: Option<PathBuf>,
    /// The directory of the peers' scripts.
    #[arg(long, default_value = "bench/peers")]
    peers_dir: PathBuf,
    /// The dynomite executable (bench/peers/build-dynomite.sh builds it there).
    #[arg(long, default_value = "target/peers/dynomite/bin/dynomite")]
    dynomite: PathBuf,
    /// The redis-server executable.
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Directory for the clusters' data, configurations and logs, kept afterwards (default: a
    /// temporary directory, removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Ports are taken from here up, in free blocks.
    #[arg(long, default_value_t = 24000)]
    first_port: u16,
    /// CSV file to append one line per run to (created with a header).
    #[arg(long, default_value = "bench/results/compare.csv")]
    csv: PathBuf,
    /// SVG file of a --sweep.
    #[arg(long, default_value = "bench/results/latency-vs-throughput.svg")]
    svg: PathBuf,
    /// A second CSV file to append one line per run to, in the columns of the scaling curve
    /// (`bench::compare::scaling`; `scaling-svg` draws it).
    #[arg(long)]
    scaling_csv: Option<PathBuf>,
    /// The commit the binaries were built from, for the CSV files (default: the working
    /// tree's, from git; "-" outside a checkout).
    #[arg(long)]
    commit: Option<String>,
    /// Interval of loadgen's progress lines.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    progress: Duration,
}

fn main() -> ExitCode {
    match compare(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-compare: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The executable `name` beside this one (both are in target/release), else `name` there.
fn beside_me(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| Path::new("target/release").join(name))
}

/// True when `program --version` runs and succeeds.
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The commit of the working tree, with `-dirty` when tracked files have changes; "-" outside
/// a git checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{hash}-dirty"),
            _ => hash,
        },
        None => "-".into(),
    }
}

/// True when `dynamo up --help` lists a `--shards` flag.
fn up_has_shards(dynamo: &Path) -> bool {
    Command::new(dynamo)
        .args(["up", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--shards"))
}

/// What identifies a started system: the system, the engine and the shard count (ours).
type Key = (System, Option<String>, Option<u32>);

/// The systems started, each with the variants that run on it.
struct Started {
    /// (system, engine, shards) → its cluster.
    clusters: Vec<(Key, Cluster)>,
}

impl Started {
    fn get(&self, variant: &Variant) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|((system, engine, shards), _)| {
                *system == variant.system && *engine == variant.engine && *shards == variant.shards
            })
            .map(|(_, cluster)| cluster)
    }

    /// Stops every cluster, reporting failures as warnings.
    fn stop_all(&mut self) {
        for (_, cluster) in &mut self.clusters {
            eprintln!("cluster-compare: stopping {}", cluster.name);
            if let Err(e) = cluster.stop() {
                eprintln!("cluster-compare: warning: {e}");
            }
        }
    }
}

/// Starts each system of `args.systems` (one of ours per engine), skipping peers whose
/// binaries are missing or that fail to start.
fn start_systems(
    args: &Args,
    dynamo: &Path,
    work: &Path,
    stop: &AtomicBool,
) -> anyhow::Result<Started> {
    let mut started = Started {
        clusters: Vec::new(),
    };
    let mut ports = Ports::from(args.first_port);
    let redis_ok = runs(&args.redis_server);
    let shard_flag = !args.shards.is_empty() && up_has_shards(dynamo);
    if !args.shards.is_empty() && !shard_flag {
        eprintln!(
            "cluster-compare: warning: `{} up` has no --shards flag: a count of 1 runs without \
             it, the other counts are skipped",
            dynamo.display()
        );
    }
    let shard_counts: Vec<Option<u32>> = if args.shards.is_empty() {
        vec![None]
    } else {
        args.shards.iter().copied().map(Some).collect()
    };
    for &system in &args.systems {
        if stop.load(Ordering::Relaxed) {
            bail!(CompareError::Interrupted);
        }
        match system {
            System::Ours | System::Ours1Node => {
                let nodes: u16 = if system == System::Ours { 3 } else { 1 };
                for (engine, &shards) in args
                    .engines
                    .iter()
                    .flat_map(|e| shard_counts.iter().map(move |s| (e, s)))
                {
                    if stop.load(Ordering::Relaxed) {
                        bail!(CompareError::Interrupted);
                    }
                    // The flag passed: none without it, where only a count of 1 runs.
                    let flag = match shards {
                        Some(n) if !shard_flag => {
                            if n != 1 {
                                eprintln!(
                                    "cluster-compare: warning: skipping {system} {engine} with \
                                     {n} shards: `dynamo up` has no --shards flag"
                                );
                                continue;
                            }
                            None
                        }
                        other => other,
                    };
                    let binary = args.protocols.iter().any(|p| p == "binary");
                    let base = ports.block(3 * nodes)?;
                    let (name, dir) = match shards {
                        Some(n) => (
                            format!(
                                "{system} {engine} {n} shard{}",
                                if n == 1 { "" } else { "s" }
                            ),
                            work.join(format!("{system}-{engine}-{n}shards")),
                        ),
                        None => (
                            format!("{system} {engine}"),
                            work.join(format!("{system}-{engine}")),
                        ),
                    };
                    eprintln!("cluster-compare: starting {name} (dynamo up, HTTP from {base})");
                    let cluster = Cluster::start_ours(&UpSpec {
                        dynamo,
                        name,
                        nodes,
                        engine,
                        data_dir: dir.join("data"),
                        http_port: base,
                        peer_port: base + nodes,
                        binary_port: binary.then_some(base + 2 * nodes),
                        log: dir.join("up.log"),
                        shards: flag,
                    })?;
                    started
                        .clusters
                        .push(((system, Some(engine.clone()), shards), cluster));
                }
            }
            System::Dynomite | System::Redis => {
                if !redis_ok {
                    eprintln!(
                        "cluster-compare: warning: skipping {system}: {} does not run (install \
                         it with bench/peers/install-redis.sh, or pass --redis-server)",
                        args.redis_server.display()
                    );
                    continue;
                }
                let mut env: Vec<(&str, PathBuf)> =
                    vec![("REDIS_SERVER", args.redis_server.clone())];
                let (script, block) = if system == System::Dynomite {
                    if !args.dynomite.is_file() {
                        eprintln!(
                            "cluster-compare: warning: skipping dynomite: no {} (build it with \
                             bench/peers/build-dynomite.sh, or pass --dynomite)",
                            args.dynomite.display()
                        );
                        continue;
                    }
                    let dynomite =
                        std::path::absolute(&args.dynomite).context("cannot resolve --dynomite")?;
                    env.push(("DYNOMITE", dynomite));
                    ("dynomite", 40)
                } else {
                    ("redis", 1)
                };
                let base = ports.block(block)?;
                let up = args.peers_dir.join(format!("{script}-up.sh"));
                let down = args.peers_dir.join(format!("{script}-down.sh"));
                if !up.is_file() {
                    bail!(
                        "no {} (run from the workspace root, or pass --peers-dir)",
                        up.display()
                    );
                }
                eprintln!(
                    "cluster-compare: starting {system} ({} from {base})",
                    up.display()
                );
                let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
                match Cluster::start_script(
                    system.name(),
                    &up,
                    &down,
                    &work.join(script),
                    base,
                    &env,
                ) {
                    Ok(cluster) => started.clusters.push(((system, None, None), cluster)),
                    Err(e) => eprintln!("cluster-compare: warning: skipping {system}: {e}"),
                }
            }
        }
    }
    Ok(started)
}

/// Whether the server knows the durability property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurabilityProp {
    Unknown,
    Supported,
    Unsupported,
}

/// Sets `variant`'s durability mode on its cluster before a run. Returns the mode in force,
/// or `None` when the run is to be skipped (a mode other than `all` on a server without the
/// property).
fn apply_durability(
    variant: &Variant,
    cluster: &Cluster,
    prop: &mut DurabilityProp,
) -> anyhow::Result<Option<String>> {
    let Some(mode) = variant.durability.as_deref() else {
        return Ok(None);
    };
    // Without the property every run is of the default mode, `all`: the 3-node clusters run
    // only their `all` variant, the 1-node baseline runs anyway (as `all`).
    let fallback = (mode == "all" || variant.system == System::Ours1Node).then(|| "all".to_owned());
    if *prop == DurabilityProp::Unsupported {
        return Ok(fallback);
    }
    let first = *cluster
        .http
        .first()
        .context("a cluster of ours without nodes")?;
    match set_durability(first, &cluster.http, mode)? {
        PropsOutcome::Applied => {
            *prop = DurabilityProp::Supported;
            Ok(Some(mode.to_owned()))
        }
        PropsOutcome::NotSeenEverywhere => {
            *prop = DurabilityProp::Supported;
            eprintln!(
                "cluster-compare: warning: durability {mode} accepted, but not every node of \
                 {} reported it within 10 s",
                cluster.name
            );
            Ok(Some(mode.to_owned()))
        }
        PropsOutcome::Unsupported(answer) => {
            *prop = DurabilityProp::Unsupported;
            eprintln!(
                "cluster-compare: warning: the server does not know the durability property \
                 (PUT /props answered 400: {answer}); running with its default (all) only, \
                 skipping the other modes"
            );
            Ok(fallback)
        }
    }
}

/// A bucket name unique to this session and run: letters, digits and dashes.
fn bucket_name(session: u64, index: usize, variant: &Variant) -> String {
    let label: String = variant
        .label()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("cc-{session}-{index}-{label}")
}

fn compare(args: Args) -> anyhow::Result<()> {
    let stop = signals::stop_flag().context("cannot watch for Ctrl-C")?;
    if args.read_ratios.iter().any(|r| !(0.0..=1.0).contains(r)) {
        bail!("read ratios must be between 0 and 1");
    }
    if let Some(p) = args
        .protocols
        .iter()
        .find(|p| !["http", "binary"].contains(&p.as_str()))
    {
        bail!("unknown protocol {p:?}: binary or http");
    }
    if args.protocols.is_empty() {
        bail!("--protocols names none");
    }
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let loadgen = args.loadgen.clone().unwrap_or_else(|| beside_me("loadgen"));
    if !loadgen.is_file() {
        bail!(
            "no loadgen at {} (cargo build --release -p bench --bin loadgen, or pass --loadgen)",
            loadgen.display()
        );
    }
    let dynamo = args.dynamo.clone().unwrap_or_else(|| beside_me("dynamo"));
    if args.systems.iter().any(|s| s.is_ours()) && !dynamo.is_file() {
        bail!(
            "no dynamo at {} (cargo build --release --bin dynamo, or pass --dynamo)",
            dynamo.display()
        );
    }
    let workload = Workload {
        clients: args.clients,
        duration: args.duration,
        warmup: args.warmup,
        keys: args.keys,
        value_size: args.value_size,
        preload: !args.no_preload,
        verify: args.verify,
        progress: args.progress,
    };
    let now = SystemTime::now();
    let session = csv::Session {
        date: csv::utc_date(now),
        commit: args.commit.clone().unwrap_or_else(commit),
        workload: &workload,
    };
    // Creates the files with their headers, or refuses files of other columns, before any run.
    csv::append(&args.csv, &[])?;
    if let Some(path) = &args.scaling_csv {
        scaling::append(path, &[])?;
    }

    let temp;
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("cluster-compare-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            temp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = std::path::absolute(&work)?;
    eprintln!(
        "cluster-compare: data, configurations and logs in {}",
        work.display()
    );

    let mut started = start_systems(&args, &dynamo, &work, &stop)?;
    let result = run_rounds(&args, &loadgen, &workload, &session, &started, &stop, now);
    started.stop_all();
    let records = result?;

    if !records.is_empty() {
        println!("{}", table::render(&records));
    }
    if !args.sweep.is_empty() && !records.is_empty() {
        let several_ratios = args.read_ratios.len() > 1;
        let lines = plot::series(&records, |r| {
            let mut name = [
                Some(&r.system),
                r.engine.as_ref(),
                r.durability.as_ref(),
                r.figures.protocol.as_ref().filter(|_| r.engine.is_some()),
            ]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
            if several_ratios {
                name.push_str(&format!(", reads {}", r.read_ratio));
            }
            name
        });
        let title = format!(
            "latency against throughput: {} clients, {} B values, {} keys, {} ({})",
            workload.clients, workload.value_size, workload.keys, session.date, session.commit
        );
        plot::draw(&args.svg, &title, &lines)?;
        eprintln!("cluster-compare: chart in {}", args.svg.display());
    }
    eprintln!(
        "cluster-compare: {} runs appended to {}",
        records.len(),
        args.csv.display()
    );
    if stop.load(Ordering::Relaxed) {
        bail!(CompareError::Interrupted);
    }
    Ok(())
}

/// The rounds: for each round, read ratio and rate, every variant once, in the round's order.
/// Returns the records of the runs done (all of them, or those before an interruption).
fn run_rounds(
    args: &Args,
    loadgen: &Path,
    workload: &Workload,
    session: &csv::Session<'_>,
    started: &Started,
    stop: &AtomicBool,
    now: SystemTime,
) -> anyhow::Result<Vec<Record>> {
    let all = variants(
        &args.systems,
        &args.engines,
        &args.durabilities,
        &args.protocols,
        &args.shards,
    );
    let plan: Vec<&Variant> = all.iter().filter(|v| started.get(v).is_some()).collect();
    if plan.is_empty() {
        bail!("nothing to run: no system started");
    }
    let rates: Vec<Option<f64>> = if args.sweep.is_empty() {
        vec![args.rate]
    } else {
        args.sweep.iter().map(|&r| Some(r)).collect()
    };
    let total = args.rounds as usize * args.read_ratios.len() * rates.len() * plan.len();
    let per_run = workload.warmup + workload.duration;
    eprintln!(
        "cluster-compare: {total} runs ({} rounds × {} read ratios × {} rates × {} systems), \
         ≥ {} min",
        args.rounds,
        args.read_ratios.len(),
        rates.len(),
        plan.len(),
        (per_run.as_secs_f64() * total as f64 / 60.0).ceil()
    );
    let session_id = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut prop = DurabilityProp::Unknown;
    let mut records = Vec::new();
    let mut index = 0;
    for round in 1..=args.rounds {
        for &read_ratio in &args.read_ratios {
            for &rate in &rates {
                for i in round_order(plan.len(), round) {
                    let variant = plan[i];
                    index += 1;
                    if stop.load(Ordering::Relaxed) {
                        return Ok(records);
                    }
                    let Some(cluster) = started.get(variant) else {
                        continue;
                    };
                    let durability = if variant.system.is_ours() {
                        match apply_durability(variant, cluster, &mut prop)? {
                            Some(mode) => Some(mode),
                            None => {
                                eprintln!(
                                    "cluster-compare: [{index}/{total}] round {round}: {}: \
                                     skipped (durability property unsupported)",
                                    variant.label()
                                );
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    if workload.verify
                        && let Err(e) = cluster.flush_stores()
                    {
                        eprintln!("cluster-compare: warning: {e}");
                    }
                    let bucket = bucket_name(session_id, index, variant);
                    eprintln!(
                        "cluster-compare: [{index}/{total}] round {round}: {}, read ratio \
                         {read_ratio}{}",
                        variant.label(),
                        rate.map(|r| format!(", rate {r}/s")).unwrap_or_default()
                    );
                    let nodes = if variant.protocol == "binary" {
                        &cluster.binary
                    } else {
                        &cluster.nodes
                    };
                    let spec = RunSpec {
                        nodes,
                        protocol: &variant.protocol,
                        read_ratio,
                        rate,
                        bucket: &bucket,
                        cpu_pids: &cluster.pids,
                    };
                    let outcome = match run_loadgen(loadgen, &loadgen_args(workload, &spec), stop) {
                        Ok(outcome) => outcome,
                        Err(CompareError::Interrupted) => return Ok(records),
                        Err(e) => {
                            eprintln!("cluster-compare: warning: run skipped: {e}");
                            continue;
                        }
                    };
                    if let Some(failure) = &outcome.failure {
                        eprintln!("cluster-compare: warning: {failure}");
                    }
                    let disk_bytes = cluster.disk_bytes().unwrap_or_else(|e| {
                        eprintln!("cluster-compare: warning: {e}");
                        None
                    });
                    let record = Record {
                        system: variant.system.name().to_owned(),
                        engine: variant.engine.clone(),
                        durability,
                        shards: variant.shards,
                        read_ratio,
                        round,
                        rate,
                        disk_bytes,
                        figures: Figures::from_report(&outcome.report),
                    };
                    summarize(&record);
                    csv::append(&args.csv, &[csv::line(session, &record)])?;
                    if let Some(path) = &args.scaling_csv {
                        scaling::append(path, &[scaling::line(session, &record)])?;
                    }
                    records.push(record);
                }
            }
        }
    }
    Ok(records)
}

/// One line on stderr with the main figures of a run.
fn summarize(record: &Record) {
    let f = &record.figures;
    let show = |v: Option<f64>, unit: &str| {
        v.map_or_else(
            || "-".to_owned(),
            |v| format!("{}{unit}", table::format_count(v)),
        )
    };
    eprintln!(
        "cluster-compare:   → {} ops/s, errors {}, node CPU {} µs/op, loadgen CPU {} µs/op",
        show(f.ops_per_sec, ""),
        show(f.errors, ""),
        show(f.node_cpu_us_per_op, ""),
        show(f.loadgen_cpu_us_per_op, ""),
    );
}
