//! The nodes: `dynamo node` processes, each started with `ip netns exec <its namespace>` on a
//! configuration file the harness writes (its own address, the founders, the cluster secret,
//! a bootstrap admin key), and the signals the nemesis sends them.
//!
//! `ip netns exec` enters the namespace and executes the command in place, so the child's pid
//! is the node's: SIGSTOP, SIGCONT and SIGKILL reach the node itself. Every node runs with
//! `--stop-on-stdin-eof` and the harness holds its standard input: dropping a [`NodeProc`]
//! stops the node cleanly (SIGKILL if it does not stop in time), and a node whose harness died
//! stops by itself.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{FaultsError, Result};

/// The HTTP port of every node (each node has an address of its own).
pub const HTTP_PORT: u16 = 8000;
/// The peer port of every node.
pub const PEER_PORT: u16 = 9000;

/// How long a node may take to report that it listens.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a node may take to stop cleanly before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// What every node of a cluster shares.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The `dynamo` executable.
    pub dynamo: PathBuf,
    /// The cluster secret (64 hex digits).
    pub secret: String,
    /// The bootstrap admin key, `id:<digest hex>`.
    pub admin_key: String,
    /// The storage engine.
    pub engine: String,
    /// Replicas, read and write quorums.
    pub n: u8,
    /// Read quorum.
    pub r: u8,
    /// Write quorum.
    pub w: u8,
    /// Every node: id and address, in order.
    pub members: Vec<(String, Ipv4Addr)>,
}

/// Counts the `listening` lines a node printed (one per start), to wait for a (re)start.
#[derive(Debug, Default)]
struct Starts {
    count: Mutex<usize>,
    changed: Condvar,
}

/// One node process (and its restarts).
#[derive(Debug)]
pub struct NodeProc {
    /// The node id.
    pub id: String,
    /// Its namespace.
    pub ns: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its data directory.
    pub data_dir: PathBuf,
    config: PathBuf,
    log_path: PathBuf,
    dynamo: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    reader: Option<JoinHandle<()>>,
    starts: Arc<Starts>,
    paused: bool,
}

impl NodeProc {
    /// Writes node `index`'s configuration under `dir` and starts it in namespace `ns`;
    /// returns once it reported its listeners. Its log goes to `log_path`.
    ///
    /// # Errors
    /// The configuration cannot be written, the process does not start or exits early.
    pub fn start(
        spec: &ClusterSpec,
        index: usize,
        ns: &str,
        dir: &Path,
        log_path: &Path,
    ) -> Result<NodeProc> {
        let (id, ip) = spec
            .members
            .get(index)
            .cloned()
            .ok_or_else(|| FaultsError::Config(format!("no node {index}")))?;
        let node_dir = dir.join(&id);
        let data_dir = node_dir.join("data");
        std::fs::create_dir_all(&data_dir).map_err(FaultsError::io(&data_dir))?;
        let config = node_dir.join("node.toml");
        let text = node_config(spec, &id, ip, &data_dir)?;
        std::fs::write(&config, text).map_err(FaultsError::io(&config))?;
        let mut node = NodeProc {
            id,
            ns: ns.to_owned(),
            ip,
            data_dir,
            config,
            log_path: log_path.to_owned(),
            dynamo: spec.dynamo.clone(),
            child: None,
            stdin: None,
            reader: None,
            starts: Arc::new(Starts::default()),
            paused: false,
        };
        node.launch()?;
        Ok(node)
    }

    /// The node's HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}:{HTTP_PORT}", self.ip)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs (paused or not).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn launch(&mut self) -> Result<()> {
        let before = *self.starts.count.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(FaultsError::io(&self.log_path))?;
        let _ = writeln!(log, "----- harness: starting {} -----", self.id);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&self.dynamo)
            .arg("node")
            .arg("--config")
            .arg(&self.config)
            .arg("--stop-on-stdin-eof")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| FaultsError::Node {
                node: self.id.clone(),
                message: format!("cannot start {}: {e}", self.dynamo.display()),
            })?;
        self.stdin = child.stdin.take();
        let stderr = child.stderr.take();
        let starts = Arc::clone(&self.starts);
        self.reader = Some(std::thread::spawn(move || {
            let Some(stderr) = stderr else { return };
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.contains(" listening ") || line.ends_with(" listening") {
                    let mut count = starts.count.lock().unwrap_or_else(|e| e.into_inner());
                    *count += 1;
                    starts.changed.notify_all();
                }
            }
        }));
        self.child = Some(child);
        self.paused = false;
        // Wait for this start's `listening` line, or the process's end.
        let deadline = Instant::now() + START_DEADLINE;
        let mut count = self.starts.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count <= before {
            let now = Instant::now();
            if now >= deadline {
                return Err(FaultsError::Timeout {
                    what: format!("node {} to listen", self.id),
                    after: START_DEADLINE,
                });
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            count = self
                .starts
                .changed
                .wait_timeout(count, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(FaultsError::Node {
                    node: self.id.clone(),
                    message: format!(
                        "exited ({status}) while starting; see {}",
                        self.log_path.display()
                    ),
                });
            }
        }
        Ok(())
    }

    fn signal(&self, signal: rustix::process::Signal) -> Result<()> {
        let pid = self
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| FaultsError::Node {
                node: self.id.clone(),
                message: "not running".to_owned(),
            })?;
        rustix::process::kill_process(pid, signal).map_err(|e| FaultsError::Node {
            node: self.id.clone(),
            message: format!("signal {signal:?}: {e}"),
        })
    }

    /// SIGSTOP: the node stops running (its sockets stay open, the kernel still accepts
    /// connections for it).
    ///
    /// # Errors
    /// The node does not run.
    pub fn pause(&mut self) -> Result<()> {
        self.signal(rustix::process::Signal::STOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT after [`pause`](Self::pause).
    ///
    /// # Errors
    /// The node does not run.
    pub fn resume(&mut self) -> Result<()> {
        self.signal(rustix::process::Signal::CONT)?;
        self.paused = false;
        Ok(())
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stdin = None;
        self.paused = false;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// Deletes the node's data directory (the node must be stopped) and makes it again, empty.
    ///
    /// # Errors
    /// The directory cannot be removed or made.
    pub fn wipe(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Err(FaultsError::Node {
                node: self.id.clone(),
                message: "wiping the data of a running node".to_owned(),
            });
        }
        std::fs::remove_dir_all(&self.data_dir).map_err(FaultsError::io(&self.data_dir))?;
        std::fs::create_dir_all(&self.data_dir).map_err(FaultsError::io(&self.data_dir))?;
        Ok(())
    }

    /// Starts the process again on the same configuration and data directory.
    ///
    /// # Errors
    /// As [`NodeProc::start`].
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.kill();
        }
        self.launch()
    }

    /// Stops the node cleanly (resumes it first if paused), SIGKILL after a deadline.
    pub fn stop(&mut self) {
        if self.paused {
            let _ = self.resume();
        }
        self.stdin = None;
        let deadline = Instant::now() + STOP_DEADLINE;
        while let Some(child) = self.child.as_mut() {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                }
                Ok(None) if Instant::now() >= deadline => self.kill(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The configuration file of node `id` at `ip`.
fn node_config(spec: &ClusterSpec, id: &str, ip: Ipv4Addr, data_dir: &Path) -> Result<String> {
    let config = dynamo_server::ServerConfig {
        node_id: id.to_owned(),
        http_addr: format!("{ip}:{HTTP_PORT}"),
        peer_addr: format!("{ip}:{PEER_PORT}"),
        cluster_secret: Some(spec.secret.clone()),
        auth: "on".to_owned(),
        admin_keys: vec![spec.admin_key.clone()],
        data_dir: Some(data_dir.to_owned()),
        engine: Some(spec.engine.clone()),
        members: spec
            .members
            .iter()
            .map(|(id, ip)| format!("{id}@{ip}:{PEER_PORT}"))
            .collect(),
        n: Some(spec.n),
        r: Some(spec.r),
        w: Some(spec.w),
        ..dynamo_server::ServerConfig::default()
    };
    config.validate().map_err(|e| FaultsError::Node {
        node: id.to_owned(),
        message: format!("configuration: {e}"),
    })?;
    config.to_toml().map_err(|e| FaultsError::Node {
        node: id.to_owned(),
        message: format!("configuration: {e}"),
    })
}

/// Appends `text` to the file at `path` (best effort: a log line).
pub fn append(path: &Path, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{text}");
    }
}

/// Creates (truncates) the file at `path`.
///
/// # Errors
/// It cannot be created.
pub fn create_file(path: &Path) -> Result<File> {
    File::create(path).map_err(FaultsError::io(path))
}
