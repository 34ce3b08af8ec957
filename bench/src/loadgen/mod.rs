//! A load generator for a running cluster (over HTTP or the binary protocol), or for a
//! Redis-protocol server: many concurrent
//! clients (each an async task with its own seeded random generator) sending a mix of reads and
//! writes for a set time, spread over the nodes round-robin; then the throughput, the failures
//! by kind, the latency quantiles of each operation type and, when asked, the CPU time one
//! operation cost. The `loadgen` binary is its command line.
//!
//! It is a client only: start a cluster first (`dynamo up`), or `redis-server`, or Dynomite,
//! then point it at the nodes.
//!
//! # Protocols
//!
//! [`Protocol::Http`] (the default) speaks Dynamo's HTTP API through `dynamo-client`.
//! [`Protocol::Binary`] speaks Dynamo's binary protocol through `dynamo-client`'s
//! `BinaryClient`, to the nodes' binary addresses (`host:port`, given to each node by
//! `binary_addr`; `dynamo up` uses ports 7001, 7002, ...): the same requests with the same
//! contexts, quorums and bucket, so the workload, preload and verify mean exactly what they
//! mean over HTTP. The clients on one node share one `BinaryClient` (one connection), which
//! pipelines their requests; each client still has one request in flight at a time. (Measured
//! on one node with 32 clients: a shared connection cost the load generator about 6.5 µs of
//! CPU per operation and the node about 9, against 8 and 14 with a connection per client,
//! whose smaller batches mean more system calls on both sides.)
//! [`Protocol::Resp`] speaks the Redis protocol (RESP2, [`resp`]): `GET` and `SET` of the same
//! keys and values, over one TCP connection per client, for comparisons with `redis-server`
//! and Netflix Dynomite. Over RESP every write is a blind `SET` (there are no contexts), a
//! `GET` of a missing key is a successful read of nothing, and an error reply is a failure;
//! the bucket and the quorums do not apply.
//!
//! # Phases
//!
//! A run has up to four phases, in this order:
//!
//! 1. *preload* (optional): every key written once, so that reads find values;
//! 2. *warm-up*: the mix, not measured (connections opened, caches and memtables warm);
//! 3. *measured*: the mix, each operation's latency recorded; clients stop starting new
//!    operations when the time is up;
//! 4. *verify* (optional): every key written is read back; each of its siblings must be a value
//!    this run wrote to that very key (the values carry their writer's key, client and
//!    sequence number, and a payload checked byte for byte).
//!
//! # Closed and open loop
//!
//! By default the loop is closed: each client sends its next operation as soon as the last
//! one is answered, and latency is counted from the send. With a rate ([`LoadConfig::rate`])
//! the loop is open: operations are due at fixed times `t0 + i/rate` of one schedule shared by
//! all clients (warm-up included); a client takes the next operation due, sends it, and its
//! latency is counted from the time it was due, so that when the nodes fall behind, the wait
//! for a free client is in the latency instead of being left out (coordinated omission). The
//! report gives the achieved rate beside the intended one, the operations that started more
//! than [`LATE_START`] late, and those never sent because every client was busy to the end.
//!
//! # CPU per operation
//!
//! Given the process ids of the nodes ([`LoadConfig::cpu_pids`]), their CPU time (user and
//! system, all threads, from `/proc/PID/stat`) is sampled at the start and the end of the
//! measured phase: the report gives microseconds per operation and cores used, and the load
//! generator's own CPU time per operation ([`cpu`]). Processes that vanish are reported, not
//! counted.
//!
//! # Writes over HTTP and the binary protocol
//!
//! Writes come in two modes ([`WriteMode`]). With `context` (the default), a write carries
//! the latest causal context the clients know for the key (from a read or an earlier write of
//! it), so it replaces what that context covers and siblings appear only for truly concurrent
//! writes, to be resolved by the next write after a read. With `blind`, writes carry no context
//! and every write becomes a sibling of what is there: a stress of sibling handling, not a
//! realistic workload. No operation is a read-modify-write: a write never waits for a read.
//!
//! ```no_run
//! use std::time::Duration;
//! use bench::loadgen::{LoadConfig, Protocol, run};
//!
//! # async fn demo() -> Result<(), bench::loadgen::LoadError> {
//! let config = LoadConfig {
//!     nodes: vec!["http://127.0.0.1:8001".into(), "http://127.0.0.1:8002".into()],
//!     clients: 8,
//!     duration: Duration::from_secs(10),
//!     ..LoadConfig::default()
//! };
//! let report = run(&config).await?;
//! print!("{}", report.to_text());
//!
//! // The same cluster over its binary protocol (`dynamo up`'s binary ports).
//! let config = LoadConfig {
//!     protocol: Protocol::Binary,
//!     nodes: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
//!     ..LoadConfig::default()
//! };
//! let report = run(&config).await?;
//! print!("{}", report.to_text());
//!
//! // A redis-server, at 20 000 operations per second.
//! let config = LoadConfig {
//!     protocol: Protocol::Resp,
//!     nodes: vec!["127.0.0.1:6379".into()],
//!     rate: Some(20_000.0),
//!     ..LoadConfig::default()
//! };
//! let report = run(&config).await?;
//! print!("{}", report.to_text());
//! # Ok(())
//! # }
//! ```

pub mod cpu;
mod histogram;
mod keys;
mod progress;
mod report;
pub mod resp;
mod schedule;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use dynamo_client::{
    BinaryClient, BinaryOptions, Client, ClientError, ClusterClient, ClusterOptions,
};
use tokio::task::JoinSet;

pub use cpu::{CpuReport, ProcessCpu};
pub use histogram::Histogram;
pub use keys::{KeyChooser, VALUE_HEADER_LEN, ValueMaker, WriteId, key_name};
pub use report::{ErrorCounts, FailureKind, LoadReport, Measured, OpStats, VerifyReport};

use progress::{Phase, Progress};
use resp::{RespClient, RespError};
use schedule::Schedule;
use worker::{Link, RespLink, Shared, Worker};

/// In an open loop, an operation sent more than this after its intended start counts as a
/// late start.
pub const LATE_START: Duration = Duration::from_millis(1);

/// The highest `rate` accepted.
const MAX_RATE: f64 = 1e9;

/// The protocol the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Dynamo's HTTP API; nodes are base URLs (`http://127.0.0.1:8001`).
    #[default]
    Http,
    /// Dynamo's binary protocol; nodes are the `host:port` of their binary listeners
    /// (`127.0.0.1:7001`).
    Binary,
    /// The Redis protocol (RESP2) `GET` and `SET`; nodes are `host:port` or
    /// `redis://host:port`.
    Resp,
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "http" => Ok(Protocol::Http),
            "binary" => Ok(Protocol::Binary),
            "resp" => Ok(Protocol::Resp),
            other => Err(format!("unknown protocol {other:?}: http, binary or resp")),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Http => "http",
            Protocol::Binary => "binary",
            Protocol::Resp => "resp",
        })
    }
}

/// Which node each request goes to (HTTP only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Client `i` sends every request to node `i % nodes`, which coordinates it or forwards
    /// it to a replica (server-driven coordination).
    #[default]
    Any,
    /// Every client shares one [`ClusterClient`], which sends each request to the first
    /// reachable replica of its key (client-driven coordination, paper §6.4) and fails over.
    PartitionAware,
}

impl std::str::FromStr for Routing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(Routing::Any),
            "partition-aware" => Ok(Routing::PartitionAware),
            other => Err(format!("unknown routing {other:?}: any or partition-aware")),
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Routing::Any => "any",
            Routing::PartitionAware => "partition-aware",
        })
    }
}

/// How writes treat what is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Send the latest context known for the key: a write replaces what it covers.
    #[default]
    Context,
    /// Send no context: every write is kept beside what is there as a sibling.
    Blind,
}

impl std::str::FromStr for WriteMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "context" => Ok(WriteMode::Context),
            "blind" => Ok(WriteMode::Blind),
            other => Err(format!("unknown mode {other:?}: context or blind")),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The protocol spoken.
    pub protocol: Protocol,
    /// Which node each request goes to (HTTP only).
    pub routing: Routing,
    /// The nodes: base URLs over HTTP (`http://127.0.0.1:8001`), binary addresses
    /// `host:port` over the binary protocol, `host:port` or `redis://host:port` over RESP;
    /// client `i` talks to node `i % nodes.len()`.
    pub nodes: Vec<String>,
    /// Concurrent clients, each with at most one request in flight.
    pub clients: usize,
    /// Length of the measured phase.
    pub duration: Duration,
    /// Length of the unmeasured warm-up before it.
    pub warmup: Duration,
    /// Keys `key00000000` … (`keys` − 1).
    pub keys: u32,
    /// Bytes per value (at least [`VALUE_HEADER_LEN`]; smaller sizes are raised to it).
    pub value_size: usize,
    /// Fraction of operations that are reads (0 to 1); the rest are writes.
    pub read_ratio: f64,
    /// Writes with or without a context (HTTP and binary; over RESP every write is blind).
    pub mode: WriteMode,
    /// Zipf exponent of the key popularity (`None` or 0: uniform).
    pub zipf: Option<f64>,
    /// Seed of every client's generator (client `i` uses a generator derived from it and `i`).
    pub seed: u64,
    /// The bucket written to (not over RESP).
    pub bucket: String,
    /// The access key (`<id>.<secret>`) for a cluster with `auth = "on"` (HTTP and binary).
    pub token: Option<String>,
    /// The CA that signs the nodes' certificates, for nodes with TLS on (`https://` node URLs;
    /// the binary protocol then speaks TLS too). `None`: the system's roots for `https://`.
    pub tls: Option<dynamo_client::TlsConfig>,
    /// Read quorum of every read (default: the bucket's; not over RESP).
    pub r: Option<u8>,
    /// Write quorum of every write (default: the bucket's; not over RESP).
    pub w: Option<u8>,
    /// Write every key once before the warm-up.
    pub preload: bool,
    /// Read back every key written after the measured phase.
    pub verify: bool,
    /// Print a progress line on stderr this often (`None`: silent).
    pub progress: Option<Duration>,
    /// Time limit of one request, connection included.
    pub timeout: Duration,
    /// Open loop: operations per second over all clients, on a fixed schedule, latency
    /// counted from each operation's intended start (`None`: closed loop).
    pub rate: Option<f64>,
    /// Processes whose CPU time is measured during the measured phase (the nodes'), by id.
    pub cpu_pids: Vec<u32>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            protocol: Protocol::Http,
            routing: Routing::Any,
            nodes: vec![
                "http://127.0.0.1:8001".into(),
                "http://127.0.0.1:8002".into(),
                "http://127.0.0.1:8003".into(),
            ],
            clients: 32,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(2),
            keys: 10_000,
            value_size: 1024,
            read_ratio: 0.5,
            mode: WriteMode::Context,
            zipf: None,
            seed: 1,
            bucket: "loadgen".into(),
            token: None,
            tls: None,
            r: None,
            w: None,
            preload: false,
            verify: false,
            progress: None,
            timeout: Duration::from_secs(10),
            rate: None,
            cpu_pids: Vec::new(),
        }
    }
}

impl LoadConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`LoadError::Config`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: &str| Err(LoadError::Config(m.to_owned()));
        if self.nodes.is_empty() {
            return bad("no nodes given");
        }
        if self.clients == 0 || u32::try_from(self.clients).is_err() {
            return bad("clients must be between 1 and 2^32-1");
        }
        if self.keys == 0 {
            return bad("keys must be positive");
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return bad("read ratio must be between 0 and 1");
        }
        if self.duration.is_zero() {
            return bad("duration must be positive");
        }
        if self.timeout.is_zero() {
            return bad("timeout must be positive");
        }
        if let Some(s) = self.zipf
            && !(s.is_finite() && s >= 0.0)
        {
            return bad("the Zipf exponent must be a finite number >= 0");
        }
        if self.r == Some(0) || self.w == Some(0) {
            return bad("quorums must be at least 1");
        }
        if self.bucket.is_empty() {
            return bad("the bucket name is empty");
        }
        if self.progress.is_some_and(|p| p.is_zero()) {
            return bad("the progress interval must be positive");
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE)
        {
            return bad("the rate must be a number of operations per second above 0, at most 1e9");
        }
        if self.protocol == Protocol::Resp {
            if self.r.is_some() || self.w.is_some() {
                return bad("quorums (r, w) are HTTP settings: RESP has none");
            }
            for node in &self.nodes {
                if let Err(e) = resp::parse_address(node) {
                    return Err(LoadError::Config(e.to_string()));
                }
            }
        }
        if self.routing == Routing::PartitionAware && self.protocol != Protocol::Http {
            return bad("partition-aware routing is an HTTP setting");
        }
        if self.protocol == Protocol::Binary {
            for node in &self.nodes {
                check_binary_address(node).map_err(LoadError::Config)?;
            }
        }
        Ok(())
    }
}

/// Why a run could not be done. Failed operations are not errors of the run: they are counted
/// in its [`LoadReport`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A setting is out of range.
    #[error("bad configuration: {0}")]
    Config(String),
    /// A node URL is malformed, or the HTTP client could not be made.
    #[error("node {node}: {source}")]
    Client {
        /// The node's URL.
        node: String,
        /// What went wrong.
        source: ClientError,
    },
    /// A node did not answer `/ping` (HTTP) or a ping frame (binary) before the run.
    #[error(
        "node {node} does not answer ({source}); is the cluster running? (start one with `dynamo up`)"
    )]
    Unreachable {
        /// The node's URL.
        node: String,
        /// The ping's failure.
        source: ClientError,
    },
    /// A RESP node could not be connected to, or did not answer `PING`.
    #[error("node {node} does not answer over RESP ({source}); is the server running?")]
    UnreachableResp {
        /// The node's address.
        node: String,
        /// What went wrong.
        source: RespError,
    },
    /// A client task panicked.
    #[error("a client task failed: {0}")]
    Task(String),
}

/// Runs the load described by `config` against its nodes and reports what it measured.
///
/// # Errors
/// [`LoadError`]: a bad configuration, a node that does not answer (`/ping` over HTTP, a
/// connection and `PING` over RESP) at the start, a client task that panicked. Operations that
/// fail during the run are counted, not returned.
pub async fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    run_until(config, Arc::new(AtomicBool::new(false))).await
}

/// [`run`], stopping early (with a report of what was done) once `stop` becomes true, e.g. on
/// Ctrl-C.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    config: &LoadConfig,
    stop: Arc<AtomicBool>,
) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let links = match config.protocol {
        Protocol::Http if config.routing == Routing::PartitionAware => {
            cluster_links(config).await?
        }
        Protocol::Http => http_links(config).await?,
        Protocol::Binary => binary_links(config).await?,
        Protocol::Resp => resp_links(config).await?,
    };

    let progress = Arc::new(Progress::default());
    let shared = Arc::new(Shared::new(
        config.clone(),
        Arc::clone(&progress),
        Arc::clone(&stop),
    ));
    let mut workers: Vec<Worker> = links
        .into_iter()
        .enumerate()
        // Lossless: validate() checked that clients fit in a u32.
        .map(|(i, link)| Worker::new(i as u32, link, config.seed))
        .collect();
    let printer = config
        .progress
        .map(|every| tokio::spawn(progress::print_every(every, Arc::clone(&progress))));

    let mut preloaded = 0;
    let mut preload_errors = 0;
    if config.preload {
        progress.begin(Phase::Preload, u64::from(config.keys), None);
        workers = run_phase(workers, |w| w.preload(Arc::clone(&shared))).await?;
        preloaded = progress.done();
        preload_errors = progress.failed();
    }

    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    progress.begin(Phase::Mix, 0, Some(measure_from));
    let schedule = config
        .rate
        .map(|rate| Arc::new(Schedule::new(start, end, rate)));
    let pacer = schedule.as_ref().map(|s| {
        let (s, stop) = (Arc::clone(s), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || s.run_pacer(&stop))
    });
    let pids = config.cpu_pids.clone();
    let cpu_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu::Sample::take(&pids)
    });
    let forwards_config = config.clone();
    let forwards_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        forwards(&forwards_config).await
    });
    workers = run_phase(workers, |w| {
        w.mix(Arc::clone(&shared), schedule.clone(), measure_from, end)
    })
    .await?;
    let cpu_end = cpu::Sample::take(&config.cpu_pids);
    let forwards_end = forwards(config).await;
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    // Stopped during the warm-up: nothing was measured, CPU time included.
    let cpu = if cpu_start.is_finished() {
        let start = cpu_start
            .await
            .map_err(|e| LoadError::Task(e.to_string()))?;
        CpuReport::between(&start, &cpu_end)
    } else {
        cpu_start.abort();
        CpuReport::default()
    };
    let forwarded = if forwards_start.is_finished() {
        let start = forwards_start
            .await
            .map_err(|e| LoadError::Task(e.to_string()))?;
        start.zip(forwards_end).map(|(a, b)| b.saturating_sub(a))
    } else {
        forwards_start.abort();
        None
    };
    if let Some(pacer) = pacer {
        pacer.await.map_err(|e| LoadError::Task(e.to_string()))?;
    }

    let mut measured = Measured::default();
    let mut warmup_ops = 0;
    for w in &workers {
        measured.merge(&w.measured);
        warmup_ops += w.warmup_ops;
    }

    let verify = if config.verify {
        let logs: Arc<Vec<Vec<u32>>> = Arc::new(
            workers
                .iter_mut()
                .map(|w| std::mem::take(&mut w.log))
                .collect(),
        );
        let mut written = vec![false; config.keys as usize];
        for &k in logs.iter().flatten() {
            written[k as usize] = true;
        }
        let written = Arc::new(written);
        let to_check = written.iter().filter(|&&w| w).count() as u64;
        progress.begin(Phase::Verify, to_check, None);
        let mut tasks = JoinSet::new();
        for w in workers {
            let (shared, logs, written) =
                (Arc::clone(&shared), Arc::clone(&logs), Arc::clone(&written));
            tasks.spawn(async move { w.verify(shared, logs, written).await });
        }
        let mut report = VerifyReport::default();
        while let Some(done) = tasks.join_next().await {
            report.merge(&done.map_err(|e| LoadError::Task(e.to_string()))?);
        }
        Some(report)
    } else {
        None
    };

    if let Some(p) = printer {
        p.abort();
    }
    Ok(LoadReport {
        protocol: config.protocol,
        routing: config.routing,
        forwards: forwarded,
        nodes: config.nodes.clone(),
        clients: config.clients,
        preloaded,
        preload_errors,
        elapsed,
        warmup_ops,
        measured,
        verify,
        intended_rate: config.rate,
        unsent_slots: schedule.map(|s| s.unsent()),
        cpu,
    })
}

/// One [`ClusterClient`] shared by every client: it learns the ring from the nodes given and
/// routes each request to a replica of its key.
async fn cluster_links(config: &LoadConfig) -> Result<Vec<Link>, LoadError> {
    let options = ClusterOptions {
        token: config.token.clone(),
        tls: config.tls.clone(),
        deadline: config.timeout,
        ..ClusterOptions::default()
    };
    let cluster = ClusterClient::connect(&config.nodes, options)
        .await
        .map_err(|source| LoadError::Unreachable {
            node: config.nodes.join(","),
            source,
        })?;
    Ok((0..config.clients)
        .map(|_| Link::Cluster(cluster.clone()))
        .collect())
}

/// The sum of the `forwards` counters of the nodes (HTTP), `None` if one cannot be read.
async fn forwards(config: &LoadConfig) -> Option<u64> {
    if config.protocol != Protocol::Http {
        return None;
    }
    let tls = config.tls.as_ref();
    let mut sum = 0;
    for node in &config.nodes {
        let mut builder = Client::builder(node).timeout(Duration::from_secs(5));
        if let Some(token) = &config.token {
            builder = builder.token(token);
        }
        if let Some(tls) = tls {
            builder = builder.tls(tls.clone());
        }
        let stats = builder.build().ok()?.stats().await.ok()?;
        sum += stats["metrics"]["forwards"].as_u64()?;
    }
    Some(sum)
}

/// One HTTP link per client, client `i` to node `i % nodes`, sharing one pool of connections;
/// each node must answer `/ping` first.
async fn http_links(config: &LoadConfig) -> Result<Vec<Link>, LoadError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &config.token {
        let value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                LoadError::Client {
                    node: String::new(),
                    source: ClientError::BadRequest {
                        message: "the access key is not a valid header value".into(),
                    },
                }
            })?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let tls_error = |source| LoadError::Client {
        node: String::new(),
        source,
    };
    let http = dynamo_client::http_builder(config.tls.as_ref())
        .map_err(tls_error)?
        .timeout(config.timeout)
        .tcp_nodelay(true)
        .no_proxy()
        .pool_max_idle_per_host(config.clients)
        .default_headers(headers)
        .build()
        .map_err(|e| LoadError::Client {
            node: String::new(),
            source: ClientError::from(e),
        })?;
    let mut node_clients = Vec::new();
    for node in &config.nodes {
        let client =
            Client::with_http_client(node, http.clone()).map_err(|source| LoadError::Client {
                node: node.clone(),
                source,
            })?;
        client
            .ping()
            .await
            .map_err(|source| LoadError::Unreachable {
                node: node.clone(),
                source,
            })?;
        node_clients.push(client);
    }
    Ok((0..config.clients)
        .map(|i| Link::Http(node_clients[i % node_clients.len()].clone()))
        .collect())
}

/// One binary link per client, client `i` to node `i % nodes`: the clients of a node share
/// one `BinaryClient` (one connection, pipelined); each node must accept the connection and
/// answer a ping first.
async fn binary_links(config: &LoadConfig) -> Result<Vec<Link>, LoadError> {
    let options = BinaryOptions {
        request_timeout: config.timeout,
        token: config.token.clone(),
        tls: config.tls.clone(),
        ..BinaryOptions::default()
    };
    let mut node_clients = Vec::new();
    for node in &config.nodes {
        let unreachable = |source| LoadError::Unreachable {
            node: node.clone(),
            source,
        };
        let client = BinaryClient::connect_with(node, options.clone())
            .await
            .map_err(unreachable)?;
        client.ping().await.map_err(unreachable)?;
        node_clients.push(client);
    }
    Ok((0..config.clients)
        .map(|i| Link::Binary(node_clients[i % node_clients.len()].clone()))
        .collect())
}

/// Checks that `node` is a binary address, `host:port` (not a URL).
fn check_binary_address(node: &str) -> Result<(), String> {
    let why = if node.contains("://") {
        "binary nodes are host:port, not URLs"
    } else {
        match node.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => return Ok(()),
            _ => "expected host:port",
        }
    };
    Err(format!("bad binary node address {node:?}: {why}"))
}

/// One RESP link per client, client `i` to node `i % nodes`, each connecting on first use;
/// each node must accept a connection and answer `PING` (with anything, even an error) first.
async fn resp_links(config: &LoadConfig) -> Result<Vec<Link>, LoadError> {
    let mut addresses = Vec::new();
    for node in &config.nodes {
        let unreachable = |source| LoadError::UnreachableResp {
            node: node.clone(),
            source,
        };
        let address = resp::parse_address(node).map_err(unreachable)?;
        tokio::time::timeout(config.timeout, async {
            RespClient::connect(&address).await?.ping().await
        })
        .await
        .unwrap_or(Err(RespError::Timeout(config.timeout)))
        .map_err(unreachable)?;
        addresses.push(address);
    }
    Ok((0..config.clients)
        .map(|i| {
            let address = addresses[i % addresses.len()].clone();
            Link::Resp(RespLink::new(address, config.timeout))
        })
        .collect())
}

/// Runs `phase` on every worker concurrently and gives the workers back, in their order.
async fn run_phase<F, Fut>(workers: Vec<Worker>, phase: F) -> Result<Vec<Worker>, LoadError>
where
    F: Fn(Worker) -> Fut,
    Fut: Future<Output = Worker> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for w in workers {
        tasks.spawn(phase(w));
    }
    let mut back = Vec::new();
    while let Some(done) = tasks.join_next().await {
        back.push(done.map_err(|e| LoadError::Task(e.to_string()))?);
    }
    back.sort_by_key(|w| w.id);
    Ok(back)
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`500ms`, `30s`, `1.5m`), or a
/// bare number of seconds.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?}: ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(LoadConfig::default().validate().is_ok());
        let bad = [
            LoadConfig {
                nodes: vec![],
                ..LoadConfig::default()
            },
            LoadConfig {
                clients: 0,
                ..LoadConfig::default()
            },
            LoadConfig {
                read_ratio: 1.5,
                ..LoadConfig::default()
            },
            LoadConfig {
                zipf: Some(f64::NAN),
                ..LoadConfig::default()
            },
            LoadConfig {
                w: Some(0),
                ..LoadConfig::default()
            },
            LoadConfig {
                duration: Duration::ZERO,
                ..LoadConfig::default()
            },
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(LoadError::Config(_))), "{c:?}");
        }
        assert_eq!("blind".parse(), Ok(WriteMode::Blind));
        assert!("other".parse::<WriteMode>().is_err());
        for p in [Protocol::Http, Protocol::Binary, Protocol::Resp] {
            assert_eq!(p.to_string().parse(), Ok(p));
        }
        assert_eq!("resp".parse(), Ok(Protocol::Resp));
        assert_eq!("binary".parse(), Ok(Protocol::Binary));
        assert_eq!(Protocol::Http.to_string(), "http");
        assert_eq!(Protocol::Binary.to_string(), "binary");
        assert!("redis".parse::<Protocol>().is_err());
        assert!("Binary".parse::<Protocol>().is_err());
    }

    #[test]
    fn bad_rates_and_resp_settings_are_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e9] {
            let c = LoadConfig {
                rate: Some(rate),
                ..LoadConfig::default()
            };
            assert!(matches!(c.validate(), Err(LoadError::Config(_))), "{rate}");
        }
        let resp = LoadConfig {
            protocol: Protocol::Resp,
            nodes: vec!["127.0.0.1:6379".into(), "redis://127.0.0.1:6380".into()],
            rate: Some(1000.0),
            ..LoadConfig::default()
        };
        assert!(resp.validate().is_ok());
        for bad in [
            LoadConfig {
                nodes: vec!["http://127.0.0.1:8001".into()],
                ..resp.clone()
            },
            LoadConfig {
                r: Some(1),
                ..resp.clone()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(LoadError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn binary_nodes_are_host_and_port() {
        let binary = LoadConfig {
            protocol: Protocol::Binary,
            nodes: vec!["127.0.0.1:7001".into(), "localhost:7002".into()],
            r: Some(1),
            w: Some(2),
            ..LoadConfig::default()
        };
        assert!(binary.validate().is_ok(), "quorums apply over binary");
        for node in [
            "http://127.0.0.1:7001",
            "127.0.0.1",
            ":7001",
            "h:70000",
            "h:port",
        ] {
            let bad = LoadConfig {
                nodes: vec![node.into()],
                ..binary.clone()
            };
            assert!(
                matches!(bad.validate(), Err(LoadError::Config(ref m)) if m.contains(node)),
                "{node}"
            );
        }
    }
}
