//! The harness of the real-process tests (`tests/cluster_*.rs`): `dynamo node` child
//! processes on 127.0.0.1, each with its own temporary data directory.
//!
//! - Ports: a node first starts on port 0 for HTTP and peers and reports the addresses it
//!   bound in its `listening` log line, which the harness reads from its standard error (so
//!   there is no window in which another process could take a port picked in advance). A
//!   restart reuses the same addresses.
//! - Founders: the first founder lists the others as bare ids (their addresses are not known
//!   yet); each later founder lists the addresses of those started before it. Nodes learn the
//!   missing addresses from the peers' hellos and the gossiped cluster state.
//! - Stopping: every child runs with `--stop-on-stdin-eof`, and the harness holds its standard
//!   input. Closing it stops the node cleanly ([`NodeProc::stop`]); dropping a [`NodeProc`]
//!   SIGKILLs a child still running (also when a test panics), and a child whose harness died
//!   sees its standard input close and stops by itself.
//! - Logs: each node's standard error is kept; a failing test prints the end of every node's
//!   log.
//! - Waiting: [`eventually`] polls a condition with a deadline; nothing sleeps in place of a
//!   condition.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dynamo_client::{AdminStatus, Client, GetOptions, Object, PutOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The `dynamo` executable under test.
pub const DYNAMO: &str = env!("CARGO_BIN_EXE_dynamo");

/// How long a condition may take before the test fails (generous: CI has two slow cores).
pub const DEADLINE: Duration = Duration::from_secs(45);

/// How long a node may take to stop cleanly.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// Log lines printed per node when a test fails.
const LOG_TAIL: usize = 60;

/// Polls `check` every 25 ms until it returns `Some`, or fails the test after `deadline`.
pub async fn eventually_within<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// [`eventually_within`] with [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, check).await
}

/// One `dynamo node` child process.
pub struct NodeProc {
    /// The node id.
    pub id: String,
    /// Where its HTTP API listens.
    pub http: SocketAddr,
    /// Where it listens for peers.
    pub peer: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Flags besides the id, addresses, data directory and engine (kept for restarts).
    args: Vec<String>,
    /// The storage engine.
    engine: String,
    child: Option<Child>,
    /// Held open: closing it stops the node cleanly.
    stdin: Option<ChildStdin>,
    /// Every line the node wrote to standard error (all its runs).
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    client: Client,
}

impl NodeProc {
    /// Starts node `id` on 127.0.0.1 (ports picked by the OS) with data in `data_dir`, the
    /// storage engine `engine` and the extra flags `args`; returns once it reported its
    /// addresses.
    pub async fn spawn(id: &str, data_dir: &Path, engine: &str, args: &[String]) -> NodeProc {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut node = NodeProc {
            id: id.to_owned(),
            http: "127.0.0.1:0".parse().unwrap(),
            peer: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_owned(),
            args: args.to_vec(),
            engine: engine.to_owned(),
            child: None,
            stdin: None,
            log,
            reader: None,
            // Replaced once the address is known.
            client: Client::new("http://127.0.0.1:1").unwrap(),
        };
        node.launch().await;
        node
    }

    /// Starts the process on `self.http` and `self.peer` and waits for its `listening` line.
    async fn launch(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let first_line = self.log.lock().unwrap().len();
        let mut child = Command::new(DYNAMO)
            .arg("node")
            .args(["--id", &self.id])
            .args(["--http", &self.http.to_string()])
            .args(["--peer", &self.peer.to_string()])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--engine", &self.engine])
            .args(&self.args)
            .arg("--stop-on-stdin-eof")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the dynamo executable");
        self.stdin = child.stdin.take();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::clone(&self.log);
        self.reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push(line);
            }
        }));
        self.child = Some(child);
        let (http, peer) = eventually(&format!("node {} to report its addresses", self.id), || {
            let found = self.log.lock().unwrap()[first_line..]
                .iter()
                .find_map(|l| listening_addresses(l));
            if found.is_none() {
                self.assert_running();
            }
            std::future::ready(found)
        })
        .await;
        if self.http.port() != 0 {
            assert_eq!((http, peer), (self.http, self.peer), "restarted elsewhere");
        }
        self.http = http;
        self.peer = peer;
        self.client = Client::new(&self.url()).unwrap();
    }

    /// Panics (with the node's log) if the process exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.try_status() {
            panic!(
                "node {} exited ({status}); its log:\n{}",
                self.id,
                self.log_tail(LOG_TAIL)
            );
        }
    }

    /// The exit status if the process has exited.
    fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_status().is_none()
    }

    /// The node's HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// A client of the node's HTTP API.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `id@host:port`: how other nodes name this one as a founder or seed.
    pub fn peer_spec(&self) -> String {
        format!("{}@{}", self.id, self.peer)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stdin = None;
        self.join_reader();
    }

    /// Stops the node cleanly (closes its standard input) and waits for it to exit; returns
    /// its exit status.
    pub async fn stop(&mut self) -> ExitStatus {
        self.stdin = None;
        let id = self.id.clone();
        let status = eventually_within(&format!("node {id} to stop"), STOP_DEADLINE, || {
            std::future::ready(self.try_status())
        })
        .await;
        self.child = None;
        self.join_reader();
        status
    }

    /// Starts the process again on the same addresses and data directory.
    pub async fn restart(&mut self) {
        self.launch().await;
    }

    fn join_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// The last `n` lines of the node's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// Every log line containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// The node's admin report.
    pub async fn status(&self) -> AdminStatus {
        self.client.status().await.unwrap()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // DYNAMO_TEST_FULL_LOGS=1 prints every line.
            let n = match std::env::var_os("DYNAMO_TEST_FULL_LOGS") {
                Some(_) => usize::MAX,
                None => LOG_TAIL,
            };
            eprintln!(
                "----- log of node {} (last {n} lines at most) -----\n{}",
                self.id,
                self.log_tail(n)
            );
        }
        self.kill();
    }
}

/// The addresses in a node's `listening` log line
/// (`... listening http=127.0.0.1:P peer=127.0.0.1:Q advertised=...`).
fn listening_addresses(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    if !line.contains("listening") {
        return None;
    }
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse::<SocketAddr>().ok())
    };
    Some((field("http=")?, field("peer=")?))
}

/// A set of nodes sharing one temporary directory.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<NodeProc>,
    /// Holds every data directory (removed on drop, after the nodes are killed).
    dir: tempfile::TempDir,
    engine: String,
}

impl Cluster {
    /// Starts `count` founders `n1..=n{count}` on `engine`, each with the extra flags
    /// `args`, and waits until every node sees every other up, with one ring, and a write
    /// with W = `count.min(3)` through each node succeeds.
    pub async fn start(count: usize, engine: &str, args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            engine: engine.to_owned(),
        };
        let ids: Vec<String> = (1..=count).map(|i| format!("n{i}")).collect();
        for i in 0..count {
            // Founders started before this one with their addresses, the rest bare.
            let members: Vec<String> = ids
                .iter()
                .enumerate()
                .map(|(j, id)| match cluster.nodes.get(j) {
                    Some(n) if j < i => n.peer_spec(),
                    _ => id.clone(),
                })
                .collect();
            let mut node_args = vec!["--members".to_owned(), members.join(",")];
            node_args.extend(args.iter().map(|a| (*a).to_owned()));
            cluster.add(&ids[i], &node_args).await;
        }
        cluster.wait_converged(count).await;
        let w = u8::try_from(count.min(3)).unwrap();
        for i in 0..count {
            let client = cluster.nodes[i].client();
            eventually(
                &format!("a first write through n{} with W={w}", i + 1),
                || {
                    let client = client.clone();
                    async move {
                        let options = PutOptions {
                            w: Some(w),
                            dw: None,
                            ..PutOptions::default()
                        };
                        client.put("_ready", "probe", "x", &options).await.ok()
                    }
                },
            )
            .await;
        }
        cluster
    }

    /// Starts node `id` with `args` (its own data directory under the cluster's) and adds
    /// it to the cluster.
    pub async fn add(&mut self, id: &str, args: &[String]) -> &mut NodeProc {
        let data_dir = self.dir.path().join(id);
        let node = NodeProc::spawn(id, &data_dir, &self.engine, args).await;
        self.nodes.push(node);
        self.nodes.last_mut().unwrap()
    }

    /// The node called `id`.
    pub fn node(&self, id: &str) -> &NodeProc {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// The node called `id`, mutably.
    pub fn node_mut(&mut self, id: &str) -> &mut NodeProc {
        self.nodes.iter_mut().find(|n| n.id == id).unwrap()
    }

    /// Clients of every node, in order.
    pub fn clients(&self) -> Vec<Client> {
        self.nodes.iter().map(NodeProc::client).collect()
    }

    /// Waits until every running node reports `members` members, all valid, up and with an
    /// address, and the same ring as the others.
    pub async fn wait_converged(&mut self, members: usize) {
        let clients: Vec<Client> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.is_running().then(|| n.client()))
            .collect();
        eventually(&format!("{members} members agreeing on one ring"), || {
            let clients = clients.clone();
            async move {
                let mut digests = Vec::new();
                for c in &clients {
                    let s = c.status().await.ok()?;
                    let ok = s.members.len() == members
                        && s.members
                            .iter()
                            .all(|m| m.up && !m.address.is_empty() && m.status == "valid");
                    if !ok {
                        return None;
                    }
                    digests.push(s.ring_digest?);
                }
                digests.windows(2).all(|w| w[0] == w[1]).then_some(())
            }
        })
        .await;
    }

    /// Stops every running node cleanly, asserting each exits with success.
    pub async fn stop_all(&mut self) {
        for n in &mut self.nodes {
            n.stdin = None;
        }
        for n in &mut self.nodes {
            if n.child.is_some() {
                let status = n.stop().await;
                assert!(status.success(), "node {} stopped with {status}", n.id);
            }
        }
    }

    /// The directory holding every node's data directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Kill the nodes before the temporary directory goes.
        self.nodes.clear();
    }
}

/// Reads `key` of `bucket` through `client` with read quorum `r`, retrying transient
/// failures (unavailable, transport) until the deadline.
pub async fn read_with(client: &Client, bucket: &str, key: &str, r: u8) -> Object {
    eventually(&format!("a read of {bucket}/{key} with R={r}"), || async {
        match client
            .get_with(bucket, key, &GetOptions { r: Some(r) })
            .await
        {
            Ok(o) => Some(o),
            Err(e) if e.is_retryable() => None,
            Err(e) => panic!("reading {bucket}/{key}: {e}"),
        }
    })
    .await
}

/// The live values of `object`, as UTF-8 strings, sorted.
pub fn values(object: &Object) -> Vec<String> {
    let mut v: Vec<String> = object
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    v.sort();
    v
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts this is the API's JSON error `kind` with `status`.
    pub fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(
            self.status,
            status,
            "expected {status} {kind}, got {self:?} ({})",
            String::from_utf8_lossy(&self.body)
        );
        let json = self.json();
        assert_eq!(json["error"], kind, "{json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }
}

/// Sends `request` (a whole HTTP/1.1 request, which should say `Connection: close`) on a
/// new connection to `addr` and reads the response until the server closes the connection.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // A server refusing a body may answer and close before reading all of it.
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    parse_response(&got)
}

/// A request line, headers and body as HTTP/1.1 bytes, with `Host`, `Connection: close` and
/// `Content-Length` added.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn parse_response(bytes: &[u8]) -> RawResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        match headers.iter().find(|(n, _)| n == "content-length") {
            Some((_, len)) => {
                let len: usize = len.parse().unwrap();
                assert!(rest.len() >= len, "a truncated body");
                rest[..len].to_vec()
            }
            None => rest.to_vec(),
        }
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// One part of a `multipart/mixed` body: its headers (lower-case names) and its body.
pub type Part = (Vec<(String, String)>, Vec<u8>);

/// A `multipart/mixed` body taken apart: each part's headers (lower-case names) and body.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let positions: Vec<usize> = (0..body.len().saturating_sub(d.len() - 1))
        .filter(|&i| body[i..].starts_with(d))
        .collect();
    assert!(positions.len() >= 2, "at least one part and the close");
    let last = *positions.last().unwrap();
    assert!(
        body[last + d.len()..].starts_with(b"--"),
        "closing delimiter"
    );
    let mut parts = Vec::new();
    for w in positions.windows(2) {
        let start = w[0] + d.len() + 2;
        let end = w[1] - 2;
        assert_eq!(&body[end..w[1]], b"\r\n");
        let part = &body[start..end];
        let (head_end, body_start) = part
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .map(|p| (p, p + 4))
            .or_else(|| part.starts_with(b"\r\n").then_some((0, 2)))
            .expect("end of the part's headers");
        let headers = std::str::from_utf8(&part[..head_end])
            .unwrap()
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        parts.push((headers, part[body_start..].to_vec()));
    }
    parts
}

/// Runs the `dynamo` command with `args` to completion (off the async threads).
pub async fn run_cli(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(DYNAMO)
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// What a stopped node's data directory holds: its records by (bucket, key), and how many
/// hints it keeps.
#[derive(Debug)]
pub struct StoreDump {
    /// The `data` keyspace, decoded.
    pub data: std::collections::BTreeMap<(Vec<u8>, Vec<u8>), dynamo_core::version::SiblingSet>,
    /// Entries of the `hints` keyspace.
    pub hints: usize,
}

/// Opens the store of a stopped node's data directory with `engine` and reads it whole,
/// decoding every data key and record with dynamo-core's functions.
pub fn read_store(data_dir: &Path, engine: &str) -> StoreDump {
    use engine_api::{Direction, KeyRange, Snapshot as _, StorageEngine as _};
    let engine: engine_any::Engine = engine.parse().unwrap();
    let config = engine_api::EngineConfig::new(
        data_dir.join(dynamo_server::server::STORE_DIR),
        dynamo_core::node::KEYSPACES,
    );
    let store = engine.open(&config).unwrap();
    let snapshot = store.snapshot().unwrap();
    let mut data = std::collections::BTreeMap::new();
    let ks = store.keyspace("data").unwrap();
    for item in snapshot
        .scan(ks, KeyRange::all(), Direction::Forward)
        .unwrap()
    {
        let (k, v) = item.unwrap();
        let key = dynamo_core::ring::decode_storage_key(&k).unwrap();
        let record = dynamo_core::record::decode(&v).unwrap();
        data.insert((key.bucket.to_vec(), key.key.to_vec()), record);
    }
    let ks = store.keyspace("hints").unwrap();
    let hints = snapshot
        .scan(ks, KeyRange::all(), Direction::Forward)
        .unwrap()
        .count();
    StoreDump { data, hints }
}

/// Writer tasks writing distinct keys (`w<task>-<n>`) of one bucket through a set of nodes
/// in turn, each write once, recording which were acknowledged and which failed.
pub struct Writers {
    log: Arc<WriteLog>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the writer tasks share.
struct WriteLog {
    acked: Mutex<std::collections::BTreeMap<String, String>>,
    failed: Mutex<std::collections::BTreeMap<String, String>>,
    acks: std::sync::atomic::AtomicUsize,
    /// Per node: writers leave it alone while set.
    paused: Vec<std::sync::atomic::AtomicBool>,
    stop: std::sync::atomic::AtomicBool,
}

/// The outcome of a [`Writers`] run.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Acknowledged writes: key → value.
    pub acked: std::collections::BTreeMap<String, String>,
    /// Failed writes: key → error (each may or may not have landed).
    pub failed: std::collections::BTreeMap<String, String>,
}

impl Written {
    /// Every key written, acknowledged or not.
    pub fn keys(&self) -> Vec<String> {
        self.acked
            .keys()
            .chain(self.failed.keys())
            .cloned()
            .collect()
    }
}

impl Writers {
    /// Starts `tasks` writers on `bucket` through `clients` with write quorum `w`; values
    /// are padded to at least `value_size` bytes.
    pub fn start(
        tasks: usize,
        clients: Vec<Client>,
        bucket: &str,
        w: u8,
        value_size: usize,
    ) -> Writers {
        use std::sync::atomic::Ordering;
        let log = Arc::new(WriteLog {
            acked: Mutex::default(),
            failed: Mutex::default(),
            acks: 0.into(),
            paused: clients.iter().map(|_| false.into()).collect(),
            stop: false.into(),
        });
        let tasks = (0..tasks)
            .map(|t| {
                let log = Arc::clone(&log);
                let clients = clients.clone();
                let bucket = bucket.to_owned();
                tokio::spawn(async move {
                    let options = PutOptions {
                        w: Some(w),
                        dw: None,
                        ..PutOptions::default()
                    };
                    let mut i = 0usize;
                    while !log.stop.load(Ordering::SeqCst) {
                        let node = (t + i) % clients.len();
                        if log.paused[node].load(Ordering::SeqCst) {
                            i += 1;
                            if log.paused.iter().all(|p| p.load(Ordering::SeqCst)) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            continue;
                        }
                        let key = format!("w{t}-{i:05}");
                        let mut value = format!("value {t} {i} via node {node} ");
                        while value.len() < value_size {
                            value.push_str("0123456789abcdef");
                        }
                        match clients[node]
                            .put(&bucket, &key, value.clone(), &options)
                            .await
                        {
                            Ok(_) => {
                                log.acked.lock().unwrap().insert(key, value);
                                log.acks.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                log.failed.lock().unwrap().insert(key, e.to_string());
                            }
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Writers { log, tasks }
    }

    /// Acknowledged writes so far.
    pub fn acks(&self) -> usize {
        self.log.acks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Failed writes so far.
    pub fn failures(&self) -> usize {
        self.log.failed.lock().unwrap().len()
    }

    /// Leaves node `i` (an index into the clients) alone, or uses it again.
    pub fn pause(&self, i: usize, paused: bool) {
        self.log.paused[i].store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until `n` more writes than now are acknowledged.
    pub async fn wait_more(&self, n: usize, what: &str) {
        let target = self.acks() + n;
        eventually(what, || {
            std::future::ready((self.acks() >= target).then_some(()))
        })
        .await;
    }

    /// Stops the writers and returns what they wrote.
    pub async fn stop(self) -> Written {
        self.log
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        Written {
            acked: self.log.acked.lock().unwrap().clone(),
            failed: self.log.failed.lock().unwrap().clone(),
        }
    }
}

/// The total of metric `name` over the nodes of `clients`.
pub async fn metric_total(clients: &[Client], name: &str) -> u64 {
    let mut total = 0;
    for c in clients {
        let stats = c.stats().await.unwrap();
        total += stats["metrics"][name].as_u64().unwrap();
    }
    total
}

/// Reads every key of `written` with R = `r` through `clients` in turn (4 tasks), checking
/// that each acknowledged key reads as exactly its value (and a failed one as at most one
/// value), until a whole pass made no read repair on any node of `clients` — then every
/// replica that answered held the same record. Returns the number of passes.
pub async fn read_back_until_no_repair(
    clients: &[Client],
    bucket: &str,
    written: &Written,
    r: u8,
) -> usize {
    let keys = written.keys();
    let mut passes = 0;
    eventually("a pass of reads without a read repair", || {
        passes += 1;
        let clients = clients.to_vec();
        let keys = keys.clone();
        let acked = written.acked.clone();
        let bucket = bucket.to_owned();
        async move {
            let before = metric_total(&clients, "read_repairs").await;
            let mut tasks = Vec::new();
            for (t, chunk) in keys.chunks(keys.len().div_ceil(4).max(1)).enumerate() {
                let chunk = chunk.to_vec();
                let clients = clients.clone();
                let acked = acked.clone();
                let bucket = bucket.clone();
                tasks.push(tokio::spawn(async move {
                    let mut all_read = true;
                    for (i, key) in chunk.iter().enumerate() {
                        let c = &clients[(t + i) % clients.len()];
                        let Ok(read) = c.get_with(&bucket, key, &GetOptions { r: Some(r) }).await
                        else {
                            all_read = false;
                            continue;
                        };
                        let got: Vec<&[u8]> = read.values().map(|v| &v[..]).collect();
                        match acked.get(key) {
                            Some(value) => {
                                assert_eq!(got, [value.as_bytes()], "acknowledged {key} lost");
                            }
                            // A failed write may or may not have landed, never twice.
                            None => assert!(got.len() <= 1, "{key}: {got:?}"),
                        }
                    }
                    all_read
                }));
            }
            let mut all_read = true;
            for t in tasks {
                all_read &= t.await.unwrap();
            }
            let after = metric_total(&clients, "read_repairs").await;
            (all_read && after == before).then_some(())
        }
    })
    .await;
    passes
}

/// Checks the stores of stopped nodes (`dumps`, by node id) against what was written to
/// `bucket`: every key stored was written; every acknowledged key is stored, with exactly its
/// value, on each replica of its preference list in `ring` (read with the bucket's `n`);
/// every replica holds the same record; no other node holds it; no node keeps a hint.
/// Returns the number of keys checked.
pub fn check_stores(
    dumps: &std::collections::BTreeMap<String, StoreDump>,
    ring: &dynamo_client::RingInfo,
    bucket: &str,
    written: &Written,
) -> usize {
    let preference: std::collections::BTreeMap<u32, Vec<String>> = ring
        .partitions
        .iter()
        .map(|p| (p.id, p.preference_list.clone()))
        .collect();
    let ring_config = dynamo_core::ring::RingConfig::new(ring.partition_count).unwrap();
    for (node, dump) in dumps {
        assert_eq!(dump.hints, 0, "{node} still keeps hints");
    }
    let mut stored = std::collections::BTreeSet::new();
    for dump in dumps.values() {
        for (b, key) in dump.data.keys() {
            if b == bucket.as_bytes() {
                stored.insert(String::from_utf8(key.clone()).unwrap());
            }
        }
    }
    for key in &stored {
        assert!(
            written.acked.contains_key(key) || written.failed.contains_key(key),
            "{key} was never written"
        );
    }
    for key in written.acked.keys() {
        assert!(stored.contains(key), "acknowledged {key} is on no disk");
    }
    for key in &stored {
        let partition = ring_config.partition_of(bucket.as_bytes(), key.as_bytes());
        let replicas = &preference[&partition.0];
        assert_eq!(replicas.len(), ring.n);
        let storage_key = (bucket.as_bytes().to_vec(), key.as_bytes().to_vec());
        let records: Vec<_> = replicas
            .iter()
            .map(|r| {
                dumps[r]
                    .data
                    .get(&storage_key)
                    .unwrap_or_else(|| panic!("{key} missing on its replica {r}"))
            })
            .collect();
        for (r, record) in replicas.iter().zip(&records).skip(1) {
            assert_eq!(
                *record, records[0],
                "{key}: replica {r} differs from {}",
                replicas[0]
            );
        }
        let live: Vec<&[u8]> = records[0]
            .live()
            .filter_map(|s| s.data())
            .map(|b| &b[..])
            .collect();
        if let Some(value) = written.acked.get(key) {
            assert_eq!(live, [value.as_bytes()], "{key} on disk");
        }
        for (node, dump) in dumps {
            if !replicas.contains(node) {
                assert!(
                    !dump.data.contains_key(&storage_key),
                    "{key} stored on {node}, not one of its replicas {replicas:?}"
                );
            }
        }
    }
    stored.len()
}
