//! The shard tasks: the drivers that feed the node's sans-IO shards ([`Node`]s, see
//! `dynamo_core::node::shard`) and carry out their outputs.
//!
//! A node runs one task per shard, each with its own queue and address book;
//! what follows holds for each. The control shard's views go to every follower, and the
//! followers' reports to control, on the shards' unbounded queues; a message a shard sends
//! to its own node goes to the shard it is for.
//!
//! The node runs as one task on the tokio runtime, beside the HTTP handlers and the peer
//! transport that talk to it through its command queue ([`NodeHandle`](crate::NodeHandle)):
//! a request, a peer message and their answers pass between tasks, most often on the same
//! worker thread, instead of waking another thread for every message (an earlier node thread
//! spent a third of its time in thread switches). The storage work that may block for long —
//! the commits, an fsync each — runs on the node's *commit thread* (`committer`, shared by
//! its shards): a shard hands each [`Commit`](dynamo_core::node::Commit) to it, keeps
//! serving meanwhile, and learns the outcome through its own queue ([`Command::Committed`],
//! fed as [`Input::Committed`]), then answers with its next commit or a pass, so that the
//! shards' commits share their syncs. A shard has at most one commit in flight; what arrives
//! meanwhile is staged for the next, so the fsyncs of a busy node each cover many writes.
//! Point reads stay on the node task (a memtable or page-cache lookup).
//!
//! The loop:
//!
//! 1. wait for a [`Command`] until the node's next deadline;
//! 2. feed it, then every other command already waiting (up to [`MAX_BATCH`]): writes that
//!    arrived together are staged together and share one group commit;
//! 3. tick when the deadline has come (timeouts, gossip, handoff, anti-entropy, and the group
//!    commit of what is staged);
//! 4. after every input, drain the outputs: `Send` → the peer transport (the address from the
//!    cluster state, else from the driver's address book of hellos and admin seeds),
//!    `Reply` → the request's [`Reply`] (a oneshot, or a binary connection's queue),
//!    `Event` → a log line and metrics, `Commit` → the commit thread;
//! 5. yield to the runtime's other tasks.
//!
//! Time is wall-clock milliseconds since the UNIX epoch taken once at start, advanced by a
//! monotonic clock: the node sees real dates (its epoch logic compares them across restarts)
//! and never sees time go back.
//!
//! Logs: `info` for what an operator wants to see (members joining or leaving, rings, peers
//! down and up, hints delivered, transfer progress, keys repaired), `warn`/`error` for
//! corruption and storage failures, `debug` for the rest.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dynamo_core::membership::MembershipChange;
use dynamo_core::node::shard::route_message;
use dynamo_core::node::{Input, Node, NodeConfig, NodeError, NodeEvent, Output, Shard};
use dynamo_core::proto::{ClientId, PeerMessage};
use dynamo_core::{NodeId, Timestamp};
use engine_any::AnyEngine;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{Receiver, UnboundedReceiver, WeakSender};
use tokio::sync::oneshot;

use crate::auth::KeyTable;
use crate::committer::Committer;
use crate::handle::{Command, NodeHandle, Reply, ServerNode, ShardLinks, ShardQueues};
use crate::metrics::Metrics;
use crate::transport::Outgoing;

/// Most commands fed between two deadline checks, so that a flood of requests cannot delay
/// a group commit or a timeout for long.
pub const MAX_BATCH: usize = 1_024;

/// At most one `info` line about transfer progress per this interval (the others are
/// `debug`).
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(2);

/// How long a stopping node waits for the commit in flight to finish before it gives up on
/// it (and stops without marking its epoch clean).
const STOP_COMMIT_WAIT: Duration = Duration::from_secs(30);

/// Why the node thread could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The storage engine did not open.
    #[error("cannot open the storage engine")]
    Engine(#[from] engine_api::Error),
    /// The data directory holds another engine than the one configured.
    #[error("the data directory holds a {found} store but the configuration asks for {configured}")]
    EngineMismatch {
        /// The engine configured.
        configured: engine_any::Engine,
        /// The engine whose marker the directory holds.
        found: engine_any::Engine,
    },
    /// The node refused to start.
    #[error("the node refused to start")]
    Node(#[from] NodeError),
    /// The thread could not be spawned, or died before reporting.
    #[error("node thread: {0}")]
    Thread(String),
}

/// Wall-clock milliseconds at start plus monotonic time since.
#[derive(Debug)]
struct Clock {
    base_ms: u64,
    start: Instant,
    last: u64,
}

impl Clock {
    fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock {
            base_ms,
            start: Instant::now(),
            last: 0,
        }
    }

    fn now(&mut self) -> Timestamp {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last = self.last.max(self.base_ms.saturating_add(elapsed));
        Timestamp(self.last)
    }
}

/// The node task and the receiver of its start's outcome.
pub type Spawned = (
    tokio::task::JoinHandle<()>,
    oneshot::Receiver<Result<(), StartError>>,
);

/// Starts the node's shard tasks on the current runtime: opens the engine with `open` and
/// builds the shards — the control shard first, each follower from its view — on the
/// runtime's blocking pool (opening a store reads it), then runs one loop per shard over
/// its `queues`, with the node's one commit thread, which reports into each shard's queue.
/// `config.shard.count` shards are started (`handle` and `queues` must be made for as many).
/// Returns a task that ends when every shard stopped, and a receiver of the start's outcome
/// (the task ends after reporting an error).
///
/// # Errors
/// [`StartError::Thread`] when the task cannot be started (no runtime).
#[allow(clippy::too_many_arguments)]
pub fn spawn<F>(
    config: NodeConfig,
    open: F,
    queues: Vec<ShardQueues>,
    handle: NodeHandle,
    outgoing: Outgoing,
    connections: PeerConnections,
    metrics: Arc<Metrics>,
    keys: KeyTable,
) -> Result<Spawned, StartError>
where
    F: FnOnce() -> Result<AnyEngine, StartError> + Send + 'static,
{
    let runtime =
        tokio::runtime::Handle::try_current().map_err(|e| StartError::Thread(e.to_string()))?;
    let (ready_tx, ready_rx) = oneshot::channel();
    let span = tracing::info_span!("node", id = %config.id);
    let count = config.shard.count;
    if queues.len() != usize::from(count) || handle.shard_count() != count {
        return Err(StartError::Thread(format!(
            "{count} shards configured but {} queues made",
            queues.len()
        )));
    }
    let task = runtime.spawn(tracing::Instrument::instrument(
        async move {
            let weak: Vec<Option<WeakSender<Command>>> =
                (0..count).map(|i| handle.weak_sender(i)).collect();
            let opening = tokio::task::spawn_blocking(move || {
                let mut clock = Clock::new();
                let engine = Arc::new(open()?);
                let now = clock.now();
                let mut started = Vec::with_capacity(usize::from(count));
                let mut first = config.clone();
                first.shard = Shard::new(0, count);
                let control = Node::new(first, Arc::clone(&engine), now)?;
                let view = control.shard_view();
                started.push(control);
                for index in 1..count {
                    let mut c = config.clone();
                    c.shard = Shard::new(index, count);
                    started.push(Node::new_follower(
                        c,
                        Arc::clone(&engine),
                        now,
                        Arc::clone(&view),
                    )?);
                }
                let weak = weak
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| StartError::Thread("no queue for a shard".into()))?;
                let committer = Committer::spawn(Arc::clone(&engine), weak)?;
                let mut shards = Vec::with_capacity(started.len());
                for node in started {
                    let index = node.shard().index;
                    shards.push((node, committer.share(index)));
                }
                drop(committer);
                Ok((shards, clock))
            })
            .await
            .unwrap_or_else(|e| Err(StartError::Thread(e.to_string())));
            let (shards, clock) = match opening {
                Ok(started) => started,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            if let Some((control, _)) = shards.first() {
                tracing::info!(
                    engine = %control.engine().kind(),
                    members = control.membership().state().members().len(),
                    shards = count,
                    "node started"
                );
            }
            let mut drivers = Vec::with_capacity(shards.len());
            let shared = Arc::new(std::sync::Mutex::new(outgoing.sibling()));
            for ((node, committer), queues) in shards.into_iter().zip(queues) {
                drivers.push(Driver {
                    index: node.shard().index,
                    node,
                    commands: queues.commands,
                    internal: queues.internal,
                    committer,
                    owes_commit_answer: false,
                    links: handle.links(),
                    outgoing: match connections {
                        PeerConnections::PerShard => PeerSender::Own(outgoing.sibling()),
                        PeerConnections::PerNode => PeerSender::Shared(Arc::clone(&shared)),
                    },
                    metrics: Arc::clone(&metrics),
                    clock: Clock {
                        base_ms: clock.base_ms,
                        start: clock.start,
                        last: clock.last,
                    },
                    book: HashMap::new(),
                    waiting: HashMap::new(),
                    next_client: 0,
                    loopback: VecDeque::new(),
                    last_progress_log: None,
                    keys: keys.clone(),
                });
            }
            // The drivers hold weak links: this handle must not keep the queues open once
            // every outside handle is gone.
            drop(handle);
            drop(outgoing);
            drop(shared);
            for driver in &mut drivers {
                driver.drain();
            }
            let _ = ready_tx.send(Ok(()));
            let tasks: Vec<_> = drivers
                .into_iter()
                .map(|driver| {
                    let span = tracing::info_span!("shard", index = driver.index);
                    tokio::spawn(tracing::Instrument::instrument(driver.run(), span))
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        },
        span,
    ));
    Ok((task, ready_rx))
}

/// Whose connections a shard sends to its peers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerConnections {
    /// Each shard dials its own connection to each peer: no lock between shards, and each
    /// connection's encoding runs on its own task.
    PerShard,
    /// The shards share one connection to each peer (behind a lock): fewer connections,
    /// more messages per write.
    PerNode,
}

/// A shard's sending side (see [`PeerConnections`]).
enum PeerSender {
    Own(Outgoing),
    Shared(Arc<std::sync::Mutex<Outgoing>>),
}

impl PeerSender {
    fn send(&mut self, to: &NodeId, address: &str, message: PeerMessage) {
        match self {
            PeerSender::Own(o) => o.send(to, address, message),
            PeerSender::Shared(o) => {
                // A poisoned lock means another shard panicked while sending: the message
                // is dropped like any on a broken connection.
                if let Ok(mut o) = o.lock() {
                    o.send(to, address, message);
                }
            }
        }
    }
}

/// What feeding a command means for the loop.
enum Flow {
    Continue,
    /// Shut down, then answer (if asked through a command).
    Stop(Option<oneshot::Sender<bool>>),
}

struct Driver {
    /// This shard.
    index: u16,
    node: ServerNode,
    commands: Receiver<Command>,
    /// Views, reports and shutdown notes from the other shards (read first).
    internal: UnboundedReceiver<Command>,
    /// Routes to the node's other shards.
    links: ShardLinks,
    committer: Committer,
    /// The outcome of this shard's commit was fed and the commit thread has not heard since
    /// whether another one follows (see [`crate::committer`]).
    owes_commit_answer: bool,
    outgoing: PeerSender,
    metrics: Arc<Metrics>,
    clock: Clock,
    /// Peer addresses learned outside the cluster state (hellos, admin seeds).
    book: HashMap<NodeId, String>,
    /// Client requests awaiting their reply, by client id.
    waiting: HashMap<u64, Reply>,
    next_client: u64,
    /// Messages the node sent to itself.
    loopback: VecDeque<PeerMessage>,
    /// Where the cluster's access keys are published for the HTTP API.
    keys: KeyTable,
    last_progress_log: Option<Instant>,
}

impl Driver {
    async fn run(mut self) {
        loop {
            // Views and reports first: they change how the commands are handled.
            while let Ok(command) = self.internal.try_recv() {
                if let Flow::Stop(reply) = self.command(command) {
                    self.stop(reply).await;
                    return;
                }
            }
            let now = self.clock.now();
            let first = match self.node.next_deadline() {
                Some(deadline) if deadline <= now => match self.commands.try_recv() {
                    Ok(command) => Some(command),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => {
                        // Every handle is gone: stop as if asked.
                        self.stop(None).await;
                        return;
                    }
                },
                deadline => {
                    let wait = deadline.map_or(Duration::from_secs(3_600), |d| {
                        Duration::from_millis(d.0.saturating_sub(now.0))
                    });
                    tokio::select! {
                        Some(command) = self.internal.recv() => Some(command),
                        command = self.commands.recv() => match command {
                            Some(command) => Some(command),
                            None => {
                                self.stop(None).await;
                                return;
                            }
                        },
                        () = tokio::time::sleep(wait) => None,
                    }
                }
            };
            let mut fed = 0;
            let mut next = first;
            while let Some(command) = next {
                if let Flow::Stop(reply) = self.command(command) {
                    self.stop(reply).await;
                    return;
                }
                fed += 1;
                next = if fed < MAX_BATCH {
                    self.commands.try_recv().ok()
                } else {
                    None
                };
            }
            self.tick_if_due();
            if std::mem::take(&mut self.owes_commit_answer) {
                // Nothing was staged to commit: the commit thread's next round need not wait.
                self.committer.pass();
            }
            // Let the HTTP and peer tasks run (on a one-worker runtime they share the thread).
            tokio::task::yield_now().await;
        }
    }

    /// Ticks while the deadline has come (a tick may stage writes that need another).
    fn tick_if_due(&mut self) {
        for _ in 0..8 {
            let now = self.clock.now();
            match self.node.next_deadline() {
                Some(deadline) if deadline <= now => {
                    self.node.handle(now, Input::Tick);
                    self.drain();
                }
                _ => return,
            }
        }
    }

    fn command(&mut self, command: Command) -> Flow {
        match command {
            Command::Client { request, reply } => {
                if let Some(c) = self.metrics.shard_requests.shard(self.index) {
                    c.inc();
                }
                let id = self.next_client;
                self.next_client = self.next_client.wrapping_add(1);
                self.waiting.insert(id, reply);
                let now = self.clock.now();
                self.node.handle(
                    now,
                    Input::Client {
                        id: ClientId(id),
                        request,
                    },
                );
                self.drain();
            }
            Command::Peer { from, message } => {
                if let Some(c) = self.metrics.shard_peer_messages.shard(self.index) {
                    c.inc();
                }
                let now = self.clock.now();
                self.node.handle(now, Input::Peer { from, message });
                self.drain();
            }
            Command::Inspect(f) => f(&self.node),
            Command::Address { node, address } => {
                if !address.is_empty() {
                    self.book.insert(node, address);
                }
            }
            Command::Shutdown(reply) => return Flow::Stop(Some(reply)),
            Command::FollowerUnclean => self.node.follower_stopped_uncleanly(),
            Command::View(view) => {
                let now = self.clock.now();
                self.node.handle(now, Input::View(view));
                self.drain();
            }
            Command::Report(report) => {
                let now = self.clock.now();
                self.node.handle(now, Input::Report(report));
                self.drain();
            }
            Command::Committed { id, result } => self.committed(id, result),
        }
        Flow::Continue
    }

    /// Feeds the outcome of commit `id` from the commit thread.
    fn committed(&mut self, id: u64, result: Result<(), String>) {
        if let Err(e) = &result {
            tracing::error!(error = %e, commit = id, "group commit failed");
        }
        let now = self.clock.now();
        self.owes_commit_answer = true;
        self.node.handle(now, Input::Committed { id, result });
        self.drain();
    }

    /// Before stopping: waits (a bounded time) for the commit in flight, feeding its outcome,
    /// so that the node can stop cleanly. Other commands are dropped (their requests get
    /// `Stopped`).
    async fn finish_commit_in_flight(&mut self) {
        let deadline = Instant::now() + STOP_COMMIT_WAIT;
        while self.node.commit_in_flight() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.commands.recv()).await {
                Ok(Some(Command::Committed { id, result })) => self.committed(id, result),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        "stopping with a commit in flight: the next start opens a new epoch"
                    );
                    return;
                }
            }
        }
    }

    /// Commits what is pending, sends the last messages, closes the engine, then answers.
    async fn stop(mut self, reply: Option<oneshot::Sender<bool>>) {
        // A follower's unclean stop is noted before the control shard is asked to stop.
        while let Ok(command) = self.internal.try_recv() {
            if matches!(command, Command::FollowerUnclean) {
                self.node.follower_stopped_uncleanly();
            }
        }
        self.finish_commit_in_flight().await;
        let now = self.clock.now();
        if let Err(e) = self.node.shutdown(now) {
            self.metrics.storage_failures.inc();
            tracing::error!(error = %e, "clean shutdown failed (the next start opens a new epoch)");
        }
        self.drain();
        let clean = self.node.stopped_cleanly();
        let Driver {
            node,
            committer,
            outgoing,
            waiting,
            ..
        } = self;
        committer.stop();
        // Requests still waiting get `Stopped` as their senders drop.
        drop(waiting);
        // Closing the engine before answering: a restart on the same directory may follow.
        drop(node.into_engine());
        // The peer tasks write what is queued, then end.
        drop(outgoing);
        tracing::info!("shard stopped");
        if let Some(reply) = reply {
            let _ = reply.send(clean);
        }
    }

    /// Carries out every output the node has queued (and messages it sent to itself).
    fn drain(&mut self) {
        loop {
            while let Some(output) = self.node.poll_output() {
                match output {
                    Output::Send { to, message } => self.send(to, message),
                    Output::Reply { id, response } => {
                        if let Some(reply) = self.waiting.remove(&id.0) {
                            reply.send(response);
                        }
                    }
                    Output::Event(event) => self.event(event),
                    Output::Commit(commit) => {
                        self.owes_commit_answer = false;
                        if !self.committer.send(commit) {
                            tracing::error!("the commit thread is gone: writes cannot commit");
                        }
                    }
                    Output::View(view) => {
                        for shard in 1..self.links.count() {
                            self.links.internal(shard, Command::View(Arc::clone(&view)));
                        }
                    }
                    Output::Report(report) => self.links.internal(0, Command::Report(report)),
                }
            }
            let Some(message) = self.loopback.pop_front() else {
                self.publish_keys();
                return;
            };
            let now = self.clock.now();
            let me = self.node.id().clone();
            self.node.handle(now, Input::Peer { from: me, message });
        }
    }

    /// Publishes the cluster's access keys when they changed (a key made or revoked here,
    /// or learned by gossip). Comparing the few keys a cluster has costs less than a lookup.
    fn publish_keys(&mut self) {
        if self.index != 0 {
            return; // the control shard's
        }
        let state = self.node.membership().state();
        let current = state.keys();
        if *self.keys.cluster_keys() != *current {
            self.keys.publish(current.clone());
        }
        // And the ring version, for the answers' X-Dynamo-Ring header.
        self.metrics
            .ring_version
            .store(state.ring_version(), std::sync::atomic::Ordering::Relaxed);
    }

    fn send(&mut self, to: NodeId, message: PeerMessage) {
        if matches!(message, PeerMessage::Forward { .. }) {
            self.metrics.forwards.inc();
        }
        if &to == self.node.id() {
            let shard = route_message(&message, self.links.ring(), self.links.count());
            if shard == self.index {
                self.loopback.push_back(message);
            } else if !self.links.peer(shard, to, message) {
                self.metrics.peer_dropped.inc();
            }
            return;
        }
        let address = self
            .node
            .peer_address(&to)
            .or_else(|| self.book.get(&to).map(String::as_str));
        match address {
            Some(address) => {
                let address = address.to_owned();
                self.outgoing.send(&to, &address, message);
            }
            None => {
                self.metrics.peer_dropped.inc();
                tracing::debug!(peer = %to, "no address for peer: message dropped");
            }
        }
    }

    fn event(&mut self, event: NodeEvent) {
        let m = &self.metrics;
        match event {
            NodeEvent::EpochStarted { epoch } => tracing::info!(epoch, "writing as a new epoch"),
            NodeEvent::CorruptRecord {
                location,
                bucket,
                key,
                error,
            } => {
                m.corrupt_records.inc();
                tracing::warn!(
                    ?location,
                    bucket = %String::from_utf8_lossy(&bucket),
                    key = %String::from_utf8_lossy(&key),
                    %error,
                    "corrupt record treated as absent (repair restores it)"
                );
            }
            NodeEvent::CorruptEpoch(error) => {
                tracing::warn!(%error, "stored epoch unreadable: a fresh epoch was chosen");
            }
            NodeEvent::CorruptClusterState(reason) => {
                tracing::warn!(%reason, "stored cluster state unusable: starting from the configuration");
            }
            NodeEvent::PeerDown(peer) => {
                m.peers_down.inc();
                tracing::info!(%peer, "peer marked down");
            }
            NodeEvent::PeerUp(peer) => {
                m.peers_up.inc();
                tracing::info!(%peer, "peer back up");
            }
            NodeEvent::BadPeerMessage { from, reason } => {
                tracing::warn!(peer = %from, %reason, "unusable message from peer");
            }
            NodeEvent::StorageFailed(error) => {
                m.storage_failures.inc();
                tracing::error!(%error, "storage write failed");
            }
            NodeEvent::Membership(change) => match change {
                MembershipChange::Status { node, from, to } => match from {
                    Some(from) => {
                        tracing::info!(member = %node, %from, %to, "member status changed")
                    }
                    None => tracing::info!(member = %node, status = %to, "new member"),
                },
                MembershipChange::Ring { version, digest } => {
                    tracing::info!(
                        version,
                        digest = format_args!("{digest:016x}"),
                        "new ring in force"
                    );
                }
                MembershipChange::Bucket { bucket, props } => tracing::info!(
                    bucket = %String::from_utf8_lossy(&bucket),
                    n = props.n,
                    r = props.r,
                    w = props.w,
                    versioning = dynamo_core::proto::mode_serde::name(props.mode),
                    "bucket properties changed"
                ),
            },
            NodeEvent::HintsDelivered { to, count } => {
                m.hints_delivered.add(count as u64);
                tracing::info!(peer = %to, count, "hints delivered");
            }
            NodeEvent::ReadRepair {
                replica,
                bucket,
                key,
            } => {
                m.read_repairs.inc();
                tracing::debug!(
                    %replica,
                    bucket = %String::from_utf8_lossy(&bucket),
                    key = %String::from_utf8_lossy(&key),
                    "read repair"
                );
            }
            NodeEvent::TransferProgress {
                partition,
                to,
                keys_sent,
            } => {
                let due = self
                    .last_progress_log
                    .is_none_or(|t| t.elapsed() >= PROGRESS_LOG_INTERVAL);
                if due {
                    self.last_progress_log = Some(Instant::now());
                    let pending = self.node.transfers().pending();
                    tracing::info!(%partition, peer = %to, keys_sent, pending, "partition transfer in progress");
                } else {
                    tracing::debug!(%partition, peer = %to, keys_sent, "partition transfer progress");
                }
            }
            NodeEvent::TransferDone {
                partition,
                to,
                keys_sent,
            } => {
                tracing::info!(%partition, peer = %to, keys_sent, "partition transferred");
            }
            NodeEvent::PartitionDropped { partition, keys } => {
                tracing::info!(%partition, keys, "handed-off partition dropped");
            }
            NodeEvent::AntiEntropy(report) => {
                if report.keys_repaired > 0 {
                    tracing::info!(
                        partition = %report.partition,
                        peer = %report.peer,
                        keys = report.keys_repaired,
                        outcome = ?report.outcome,
                        "anti-entropy repaired keys"
                    );
                } else {
                    tracing::debug!(
                        partition = %report.partition,
                        peer = %report.peer,
                        outcome = ?report.outcome,
                        "anti-entropy exchange"
                    );
                }
            }
            other => tracing::debug!(event = ?other, "node event"),
        }
    }
}
