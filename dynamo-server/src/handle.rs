//! The handle through which async code (HTTP handlers, the peer transport) talks to the node.
//!
//! The [`Node`] is a synchronous state machine whose inputs may commit to a storage engine
//! (an fsync), so it runs on a thread of its own and never on the tokio event loop: storage
//! work does not stall sockets. Everything else reaches it through a bounded channel of
//! [`Command`]s, wrapped in a cloneable [`NodeHandle`]. A full channel is admission control:
//! a client request is refused with [`HandleError::Overloaded`] (HTTP 503) instead of queueing
//! without bound; a peer message is dropped, which Dynamo's protocols tolerate (every message
//! is retried, re-gossiped or repaired).

use std::sync::Arc;

use dynamo_core::NodeId;
use dynamo_core::node::Node;
use dynamo_core::proto::{ClientRequest, ClientResponse, PeerMessage};
use engine_any::AnyEngine;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{OwnedPermit, Receiver, Sender, WeakSender, channel};
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
    /// Stop: commit what is pending, close the engine, then answer.
    Shutdown(oneshot::Sender<()>),
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

/// A cloneable, thread-safe way to talk to the node thread.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    /// Once the last handle is gone the channel closes and the node stops (the commit thread
    /// holds only a [`WeakSender`]).
    tx: Sender<Command>,
    id: NodeId,
}

impl NodeHandle {
    /// Default queue length: commands waiting for the node thread beyond this are refused.
    pub const DEFAULT_CAPACITY: usize = 16_384;

    /// A handle for node `id` and the receiving end the node thread reads, with room for
    /// `capacity` waiting commands.
    pub fn channel(id: NodeId, capacity: usize) -> (NodeHandle, Receiver<Command>) {
        let (tx, rx) = channel(capacity.max(1));
        (NodeHandle { tx, id }, rx)
    }

    /// A sender that does not keep the node alive: for the commit thread, which reports into
    /// the same queue while the node runs.
    pub fn weak_sender(&self) -> WeakSender<Command> {
        self.tx.downgrade()
    }

    /// The node this handle talks to.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// Sends a command without waiting.
    ///
    /// # Errors
    /// [`HandleError::Overloaded`] when the queue is full, [`HandleError::Stopped`] when the
    /// node thread is gone.
    pub fn send(&self, command: Command) -> Result<(), HandleError> {
        self.tx.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => HandleError::Overloaded,
            TrySendError::Closed(_) => HandleError::Stopped,
        })
    }

    /// Hands a client request to the node and waits for its answer (the node answers every
    /// request, at the latest when the request times out).
    ///
    /// # Errors
    /// As [`NodeHandle::send`]; [`HandleError::Stopped`] also if the node stopped before
    /// answering.
    pub async fn request(&self, request: ClientRequest) -> Result<ClientResponse, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Client {
            request,
            reply: Reply::Once(reply),
        })?;
        answer.await.map_err(|_| HandleError::Stopped)
    }

    /// Hands a client request to the node without waiting; the answer goes to `reply`.
    ///
    /// # Errors
    /// As [`NodeHandle::send`], with the reply given back so that the caller can answer
    /// the refusal itself.
    pub fn submit(&self, request: ClientRequest, reply: Reply) -> Result<(), (HandleError, Reply)> {
        match self.tx.try_reserve() {
            Ok(place) => {
                place.send(Command::Client { request, reply });
                Ok(())
            }
            Err(TrySendError::Full(())) => Err((HandleError::Overloaded, reply)),
            Err(TrySendError::Closed(())) => Err((HandleError::Stopped, reply)),
        }
    }

    /// Runs `f` on the node thread with read access to the node and returns its result.
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub async fn inspect<T, F>(&self, f: F) -> Result<T, HandleError>
    where
        T: Send + 'static,
        F: FnOnce(&ServerNode) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Inspect(Box::new(move |node| {
            // The receiver may have gone (the HTTP client hung up): nothing to do then.
            let _ = tx.send(f(node));
        })))?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// Delivers a message from a peer; a full queue drops it (see the module doc).
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub fn peer(&self, from: NodeId, message: PeerMessage) -> Result<(), HandleError> {
        self.send(Command::Peer { from, message })
    }

    /// Tells the driver where a peer listens.
    ///
    /// # Errors
    /// As [`NodeHandle::send`].
    pub fn learn_address(&self, node: NodeId, address: String) -> Result<(), HandleError> {
        self.send(Command::Address { node, address })
    }

    /// Asks the node thread to stop and waits until it has closed its engine. Waits for room
    /// in the queue rather than failing when it is full.
    ///
    /// # Errors
    /// [`HandleError::Stopped`] if the node thread was already gone.
    pub async fn shutdown(&self) -> Result<(), HandleError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Shutdown(tx))
            .await
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map_err(|_| HandleError::Stopped)
    }
}
