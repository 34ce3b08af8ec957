//! One run: the network, the nodes, the agents, the nemesis, the end checks, the report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::agent::{AgentHandle, AgentSpec, FinalState, unix_ms};
use crate::cluster::{ClusterSpec, NodeProc, append};
use crate::error::{FaultsError, Result};
use crate::nemesis::{self, FaultKind, Interval, Planned, ScheduleSpec, Shape};
use crate::net::{self, Net};
use crate::report::{self, Report, SplitSide};
use crate::workload::WorkloadSpec;

/// Settings of a run ([`RunConfig::default`] is the CI schedule's shape: 3 nodes, a minute,
/// every fault kind).
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Nodes (ignored in split mode, which has 5).
    pub nodes: usize,
    /// How long the workload runs (the faults, then a quiet tail).
    pub duration: Duration,
    /// The seed of the schedule and of the clients' key choice.
    pub seed: u64,
    /// Where the report, the records and the logs go.
    pub out: PathBuf,
    /// Fault kinds to draw from.
    pub faults: Vec<FaultKind>,
    /// Split mode: 5 nodes, a 2|3 partition for most of the run, one client on each side.
    pub split: bool,
    /// Client tasks per agent.
    pub clients: u16,
    /// Read-modify-write cycles per second per client task.
    pub rate: f64,
    /// Set keys (0: 16 plus one per 10 s of duration).
    pub keys: u32,
    /// The storage engine.
    pub engine: String,
    /// Replicas per key.
    pub n: u8,
    /// Read quorum.
    pub r: u8,
    /// Write quorum.
    pub w: u8,
    /// Shortest and longest fault.
    pub hold: (Duration, Duration),
    /// Shortest and longest gap between faults.
    pub gap: (Duration, Duration),
    /// Quiet time before the first fault.
    pub warmup: Duration,
    /// Quiet time after the last fault healed, before the workload stops.
    pub tail: Duration,
    /// How loss and latency are made.
    pub shape: Shape,
    /// How long the cluster may take to drain its hints and see every member up at the end.
    pub settle_timeout: Duration,
    /// The partition-aware client's attempt timeout.
    pub attempt_timeout: Duration,
    /// The partition-aware client's deadline per request.
    pub deadline: Duration,
    /// Fail the run when the availability overall is below this.
    pub min_availability: Option<f64>,
    /// The `dynamo` executable (default: `DYNAMO_BIN`, else next to the harness).
    pub dynamo: Option<PathBuf>,
    /// The harness executable agents run (default: this process's).
    pub harness: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            nodes: 3,
            duration: Duration::from_secs(60),
            seed: 1,
            out: PathBuf::from("target/faults"),
            faults: FaultKind::ALL.to_vec(),
            split: false,
            clients: 8,
            rate: 25.0,
            keys: 0,
            engine: "lsm".to_owned(),
            n: 3,
            r: 2,
            w: 2,
            hold: (Duration::from_secs(3), Duration::from_secs(6)),
            gap: (Duration::from_secs(2), Duration::from_secs(4)),
            warmup: Duration::from_secs(3),
            tail: Duration::from_secs(5),
            shape: Shape::default(),
            settle_timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(10),
            min_availability: None,
            dynamo: None,
            harness: None,
        }
    }
}

impl RunConfig {
    /// The node count of this run.
    pub fn node_count(&self) -> usize {
        if self.split { 5 } else { self.nodes }
    }

    /// The set keys of this run.
    pub fn key_count(&self) -> u32 {
        if self.keys > 0 {
            self.keys
        } else {
            16 + u32::try_from(self.duration.as_secs() / 10).unwrap_or(u32::MAX / 2)
        }
    }

    fn check(&self) -> Result<()> {
        let nodes = self.node_count();
        if nodes < 2 {
            return Err(FaultsError::Config("at least 2 nodes".to_owned()));
        }
        if self.n == 0 || usize::from(self.n) > nodes || self.r > self.n || self.w > self.n {
            return Err(FaultsError::Config(format!(
                "N={} R={} W={} with {nodes} nodes",
                self.n, self.r, self.w
            )));
        }
        if self.r == 0 || self.w == 0 {
            return Err(FaultsError::Config("R and W are at least 1".to_owned()));
        }
        if self.clients == 0 || self.clients > 255 || !self.rate.is_finite() || self.rate <= 0.0 {
            return Err(FaultsError::Config(
                "1 to 255 clients, and a positive rate".to_owned(),
            ));
        }
        if self.duration < self.warmup + self.tail {
            return Err(FaultsError::Config(format!(
                "a duration of {:?} is shorter than the warm-up and the tail",
                self.duration
            )));
        }
        Ok(())
    }
}

/// Finds the `dynamo` executable: `config.dynamo`, else `DYNAMO_BIN`, else next to `harness`.
///
/// # Errors
/// [`FaultsError::Binary`] saying how to build it.
pub fn locate_dynamo(config: &RunConfig, harness: &Path) -> Result<PathBuf> {
    let candidate = config
        .dynamo
        .clone()
        .or_else(|| std::env::var_os("DYNAMO_BIN").map(PathBuf::from))
        .or_else(|| harness.parent().map(|d| d.join("dynamo")));
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        other => Err(FaultsError::Binary(format!(
            "{} does not exist: build it (`cargo build [--release] -p dynamo-server --bin \
             dynamo`, the same profile as the harness) or set DYNAMO_BIN",
            other.map_or_else(|| "dynamo".to_owned(), |p| p.display().to_string())
        ))),
    }
}

/// Builds the `dynamo` executable with `cargo` into the target directory `harness` lives in
/// (`<target>/<profile>/<harness>`), in the same profile; returns its path.
///
/// # Errors
/// [`FaultsError::Binary`] when the path does not look like a cargo target directory or the
/// build fails.
pub fn build_dynamo(cargo: &Path, harness: &Path) -> Result<PathBuf> {
    let profile_dir = harness
        .parent()
        .ok_or_else(|| FaultsError::Binary(format!("{} has no directory", harness.display())))?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let target = profile_dir.parent().ok_or_else(|| {
        FaultsError::Binary(format!(
            "{} is not in a target directory",
            harness.display()
        ))
    })?;
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", "dynamo-server", "--bin", "dynamo"])
        .args([
            "--profile",
            if profile == "debug" { "dev" } else { &profile },
        ])
        .arg("--target-dir")
        .arg(target)
        .status()
        .map_err(|e| FaultsError::Binary(format!("running {}: {e}", cargo.display())))?;
    if !status.success() {
        return Err(FaultsError::Binary(format!(
            "cargo build -p dynamo-server --bin dynamo: {status}"
        )));
    }
    Ok(profile_dir.join("dynamo"))
}

/// Seconds since `t0`.
fn since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// Sleeps until `t` seconds after `t0`.
fn sleep_until(t0: Instant, t: f64) {
    let left = t - since(t0);
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
}

/// Carries out one run (see the [crate documentation](crate)) and writes its report into
/// `config.out`: `summary.json`, `summary.txt`, `timeline.svg`, the agents' request records
/// (`ops-<agent>.jsonl`), the final reads (`final.json`) and every process's log (`logs/`).
///
/// # Errors
/// When the run cannot be carried out (not root, a tool missing, a node that does not start,
/// an agent that does not answer...). A run whose checks fail is `Ok`, with
/// [`Report::failures`] saying which.
pub fn run(config: &RunConfig) -> Result<Report> {
    config.check()?;
    net::preflight()?;
    let stale = net::cleanup_stale()?;
    if stale > 0 {
        eprintln!("dynamo-faults: removed {stale} namespaces of earlier runs");
    }
    let harness = match &config.harness {
        Some(h) => h.clone(),
        None => std::env::current_exe().map_err(FaultsError::io("the harness executable"))?,
    };
    let dynamo = locate_dynamo(config, &harness)?;
    let out = &config.out;
    let logs = out.join("logs");
    // The logs of an earlier run into the same directory would mix with this run's.
    if logs.is_dir() {
        std::fs::remove_dir_all(&logs).map_err(FaultsError::io(&logs))?;
    }
    std::fs::create_dir_all(&logs).map_err(FaultsError::io(&logs))?;
    let work = tempfile::Builder::new()
        .prefix("dynamo-faults-")
        .tempdir()
        .map_err(FaultsError::io("a temporary directory"))?;

    let secret = dynamo_server::secure::ClusterSecret::generate()
        .map_err(|e| FaultsError::Config(format!("no randomness: {e}")))?;
    let (key_id, key_secret, token) = dynamo_server::auth::new_token()
        .map_err(|e| FaultsError::Config(format!("no randomness: {e}")))?;
    let admin_key = format!(
        "{key_id}:{}",
        dynamo_server::auth::hex(&dynamo_server::auth::digest(&key_secret))
    );

    let node_count = config.node_count();
    let agent_count = if config.split { 2 } else { 1 };
    let net = Net::create(node_count, agent_count)?;
    let spec = ClusterSpec {
        dynamo,
        secret: secret.to_hex(),
        admin_key,
        engine: config.engine.clone(),
        n: config.n,
        r: config.r,
        w: config.w,
        members: net
            .nodes
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("n{}", i + 1), h.ip))
            .collect(),
    };
    let harness_log = logs.join("harness.log");
    append(
        &harness_log,
        &format!(
            "seed {} nodes {node_count} netem {} config {config:?}",
            config.seed, net.netem
        ),
    );
    let mut nodes = Vec::with_capacity(node_count);
    for (i, host) in net.nodes.iter().enumerate() {
        let log = logs.join(format!("n{}.log", i + 1));
        nodes.push(NodeProc::start(&spec, i, &host.ns, work.path(), &log)?);
    }
    let keys = config.key_count();
    let mut agents = Vec::with_capacity(agent_count);
    let mut ops_paths = Vec::new();
    for (a, host) in net.clients.iter().enumerate() {
        let agent = u8::try_from(a).unwrap_or(u8::MAX);
        let ops_path = out.join(format!("ops-{a}.jsonl"));
        let agent_spec = AgentSpec {
            workload: WorkloadSpec {
                agent,
                clients: config.clients,
                rate: config.rate,
                keys,
                seed: config.seed,
            },
            nodes: nodes.iter().map(|n| (n.id.clone(), n.url())).collect(),
            token: token.clone(),
            n: config.n,
            ops_path: ops_path.clone(),
            final_path: out.join("final.json"),
            attempt_timeout_ms: u64::try_from(config.attempt_timeout.as_millis()).unwrap_or(2000),
            deadline_ms: u64::try_from(config.deadline.as_millis()).unwrap_or(10_000),
        };
        let spec_path = work.path().join(format!("agent-{a}.json"));
        let text =
            serde_json::to_string_pretty(&agent_spec).map_err(|source| FaultsError::Json {
                what: "the agent spec".to_owned(),
                source,
            })?;
        std::fs::write(&spec_path, text).map_err(FaultsError::io(&spec_path))?;
        let log = logs.join(format!("agent-{a}.log"));
        agents.push(AgentHandle::spawn(
            agent, &harness, &host.ns, &spec_path, &log,
        )?);
        ops_paths.push(ops_path);
    }
    for agent in &mut agents {
        agent.call_ok("ready 90", Duration::from_secs(100))?;
    }

    // The workload, and the nemesis beside it.
    let t0 = Instant::now();
    let t0_unix = unix_ms();
    for agent in &mut agents {
        agent.call_ok(&format!("start {t0_unix:.3}"), Duration::from_secs(10))?;
    }
    let mut notes = Vec::new();
    let intervals = if config.split {
        split_nemesis(config, &net, t0, &harness_log)?
    } else {
        fault_nemesis(
            config,
            &net,
            &mut nodes,
            &mut agents,
            t0,
            &harness_log,
            &mut notes,
        )?
    };
    sleep_until(t0, config.duration.as_secs_f64());
    let seconds = since(t0);
    let mut requests = 0;
    for agent in &mut agents {
        requests += agent.call_ok("stop", Duration::from_secs(60))?.requests;
    }
    append(
        &harness_log,
        &format!("{seconds:.1}: stopped, {requests} requests"),
    );

    // The end: every member up, hints drained; then the reads.
    let settle_secs = config.settle_timeout.as_secs_f64();
    let settle = agents[0].call(
        &format!("settle {settle_secs}"),
        config.settle_timeout + Duration::from_secs(30),
    )?;
    let check_secs = 120.0;
    agents[0].call_ok(&format!("check {check_secs}"), Duration::from_secs(180))?;
    for agent in &mut agents {
        agent.quit();
    }
    for node in &mut nodes {
        node.stop();
    }
    let netem = net.netem;
    drop(net);

    let final_path = out.join("final.json");
    let final_text = std::fs::read_to_string(&final_path).map_err(FaultsError::io(&final_path))?;
    let state: FinalState =
        serde_json::from_str(&final_text).map_err(|source| FaultsError::Json {
            what: final_path.display().to_string(),
            source,
        })?;
    let ops = report::read_ops(&ops_paths)?;
    let mut checks = report::judge(&ops, &state);
    checks.hints_drained = settle.ok;
    checks.settle_ms = settle.ms;
    checks.settle_error = settle.error.clone();
    let (phases, faults) = report::phases(&ops, &intervals, seconds);
    let failed = ops.iter().filter(|o| !o.ok).count() as u64;
    let total = ops.len() as u64;
    let mut report = Report {
        mode: if config.split { "split" } else { "faults" }.to_owned(),
        seed: config.seed,
        nodes: node_count,
        nrw: [config.n, config.r, config.w],
        engine: config.engine.clone(),
        netem,
        seconds,
        requests: total,
        failed,
        availability: report::share(total, failed),
        errors: report::errors(&ops),
        phases,
        faults,
        checks,
        split: Vec::new(),
        min_availability: config.min_availability,
        failures: notes,
        out: out.clone(),
    };
    if config.split {
        report.split = split_sides(&ops, &intervals, &spec);
    }
    judge_report(&mut report);

    let json = serde_json::to_string_pretty(&report).map_err(|source| FaultsError::Json {
        what: "the report".to_owned(),
        source,
    })?;
    let summary = out.join("summary.json");
    std::fs::write(&summary, json).map_err(FaultsError::io(&summary))?;
    let table = report::text(&report);
    let txt = out.join("summary.txt");
    std::fs::write(&txt, &table).map_err(FaultsError::io(&txt))?;
    let title = format!(
        "dynamo-faults {}: seed {}, {} nodes, N={} R={} W={}, availability {:.3}%",
        report.mode,
        report.seed,
        report.nodes,
        config.n,
        config.r,
        config.w,
        report.availability * 100.0
    );
    report::timeline(&out.join("timeline.svg"), &title, &ops, &intervals, seconds)?;
    Ok(report)
}

/// Fills [`Report::failures`] from the checks.
fn judge_report(report: &mut Report) {
    let c = &report.checks;
    let mut failures = Vec::new();
    if c.lost > 0 {
        failures.push(format!(
            "{} acknowledged elements lost (e.g. {:?})",
            c.lost, c.lost_examples
        ));
    }
    if c.phantoms > 0 {
        failures.push(format!("{} elements no client wrote", c.phantoms));
    }
    if c.bad_values > 0 {
        failures.push(format!("{} values that are not sets", c.bad_values));
    }
    if !c.converged {
        failures.push(format!(
            "no convergence after {} read passes ({} repairs in the last)",
            c.passes, c.repairs_first_pass
        ));
    }
    if !c.hints_drained {
        failures.push(format!(
            "the cluster did not settle: {}",
            c.settle_error.as_deref().unwrap_or("?")
        ));
    }
    if c.acknowledged == 0 {
        failures.push("no write was acknowledged".to_owned());
    }
    if let Some(min) = report.min_availability
        && report.availability < min
    {
        failures.push(format!(
            "availability {:.3}% below {:.3}%",
            report.availability * 100.0,
            min * 100.0
        ));
    }
    if report.mode == "split" {
        for side in &report.split {
            if side.writes_ok == 0 {
                failures.push(format!(
                    "no write acknowledged on the side of agent {} during the split",
                    side.agent
                ));
            }
        }
        if report.split.iter().all(|s| s.keys_written_both_sides == 0) {
            failures.push("no key was written on both sides of the split".into());
        }
        if c.sibling_keys == 0 && report.split.iter().all(|s| s.sibling_reads_after == 0) {
            failures.push("no siblings after healing: the two sides never wrote one key".into());
        }
        if c.sibling_keys_after_merge > 0 || c.merge_failures > 0 {
            failures.push(format!(
                "siblings not merged: {} keys still have them, {} merges failed",
                c.sibling_keys_after_merge, c.merge_failures
            ));
        }
    }
    report.failures.extend(failures);
}

/// Applies the seeded schedule one fault at a time until the tail; returns what happened.
fn fault_nemesis(
    config: &RunConfig,
    net: &Net,
    nodes: &mut [NodeProc],
    agents: &mut [AgentHandle],
    t0: Instant,
    log: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Interval>> {
    let plan = nemesis::schedule(
        config.seed,
        &ScheduleSpec {
            kinds: config.faults.clone(),
            nodes: nodes.len(),
            hold: config.hold,
            gap: config.gap,
            count: 10_000,
        },
    );
    let end = config.duration.as_secs_f64() - config.tail.as_secs_f64();
    let mut intervals = Vec::new();
    sleep_until(t0, config.warmup.as_secs_f64());
    for fault in plan {
        if since(t0) + fault.hold.as_secs_f64() > end {
            break;
        }
        let interval = one_fault(&fault, config, net, nodes, t0, log)?;
        intervals.push(interval);
        // The next fault waits until every node is back in every view (one at a time).
        let up_secs = 60.0;
        if let Some(agent) = agents.first_mut() {
            let reply = agent.call(&format!("up {up_secs}"), Duration::from_secs(90))?;
            if !reply.ok {
                let why = format!(
                    "the cluster did not recover within {up_secs} s after {} of n{}: {}",
                    fault.kind.name(),
                    fault.node + 1,
                    reply.error.unwrap_or_default()
                );
                append(log, &why);
                notes.push(why);
            }
        }
        let next = since(t0) + fault.gap.as_secs_f64();
        if next >= end {
            break;
        }
        sleep_until(t0, next);
    }
    Ok(intervals)
}

/// Applies `fault`, holds it, heals it.
fn one_fault(
    fault: &Planned,
    config: &RunConfig,
    net: &Net,
    nodes: &mut [NodeProc],
    t0: Instant,
    log: &Path,
) -> Result<Interval> {
    let node = nodes
        .get(fault.node)
        .map(|n| n.id.clone())
        .unwrap_or_default();
    let start = since(t0);
    let (active, how) = nemesis::apply(fault, net, nodes, &config.shape)?;
    append(
        log,
        &format!(
            "{start:.2}: {} {node} ({how}) for {:?}",
            fault.kind.name(),
            fault.hold
        ),
    );
    sleep_until(t0, start + fault.hold.as_secs_f64());
    let end = since(t0);
    nemesis::heal(active, net, nodes)?;
    let healed = since(t0);
    append(log, &format!("{end:.2}: healed {node} at {healed:.2}"));
    Ok(Interval {
        kind: fault.kind.name().to_owned(),
        node,
        how,
        start,
        end,
        healed,
    })
}

/// The nodes on side A of the split (the minority); the rest are side B.
const SIDE_A: usize = 2;

/// Split mode: nodes n1, n2 with agent 0 | nodes n3..n5 with agent 1, for most of the run.
fn split_nemesis(config: &RunConfig, net: &Net, t0: Instant, log: &Path) -> Result<Vec<Interval>> {
    let duration = config.duration.as_secs_f64();
    let tail = config.tail.as_secs_f64().max(duration / 4.0);
    sleep_until(t0, config.warmup.as_secs_f64());
    let ips = |hosts: &[net::Host]| -> String {
        hosts
            .iter()
            .map(|h| h.ip.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (a, b) = net.nodes.split_at(SIDE_A.min(net.nodes.len()));
    let (ca, cb) = net.clients.split_at(1.min(net.clients.len()));
    let start = since(t0);
    let mut namespaces = Vec::new();
    for (side, other, other_client) in [(a, b, cb), (b, a, ca)] {
        let far = format!("{{ {}, {} }}", ips(other), ips(other_client));
        for host in side {
            net.set_rules(
                &host.ns,
                &[format!("ip saddr {far} drop")],
                &[format!("ip daddr {far} drop")],
            )?;
            namespaces.push(host.ns.clone());
        }
    }
    let how = format!(
        "nft: {{{}}} with agent 0 | {{{}}} with agent 1",
        ips(a),
        ips(b)
    );
    append(log, &format!("{start:.2}: split {how}"));
    sleep_until(t0, duration - tail);
    let end = since(t0);
    for ns in &namespaces {
        net.clear_rules(ns);
    }
    let healed = since(t0);
    append(log, &format!("{end:.2}: healed the split"));
    Ok(vec![Interval {
        kind: "split".to_owned(),
        node: "n1,n2|n3-n5".to_owned(),
        how,
        start,
        end,
        healed,
    }])
}

/// The first seconds of a split, while the nodes' failure detectors notice it: a write
/// acknowledged then may have reached the other side, so it does not count as a key written
/// on one side only.
const SPLIT_NOTICE: f64 = 2.0;

/// Each side's requests during the split, and the siblings seen after it.
fn split_sides(
    ops: &[crate::workload::Op],
    intervals: &[Interval],
    spec: &ClusterSpec,
) -> Vec<SplitSide> {
    let Some(split) = intervals.first() else {
        return Vec::new();
    };
    let names: Vec<String> = spec.members.iter().map(|(id, _)| id.clone()).collect();
    let (a, b) = names.split_at(SIDE_A.min(names.len()));
    let mut sides: Vec<(SplitSide, std::collections::BTreeSet<u32>)> = [(0u8, a), (1u8, b)]
        .into_iter()
        .map(|(agent, side)| {
            let mut s = SplitSide {
                agent,
                nodes: side.to_vec(),
                ..SplitSide::default()
            };
            let mut keys = std::collections::BTreeSet::new();
            for op in ops.iter().filter(|o| o.agent == agent) {
                let during = op.t >= split.start && op.t < split.end;
                if during && op.write {
                    s.writes += 1;
                    if op.ok {
                        s.writes_ok += 1;
                        if op.t >= split.start + SPLIT_NOTICE {
                            keys.insert(op.key);
                        }
                    }
                } else if during {
                    s.reads += 1;
                    s.reads_ok += u64::from(op.ok);
                } else if op.t >= split.healed && !op.write && op.siblings > 1 {
                    s.sibling_reads_after += 1;
                }
            }
            s.keys_written = keys.len();
            (s, keys)
        })
        .collect();
    let both = match sides.as_slice() {
        [(_, a), (_, b)] => a.intersection(b).count(),
        _ => 0,
    };
    sides
        .drain(..)
        .map(|(mut s, _)| {
            s.keys_written_both_sides = both;
            s
        })
        .collect()
}
