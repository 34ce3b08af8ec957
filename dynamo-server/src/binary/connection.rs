//! One binary-protocol connection: a reader that hands requests to the node, and a writer
//! that sends the answers in batches (see the [module documentation](super)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use dynamo_protocol::{
    ErrorKind, ErrorReply, LENGTH_BYTES, RequestFrame, ResponseFrame, decode, encode_into,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, OwnedPermit, Receiver, Sender};

use super::{Answer, BinaryConfig, Outcome, convert};
use crate::auth::{Denied, Need};
use crate::handle::{NodeHandle, Reply};
use crate::http::ApiError;
use crate::metrics::Metrics;
use dynamo_core::membership::keys::Access;
use dynamo_protocol::Request;

/// Socket reads ask for at least this much room.
const READ_CHUNK: usize = 64 * 1024;
/// The writer stops gathering answers into one write past this many bytes.
const WRITE_BATCH: usize = 256 * 1024;

/// Serves one connection until the client closes it (after its answers are written), the
/// socket fails, or a frame cannot be decoded; over TLS when the listener has it (the
/// handshake must end within the frame timeout).
pub(super) async fn serve(
    stream: TcpStream,
    remote: SocketAddr,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    config: Arc<BinaryConfig>,
) {
    // Answers are small and latency-bound: no Nagle delay.
    let _ = stream.set_nodelay(true);
    match &config.tls {
        None => {
            let (read, write) = stream.into_split();
            serve_halves(read, write, remote, handle, metrics, config).await;
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(config.frame_timeout, acceptor.get().accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => {
                    let (read, write) = tokio::io::split(stream);
                    serve_halves(read, write, remote, handle, metrics, config).await;
                }
                Ok(Err(e)) => {
                    metrics.tls_handshake_failures.inc();
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    metrics.tls_handshake_failures.inc();
                    tracing::debug!(%remote, "TLS handshake timed out");
                }
            }
        }
    }
}

/// Serves a connection's two halves.
async fn serve_halves(
    read: impl AsyncRead + Unpin,
    write: impl AsyncWrite + Unpin,
    remote: SocketAddr,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    config: Arc<BinaryConfig>,
) {
    let (tx, rx) = mpsc::channel::<Answer>(config.max_in_flight.max(1));
    // One task for both halves: aborting the connection (server shutdown) stops both.
    tokio::join!(
        read_requests(read, tx, &handle, &config, remote),
        write_answers(write, rx, &metrics, config.max_answer_frame),
    );
}

/// Reads and dispatches requests until the stream ends or breaks. Returning drops the
/// queue's sender: the writer ends once the requests in flight are answered.
async fn read_requests(
    mut read: impl AsyncRead + Unpin,
    tx: Sender<Answer>,
    handle: &NodeHandle,
    config: &BinaryConfig,
    remote: SocketAddr,
) {
    let max_frame = config.max_request_frame();
    let mut session = Session::default();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        loop {
            match decode::<RequestFrame>(&buf, max_frame) {
                Ok(Some((frame, used))) => {
                    buf.advance(used);
                    // Waits while the connection has its maximum of requests in flight.
                    let Ok(permit) = tx.clone().reserve_owned().await else {
                        return; // The writer is gone: the socket failed.
                    };
                    dispatch(frame, permit, handle, config, &mut session);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "closing a binary-protocol connection: bad frame");
                    if let Ok(permit) = tx.reserve().await {
                        permit.send(Answer {
                            id: 0,
                            started: Instant::now(),
                            outcome: Outcome::Broken(e.to_string()),
                        });
                    }
                    return;
                }
            }
        }
        reserve_for_next_frame(&mut buf);
        let got = if buf.is_empty() {
            read.read_buf(&mut buf).await
        } else {
            // Inside a frame: the rest must come in time (no slow-loris frames).
            match tokio::time::timeout(config.frame_timeout, read.read_buf(&mut buf)).await {
                Ok(got) => got,
                Err(_) => {
                    tracing::debug!(%remote, "closing a binary-protocol connection: frame not completed in time");
                    return;
                }
            }
        };
        match got {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Makes room for the rest of the frame whose start `buf` holds (its length was already
/// checked against the maximum by `decode`), or for a chunk.
fn reserve_for_next_frame(buf: &mut BytesMut) {
    let wanted = match buf.first_chunk::<LENGTH_BYTES>() {
        Some(prefix) => usize::try_from(u32::from_be_bytes(*prefix))
            .unwrap_or(0)
            .saturating_add(LENGTH_BYTES)
            .max(READ_CHUNK),
        None => READ_CHUNK,
    };
    buf.reserve(wanted.saturating_sub(buf.len()));
}

/// The connection's access key, once it presented one ([`Request::Auth`]).
#[derive(Default)]
struct Session {
    token: Option<String>,
}

/// What a request needs from the connection's key (with `auth = "on"`).
fn need_of(request: &Request) -> Need {
    match request {
        Request::Get { bucket, .. } => Need::Bucket(bucket.to_vec(), Access::Read),
        Request::Put { bucket, .. } | Request::Delete { bucket, .. } => {
            Need::Bucket(bucket.to_vec(), Access::Write)
        }
        Request::Ping | Request::Auth { .. } => Need::Nothing,
    }
}

/// Hands one request to the node, or answers it at once (a ping, a key, a bad or refused
/// request, a full node).
fn dispatch(
    frame: RequestFrame,
    permit: OwnedPermit<Answer>,
    handle: &NodeHandle,
    config: &BinaryConfig,
    session: &mut Session,
) {
    let started = Instant::now();
    let id = frame.id;
    let op = convert::op_of(&frame.request);
    if let Request::Auth { token } = &frame.request {
        let checked = match &config.keys {
            Some(keys) => keys.check_token(token, &Need::AnyKey),
            None => Ok(()),
        };
        let outcome = match checked {
            Ok(()) => {
                session.token = Some(token.clone());
                Ok(())
            }
            Err(denied) => {
                session.token = None;
                Err(ApiError::Unauthorized(denied.to_string()))
            }
        };
        permit.send(Answer::local(id, started, op, outcome));
        return;
    }
    if let Some(keys) = &config.keys {
        let need = need_of(&frame.request);
        let checked = match &session.token {
            None if need != Need::Nothing => Err(ApiError::Unauthorized(
                "this connection has presented no access key (send Auth first)".into(),
            )),
            None => Ok(()),
            Some(token) => keys
                .check_token(token, &need)
                .map_err(|denied| match denied {
                    Denied::Unauthenticated(why) => ApiError::Unauthorized(why.to_owned()),
                    Denied::Forbidden(_) => ApiError::Forbidden(denied.to_string()),
                }),
        };
        if let Err(refused) = checked {
            permit.send(Answer::local(id, started, op, Err(refused)));
            return;
        }
    }
    match convert::request(frame.request, config.max_value_size) {
        Ok(Some(request)) => {
            let reply = Reply::Queued {
                id,
                started,
                permit,
            };
            if let Err((refused, Reply::Queued { permit, .. })) = handle.submit(request, reply) {
                permit.send(Answer::local(id, started, op, Err(refused.into())));
            }
        }
        Ok(None) => {
            permit.send(Answer::local(id, started, op, Ok(())));
        }
        Err(e) => {
            permit.send(Answer::local(id, started, op, Err(e)));
        }
    }
}

/// Writes answers as they come, as many per system call as are waiting, until every sender
/// (the reader and the places it reserved) is gone; then closes the sending side.
async fn write_answers(
    mut write: impl AsyncWrite + Unpin,
    mut rx: Receiver<Answer>,
    metrics: &Metrics,
    max_frame: usize,
) {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    while let Some(first) = rx.recv().await {
        buf.clear();
        encode_answer(first, metrics, max_frame, &mut buf);
        while buf.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(answer) => encode_answer(answer, metrics, max_frame, &mut buf),
                Err(_) => break,
            }
        }
        // TLS holds written bytes until flushed; plain TCP's flush does nothing.
        let written = async {
            write.write_all(&buf).await?;
            write.flush().await
        };
        if written.await.is_err() {
            return; // Dropping the receiver stops the reader at its next request.
        }
    }
    let _ = write.shutdown().await;
}

/// Appends the frame of `answer`; an answer too large for a frame is replaced by an error.
fn encode_answer(answer: Answer, metrics: &Metrics, max_frame: usize, buf: &mut Vec<u8>) {
    let frame = convert::answer(answer, metrics);
    if let Err(e) = encode_into(&frame, max_frame, buf) {
        let refusal = ResponseFrame {
            id: frame.id,
            result: Err(ErrorReply {
                kind: ErrorKind::Internal,
                message: format!("the answer cannot be sent: {e}"),
            }),
        };
        // A short error always fits: the maximum is at least a kilobyte.
        let _ = encode_into(&refusal, max_frame, buf);
    }
}
