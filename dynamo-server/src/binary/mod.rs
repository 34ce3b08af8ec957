//! The binary client protocol ([`dynamo_protocol`]) beside the HTTP API: get, put and delete
//! over length-prefixed frames, many requests in flight per connection.
//!
//! Each accepted connection runs two tasks ([`connection`]):
//! - the reader decodes request frames, checks them ([`convert`]) and hands each to the node
//!   with a [`Reply::Queued`](crate::handle::Reply::Queued) that holds a place reserved in the
//!   connection's answer queue. The queue's length ([`BinaryConfig::max_in_flight`]) bounds the
//!   requests in flight: when it is full the reader stops reading, and TCP pushes back on the
//!   client;
//! - the writer takes every answer queued, encodes them into one buffer and writes it with one
//!   system call, however many there were.
//!
//! The node answers straight into the queue: no task, oneshot or lock per request. A frame that
//! cannot be decoded is answered with an error frame of id 0 once the answers before it are
//! written, and the connection is closed; nothing else is affected. Requests count in the same
//! figures as the HTTP API's (`gets`, `puts`, latencies, errors), and connections in
//! `binary_connections`.

mod connection;
mod convert;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dynamo_core::proto::ClientResponse;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::handle::NodeHandle;
use crate::http::ApiError;
use crate::metrics::Metrics;

/// Default bound on the requests in flight on one connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1_024;

/// Bytes a request frame may hold beyond its value (bucket, key, context, content type).
const FRAME_OVERHEAD: usize = 64 * 1024;

/// Settings of the binary listener.
#[derive(Debug, Clone)]
pub struct BinaryConfig {
    /// Largest value accepted in a put (the HTTP API's limit too).
    pub max_value_size: usize,
    /// Largest answer frame sent (a read of many large siblings beyond it is refused).
    pub max_answer_frame: usize,
    /// Requests in flight per connection before the reader stops reading.
    pub max_in_flight: usize,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send the rest of a frame it started; slower connections are
    /// closed (a connection idle between frames is not).
    pub frame_timeout: Duration,
    /// The access keys requests are checked against (`auth = "on"`); `None`: no checks.
    pub keys: Option<crate::auth::KeyTable>,
    /// TLS on every connection ([`crate::tls`]); `None`: plain TCP.
    pub tls: Option<crate::tls::Acceptor>,
}

impl BinaryConfig {
    /// The largest request frame accepted: a value of the maximum size and its fields.
    pub fn max_request_frame(&self) -> usize {
        self.max_value_size.saturating_add(FRAME_OVERHEAD)
    }
}

/// What a connection's writer is given to send: the answer to one request.
#[derive(Debug)]
pub struct Answer {
    id: u64,
    started: Instant,
    outcome: Outcome,
}

/// The operation a request asked for, for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    Delete,
    Ping,
    Auth,
}

#[derive(Debug)]
enum Outcome {
    /// The node's answer.
    Node(ClientResponse),
    /// Answered without the node: refused before it (a bad request, a full node queue), or
    /// a ping.
    Local(Op, Result<(), ApiError>),
    /// The connection's stream could not be decoded: the last answer before closing.
    Broken(String),
}

impl Answer {
    /// The node's answer to request `id`.
    pub(crate) fn node(id: u64, started: Instant, response: ClientResponse) -> Self {
        Answer {
            id,
            started,
            outcome: Outcome::Node(response),
        }
    }

    fn local(id: u64, started: Instant, op: Op, result: Result<(), ApiError>) -> Self {
        Answer {
            id,
            started,
            outcome: Outcome::Local(op, result),
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Accepts binary-protocol connections on `listener` until the task is aborted; each
/// connection runs until its client closes it or sends a frame that cannot be decoded.
pub async fn accept_loop(
    listener: TcpListener,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    config: BinaryConfig,
) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        metrics.connections_refused.inc();
                        continue; // Dropping the stream closes it.
                    };
                    metrics.binary_connections.inc();
                    let serve = connection::serve(
                        stream,
                        remote,
                        handle.clone(),
                        Arc::clone(&metrics),
                        Arc::clone(&config),
                    );
                    connections.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a binary-protocol connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
