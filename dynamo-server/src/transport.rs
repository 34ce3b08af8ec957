//! The peer transport: TCP connections between nodes carrying [`wire`] frames, each
//! connection authenticated and sealed with the cluster secret ([`crate::secure`]).
//!
//! Every connection starts with a Noise handshake that proves both sides know the cluster
//! secret; a side that fails it is closed, logged and counted (`peer_auth_failures`) before
//! a single frame is read. After it, the frames travel sealed: tampered, replayed or
//! reordered bytes close the connection too.
//!
//! Connections are one-way. To send, a node dials the peer and writes a hello, then
//! messages; to receive, it accepts connections and reads. So each pair of nodes uses two
//! connections, each with one writer, and neither side has to decide who dials.
//!
//! - Sending ([`Outgoing`], owned by the node thread): one task per peer with a bounded
//!   queue. A full queue drops the message (counted in `peer_dropped`): Dynamo's protocols
//!   retry, re-gossip or repair, and a slow peer must not stall the node. The task connects
//!   with a timeout, retries with exponential backoff (50 ms to 5 s) while the peer is
//!   unreachable (or closes connections as soon as they are made), and drops what waited
//!   meanwhile when a dial fails (stale by then). It encodes the queued messages into one
//!   buffer, seals it and writes it with one call when the queue is empty. It also watches
//!   the socket's read side: the acceptor never writes, so a readable socket means the peer
//!   closed it, and the task reconnects at once instead of losing the next write.
//! - Receiving ([`accept_loop`]): every accepted connection must complete the handshake
//!   within [`secure::HANDSHAKE_TIMEOUT`], then send a hello within [`HELLO_TIMEOUT`]; its address goes to the driver's address book, and every later frame
//!   to [`NodeHandle::peer`]. A bad frame (malformed, oversized, another version, a message
//!   before the hello) closes that connection with a `warn` line giving the reason and counts
//!   in `peer_bad_frames`; the node carries on.
//!
//! Every socket has `TCP_NODELAY`: messages are small and latency-bound (Nagle's algorithm
//! meeting delayed ACKs costs tens of milliseconds per exchange).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dynamo_core::NodeId;
use dynamo_core::proto::PeerMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::handle::{HandleError, NodeHandle};
use crate::metrics::Metrics;
use crate::secure::{self, ClusterSecret, Opener, SecureError};
use crate::wire::{self, Frame, Hello, WireError};

/// First delay before redialing an unreachable peer.
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between two dials of an unreachable peer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection lost sooner than this after it was made counts as a failed attempt (backoff).
pub const MIN_SESSION: Duration = Duration::from_secs(1);
/// How long a dial may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an accepted connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages written between two flushes at most.
const WRITE_BATCH: usize = 256;
/// Socket buffer sizes of the transport's readers and writers.
const IO_BUFFER: usize = 64 * 1024;

/// Settings shared by the sending and receiving sides.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// This node.
    pub node: NodeId,
    /// The peer address this node advertises (sent in every hello).
    pub advertised: String,
    /// Largest frame sent or accepted.
    pub max_frame: usize,
    /// Messages waiting per peer before new ones are dropped.
    pub queue: usize,
    /// The cluster secret every connection's handshake proves (see [`crate::secure`]).
    pub secret: ClusterSecret,
}

/// The sending side: one queue and task per peer. Owned by the node thread, which is not a
/// tokio thread; tasks are spawned on `runtime`.
#[derive(Debug)]
pub struct Outgoing {
    runtime: tokio::runtime::Handle,
    config: TransportConfig,
    metrics: Arc<Metrics>,
    peers: HashMap<NodeId, PeerQueue>,
}

#[derive(Debug)]
struct PeerQueue {
    tx: mpsc::Sender<PeerMessage>,
    address: watch::Sender<String>,
}

impl Outgoing {
    /// A sending side with no peer yet; peer tasks will run on `runtime`.
    pub fn new(
        runtime: tokio::runtime::Handle,
        config: TransportConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Outgoing {
            runtime,
            config,
            metrics,
            peers: HashMap::new(),
        }
    }

    /// Queues `message` for `to` at `address` without waiting; starts the peer's task on
    /// first use and redirects it when the address changed. A full queue drops the message.
    pub fn send(&mut self, to: &NodeId, address: &str, message: PeerMessage) {
        let peer = match self.peers.get(to) {
            Some(p) if !p.tx.is_closed() => p,
            _ => {
                let queue = self.spawn_peer(to.clone(), address.to_owned());
                self.peers.entry(to.clone()).insert_entry(queue).into_mut()
            }
        };
        if peer.address.borrow().as_str() != address {
            tracing::debug!(peer = %to, %address, "peer address changed");
            peer.address.send_replace(address.to_owned());
        }
        match peer.tx.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.peer_dropped.inc();
                tracing::debug!(peer = %to, "peer queue full: message dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.peer_dropped.inc();
            }
        }
    }

    /// Another sending side with the same settings and no peer yet: each shard of a node
    /// sends on connections of its own (one per peer per shard), so that shards never
    /// contend for a queue and each connection's encoding runs on its own task.
    pub fn sibling(&self) -> Self {
        Outgoing {
            runtime: self.runtime.clone(),
            config: self.config.clone(),
            metrics: Arc::clone(&self.metrics),
            peers: HashMap::new(),
        }
    }

    /// Peers with a queue (a task).
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    fn spawn_peer(&self, to: NodeId, address: String) -> PeerQueue {
        let (tx, rx) = mpsc::channel(self.config.queue.max(1));
        let (address_tx, address_rx) = watch::channel(address);
        let task = PeerTask {
            hello: Hello {
                node: self.config.node.clone(),
                peer_addr: self.config.advertised.clone(),
            },
            to,
            address: address_rx,
            address_alive: true,
            rx,
            metrics: Arc::clone(&self.metrics),
            max_frame: self.config.max_frame,
            secret: self.config.secret.clone(),
            plain: Vec::new(),
            sealed: Vec::new(),
        };
        self.runtime.spawn(task.run());
        PeerQueue {
            tx,
            address: address_tx,
        }
    }
}

/// How a connection to a peer ended.
enum SessionEnd {
    /// The queue closed (the node stopped) and everything queued was written.
    Closed,
    /// The peer's address changed: dial the new one.
    AddressChanged,
    /// The connection failed or the peer closed it.
    Lost(String),
}

/// The task that owns the connection to one peer.
struct PeerTask {
    hello: Hello,
    to: NodeId,
    address: watch::Receiver<String>,
    address_alive: bool,
    rx: mpsc::Receiver<PeerMessage>,
    metrics: Arc<Metrics>,
    max_frame: usize,
    secret: ClusterSecret,
    /// Frames waiting to be sealed and written.
    plain: Vec<u8>,
    /// Their sealed form.
    sealed: Vec<u8>,
}

impl PeerTask {
    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        let mut failures: u32 = 0;
        loop {
            if self.rx.is_closed() && self.rx.is_empty() {
                return;
            }
            let address = self.address.borrow_and_update().clone();
            match dial(&address).await {
                Ok(stream) => {
                    self.metrics.peer_connects.inc();
                    if failures > 0 {
                        tracing::debug!(peer = %self.to, %address, failures, "connected to peer");
                    }
                    failures = 0;
                    let started = tokio::time::Instant::now();
                    match self.session(stream).await {
                        SessionEnd::Closed => return,
                        SessionEnd::AddressChanged => backoff = MIN_BACKOFF,
                        SessionEnd::Lost(reason) => {
                            tracing::debug!(peer = %self.to, %address, %reason, "peer connection lost");
                            if started.elapsed() < MIN_SESSION {
                                // Accepted, then closed at once (the peer refuses our hello,
                                // or is stopping): back off rather than redial in a loop.
                                let changed = self.wait(backoff).await;
                                backoff = if changed {
                                    MIN_BACKOFF
                                } else {
                                    (backoff * 2).min(MAX_BACKOFF)
                                };
                            } else {
                                backoff = MIN_BACKOFF;
                            }
                        }
                    }
                }
                Err(e) => {
                    self.metrics.peer_connect_failures.inc();
                    failures += 1;
                    if failures == 1 {
                        tracing::debug!(peer = %self.to, %address, error = %e, "cannot connect to peer; retrying with backoff");
                    }
                    // What waited is stale by the time a connection exists: drop it, so that
                    // an unreachable peer holds no memory.
                    let mut dropped = 0;
                    while self.rx.try_recv().is_ok() {
                        dropped += 1;
                    }
                    self.metrics.peer_dropped.add(dropped);
                    if self.rx.is_closed() {
                        return;
                    }
                    let changed = self.wait(backoff).await;
                    backoff = if changed {
                        MIN_BACKOFF
                    } else {
                        (backoff * 2).min(MAX_BACKOFF)
                    };
                }
            }
        }
    }

    /// Sleeps `backoff`, or less if the address changes; true when it changed.
    async fn wait(&mut self, backoff: Duration) -> bool {
        if !self.address_alive {
            tokio::time::sleep(backoff).await;
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => false,
            changed = self.address.changed() => {
                if changed.is_err() {
                    self.address_alive = false;
                }
                changed.is_ok()
            }
        }
    }

    async fn session(&mut self, mut stream: TcpStream) -> SessionEnd {
        let mut sealer = match secure::dial_handshake(&mut stream, &self.secret).await {
            Ok(sealer) => sealer,
            Err(e) => {
                if e.is_refusal() {
                    self.metrics.peer_auth_failures.inc();
                    tracing::warn!(peer = %self.to, error = %e, "peer refused: handshake failed");
                }
                return SessionEnd::Lost(e.to_string());
            }
        };
        let (mut reader, mut writer) = stream.into_split();
        self.plain.clear();
        self.encode(&Frame::Hello(self.hello.clone()));
        if let Err(e) = self.flush(&mut writer, &mut sealer).await {
            return SessionEnd::Lost(e);
        }
        let mut probe = [0u8; 64];
        loop {
            tokio::select! {
                biased;
                message = self.rx.recv() => {
                    let Some(message) = message else {
                        let _ = writer.shutdown().await;
                        return SessionEnd::Closed;
                    };
                    self.encode(&Frame::Message(message));
                    let mut batch = 1;
                    while batch < WRITE_BATCH && self.plain.len() < IO_BUFFER {
                        let Ok(message) = self.rx.try_recv() else { break };
                        self.encode(&Frame::Message(message));
                        batch += 1;
                    }
                    if let Err(e) = self.flush(&mut writer, &mut sealer).await {
                        return SessionEnd::Lost(e);
                    }
                }
                read = reader.read(&mut probe) => {
                    return SessionEnd::Lost(match read {
                        Ok(0) => "closed by the peer".to_owned(),
                        Ok(_) => "the peer wrote on a send-only connection".to_owned(),
                        Err(e) => e.to_string(),
                    });
                }
                changed = self.address.changed(), if self.address_alive => {
                    if changed.is_err() {
                        self.address_alive = false;
                    } else {
                        return SessionEnd::AddressChanged;
                    }
                }
            }
        }
    }

    /// Appends one frame to the batch. An unencodable message is dropped (logged), not fatal.
    fn encode(&mut self, frame: &Frame) {
        let before = self.plain.len();
        if let Err(e) = wire::encode_into(frame, self.max_frame, &mut self.plain) {
            self.metrics.peer_dropped.inc();
            tracing::warn!(peer = %self.to, error = %e, "message to peer not sent");
            return;
        }
        self.metrics.peer_frames_out.inc();
        self.metrics
            .peer_bytes_out
            .add((self.plain.len() - before) as u64);
    }

    /// Seals the batch and writes it. A failed write is returned; its messages count as
    /// dropped.
    async fn flush<W: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        sealer: &mut secure::Sealer,
    ) -> Result<(), String> {
        self.sealed.clear();
        let sealed = sealer.seal_into(&self.plain, &mut self.sealed);
        self.plain.clear();
        sealed.map_err(|e| e.to_string())?;
        if let Err(e) = writer.write_all(&self.sealed).await {
            self.metrics.peer_dropped.inc();
            return Err(e.to_string());
        }
        // Do not keep huge buffers around after a large message.
        if self.sealed.capacity() > 4 * IO_BUFFER {
            self.sealed = Vec::new();
            self.plain = Vec::new();
        }
        Ok(())
    }
}

async fn dial(address: &str) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Accepts peer connections on `listener` until the task is aborted (aborting it also ends
/// every connection it accepted), handing decoded messages to `handle`. A dialer must prove
/// one of `secrets` (the cluster secret first; more while it is being rotated).
pub async fn accept_loop(
    listener: TcpListener,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    max_frame: usize,
    secrets: Vec<ClusterSecret>,
    max_connections: usize,
) {
    let secrets: Arc<[ClusterSecret]> = secrets.into();
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        metrics.connections_refused.inc();
                        continue; // Dropping the stream closes it.
                    };
                    let serve = serve_connection(
                        stream,
                        remote,
                        handle.clone(),
                        Arc::clone(&metrics),
                        max_frame,
                        Arc::clone(&secrets),
                    );
                    connections.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a peer connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Closes a connection for a bad frame: a `warn` line and the counter.
fn bad_frame(metrics: &Metrics, remote: SocketAddr, peer: Option<&NodeId>, reason: &str) {
    metrics.peer_bad_frames.inc();
    match peer {
        Some(p) => tracing::warn!(%remote, peer = %p, %reason, "peer connection closed: bad frame"),
        None => tracing::warn!(%remote, %reason, "peer connection closed: bad frame"),
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    max_frame: usize,
    secrets: Arc<[ClusterSecret]>,
) {
    let _ = stream.set_nodelay(true);
    let opener = match secure::accept_handshake(&mut stream, &secrets).await {
        Ok(opener) => opener,
        Err(e) => {
            if e.is_refusal() {
                metrics.peer_auth_failures.inc();
                tracing::warn!(%remote, error = %e, "peer connection refused: handshake failed");
            }
            return;
        }
    };
    let mut frames = FrameReader {
        reader: BufReader::with_capacity(IO_BUFFER, stream),
        opener,
        plain: Vec::new(),
        start: 0,
        max_frame,
    };
    let first = tokio::time::timeout(HELLO_TIMEOUT, frames.next()).await;
    let hello = match first {
        Err(_) => {
            return bad_frame(&metrics, remote, None, "no hello in time");
        }
        Ok(Ok(Some((Frame::Hello(hello), size)))) => {
            metrics.peer_frames_in.inc();
            metrics.peer_bytes_in.add(size as u64);
            hello
        }
        Ok(Ok(Some((Frame::Message(_), _)))) => {
            return bad_frame(&metrics, remote, None, "the first frame is not a hello");
        }
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return read_failed(&metrics, remote, None, &e),
    };
    if &hello.node == handle.id() {
        return bad_frame(
            &metrics,
            remote,
            None,
            "hello from a node with this node's id",
        );
    }
    if hello.peer_addr.len() > dynamo_core::membership::MAX_ADDRESS_LEN {
        return bad_frame(&metrics, remote, Some(&hello.node), "address too long");
    }
    let from = hello.node;
    tracing::debug!(%remote, peer = %from, address = %hello.peer_addr, "peer connected");
    if !hello.peer_addr.is_empty() && handle.learn_address(from.clone(), hello.peer_addr).is_err() {
        metrics.peer_inbound_dropped.inc();
    }
    loop {
        match frames.next().await {
            Ok(Some((Frame::Message(message), size))) => {
                metrics.peer_frames_in.inc();
                metrics.peer_bytes_in.add(size as u64);
                match handle.peer(from.clone(), message) {
                    Ok(()) => {}
                    Err(HandleError::Overloaded) => metrics.peer_inbound_dropped.inc(),
                    Err(HandleError::Stopped) => return,
                }
            }
            Ok(Some((Frame::Hello(_), _))) => {
                return bad_frame(&metrics, remote, Some(&from), "a second hello");
            }
            Ok(None) => {
                tracing::debug!(%remote, peer = %from, "peer disconnected");
                return;
            }
            Err(e) => return read_failed(&metrics, remote, Some(&from), &e),
        }
    }
}

/// Why an incoming connection's frames stopped.
#[derive(Debug)]
enum ReadError {
    /// A frame did not decode.
    Frame(WireError),
    /// A sealed chunk did not open, or the socket failed.
    Secure(SecureError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Frame(e) => e.fmt(f),
            ReadError::Secure(e) => e.fmt(f),
        }
    }
}

/// Frames from a secured connection: sealed chunks are opened into a plaintext buffer, and
/// frames are decoded from it (a frame may span chunks, a chunk may hold several frames).
struct FrameReader {
    reader: BufReader<TcpStream>,
    opener: Opener,
    plain: Vec<u8>,
    /// Where the next frame starts in `plain`.
    start: usize,
    max_frame: usize,
}

impl FrameReader {
    /// The next frame and its size; `Ok(None)` when the stream ended between frames.
    async fn next(&mut self) -> Result<Option<(Frame, usize)>, ReadError> {
        loop {
            match wire::decode(&self.plain[self.start..], self.max_frame) {
                Ok((frame, used)) => {
                    self.start += used;
                    return Ok(Some((frame, used)));
                }
                Err(WireError::Truncated { .. }) => {}
                Err(e) => return Err(ReadError::Frame(e)),
            }
            // Drop what was consumed before reading more (and a large buffer once empty).
            self.plain.drain(..self.start);
            self.start = 0;
            if self.plain.is_empty() && self.plain.capacity() > 4 * IO_BUFFER {
                self.plain = Vec::new();
            }
            let more = self
                .opener
                .read_chunk(&mut self.reader, &mut self.plain)
                .await
                .map_err(ReadError::Secure)?;
            if !more {
                return if self.plain.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Frame(WireError::Truncated {
                        needed: self.plain.len() + 1,
                        available: self.plain.len(),
                    }))
                };
            }
        }
    }
}

fn read_failed(metrics: &Metrics, remote: SocketAddr, peer: Option<&NodeId>, e: &ReadError) {
    match e {
        ReadError::Frame(w) if w.is_bad_frame() => bad_frame(metrics, remote, peer, &w.to_string()),
        ReadError::Secure(s) if s.is_refusal() => {
            metrics.peer_auth_failures.inc();
            bad_frame(metrics, remote, peer, &s.to_string());
        }
        _ => tracing::debug!(%remote, error = %e, "peer connection failed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_full_peer_queue_drops_and_counts() {
        // A runtime nobody drives: the peer task never runs, so its queue only fills.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let metrics = Arc::new(Metrics::default());
        let mut out = Outgoing::new(
            runtime.handle().clone(),
            TransportConfig {
                node: NodeId::new("n1").unwrap(),
                advertised: "127.0.0.1:1".into(),
                max_frame: 1 << 20,
                queue: 2,
                secret: ClusterSecret::loopback_default(),
            },
            Arc::clone(&metrics),
        );
        let n2 = NodeId::new("n2").unwrap();
        for nonce in 0..5 {
            out.send(&n2, "127.0.0.1:2", PeerMessage::Ping { nonce });
        }
        assert_eq!(out.peers(), 1);
        assert_eq!(metrics.peer_dropped.get(), 3);
        // Another address for the same peer reuses its queue.
        out.send(&n2, "127.0.0.1:3", PeerMessage::Ping { nonce: 9 });
        assert_eq!(out.peers(), 1);
        assert_eq!(metrics.peer_dropped.get(), 4);
    }
}
