//! What the simulator needs from a node: the sans-IO contract of the design, as a trait.
//!
//! A node is driven exactly as the real driver drives `dynamo_core`'s `Node`:
//! `handle(now, input)` for every input, then `poll_output()` until `None`, and
//! `handle(now, Tick)` once `next_deadline()` has passed. The simulator is generic over this
//! trait so that it can be tested with small toy nodes, and so that plugging the real node in
//! is one `impl SimNode for Node<E>` that maps the enums.

use std::collections::BTreeMap;
use std::fmt::Debug;

use dynamo_core::{NodeId, Timestamp};

use crate::network::Addr;

/// An input to a node: what the driver feeds into `handle`.
///
/// Generic over the client request `Q` and the peer message `M`, so that it mirrors the node's
/// own `Input` enum field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<Q, M> {
    /// A client request; `id` is chosen by the simulator and echoed in [`Output::Reply`].
    Client {
        /// Identifier of the request, unique in the run.
        id: u64,
        /// The request.
        request: Q,
    },
    /// A message from another node.
    Peer {
        /// The sender.
        from: NodeId,
        /// The message.
        message: M,
    },
    /// The node's deadline was reached (or time simply passed).
    Tick,
}

/// An output of a node: what `poll_output` yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<M, R, E> {
    /// A message to another node, handed to the simulated network.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        message: M,
    },
    /// The answer to the client request `id`.
    Reply {
        /// The identifier given in [`Input::Client`].
        id: u64,
        /// The answer.
        response: R,
    },
    /// Something notable happened inside the node (recorded in the history).
    Event(E),
}

/// How a node (re)starts; handed to its factory, which decides what happens to its storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StartKind {
    /// First start of the node in the run, on empty storage.
    Fresh,
    /// Restart after a clean stop: the storage is kept as it was, durable or not.
    Restart,
    /// Restart after a crash: only what was made durable survives
    /// (`engine_mem::MemEngine::simulate_crash`).
    AfterCrash,
    /// Restart on a wiped disk: the storage is empty (the KV679 scenario).
    Wiped,
}

impl StartKind {
    /// Short name, used in histories and fault counters.
    pub fn name(self) -> &'static str {
        match self {
            StartKind::Fresh => "start",
            StartKind::Restart => "restart",
            StartKind::AfterCrash => "restart_after_crash",
            StartKind::Wiped => "restart_wiped",
        }
    }
}

/// Everything a factory needs to build a node deterministically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The node's index in the simulation.
    pub addr: Addr,
    /// The node's name.
    pub id: NodeId,
    /// Every node's name, in address order (seeds, initial membership).
    pub cluster: Vec<NodeId>,
    /// The node's clock at start (virtual time plus its skew).
    pub now: Timestamp,
    /// Why the node starts, and so what its storage holds.
    pub kind: StartKind,
    /// How many times this node was started before in this run.
    pub incarnation: u32,
    /// A seed for the node's generator, derived from the run's seed, the address and the
    /// incarnation: same run, same seeds.
    pub seed: u64,
}

/// Comparable state of one node, for the convergence and drain checkers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump<S> {
    /// Every key this node stores as a replica (not as a hint), with a comparable form of its
    /// value (for the real node: the sibling set, in a canonical order).
    pub data: BTreeMap<Vec<u8>, S>,
    /// Hints waiting for delivery to their intended node.
    pub pending_hints: usize,
    /// A comparable form of this node's view of the membership (members, statuses, ring
    /// version), or `None` when the node has no membership to compare.
    pub membership: Option<String>,
}

impl<S> Default for Dump<S> {
    fn default() -> Self {
        Dump {
            data: BTreeMap::new(),
            pending_hints: 0,
            membership: None,
        }
    }
}

/// Input type of a [`SimNode`].
pub type InputOf<N> = Input<<N as SimNode>::Request, <N as SimNode>::Message>;

/// Output type of a [`SimNode`].
pub type OutputOf<N> =
    Output<<N as SimNode>::Message, <N as SimNode>::Response, <N as SimNode>::Event>;

/// The sans-IO node contract the simulator drives.
///
/// Rules the simulator follows (those of the design):
/// - after every `handle`, it drains `poll_output` until `None`;
/// - it feeds every input due at one instant (client requests, then network deliveries), and
///   only then calls `handle(now, Tick)` on each node whose `next_deadline()` is at or before
///   its `now` (group commit: a node with writes pending returns `now` as its deadline);
/// - `now` is the node's own clock: virtual time plus the node's skew.
///
/// For the real node the impl is a mapping: `Input::Client { id, request }` to
/// `proto::Input::Client { id: ClientId(id), request }`, `Output::Reply` back, and so on.
pub trait SimNode {
    /// A message between nodes.
    type Message: Clone + Debug;
    /// A client request.
    type Request: Clone + Debug;
    /// The answer to a client request.
    type Response: Clone + Debug;
    /// A notable event reported by the node.
    type Event: Clone + Debug;
    /// A comparable form of one stored value, see [`Dump`].
    type Stored: Clone + Debug + PartialEq;

    /// Feeds one input at the node's time `now`.
    fn handle(&mut self, now: Timestamp, input: InputOf<Self>);

    /// The next output, or `None` when there is none for now.
    fn poll_output(&mut self) -> Option<OutputOf<Self>>;

    /// When the node wants `handle(Tick)` next, on its own clock; `None` when it does not.
    fn next_deadline(&self) -> Option<Timestamp>;

    /// The node's comparable state, for the checkers. Called between steps, never in the
    /// middle of handling an input.
    fn dump(&self) -> Dump<Self::Stored>;
}
