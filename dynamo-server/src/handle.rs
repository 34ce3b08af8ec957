//! The handle through which async code (HTTP handlers, the peer transport) talks to the node.
//!
//! The [`Node`] is a synchronous state machine whose inputs may commit to a storage engine
//! (an fsync), so it runs on a thread of its own and never on the tokio event loop: storage
//! work does not stall sockets. Everything else reaches it through a bounded channel of
//! [`Command`]s, wrapped in a cloneable [`NodeHandle`]. A full channel is admission control:
//! a client request is refused with [`HandleError::Overloaded`] (HTTP 503) instead of queueing
//! without bound; a peer message is dropped, which Dynamo's protocols tolerate (every message
//! is retried, re-gossiped or repaired).
//!
//! A node runs several shards (see `dynamo_core::node::shard`), each a task with a queue of
//! its own: the handle routes each command straight to the shard it is for — a key's request
//! or replica message by the key's partition, an answer by the id its shard chose, the rest
//! (gossip, admin, inspection) to the control shard, shard 0. Views and reports between the
//! shards go on unbounded queues beside the bounded ones, so that a full queue never drops
//! them.

use std::sync::Arc;

use dynamo_core::NodeId;
use dynamo_core::node::shard::{route_message, route_request};
use dynamo_core::node::{Node, ShardReport, ShardView};
use dynamo_core::proto::{ClientRequest, ClientResponse, PeerMessage};
use dynamo_core::ring::RingConfig;
use engine_any::AnyEngine;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{
    OwnedPermit, Receiver, Sender, UnboundedReceiver, UnboundedSender, WeakSender, channel,
    unbounded_channel,
};
use tokio::sync::oneshot;

use crate::binary::Answer;

/// The node type the server runs: the core node on the engine chosen at run time, shared with
/// the thread that carries out its commits.
pub type ServerNode = Node<Arc<AnyEngine>>;

/// A read-only look at the node, run on the node thread (see [`NodeHandle::inspect`]).
pub type InspectFn = Box<dyn FnOnce(&ServerNode) + Send>;

/// What the node thread is asked to do.
pub enum Command {
    /// A client request; the node's answer goes to `reply`.
    Client {
        /// The request.
        request: ClientRequest,
        /// Where the answer goes.
        reply: Reply,
    },
    /// A message from a peer, decoded by the transport.
    Peer {
        /// The sender, as it named itself in its connection's hello.
        from: NodeId,
        /// The message.
        message: PeerMessage,
    },
    /// Run a function with read access to the node (for `/ring`, `/members`, `/stats`).
    Inspect(InspectFn),
    /// A peer's address, learned outside the cluster state (a connection's hello, the seed of
    /// an admin join): the driver's address book keeps it for sending.
    Address {
        /// The peer.
        node: NodeId,
        /// Its peer address (`host:port`).
        address: String,
    },
    /// Stop: commit what is pending, close the engine, then answer whether the shard
    /// stopped cleanly (no commit left in flight).
    Shutdown(oneshot::Sender<bool>),
    /// For the control shard, before its `Shutdown`: a follower stopped uncleanly, so the
    /// node's epoch must not be marked clean.
    FollowerUnclean,
    /// For a follower: the control shard's latest view.
    View(Arc<ShardView>),
    /// For the control shard: a follower's report.
    Report(ShardReport),
    /// The commit thread carried out the node's commit `id` (see
    /// [`dynamo_core::node::Output::Commit`]).
    Committed {
        /// The commit.
        id: u64,
        /// Its outcome.
        result: Result<(), String>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Client { request, .. } => f.debug_tuple("Client").field(request).finish(),
            Command::Peer { from, message } => {
                f.debug_tuple("Peer").field(from).field(message).finish()
            }
            Command::Inspect(_) => f.write_str("Inspect"),
            Command::Address { node, address } => {
                f.debug_tuple("Address").field(node).field(address).finish()
            }
            Command::Shutdown(_) => f.write_str("Shutdown"),
            Command::FollowerUnclean => f.write_str("FollowerUnclean"),
            Command::View(v) => f.debug_tuple("View").field(v).finish(),
            Command::Report(r) => f.debug_tuple("Report").field(r).finish(),
            Command::Committed { id, result } => f
                .debug_struct("Committed")
                .field("id", id)
                .field("result", result)
                .finish(),
        }
    }
}

/// Where the node's answer to a client request goes.
#[derive(Debug)]
pub enum Reply {
    /// A task waiting for this one answer (an HTTP handler).
    Once(oneshot::Sender<ClientResponse>),
    /// A binary-protocol connection's answer queue. The place in the queue was reserved when
    /// the request was read, so delivering never waits and the queue's size bounds the
    /// connection's requests in flight.
    Queued {
        /// The client's id of the request.
        id: u64,
        /// When the request was read (for the latency figures).
        started: std::time::Instant,
        /// The reserved place.
        permit: OwnedPermit<Answer>,
    },
}

impl Reply {
    /// Delivers the node's answer. A requester that has gone (an HTTP client hung up, a
    /// connection closed) is not an error: the answer is dropped.
    pub fn send(self, response: ClientResponse) {
        match self {
            Reply::Once(tx) => {
                let _ = tx.send(response);
            }
            Reply::Queued {
                id,
                started,
                permit,
            } => {
                permit.send(Answer::node(id, started, response));
            }
        }
    }
}

/// Why the node thread could not take a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Its queue is full: the node is behind; try again later.
    #[error("the node is overloaded (its queue is full)")]
    Overloaded,
    /// The node thread has stopped (shut down, or failed).
    #[error("the node has stopped")]
    Stopped,
}

/// The receiving ends of one shard's queues, for its task.
#[derive(Debug)]
pub struct ShardQueues {
    /// Requests, peer messages, inspections, commit outcomes (bounded).
    pub commands: Receiver<Command>,
    /// Views, reports and the shutdown sequence's notes (unbounded, read first).
    pub internal: UnboundedReceiver<Command>,
}

/// How a shard's task reaches the node's other shards (see [`NodeHandle::links`]).
#[derive(Debug, Clone)]
pub struct ShardLinks {
    queues: Arc<[WeakSender<Command>]>,
    internal: Arc<[UnboundedSender<Command>]>,
    ring: RingConfig,
}

impl ShardLinks {
    /// How many shards the node runs.
    pub fn count(&self) -> u16 {
        // At most MAX_SHARDS.
        self.queues.len() as u16
    }

    /// Hands a view or report to shard `shard` (never dropped while the shard runs).
    pub fn internal(&self, shard: u16, command: Command) {
        if let Some(tx) = self.internal.get(usize::from(shard)) {
            // A stopped shard needs nothing more.
            let _ = tx.send(command);
        }
    }

    /// Delivers a message the node sent itself to shard `shard`; false when it was
    /// dropped (the queue full, or the node stopping).
    pub fn peer(&self, shard: u16, from: NodeId, message: PeerMessage) -> bool {
        self.queues
            .get(usize::from(shard))
            .and_then(WeakSender::upgrade)
            .is_some_and(|tx| tx.try_send(Command::Peer { from, message }).is_ok())
    }

    /// The ring's partition count the shards route by.
    pub fn ring(&self) -> RingConfig {
        self.ring
    }
}

/// A cloneable, thread-safe way to talk to the node's shards.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    /// One bounded queue per shard. Once the last handle is gone the channels close and the
    /// shards stop (the commit thread holds only [`WeakSender`]s).
    shards: Arc<[Sender<Command>]>,
    /// One unbounded queue per shard for what must not be dropped.
    internal: Arc<[UnboundedSender<Command>]>,
    ring: RingConfig,
    capacity: usize,
    id: NodeId,
}

impl NodeHandle {
    /// Default queue length per shard: commands waiting beyond this are refused.
    pub const DEFAULT_CAPACITY: usize = 16_384;

    /// A handle for node `id` of `shards` shards over a ring of `ring`'s partition count,
    /// and the receiving ends each shard's task reads, with room for `capacity` waiting
    /// commands per shard.
    pub fn channels(
        id: NodeId,
        ring: RingConfig,
        shards: u16,
        capacity: usize,
    ) -> (NodeHandle, Vec<ShardQueues>) {
        let mut senders = Vec::new();
        let mut internals = Vec::new();
        let mut queues = Vec::new();
        for _ in 0..shards.max(1) {
            let (tx, commands) = channel(capacity.max(1));
            let (itx, internal) = unbounded_channel();
            senders.push(tx);
            internals.push(itx);
            queues.push(ShardQueues { commands, internal });
        }
        let handle = NodeHandle {
            shards: senders.into(),
            internal: internals.into(),
            ring,
            capacity: capacity.max(1),
            id,
        };
        (handle, queues)
    }

    /// How many shards the node runs.
    pub fn shard_count(&self) -> u16 {
        // At most MAX_SHARDS.
        self.shards.len() as u16
    }

    /// Commands waiting in each shard's queue now.
    pub fn queue_depths(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|tx| self.capacity.saturating_sub(tx.capacity()))
            .collect()
    }

    /// A sender that does not keep shard `shard` alive: for the node's commit thread, which
    /// reports into the shard's queue while it runs.
    pub fn weak_sender(&self, shard: u16) -> Option<WeakSender<Command>> {
        self.shards.get(usize::from(shard)).map(Sender::downgrade)
    }

    /// What a shard's task keeps to reach the other shards: weak senders (so that the
    /// node still stops once every outside handle is gone) and the unbounded queues.
    pub fn links(&self) -> ShardLinks {
        ShardLinks {
            queues: self.shards.iter().map(Sender::downgrade).collect(),
            internal: Arc::clone(&self.internal),
            ring: self.ring,
        }
    }

    /// The node this handle talks to.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    fn queue(&self, shard: u16) -> &Sender<Command> {
        self.shards
            .get(usize::from(shard))
            .unwrap_or(&self.shards[0])
    }

    /// Sends a command to the control shard without waiting.
    ///
    /// # Errors
    /// [`HandleError::Overloaded`] when the queue is full, [`HandleError::Stopped`] when the
    /// shard's task is gone.
    pub fn send(&self, command: Command) -> Result<(), HandleError> {
        self.send_to(0, command)
    }

    /// Sends a command to shard `shard` without waiting.
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub fn send_to(&self, shard: u16, command: Command) -> Result<(), HandleError> {
        self.queue(shard).try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => HandleError::Overloaded,
            TrySendError::Closed(_) => HandleError::Stopped,
        })
    }

    /// Hands a view or report to shard `shard` on its unbounded queue (never dropped while
    /// the shard runs).
    pub fn internal(&self, shard: u16, command: Command) {
        if let Some(tx) = self.internal.get(usize::from(shard)) {
            // A stopped shard needs nothing more.
            let _ = tx.send(command);
        }
    }

    /// Hands a client request to the shard it is for and waits for its answer (the node
    /// answers every request, at the latest when the request times out).
    ///
    /// # Errors
    /// As [`NodeHandle::send`]; [`HandleError::Stopped`] also if the node stopped before
    /// answering.
    pub async fn request(&self, request: ClientRequest) -> Result<ClientResponse, HandleError> {
        let (reply, answer) = oneshot::channel();
        let shard = route_request(&request, self.ring, self.shard_count());
        self.send_to(
            shard,
            Command::Client {
                request,
                reply: Reply::Once(reply),
            },
        )?;
        answer.await.map_err(|_| HandleError::Stopped)
    }

    /// Hands a client request to the shard it is for without waiting; the answer goes to
    /// `reply`.
    ///
    /// # Errors
    /// As [`NodeHandle::send`], with the reply given back so that the caller can answer
    /// the refusal itself.
    pub fn submit(&self, request: ClientRequest, reply: Reply) -> Result<(), (HandleError, Reply)> {
        let shard = route_request(&request, self.ring, self.shard_count());
        match self.queue(shard).try_reserve() {
            Ok(place) => {
                place.send(Command::Client { request, reply });
                Ok(())
            }
            Err(TrySendError::Full(())) => Err((HandleError::Overloaded, reply)),
            Err(TrySendError::Closed(())) => Err((HandleError::Stopped, reply)),
        }
    }

    /// Runs `f` on the control shard's task with read access to it (the cluster state, the
    /// failure detector, the shared engine) and returns its result.
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub async fn inspect<T, F>(&self, f: F) -> Result<T, HandleError>
    where
        T: Send + 'static,
        F: FnOnce(&ServerNode) -> T + Send + 'static,
    {
        self.inspect_shard(0, f).await
    }

    /// Runs `f` on shard `shard`'s task with read access to it.
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub async fn inspect_shard<T, F>(&self, shard: u16, f: F) -> Result<T, HandleError>
    where
        T: Send + 'static,
        F: FnOnce(&ServerNode) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send_to(
            shard,
            Command::Inspect(Box::new(move |node| {
                // The receiver may have gone (the HTTP client hung up): nothing to do then.
                let _ = tx.send(f(node));
            })),
        )?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// Runs `f` on every shard's task, and returns the results in shard order.
    ///
    /// # Errors
    /// As [`NodeHandle::send`], for the first shard that fails.
    pub async fn inspect_shards<T, F>(&self, f: F) -> Result<Vec<T>, HandleError>
    where
        T: Send + 'static,
        F: Fn(&ServerNode) -> T + Clone + Send + 'static,
    {
        let mut out = Vec::with_capacity(self.shards.len());
        for shard in 0..self.shard_count() {
            out.push(self.inspect_shard(shard, f.clone()).await?);
        }
        Ok(out)
    }

    /// Delivers a message from a peer to the shard it is for; a full queue drops it (see
    /// the module doc).
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub fn peer(&self, from: NodeId, message: PeerMessage) -> Result<(), HandleError> {
        let shard = route_message(&message, self.ring, self.shard_count());
        self.send_to(shard, Command::Peer { from, message })
    }

    /// Tells every shard where a peer listens.
    ///
    /// # Errors
    /// As [`NodeHandle::send`] (the first failure).
    pub fn learn_address(&self, node: NodeId, address: String) -> Result<(), HandleError> {
        let mut result = Ok(());
        for shard in 0..self.shard_count() {
            let command = Command::Address {
                node: node.clone(),
                address: address.clone(),
            };
            if let Err(e) = self.send_to(shard, command) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Stops the node and waits until every shard has closed its engine handle: the
    /// followers first, then the control shard, which marks the epoch clean only when every
    /// follower stopped cleanly. Waits for room in the queues rather than failing when they
    /// are full.
    ///
    /// # Errors
    /// [`HandleError::Stopped`] if the control shard was already gone.
    pub async fn shutdown(&self) -> Result<(), HandleError> {
        let mut clean = true;
        for shard in self.shards.iter().skip(1) {
            let (tx, rx) = oneshot::channel();
            match shard.send(Command::Shutdown(tx)).await {
                Ok(()) => clean &= rx.await.unwrap_or(false),
                // Gone already: how it stopped is unknown.
                Err(_) => clean = false,
            }
        }
        if !clean {
            self.internal(0, Command::FollowerUnclean);
        }
        let (tx, rx) = oneshot::channel();
        self.shards[0]
            .send(Command::Shutdown(tx))
            .await
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map(|_| ()).map_err(|_| HandleError::Stopped)
    }
}
