//! `dynamo up`: a local cluster to try things on. Each node is a child process of this same
//! executable (`dynamo node --config <data-dir>/nI/node.toml`), with its own data directory,
//! on 127.0.0.1 at consecutive ports (HTTP 8001, 8002, ...; peers 9001, 9002, ...; the binary
//! client protocol 7001, 7002, ...).
//!
//! The nodes are the founders of one cluster. `up` writes each node's configuration file
//! (so a node killed by hand can be restarted alone with `dynamo node --config ...`), starts
//! the nodes, waits until each answers `/ping`, prints the addresses and a few curl lines,
//! and waits for Ctrl-C (or SIGTERM), which stops every node cleanly. The children read
//! their standard input from a pipe held by `up` and stop when it closes, so they also stop
//! if `up` itself dies.
//!
//! Running `up` again on the same data directory restarts the same cluster with its data. The
//! directory remembers its cluster's size (`up.toml`), and a different `--nodes` is refused
//! rather than starting founders that disagree with the ring on disk.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use dynamo_server::ServerConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long stopping waits for a node before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The file in the data directory recording the cluster `up` made there.
const RECORD_FILE: &str = "up.toml";

/// Flags of `dynamo up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// Directory holding every node's data directory (nI/).
    #[arg(long, value_name = "DIR", default_value = "dynamo-data")]
    pub data_dir: PathBuf,
    /// HTTP port of the first node; the others follow.
    #[arg(long, default_value_t = 8001)]
    pub http_port: u16,
    /// Peer port of the first node; the others follow.
    #[arg(long, default_value_t = 9001)]
    pub peer_port: u16,
    /// Binary client protocol port of the first node; the others follow.
    #[arg(long, default_value_t = 7001)]
    pub binary_port: u16,
    /// Storage engine: mem, lmdb, lsm or redb (default: the data directory's, else lsm).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Log filter passed to every node (RUST_LOG syntax).
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// How long to wait for every node to answer /ping, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub startup_timeout: u64,
}

/// What `up.toml` records.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    nodes: u16,
}

/// One node of the cluster.
struct Proc {
    id: String,
    http: String,
    peer: String,
    binary: String,
    config_path: PathBuf,
    child: Child,
    /// Held open: closing it tells the node to stop.
    stdin: Option<ChildStdin>,
    exited: Option<ExitStatus>,
}

/// Runs `dynamo up`.
///
/// # Errors
/// A data directory of another cluster size, ports out of range, a node that does not start.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let n = args.nodes;
    let last = |first: u16, what: &str| {
        first
            .checked_add(n - 1)
            .with_context(|| format!("--{what}-port {first} leaves no room for {n} nodes"))
    };
    last(args.http_port, "http")?;
    last(args.peer_port, "peer")?;
    last(args.binary_port, "binary")?;
    if let Some(e) = &args.engine {
        e.parse::<engine_any::Engine>()?;
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let root = std::fs::canonicalize(&args.data_dir)?;
    check_record(&root, n)?;

    let host = "127.0.0.1";
    let peers: Vec<String> = (0..n)
        .map(|i| format!("n{}@{host}:{}", i + 1, args.peer_port + i))
        .collect();
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut procs = Vec::new();
    for i in 0..n {
        let id = format!("n{}", i + 1);
        let dir = root.join(&id);
        std::fs::create_dir_all(&dir)?;
        let config = ServerConfig {
            node_id: id.clone(),
            http_addr: format!("{host}:{}", args.http_port + i),
            peer_addr: format!("{host}:{}", args.peer_port + i),
            binary_addr: Some(format!("{host}:{}", args.binary_port + i)),
            data_dir: Some(dir.clone()),
            engine: args.engine.clone(),
            members: peers.clone(),
            log: args
                .log
                .clone()
                .unwrap_or_else(|| ServerConfig::default().log),
            ..ServerConfig::default()
        };
        config.validate()?;
        let config_path = dir.join("node.toml");
        let text = format!(
            "# Written by `dynamo up`; restart this node alone with\n# dynamo node --config {}\n{}",
            config_path.display(),
            config.to_toml()?
        );
        std::fs::write(&config_path, text)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let spawned = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&config_path)
            .arg("--stop-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                stop_all(&mut procs).await;
                return Err(e).context("cannot start a node process");
            }
        };
        procs.push(Proc {
            id,
            http: config.http_addr.clone(),
            peer: config.peer_addr.clone(),
            binary: config.binary_addr.clone().unwrap_or_default(),
            config_path,
            stdin: child.stdin.take(),
            child,
            exited: None,
        });
    }
    write_record(&root, n)?;

    let deadline = Instant::now() + Duration::from_secs(args.startup_timeout);
    for i in 0..procs.len() {
        if let Err(e) = wait_ready(&mut procs[i], deadline).await {
            stop_all(&mut procs).await;
            return Err(e);
        }
    }
    print_summary(&procs, &root, args.engine.as_deref(), &exe);

    let reason = tokio::select! {
        why = super::node::stop_signal(false) => why,
        () = watch(&mut procs) => "every node exited",
    };
    println!("dynamo up: {reason}; stopping the cluster");
    stop_all(&mut procs).await;
    println!("dynamo up: stopped");
    Ok(())
}

fn check_record(root: &Path, n: u16) -> anyhow::Result<()> {
    let path = root.join(RECORD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let record: Record =
                toml::from_str(&text).with_context(|| format!("unreadable {}", path.display()))?;
            if record.nodes != n {
                bail!(
                    "{} holds a cluster of {} nodes started by `dynamo up`: run it with --nodes {} (or use another --data-dir)",
                    root.display(),
                    record.nodes,
                    record.nodes
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_record(root: &Path, n: u16) -> anyhow::Result<()> {
    let text = toml::to_string(&Record { nodes: n })?;
    std::fs::write(root.join(RECORD_FILE), text)?;
    Ok(())
}

/// Waits until the node answers `/ping`, failing early if its process exits.
async fn wait_ready(p: &mut Proc, deadline: Instant) -> anyhow::Result<()> {
    loop {
        if ping(&p.http).await {
            return Ok(());
        }
        if let Some(status) = p.child.try_wait()? {
            p.exited = Some(status);
            bail!("node {} exited ({status}) before answering /ping", p.id);
        }
        if Instant::now() >= deadline {
            bail!("node {} did not answer /ping at {} in time", p.id, p.http);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal `GET /ping`: true on a `200`.
pub async fn ping(addr: &str) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let request = format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}

/// Reports nodes that exit while the cluster runs; returns once every node has.
async fn watch(procs: &mut [Proc]) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for p in procs.iter_mut().filter(|p| p.exited.is_none()) {
            if let Ok(Some(status)) = p.child.try_wait() {
                p.exited = Some(status);
                println!(
                    "dynamo up: node {} exited ({status}); restart it with: {} node --config {}",
                    p.id,
                    std::env::current_exe()
                        .map(|e| e.display().to_string())
                        .unwrap_or_else(|_| "dynamo".into()),
                    p.config_path.display()
                );
            }
        }
        if procs.iter().all(|p| p.exited.is_some()) {
            return;
        }
    }
}

/// Closes every node's standard input (each stops cleanly), waits, and kills the ones that
/// did not stop within [`STOP_TIMEOUT`].
async fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter_mut() {
        drop(p.stdin.take());
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let mut running = 0;
        for p in procs.iter_mut().filter(|p| p.exited.is_none()) {
            match p.child.try_wait() {
                Ok(Some(status)) => p.exited = Some(status),
                Ok(None) => running += 1,
                Err(_) => p.exited = Some(ExitStatus::default()),
            }
        }
        if running == 0 {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in procs.iter_mut().filter(|p| p.exited.is_none()) {
        eprintln!("dynamo up: node {} did not stop in time: killing it", p.id);
        let _ = p.child.kill();
        p.exited = p.child.wait().ok();
    }
}

fn print_summary(procs: &[Proc], root: &Path, engine: Option<&str>, exe: &Path) {
    let engine = match engine {
        Some(e) => e.to_owned(),
        None => engine_any::Engine::detect(&root.join("n1").join(dynamo_server::server::STORE_DIR))
            .ok()
            .flatten()
            .or_else(engine_any::Engine::default_for_build)
            .map_or_else(|| "?".to_owned(), |e| e.name().to_owned()),
    };
    println!(
        "dynamo up: {} node{} on 127.0.0.1, engine {engine}, data in {}",
        procs.len(),
        if procs.len() == 1 { "" } else { "s" },
        root.display()
    );
    for p in procs {
        println!(
            "  {:<4} http://{:<16} peer {:<16} binary {:<16} pid {}",
            p.id,
            p.http,
            p.peer,
            p.binary,
            p.child.id()
        );
    }
    let url = |i: usize| format!("http://{}", procs[i % procs.len()].http);
    let (a, b, c) = (url(0), url(1), url(2));
    println!();
    println!("Try it (any node serves any key; Ctrl-C stops the cluster):");
    println!(
        "  curl -i -X PUT -H 'Content-Type: text/plain' --data 'hello' {a}/buckets/demo/keys/greeting"
    );
    println!("  curl -i {b}/buckets/demo/keys/greeting");
    println!("  # two writes without a context are concurrent: siblings, 300 Multiple Choices");
    println!(
        "  curl -i -X PUT -H 'Content-Type: text/plain' --data 'red' {a}/buckets/demo/keys/color"
    );
    println!(
        "  curl -i -X PUT -H 'Content-Type: text/plain' --data 'blue' {b}/buckets/demo/keys/color"
    );
    println!("  curl -i -H 'Accept: application/json' {c}/buckets/demo/keys/color");
    println!(
        "  # writes and deletes send back the X-Dynamo-Context of a read: it replaces what it saw"
    );
    println!(
        "  curl -i -X DELETE -H 'X-Dynamo-Context: <context from the read>' {a}/buckets/demo/keys/greeting"
    );
    println!("  curl -s {a}/admin/status");
    let exe_name = exe.display();
    println!("Or with this command:");
    println!("  {exe_name} put demo greeting hello --node {a}");
    println!("  {exe_name} get demo greeting --node {b}");
    println!("  {exe_name} admin status --node {c}");
    if let Some(p) = procs.get(1) {
        println!(
            "Kill a node (kill -9 {}), watch the others carry on, then restart it:\n  {} node --config {}",
            p.child.id(),
            exe.display(),
            p.config_path.display()
        );
    }
}
