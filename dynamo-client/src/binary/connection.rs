//! One connection of the binary protocol: the callers' side (register an id, append a frame,
//! wait for the answer), a writer task and a reader task.
//!
//! Callers append their encoded frames to one shared outbox and wake the writer, which takes
//! the whole outbox and writes it in one go: the frames of every caller that came while the
//! last write was under way leave together, and nothing waits for more to come. The reader
//! decodes answers from a growing buffer and hands each to the caller waiting for its id.
//!
//! When anything breaks (a read or write fails, the node closes, bytes do not decode, the node
//! sends a connection error), the connection is *closed*: every caller waiting on it gets the
//! error at once, later callers get it without sending, both tasks stop, and the client opens
//! a new connection on its next request.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Buf, BytesMut};
use dynamo_protocol::{
    ErrorReply, LENGTH_BYTES, ProtocolError, Request, RequestFrame, Response, ResponseFrame,
    decode, encode_into,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

use crate::error::{ClientError, from_reply};
use crate::tls::{TlsConfig, server_name};

/// The least free space the reader offers the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// A read or write buffer is kept between frames up to this capacity; a larger one (after a
/// large value) is freed once empty.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;

/// Why a connection closed, kept to tell every caller (errors are not `Clone`; this is).
#[derive(Debug, Clone)]
enum Broken {
    /// Reading or writing failed.
    Io(io::ErrorKind, String),
    /// The node closed its side.
    Eof,
    /// The node sent bytes that are not an answer.
    Protocol(String),
    /// The node sent an error about the connection (id 0) before closing it.
    Node(ErrorReply),
    /// The client let go of the connection.
    Dropped,
}

impl Broken {
    fn io(e: &io::Error) -> Broken {
        Broken::Io(e.kind(), e.to_string())
    }

    /// The error a caller gets.
    fn error(&self) -> ClientError {
        match self {
            Broken::Io(kind, text) => ClientError::Connection(io::Error::new(*kind, text.clone())),
            Broken::Eof | Broken::Dropped => ClientError::ConnectionClosed,
            Broken::Protocol(text) => ClientError::Protocol(text.clone()),
            Broken::Node(reply) => from_reply(reply.clone()),
        }
    }
}

/// Where an answer goes.
type Waiter = oneshot::Sender<Result<Response, ClientError>>;

/// The callers waiting for answers, and whether the connection closed.
#[derive(Debug, Default)]
struct State {
    waiting: HashMap<u64, Waiter>,
    closed: Option<Broken>,
}

/// What the callers and the two tasks share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Set with `state.closed`, read without the lock.
    broken: AtomicBool,
    /// Encoded frames not yet taken by the writer.
    outbox: Mutex<Vec<u8>>,
    /// The outbox has frames.
    wake_writer: Notify,
    /// The connection closed: the writer stops.
    stop_writer: Notify,
    /// The connection closed: the reader stops.
    stop_reader: Notify,
    max_frame: usize,
}

/// Locks `mutex`; a panic elsewhere while it was held does not stop the others (nothing here
/// leaves the data half-changed).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Closes the connection for `why` (the first reason wins): fails every waiting caller
    /// and stops both tasks.
    fn close(&self, why: Broken) {
        let waiting = {
            let mut state = lock(&self.state);
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(why.clone());
            self.broken.store(true, Ordering::Release);
            std::mem::take(&mut state.waiting)
        };
        for (_, waiter) in waiting {
            // A caller that gave up meanwhile is not waiting any more.
            let _ = waiter.send(Err(why.error()));
        }
        self.stop_writer.notify_one();
        self.stop_reader.notify_one();
    }

    /// Hands `frame` to the caller waiting for it. False when the connection must close.
    fn deliver(&self, frame: ResponseFrame) -> bool {
        if frame.id == 0 {
            let why = match frame.result {
                Err(reply) => Broken::Node(reply),
                Ok(_) => Broken::Protocol("an answer with the reserved id 0".into()),
            };
            self.close(why);
            return false;
        }
        // Unknown ids are answers to callers that gave up (timed out or cancelled).
        let waiter = lock(&self.state).waiting.remove(&frame.id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(frame.result.map_err(from_reply));
        }
        true
    }
}

/// Closes the connection when a task ends, however it ends (returned, aborted, panicked), so
/// that no caller waits on a connection nobody reads.
struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close(Broken::Dropped);
    }
}

/// A caller's registration: removed when the caller stops waiting (answered, timed out or
/// cancelled), so that the map holds only callers still waiting.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
    answered: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.answered {
            lock(&self.shared.state).waiting.remove(&self.id);
        }
    }
}

/// One open connection; closed when dropped.
#[derive(Debug)]
pub(super) struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    /// Connects to `address` (over TLS when `tls` is given, checking the node's certificate
    /// against it) and starts the connection's reader and writer tasks (on the current tokio
    /// runtime).
    pub(super) async fn open(
        address: &str,
        max_frame: usize,
        tls: Option<&TlsConfig>,
    ) -> Result<Connection, ClientError> {
        let connect_error = |source| ClientError::Connect {
            address: address.to_owned(),
            source,
        };
        let name = tls.map(|_| server_name(address)).transpose()?;
        let stream = TcpStream::connect(address).await.map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        match (tls, name) {
            (Some(tls), Some(name)) => {
                let connector = tokio_rustls::TlsConnector::from(tls.rustls_config());
                let stream =
                    connector
                        .connect(name, stream)
                        .await
                        .map_err(|e| ClientError::Tls {
                            message: format!("handshake with {address} failed: {e}"),
                        })?;
                let (read, write) = tokio::io::split(stream);
                Ok(Self::start(read, write, max_frame))
            }
            _ => {
                let (read, write) = stream.into_split();
                Ok(Self::start(read, write, max_frame))
            }
        }
    }

    /// Starts the reader and writer tasks on the two halves of a connected stream.
    fn start<R, W>(read: R, write: W, max_frame: usize) -> Connection
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            broken: AtomicBool::new(false),
            outbox: Mutex::new(Vec::new()),
            wake_writer: Notify::new(),
            stop_writer: Notify::new(),
            stop_reader: Notify::new(),
            max_frame,
        });
        tokio::spawn(read_loop(Arc::clone(&shared), read));
        tokio::spawn(write_loop(Arc::clone(&shared), write));
        Connection { shared }
    }

    /// True once the connection closed: a new one is needed.
    pub(super) fn is_closed(&self) -> bool {
        self.shared.broken.load(Ordering::Acquire)
    }

    /// Sends `request` as frame `id` and waits for its answer. An error answer is the
    /// matching [`ClientError`]; so is the connection's failure.
    pub(super) async fn call(&self, id: u64, request: Request) -> Result<Response, ClientError> {
        let shared = &*self.shared;
        let (tx, rx) = oneshot::channel();
        {
            let mut state = lock(&shared.state);
            if let Some(why) = &state.closed {
                return Err(why.error());
            }
            state.waiting.insert(id, tx);
        }
        let mut registration = Registration {
            shared,
            id,
            answered: false,
        };
        {
            let frame = RequestFrame { id, request };
            let mut outbox = lock(&shared.outbox);
            let was_empty = outbox.is_empty();
            encode_into(&frame, shared.max_frame, &mut outbox).map_err(encode_error)?;
            // A non-empty outbox has already woken the writer, which has not taken it yet.
            if was_empty {
                shared.wake_writer.notify_one();
            }
        }
        let answer = rx.await;
        // The reader (or `close`) removed the registration when it sent the answer.
        registration.answered = answer.is_ok();
        answer.unwrap_or(Err(ClientError::ConnectionClosed))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close(Broken::Dropped);
    }
}

/// The error for a request that could not be encoded.
fn encode_error(e: ProtocolError) -> ClientError {
    match e {
        ProtocolError::Oversized { len, max } => ClientError::TooLarge {
            message: format!(
                "the request's frame of {len} bytes exceeds the client's maximum frame of {max} bytes"
            ),
        },
        other => ClientError::Protocol(format!("cannot encode the request: {other}")),
    }
}

/// Writes whatever the outbox holds each time it is woken, until the connection closes.
async fn write_loop(shared: Arc<Shared>, mut socket: impl AsyncWrite + Unpin) {
    let _close = CloseOnExit(Arc::clone(&shared));
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            () = shared.stop_writer.notified() => return,
            () = shared.wake_writer.notified() => {}
        }
        // The callers get the emptied buffer of the last batch, keeping its capacity.
        std::mem::swap(&mut *lock(&shared.outbox), &mut batch);
        if batch.is_empty() {
            continue;
        }
        tokio::select! {
            biased;
            () = shared.stop_writer.notified() => return,
            // TLS holds written bytes until flushed; plain TCP's flush does nothing.
            written = async { socket.write_all(&batch).await?; socket.flush().await } => {
                if let Err(e) = written {
                    shared.close(Broken::io(&e));
                    return;
                }
            }
        }
        batch.clear();
        if batch.capacity() > KEEP_BUFFER {
            batch = Vec::new();
        }
    }
}

/// Reads answers and delivers them, until the connection closes.
async fn read_loop(shared: Arc<Shared>, mut socket: impl AsyncRead + Unpin) {
    let _close = CloseOnExit(Arc::clone(&shared));
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    loop {
        loop {
            match decode::<ResponseFrame>(&buffer, shared.max_frame) {
                Ok(Some((frame, used))) => {
                    buffer.advance(used);
                    if !shared.deliver(frame) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.close(Broken::Protocol(format!("undecodable answer: {e}")));
                    return;
                }
            }
        }
        if buffer.is_empty() && buffer.capacity() > KEEP_BUFFER {
            buffer = BytesMut::with_capacity(READ_CHUNK);
        }
        // Room for the rest of the frame begun, when its length is known (decode checked it
        // against the maximum), and at least a chunk.
        let frame_len = buffer.first_chunk::<LENGTH_BYTES>().map_or(0, |prefix| {
            let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
            LENGTH_BYTES.saturating_add(len)
        });
        buffer.reserve(frame_len.saturating_sub(buffer.len()).max(READ_CHUNK));
        let read = tokio::select! {
            biased;
            () = shared.stop_reader.notified() => return,
            read = socket.read_buf(&mut buffer) => read,
        };
        match read {
            Ok(0) => {
                shared.close(Broken::Eof);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.close(Broken::io(&e));
                return;
            }
        }
    }
}
