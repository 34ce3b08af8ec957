//! The `dynamo` command's subcommands (clap derive). Errors are `anyhow` here and in `main`
//! only: the library's are typed.
//!
//! - `dynamo node`: run one node ([`node`]);
//! - `dynamo up`: a local cluster of node processes on 127.0.0.1 ([`up`]);
//! - `dynamo get | put | delete` and `dynamo admin join | leave | status | ring`: a client
//!   of one node's HTTP API ([`client`]);
//! - `dynamo top`: the cluster's members, health and load in the terminal ([`top`]).

use clap::{Parser, Subcommand};

pub mod client;
pub mod node;
pub mod top;
pub mod up;

/// A Dynamo-style replicated key-value store.
#[derive(Debug, Parser)]
#[command(name = "dynamo", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run one node (from a TOML config file and/or flags).
    Node(node::NodeArgs),
    /// Start a local cluster on 127.0.0.1, one process and data directory per node; Ctrl-C
    /// stops it. Run it again on the same data directory to restart the same cluster.
    Up(up::UpArgs),
    /// Read a key: its value on standard output and its context on standard error, or its
    /// siblings.
    Get(client::GetArgs),
    /// Write a key (the value from the argument, or from standard input).
    Put(client::PutArgs),
    /// Delete a key.
    Delete(client::DeleteArgs),
    /// List a bucket's keys, one per line, page by page as they arrive (without a bucket:
    /// the buckets).
    Ls(client::LsArgs),
    /// Print a new cluster secret and a new bootstrap admin key, for the configuration of a
    /// cluster on a real network (nothing is contacted: the values are printed only).
    Keygen,
    /// The cluster in the terminal, redrawn every second: members, status, health, ops/s,
    /// p99, hints and partition transfers (the status page `/ui` in text).
    Top(top::TopArgs),
    /// Cluster administration: join, leave, status, ring, access keys.
    Admin {
        /// The admin command.
        #[command(subcommand)]
        command: client::AdminCommand,
    },
}

/// `dynamo keygen`: a fresh cluster secret and bootstrap admin key, as configuration lines.
fn keygen() -> anyhow::Result<()> {
    let secret = dynamo_server::secure::ClusterSecret::generate()
        .map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let (id, key, token) =
        dynamo_server::auth::new_token().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let digest = dynamo_server::auth::hex(&dynamo_server::auth::digest(&key));
    println!(
        "# The same two lines in every node's node.toml (keep the file readable by the node only):"
    );
    println!("cluster_secret = \"{}\"", secret.to_hex());
    println!("admin_keys = [\"{id}:{digest}\"]");
    println!("# The admin key's token, shown only now (export DYNAMO_TOKEN=... for the CLI):");
    println!("{token}");
    Ok(())
}

/// Runs the command on a multi-threaded tokio runtime: for `dynamo node`, with the
/// configuration's `io_threads` workers (default: one per shard).
///
/// # Errors
/// Whatever the command reports.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let node_config = match &cli.command {
        Command::Node(args) => {
            let config = args.config()?;
            builder.worker_threads(config.worker_threads());
            Some(config)
        }
        _ => None,
    };
    let runtime = builder.build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Node(args) => match node_config {
                Some(config) => node::run(args, config).await,
                None => Err(anyhow::anyhow!("no configuration")),
            },
            Command::Up(args) => up::run(args).await,
            Command::Get(args) => client::get(args).await,
            Command::Put(args) => client::put(args).await,
            Command::Delete(args) => client::delete(args).await,
            Command::Ls(args) => client::ls(args).await,
            Command::Admin { command } => client::admin(command).await,
            Command::Keygen => keygen(),
            Command::Top(args) => top::run(args).await,
        }
    })
}
