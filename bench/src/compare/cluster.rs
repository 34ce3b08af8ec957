//! Starting and stopping the systems under test, and what the runs need to know of them: the
//! addresses `loadgen` connects to, the pids of the processes that serve them (for CPU per
//! operation), and where their data lives (for disk use).
//!
//! Two kinds of cluster:
//!
//! * ours: `dynamo up` as a child process; its nodes are *its* children (`dynamo node`), found
//!   through `/proc/<pid>/task/*/children` once every node answers `/ping`. Stopping sends
//!   SIGTERM to `up` (which stops its nodes cleanly); if `up` dies anyway, the nodes stop by
//!   themselves, as they stop when the pipe `up` holds to them closes.
//! * peers: an `…-up.sh DIR PORT` script of `bench/peers/`, which starts the processes in the
//!   background and writes `DIR/pids`, `DIR/ports` and `DIR/store-ports` (the redis servers
//!   behind it); stopping runs `…-down.sh DIR`.
//!
//! A [`Cluster`] stops its system when dropped (on an error, a panic or Ctrl-C too).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{CompareError, CompareResult, http};

/// How long a cluster may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long `dynamo up` may take to stop its nodes after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

/// A running system under test.
#[derive(Debug)]
pub struct Cluster {
    /// Its name in messages, e.g. `ours lsm`.
    pub name: String,
    /// The addresses `loadgen --nodes` takes: `http://127.0.0.1:8001` for ours,
    /// `127.0.0.1:22110` (RESP) for the peers.
    pub nodes: Vec<String>,
    /// The HTTP addresses of our nodes (empty for the peers).
    pub http: Vec<SocketAddr>,
    /// The binary-protocol addresses of our nodes, `127.0.0.1:7001` (empty for the peers and
    /// for a cluster started without them).
    pub binary: Vec<String>,
    /// The processes serving it: our `dynamo node` processes; every dynomite and redis process.
    pub pids: Vec<u32>,
    /// The directory holding its data, whose disk use is reported after each run (ours only:
    /// the peers keep their data in memory).
    pub data_dir: Option<PathBuf>,
    /// The redis servers holding a peer's data, emptied by [`Cluster::flush_stores`] (empty
    /// for ours).
    pub store_ports: Vec<u16>,
    how: Running,
}

/// How a cluster is stopped.
#[derive(Debug)]
enum Running {
    /// `dynamo up`, a child of this process.
    Up(Child),
    /// Started by a script; stopped by `down DIR`.
    Script { down: PathBuf, dir: PathBuf },
    /// Stopped already.
    Stopped,
}

/// The settings of one of our clusters.
#[derive(Debug, Clone)]
pub struct UpSpec<'a> {
    /// The `dynamo` executable.
    pub dynamo: &'a Path,
    /// The cluster's name in messages.
    pub name: String,
    /// Number of nodes.
    pub nodes: u16,
    /// Storage engine.
    pub engine: &'a str,
    /// Directory of the nodes' data directories (created if missing).
    pub data_dir: PathBuf,
    /// HTTP port of the first node; the others follow.
    pub http_port: u16,
    /// Peer port of the first node; the others follow.
    pub peer_port: u16,
    /// Binary-protocol port of the first node, the others following; `None` leaves the
    /// flag out (a `dynamo` from before the binary protocol).
    pub binary_port: Option<u16>,
    /// File receiving the output of `up` and its nodes.
    pub log: PathBuf,
    /// Shards per node (`dynamo up --shards N`); `None` leaves the flag out (a `dynamo`
    /// without it, or the server's default).
    pub shards: Option<u32>,
}

impl Cluster {
    /// Starts `dynamo up` as `spec` says and waits until every node answers `/ping`.
    ///
    /// # Errors
    /// [`CompareError::Start`] when it cannot be spawned, exits, or does not answer in time
    /// (with the end of its log).
    pub fn start_ours(spec: &UpSpec<'_>) -> CompareResult<Cluster> {
        std::fs::create_dir_all(&spec.data_dir).map_err(CompareError::io(format!(
            "create {}",
            spec.data_dir.display()
        )))?;
        let log = File::create(&spec.log)
            .map_err(CompareError::io(format!("create {}", spec.log.display())))?;
        let log_err = log
            .try_clone()
            .map_err(CompareError::io("duplicate a log file handle"))?;
        let mut command = Command::new(spec.dynamo);
        if let Some(port) = spec.binary_port {
            command.arg("up").arg("--binary-port").arg(port.to_string());
        } else {
            command.arg("up");
        }
        if let Some(shards) = spec.shards {
            command.arg("--shards").arg(shards.to_string());
        }
        let child = command
            .arg("--nodes")
            .arg(spec.nodes.to_string())
            .arg("--engine")
            .arg(spec.engine)
            .arg("--data-dir")
            .arg(&spec.data_dir)
            .arg("--http-port")
            .arg(spec.http_port.to_string())
            .arg("--peer-port")
            .arg(spec.peer_port.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| CompareError::Start {
                system: spec.name.clone(),
                reason: format!("cannot run {}: {e}", spec.dynamo.display()),
            })?;
        let http: Vec<SocketAddr> = (0..spec.nodes)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], spec.http_port + i)))
            .collect();
        let mut cluster = Cluster {
            name: spec.name.clone(),
            nodes: http.iter().map(|a| format!("http://{a}")).collect(),
            http: http.clone(),
            binary: spec
                .binary_port
                .map(|first| {
                    (0..spec.nodes)
                        .map(|i| format!("127.0.0.1:{}", first + i))
                        .collect()
                })
                .unwrap_or_default(),
            pids: Vec::new(),
            data_dir: Some(spec.data_dir.clone()),
            store_ports: Vec::new(),
            how: Running::Up(child),
        };
        let failed = |reason: String| CompareError::Start {
            system: spec.name.clone(),
            reason: format!(
                "{reason}; the end of {}:\n{}",
                spec.log.display(),
                tail(&spec.log)
            ),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        for &addr in &http {
            while !http::ping(addr) {
                if let Running::Up(child) = &mut cluster.how
                    && let Ok(Some(status)) = child.try_wait()
                {
                    cluster.how = Running::Stopped;
                    return Err(failed(format!("dynamo up exited ({status})")));
                }
                if Instant::now() >= deadline {
                    return Err(failed(format!("{addr} did not answer /ping in time")));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        if let Running::Up(child) = &cluster.how {
            cluster.pids = child_pids(child.id()).map_err(CompareError::io(format!(
                "list the children of {}",
                child.id()
            )))?;
        }
        if cluster.pids.len() != usize::from(spec.nodes) {
            return Err(failed(format!(
                "dynamo up has {} child processes, not {} nodes",
                cluster.pids.len(),
                spec.nodes
            )));
        }
        Ok(cluster)
    }

    /// Runs the script `up DIR PORT` (with `env` added to its environment), which starts a
    /// system in the background and writes `DIR/pids` and `DIR/ports`; the cluster is stopped
    /// with `down DIR`.
    ///
    /// # Errors
    /// [`CompareError::Start`] when the script fails or its files are missing or malformed.
    pub fn start_script(
        name: &str,
        up: &Path,
        down: &Path,
        dir: &Path,
        port: u16,
        env: &[(&str, &Path)],
    ) -> CompareResult<Cluster> {
        std::fs::create_dir_all(dir)
            .map_err(CompareError::io(format!("create {}", dir.display())))?;
        let failed = |reason: String| CompareError::Start {
            system: name.to_owned(),
            reason,
        };
        let mut command = Command::new("bash");
        command
            .arg(up)
            .arg(dir)
            .arg(port.to_string())
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command
            .output()
            .map_err(|e| failed(format!("cannot run {}: {e}", up.display())))?;
        // From here on, whatever started is stopped on drop.
        let mut cluster = Cluster {
            name: name.to_owned(),
            nodes: Vec::new(),
            http: Vec::new(),
            binary: Vec::new(),
            pids: Vec::new(),
            data_dir: None,
            store_ports: Vec::new(),
            how: Running::Script {
                down: down.to_owned(),
                dir: dir.to_owned(),
            },
        };
        if !output.status.success() {
            return Err(failed(format!(
                "{} failed ({}): {}",
                up.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .map_err(|e| failed(format!("cannot read {}: {e}", dir.join(file).display())))
        };
        cluster.pids = parse_numbers(&read("pids")?)
            .ok_or_else(|| failed(format!("malformed {}", dir.join("pids").display())))?;
        let ports: Vec<u16> = parse_numbers(&read("ports")?)
            .ok_or_else(|| failed(format!("malformed {}", dir.join("ports").display())))?;
        cluster.nodes = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        cluster.store_ports = parse_numbers(&read("store-ports")?)
            .ok_or_else(|| failed(format!("malformed {}", dir.join("store-ports").display())))?;
        if cluster.pids.is_empty() || cluster.nodes.is_empty() {
            return Err(failed(format!("no pids or ports in {}", dir.display())));
        }
        Ok(cluster)
    }

    /// Bytes the cluster's data directory takes on disk (`None` for the peers).
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn disk_bytes(&self) -> CompareResult<Option<u64>> {
        match &self.data_dir {
            Some(dir) => disk_bytes(dir)
                .map(Some)
                .map_err(CompareError::io(format!("measure {}", dir.display()))),
            None => Ok(None),
        }
    }

    /// Empties the redis servers behind a peer (`FLUSHALL` on each), so that a run starts from
    /// an empty database, as `loadgen --verify` over RESP needs. Does nothing for ours.
    ///
    /// # Errors
    /// When a server cannot be reached or does not answer `+OK`.
    pub fn flush_stores(&self) -> CompareResult<()> {
        for &port in &self.store_ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let answer = resp_command(addr, &["FLUSHALL"])
                .map_err(CompareError::io(format!("FLUSHALL on redis at {addr}")))?;
            if answer != "+OK" {
                return Err(CompareError::io(format!("FLUSHALL on redis at {addr}"))(
                    std::io::Error::other(format!("answered {answer:?}")),
                ));
            }
        }
        Ok(())
    }

    /// Stops the cluster and waits for its processes to exit. Doing it again does nothing.
    ///
    /// # Errors
    /// When a stop script fails, or `dynamo up` had to be killed.
    pub fn stop(&mut self) -> CompareResult<()> {
        match std::mem::replace(&mut self.how, Running::Stopped) {
            Running::Stopped => Ok(()),
            Running::Up(child) => stop_up(&self.name, child, &self.pids),
            Running::Script { down, dir } => {
                let output = Command::new("bash")
                    .arg(&down)
                    .arg(&dir)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(CompareError::io(format!("run {}", down.display())))?;
                if output.status.success() {
                    Ok(())
                } else {
                    Err(CompareError::Io {
                        what: format!("{} {}", down.display(), dir.display()),
                        source: std::io::Error::other(format!(
                            "{}: {}",
                            output.status,
                            String::from_utf8_lossy(&output.stderr).trim()
                        )),
                    })
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("cluster-compare: stopping {}: {e}", self.name);
        }
    }
}

/// Sends SIGTERM to `dynamo up` (through the `kill` command: this crate has no `unsafe` code
/// for `kill(2)`), waits for it and for its nodes to exit, and kills `up` if it takes too long
/// (its nodes then stop by themselves when their standard input closes).
fn stop_up(name: &str, mut child: Child, nodes: &[u32]) -> CompareResult<()> {
    let signalled = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now()
        + if signalled {
            STOP_TIMEOUT
        } else {
            Duration::ZERO
        };
    let mut killed = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            _ => {
                killed = true;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    // The nodes exit right after `up` (or, if `up` was killed, once they see their input close).
    let deadline = Instant::now() + STOP_TIMEOUT;
    while nodes.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<u32> = nodes.iter().copied().filter(|&pid| alive(pid)).collect();
    if killed || !left.is_empty() {
        return Err(CompareError::Io {
            what: format!("stop {name}"),
            source: std::io::Error::other(format!(
                "dynamo up {}; nodes still running: {left:?}",
                if killed {
                    "had to be killed"
                } else {
                    "stopped"
                }
            )),
        });
    }
    Ok(())
}

/// Sends one command to a RESP server and returns the first line of its answer (without the
/// CRLF): `+OK`, `-ERR ...`.
fn resp_command(addr: SocketAddr, words: &[&str]) -> std::io::Result<String> {
    use std::io::{BufRead as _, BufReader, Write as _};
    let timeout = Duration::from_secs(10);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

/// True while process `pid` exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The pids of the children of process `pid`, from `/proc/<pid>/task/*/children`.
///
/// # Errors
/// When `/proc/<pid>/task` cannot be read (the process is gone, or this is not Linux).
pub fn child_pids(pid: u32) -> std::io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let text = std::fs::read_to_string(task?.path().join("children")).unwrap_or_default();
        pids.extend(parse_numbers::<u32>(&text).unwrap_or_default());
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// The numbers in `text`, separated by whitespace; `None` if a word is not one.
fn parse_numbers<T: std::str::FromStr>(text: &str) -> Option<Vec<T>> {
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// Bytes the files under `dir` take on disk (allocated blocks, so a sparse file counts what
/// it uses, not its length). Files that vanish while it looks are skipped.
///
/// # Errors
/// When `dir` itself cannot be read.
pub fn disk_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    let mut first = true;
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.blocks() * 512;
            }
        }
    }
    Ok(total)
}

/// The last 20 lines of the file at `path` (or why it cannot be read).
fn tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(e) => format!("({e})"),
    }
}

/// Hands out blocks of consecutive free TCP ports on 127.0.0.1, each after the previous one.
#[derive(Debug)]
pub struct Ports {
    next: u16,
}

impl Ports {
    /// Starts looking at `first`.
    pub fn from(first: u16) -> Ports {
        Ports { next: first }
    }

    /// The first port of `len` consecutive ports that can all be bound now.
    ///
    /// # Errors
    /// [`CompareError::NoPorts`] when none is found below 65,000.
    pub fn block(&mut self, len: u16) -> CompareResult<u16> {
        let mut base = self.next;
        while let Some(end) = base.checked_add(len).filter(|&end| end <= 65_000) {
            match (base..end).find(|&p| TcpListener::bind(("127.0.0.1", p)).is_err()) {
                None => {
                    self.next = end;
                    return Ok(base);
                }
                Some(taken) => base = taken + 1,
            }
        }
        Err(CompareError::NoPorts(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_or_refuse() {
        assert_eq!(parse_numbers::<u32>("12\n34 56\n"), Some(vec![12, 34, 56]));
        assert_eq!(parse_numbers::<u32>(""), Some(vec![]));
        assert_eq!(parse_numbers::<u32>("12 x"), None);
    }

    #[test]
    fn port_blocks_do_not_overlap_and_skip_taken_ports() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let mut ports = Ports::from(taken);
        let a = ports.block(3).unwrap();
        assert!(a > taken);
        let b = ports.block(2).unwrap();
        assert!(b >= a + 3);
    }

    #[test]
    fn disk_use_counts_files_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/f"), vec![1u8; 100_000]).unwrap();
        let bytes = disk_bytes(dir.path()).unwrap();
        assert!(bytes >= 100_000, "{bytes}");
        assert!(disk_bytes(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn this_process_is_alive() {
        assert!(alive(std::process::id()));
    }
}
