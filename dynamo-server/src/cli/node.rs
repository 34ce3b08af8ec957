//! `dynamo node`: runs one node until SIGINT or SIGTERM (or, for nodes started by
//! `dynamo up`, until standard input closes), then stops it cleanly: pending writes are
//! committed and the engine closed, so the next start on the same data directory comes back
//! with everything.
//!
//! The configuration is the TOML file given with `--config` (see
//! [`dynamo_server::config`]), if any, with every flag given overriding its key.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use dynamo_server::{Server, ServerConfig};

/// Flags of `dynamo node`; each overrides the config file's key of the same name.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeArgs {
    /// TOML configuration file (flags override its keys).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's id (`node_id`), e.g. n1.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// HTTP listen address (`http_addr`), e.g. 127.0.0.1:8001; port 0 picks one.
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
    /// Peer listen address (`peer_addr`), e.g. 127.0.0.1:9001; port 0 picks one.
    #[arg(long, value_name = "HOST:PORT")]
    pub peer: Option<String>,
    /// Binary client protocol listen address (`binary_addr`), e.g. 127.0.0.1:7001; port 0
    /// picks one. Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    pub binary: Option<String>,
    /// Certificate chain (PEM) the client ports serve TLS with (`tls_cert`); with --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert (`tls_key`).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Peer address told to other nodes (`advertise_addr`), when it differs from --peer.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Data directory (`data_dir`; default `dynamo-data/<id>`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Storage engine (`engine`): mem, lmdb, lsm or redb.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Founders of a new cluster, this node included (`members`): id@host:port, comma
    /// separated or repeated.
    #[arg(long, value_name = "ID@HOST:PORT", value_delimiter = ',')]
    pub members: Vec<String>,
    /// Members of an existing cluster to join through (`seeds`): id@host:port.
    #[arg(long, value_name = "ID@HOST:PORT", value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Replicas per key of buckets without their own properties.
    #[arg(long)]
    pub n: Option<u8>,
    /// Read quorum.
    #[arg(long)]
    pub r: Option<u8>,
    /// Write quorum.
    #[arg(long)]
    pub w: Option<u8>,
    /// Versioning mode: dvv, vclock or lww.
    #[arg(long, value_name = "MODE")]
    pub versioning: Option<String>,
    /// Durability of a new cluster's buckets: all, one or none.
    #[arg(long, value_name = "MODE")]
    pub durability: Option<String>,
    /// Longest time a buffered write stays unsynced, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub flush_interval_ms: Option<u64>,
    /// Worker threads of the node's async runtime (default: the shards).
    #[arg(long, value_name = "N")]
    pub io_threads: Option<usize>,
    /// Partition shards, each a state machine of its own (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub shards: Option<u16>,
    /// Connections to each peer: shard (one per shard) or node (shared by the shards).
    #[arg(long, value_name = "shard|node")]
    pub peer_connections: Option<String>,
    /// Partitions of the ring (a power of two; fixed for the cluster's life).
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Largest value accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_value_size: Option<usize>,
    /// How long a coordinator waits for replicas, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// How often the cluster state is gossiped, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub gossip_interval_ms: Option<u64>,
    /// How often an anti-entropy exchange starts, in milliseconds (0: off).
    #[arg(long, value_name = "MS")]
    pub anti_entropy_interval_ms: Option<u64>,
    /// How long tombstones are kept at least, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub tombstone_grace_ms: Option<u64>,
    /// Seed of the node's randomness.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Log filter (RUST_LOG syntax; RUST_LOG itself wins when set).
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Print the resulting configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Stop when standard input closes (how `dynamo up` stops its nodes, even if it dies).
    #[arg(long, hide = true)]
    pub stop_on_stdin_eof: bool,
}

/// The environment variable that sets `cluster_secret` (over the configuration file's).
pub const SECRET_ENV: &str = "DYNAMO_CLUSTER_SECRET";

impl NodeArgs {
    /// The configuration: the file's (or the defaults), with every flag given applied.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut c = match &self.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        // The secret from the environment rather than a flag: a flag shows in `ps`.
        if let Ok(secret) = std::env::var(SECRET_ENV) {
            c.cluster_secret = Some(secret);
        }
        let a = self.clone();
        if let Some(v) = a.id {
            c.node_id = v;
        }
        if let Some(v) = a.http {
            c.http_addr = v;
        }
        if let Some(v) = a.peer {
            c.peer_addr = v;
        }
        if a.binary.is_some() {
            c.binary_addr = a.binary;
        }
        if a.tls_cert.is_some() {
            c.tls_cert = a.tls_cert;
        }
        if a.tls_key.is_some() {
            c.tls_key = a.tls_key;
        }
        if a.advertise.is_some() {
            c.advertise_addr = a.advertise;
        }
        if a.data_dir.is_some() {
            c.data_dir = a.data_dir;
        }
        if a.engine.is_some() {
            c.engine = a.engine;
        }
        if !a.members.is_empty() {
            c.members = a.members;
        }
        if !a.seeds.is_empty() {
            c.seeds = a.seeds;
        }
        c.n = a.n.or(c.n);
        c.r = a.r.or(c.r);
        c.w = a.w.or(c.w);
        if let Some(v) = a.versioning {
            c.versioning = v;
        }
        if let Some(v) = a.durability {
            c.durability = v;
        }
        c.flush_interval_ms = a.flush_interval_ms.or(c.flush_interval_ms);
        c.io_threads = a.io_threads.or(c.io_threads);
        c.shards = a.shards.or(c.shards);
        if let Some(v) = &a.peer_connections {
            c.peer_connections = v.clone();
        }
        if let Some(v) = a.partitions {
            c.partitions = v;
        }
        if let Some(v) = a.max_value_size {
            c.max_value_size = v;
        }
        if let Some(v) = a.request_timeout_ms {
            c.request_timeout_ms = v;
        }
        c.gossip_interval_ms = a.gossip_interval_ms.or(c.gossip_interval_ms);
        c.anti_entropy_interval_ms = a.anti_entropy_interval_ms.or(c.anti_entropy_interval_ms);
        c.tombstone_grace_ms = a.tombstone_grace_ms.or(c.tombstone_grace_ms);
        c.seed = a.seed.or(c.seed);
        if let Some(v) = a.log {
            c.log = v;
        }
        Ok(c)
    }
}

/// Installs the log subscriber: `filter`, unless `RUST_LOG` is set; lines go to standard
/// error.
///
/// # Errors
/// A malformed filter.
pub fn init_tracing(filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => env,
        _ => filter.to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Runs `dynamo node` with `config` (from [`NodeArgs::config`]).
///
/// # Errors
/// A bad configuration, a server that does not start.
pub async fn run(args: NodeArgs, config: dynamo_server::ServerConfig) -> anyhow::Result<()> {
    if args.print_config {
        config.validate()?;
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    init_tracing(&config.log)?;
    let data_dir = config.data_dir();
    let span = tracing::info_span!("node", id = %config.node_id);
    let server = Server::start(config).await.with_context(|| {
        format!(
            "cannot start the node (data directory {})",
            data_dir.display()
        )
    })?;
    let why = stop_signal(args.stop_on_stdin_eof).await;
    span.in_scope(|| tracing::info!(reason = why, "stopping"));
    // A second signal while stopping exits at once.
    tokio::spawn(async {
        let _ = stop_signal(false).await;
        eprintln!("dynamo: stopped without a clean shutdown");
        std::process::exit(130);
    });
    server.shutdown().await;
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM, or for standard input to close when `stdin_eof`;
/// says which.
pub async fn stop_signal(stdin_eof: bool) -> &'static str {
    let eof = async {
        if !stdin_eof {
            return std::future::pending().await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut stdin = std::io::stdin();
                let mut buf = [0u8; 256];
                // Anything written is ignored; only the end matters.
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = rx.await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        r = tokio::signal::ctrl_c() => if r.is_ok() { "SIGINT" } else { std::future::pending().await },
        () = term => "SIGTERM",
        () = eof => "standard input closed",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    fn node_args(args: &[&str]) -> super::NodeArgs {
        let mut all = vec!["dynamo", "node"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Node(a) => a,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            format!(
                "node_id = \"n1\"\nengine = \"lmdb\"\nn = 3\nmembers = [\"n1@h:1\"]\ncluster_secret = \"{}\"\n",
                "0f".repeat(32)
            ),
        )
        .unwrap();
        let a = node_args(&[
            "--config",
            file.to_str().unwrap(),
            "--id",
            "n2",
            "--members",
            "n1@h:1,n2@h:2",
            "--members",
            "n3@h:3",
            "--w",
            "1",
            "--stop-on-stdin-eof",
        ]);
        assert!(a.stop_on_stdin_eof);
        let c = a.config().unwrap();
        assert_eq!(c.node_id, "n2");
        assert_eq!(c.engine.as_deref(), Some("lmdb"));
        assert_eq!(c.members, vec!["n1@h:1", "n2@h:2", "n3@h:3"]);
        assert_eq!((c.n, c.w), (Some(3), Some(1)));
        c.validate().unwrap();
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let a = node_args(&["--config", "/nonexistent/dynamo.toml"]);
        let err = a.config().unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dynamo.toml"),
            "{err}"
        );
    }
}
