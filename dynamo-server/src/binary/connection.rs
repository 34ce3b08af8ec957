//! One binary-protocol connection: a reader that hands requests to the node, and a writer
//! that sends the answers in batches (see the [module documentation](super)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use dynamo_protocol::{
    ErrorKind, ErrorReply, LENGTH_BYTES, RequestFrame, ResponseFrame, decode, encode_into,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{self, OwnedPermit, Receiver, Sender};

use super::{Answer, BinaryConfig, Op, Outcome, convert};
use crate::handle::{NodeHandle, Reply};
use crate::metrics::Metrics;

/// Socket reads ask for at least this much room.
const READ_CHUNK: usize = 64 * 1024;
/// The writer stops gathering answers into one write past this many bytes.
const WRITE_BATCH: usize = 256 * 1024;

/// Serves one connection until the client closes it (after its answers are written), the
/// socket fails, or a frame cannot be decoded.
pub(super) async fn serve(
    stream: TcpStream,
    remote: SocketAddr,
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    config: Arc<BinaryConfig>,
) {
    // Answers are small and latency-bound: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
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
    mut read: OwnedReadHalf,
    tx: Sender<Answer>,
    handle: &NodeHandle,
    config: &BinaryConfig,
    remote: SocketAddr,
) {
    let max_frame = config.max_request_frame();
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
                    dispatch(frame, permit, handle, config.max_value_size);
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

/// Hands one request to the node, or answers it at once (a ping, a bad request, a full node).
fn dispatch(
    frame: RequestFrame,
    permit: OwnedPermit<Answer>,
    handle: &NodeHandle,
    max_value: usize,
) {
    let started = Instant::now();
    let id = frame.id;
    let op = convert::op_of(&frame.request);
    match convert::request(frame.request, max_value) {
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
            permit.send(Answer::local(id, started, Op::Ping, Ok(())));
        }
        Err(e) => {
            permit.send(Answer::local(id, started, op, Err(e)));
        }
    }
}

/// Writes answers as they come, as many per system call as are waiting, until every sender
/// (the reader and the places it reserved) is gone; then closes the sending side.
async fn write_answers(
    mut write: OwnedWriteHalf,
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
        if write.write_all(&buf).await.is_err() {
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
