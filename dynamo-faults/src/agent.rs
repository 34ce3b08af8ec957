//! The client agent: a child process of the harness running inside a client namespace
//! (`ip netns exec <ns> dynamo-faults agent --spec FILE`), the only place from which the
//! nodes' addresses can be reached. It runs the [workload](crate::workload) and the end
//! checks, and takes one command per line on standard input, answering each with one JSON
//! line on standard output ([`Reply`]):
//!
//! | command | what it does |
//! |---|---|
//! | `ready SECS` | waits until every node answers and sees every member up on one ring, then connects the partition-aware client |
//! | `start T0` | starts the clients; times are seconds since `T0` (UNIX milliseconds) |
//! | `up SECS` | waits until every node answers and sees every member up |
//! | `settle SECS` | `up`, and no node keeps hints or transfers |
//! | `stop` | stops the clients, flushes their records |
//! | `check SECS` | resolves siblings, reads every key through every node with R = N until a pass repairs nothing, writes the [`FinalState`] |
//! | `quit` | exits |
//!
//! [`AgentHandle`] is the harness's side.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dynamo_client::{Client, ClusterClient, ClusterOptions, GetOptions, PutOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::{FaultsError, Result};
use crate::workload::{self, BUCKET, Op, Workload, WorkloadSpec};

/// What an agent is told at start (a JSON file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Its clients.
    pub workload: WorkloadSpec,
    /// Every node: id and HTTP base URL.
    pub nodes: Vec<(String, String)>,
    /// The access key (admin) every request carries.
    pub token: String,
    /// Replicas per key (the checks read with R = N).
    pub n: u8,
    /// Where its [`Op`] records go (JSON lines).
    pub ops_path: PathBuf,
    /// Where the end check's [`FinalState`] goes.
    pub final_path: PathBuf,
    /// The partition-aware client's attempt timeout, in milliseconds.
    pub attempt_timeout_ms: u64,
    /// The partition-aware client's deadline per request, in milliseconds.
    pub deadline_ms: u64,
}

/// An agent's answer to one command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the command did what it should.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    #[serde(default)]
    pub ms: f64,
    /// `stop`: requests made.
    #[serde(default)]
    pub requests: u64,
}

/// What one node returned for one key in the end check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRead {
    /// The node id.
    pub node: String,
    /// Why the read failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Siblings returned.
    pub siblings: u32,
    /// Values that were not sets.
    pub bad_values: usize,
    /// The union of the siblings' elements.
    pub elements: BTreeSet<u64>,
}

/// The final read of one key through every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalKey {
    /// The key's number.
    pub key: u32,
    /// One read per node.
    pub reads: Vec<NodeRead>,
}

/// The end check's findings (written by the agent, judged by the harness).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    /// The last pass's reads.
    pub keys: Vec<FinalKey>,
    /// Keys that had siblings when the resolving pass read them (then written back merged).
    pub sibling_keys: usize,
    /// Keys whose resolving write failed.
    pub merge_failures: usize,
    /// Passes of reads made.
    pub passes: usize,
    /// Read repairs the first pass caused (replicas that still differed).
    pub repairs_first_pass: u64,
    /// Read repairs the last pass caused (0 when it converged).
    pub repairs_last_pass: u64,
    /// True when the last pass read every key through every node, caused no repair, and every
    /// node returned the same elements and siblings for every key.
    pub converged: bool,
}

/// Seconds since the UNIX epoch, as milliseconds.
pub fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Runs the agent of `spec_path` until `quit` or the end of standard input.
///
/// # Errors
/// The spec cannot be read, the runtime cannot start, the records cannot be written.
pub fn agent_main(spec_path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(spec_path).map_err(FaultsError::io(spec_path))?;
    let spec: AgentSpec = serde_json::from_str(&text).map_err(|source| FaultsError::Json {
        what: spec_path.display().to_string(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(FaultsError::io("tokio runtime"))?;
    runtime.block_on(Agent::new(spec).serve())
}

struct Agent {
    spec: AgentSpec,
    nodes: Vec<(String, Client)>,
    cluster: Option<ClusterClient>,
    workload: Option<(Workload, tokio::task::JoinHandle<Result<()>>)>,
}

impl Agent {
    fn new(spec: AgentSpec) -> Agent {
        Agent {
            nodes: Vec::new(),
            cluster: None,
            workload: None,
            spec,
        }
    }

    async fn serve(mut self) -> Result<()> {
        for (id, url) in &self.spec.nodes {
            let client = Client::builder(url)
                .token(self.spec.token.clone())
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| agent_error(&self.spec, format!("client of {url}: {e}")))?;
            self.nodes.push((id.clone(), client));
        }
        // Standard input is read on a thread of its own (tokio's is behind a feature the
        // workspace does not build).
        let (tx, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            let started = Instant::now();
            let mut words = line.split_whitespace();
            let command = words.next().unwrap_or("");
            let arg: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(30.0);
            let secs = Duration::from_secs_f64(arg.clamp(0.0, 3600.0));
            let result = match command {
                "ready" => self.ready(secs).await,
                "start" => self.start(arg),
                "up" => self.wait(secs, false).await.map(|()| 0),
                "settle" => self.wait(secs, true).await.map(|()| 0),
                "stop" => self.stop().await,
                "check" => self.check(secs).await.map(|()| 0),
                "quit" | "" => break,
                other => Err(format!("unknown command {other:?}")),
            };
            let reply = match result {
                Ok(requests) => Reply {
                    ok: true,
                    requests,
                    ..Reply::default()
                },
                Err(error) => Reply {
                    error: Some(error),
                    ..Reply::default()
                },
            };
            let reply = Reply {
                ms: started.elapsed().as_secs_f64() * 1000.0,
                ..reply
            };
            let line = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".to_owned());
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").map_err(FaultsError::io("stdout"))?;
            out.flush().map_err(FaultsError::io("stdout"))?;
        }
        if self.workload.is_some() {
            let _ = self.stop().await;
        }
        Ok(())
    }

    /// Every node answers its status and sees every member up (and, when `drained`, keeps no
    /// hint and no transfer), within `secs`; else why not.
    async fn wait(&self, secs: Duration, drained: bool) -> Result<(), String> {
        let deadline = Instant::now() + secs;
        loop {
            let why = self.cluster_state(drained, false).await;
            match why {
                None => return Ok(()),
                Some(why) if Instant::now() >= deadline => {
                    return Err(format!("after {secs:?}: {why}"));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// What keeps the cluster from being healthy (every node answering, every member valid
    /// and up in every view; with `drained` no hints or transfers; with `one_ring` one ring
    /// digest); `None` when nothing does.
    async fn cluster_state(&self, drained: bool, one_ring: bool) -> Option<String> {
        let mut digests = BTreeSet::new();
        for (id, client) in &self.nodes {
            let status = match client.status().await {
                Ok(s) => s,
                Err(e) => return Some(format!("{id} does not answer: {e}")),
            };
            if status.members.len() != self.nodes.len() {
                return Some(format!("{id} knows {} members", status.members.len()));
            }
            if let Some(m) = status.members.iter().find(|m| !m.up || m.status != "valid") {
                return Some(format!("{id} sees {} {} up={}", m.node, m.status, m.up));
            }
            if drained && status.hints_total() > 0 {
                return Some(format!("{id} keeps {} hints", status.hints_total()));
            }
            if drained && status.transfers_in_progress().next().is_some() {
                return Some(format!("{id} has transfers in progress"));
            }
            digests.insert(status.ring_digest);
        }
        if one_ring && digests.len() > 1 {
            return Some(format!("nodes disagree on the ring: {digests:?}"));
        }
        None
    }

    async fn ready(&mut self, secs: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + secs;
        loop {
            match self.cluster_state(false, true).await {
                None => break,
                Some(why) if Instant::now() >= deadline => {
                    return Err(format!("cluster not ready after {secs:?}: {why}"));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        // A first write through every node (the ring is settled; the nodes take writes).
        for (id, client) in &self.nodes {
            loop {
                match client.put("_ready", id, "x", &PutOptions::default()).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!("a first write through {id}: {e}"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        let seeds: Vec<&str> = self.spec.nodes.iter().map(|(_, u)| u.as_str()).collect();
        let options = ClusterOptions {
            token: Some(self.spec.token.clone()),
            attempt_timeout: Duration::from_millis(self.spec.attempt_timeout_ms),
            deadline: Duration::from_millis(self.spec.deadline_ms),
            ..ClusterOptions::default()
        };
        let cluster = ClusterClient::connect(&seeds, options)
            .await
            .map_err(|e| format!("the partition-aware client: {e}"))?;
        self.cluster = Some(cluster);
        Ok(0)
    }

    fn start(&mut self, t0_unix_ms: f64) -> Result<u64, String> {
        let cluster = self.cluster.clone().ok_or("`start` before `ready`")?;
        if self.workload.is_some() {
            return Err("already started".to_owned());
        }
        let base = Instant::now();
        let offset = (unix_ms() - t0_unix_ms) / 1000.0;
        let clock: Arc<dyn Fn() -> f64 + Send + Sync> =
            Arc::new(move || offset + base.elapsed().as_secs_f64());
        let (tx, rx) = mpsc::unbounded_channel();
        let path = self.spec.ops_path.clone();
        let writer = tokio::task::spawn_blocking(move || write_ops(&path, rx));
        let workload = Workload::start(&self.spec.workload, cluster, clock, tx);
        self.workload = Some((workload, writer));
        Ok(0)
    }

    async fn stop(&mut self) -> Result<u64, String> {
        let (workload, writer) = self.workload.take().ok_or("not started")?;
        let requests = workload.stop().await;
        match writer.await {
            Ok(Ok(())) => Ok(requests),
            Ok(Err(e)) => Err(format!("writing the records: {e}")),
            Err(e) => Err(format!("the record writer: {e}")),
        }
    }

    async fn check(&self, secs: Duration) -> Result<(), String> {
        let deadline = Instant::now() + secs;
        let mut state = FinalState::default();
        let r = Some(self.spec.n);
        // Resolve siblings: read every key with R = N through the partition-aware client and
        // write the union back with the read's context.
        if let Some(cluster) = &self.cluster {
            for k in 0..self.spec.workload.keys {
                let key = workload::key_name(k);
                let mut merged = false;
                for _ in 0..5 {
                    let Ok(read) = cluster.get_with(BUCKET, &key, &GetOptions { r }).await else {
                        continue;
                    };
                    if read.siblings.len() <= 1 {
                        merged = true;
                        break;
                    }
                    state.sibling_keys += 1;
                    let (set, _) = workload::union(read.values());
                    let options = PutOptions::with_context(read.context);
                    if cluster
                        .put(BUCKET, &key, workload::encode_set(&set), &options)
                        .await
                        .is_ok()
                    {
                        merged = true;
                        break;
                    }
                }
                if !merged {
                    state.merge_failures += 1;
                }
            }
        }
        // Read every key through every node until a pass repairs nothing.
        let clients: Vec<Client> = self.nodes.iter().map(|(_, c)| c.clone()).collect();
        loop {
            let before = self.repairs(&clients).await;
            let mut keys = Vec::new();
            let mut all_read = true;
            for k in 0..self.spec.workload.keys {
                let key = workload::key_name(k);
                let mut reads = Vec::new();
                for (id, client) in &self.nodes {
                    let mut read = NodeRead {
                        node: id.clone(),
                        ..NodeRead::default()
                    };
                    match client.get_with(BUCKET, &key, &GetOptions { r }).await {
                        Ok(object) => {
                            read.siblings = u32::try_from(object.siblings.len()).unwrap_or(0);
                            let (set, bad) = workload::union(object.values());
                            read.elements = set;
                            read.bad_values = bad;
                        }
                        Err(e) => {
                            all_read = false;
                            read.error = Some(e.to_string());
                        }
                    }
                    reads.push(read);
                }
                keys.push(FinalKey { key: k, reads });
            }
            let after = self.repairs(&clients).await;
            let repairs = match (before, after) {
                (Some(b), Some(a)) => a.saturating_sub(b),
                _ => {
                    all_read = false;
                    u64::MAX
                }
            };
            state.passes += 1;
            if state.passes == 1 {
                state.repairs_first_pass = repairs;
            }
            state.repairs_last_pass = repairs;
            let same = keys.iter().all(|k| {
                k.reads
                    .windows(2)
                    .all(|w| w[0].elements == w[1].elements && w[0].siblings == w[1].siblings)
            });
            state.keys = keys;
            state.converged = all_read && repairs == 0 && same;
            if state.converged || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let text = serde_json::to_string(&state).map_err(|e| e.to_string())?;
        std::fs::write(&self.spec.final_path, text)
            .map_err(|e| format!("{}: {e}", self.spec.final_path.display()))?;
        Ok(())
    }

    /// Read repairs made by the nodes so far (`None` when one did not answer).
    async fn repairs(&self, clients: &[Client]) -> Option<u64> {
        let mut total = 0;
        for c in clients {
            let stats = c.stats().await.ok()?;
            total += stats["metrics"]["read_repairs"].as_u64()?;
        }
        Some(total)
    }
}

fn agent_error(spec: &AgentSpec, message: String) -> FaultsError {
    FaultsError::Agent {
        agent: spec.workload.agent,
        message,
    }
}

/// Writes every record from `rx` to `path` as JSON lines until the senders are gone.
fn write_ops(path: &Path, mut rx: mpsc::UnboundedReceiver<Op>) -> Result<()> {
    let file = std::fs::File::create(path).map_err(FaultsError::io(path))?;
    let mut out = std::io::BufWriter::new(file);
    while let Some(op) = rx.blocking_recv() {
        let line = serde_json::to_string(&op).map_err(|source| FaultsError::Json {
            what: "a record".to_owned(),
            source,
        })?;
        writeln!(out, "{line}").map_err(FaultsError::io(path))?;
    }
    out.flush().map_err(FaultsError::io(path))
}

/// The harness's side of an agent: the child process, its standard input, and its replies.
#[derive(Debug)]
pub struct AgentHandle {
    /// The agent's number.
    pub agent: u8,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    replies: std_mpsc::Receiver<String>,
}

impl AgentHandle {
    /// Starts `exe agent --spec spec_path` inside namespace `ns`; its standard error goes to
    /// `log_path`.
    ///
    /// # Errors
    /// The process cannot start.
    pub fn spawn(
        agent: u8,
        exe: &Path,
        ns: &str,
        spec_path: &Path,
        log_path: &Path,
    ) -> Result<AgentHandle> {
        let log = std::fs::File::create(log_path).map_err(FaultsError::io(log_path))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .arg("agent")
            .arg("--spec")
            .arg(spec_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| FaultsError::Agent {
                agent,
                message: format!("cannot start {}: {e}", exe.display()),
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (tx, replies) = std_mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(AgentHandle {
            agent,
            child: Some(child),
            stdin,
            replies,
        })
    }

    /// Sends `command` and waits up to `timeout` for its reply.
    ///
    /// # Errors
    /// The agent is gone, did not answer in time, or answered something that does not decode.
    pub fn call(&mut self, command: &str, timeout: Duration) -> Result<Reply> {
        let agent = self.agent;
        let stdin = self.stdin.as_mut().ok_or(FaultsError::Agent {
            agent,
            message: "already stopped".to_owned(),
        })?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| FaultsError::Agent {
                agent,
                message: format!("sending {command:?}: {e}"),
            })?;
        let line = self
            .replies
            .recv_timeout(timeout)
            .map_err(|e| FaultsError::Agent {
                agent,
                message: format!("no reply to {command:?} within {timeout:?}: {e}"),
            })?;
        serde_json::from_str(&line).map_err(|source| FaultsError::Json {
            what: format!("agent {agent}'s reply {line:?}"),
            source,
        })
    }

    /// [`call`](Self::call), and a reply that is not `ok` as an error.
    ///
    /// # Errors
    /// As [`call`](Self::call), and [`FaultsError::Agent`] with the agent's reason.
    pub fn call_ok(&mut self, command: &str, timeout: Duration) -> Result<Reply> {
        let reply = self.call(command, timeout)?;
        if reply.ok {
            Ok(reply)
        } else {
            Err(FaultsError::Agent {
                agent: self.agent,
                message: format!("{command}: {}", reply.error.as_deref().unwrap_or("failed")),
            })
        }
    }

    /// Tells the agent to quit and waits for it (killed after 10 s).
    pub fn quit(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "quit");
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.quit();
    }
}
