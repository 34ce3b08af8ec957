//! Between the binary protocol's messages and the node's: requests are checked exactly as the
//! HTTP API checks them (same limits, same messages), answers keep the same meaning, and each
//! answer counts in the same figures.

use dynamo_core::proto::{ClientRequest, ClientResponse, ReadResult, WriteResult};
use dynamo_core::version::{ContentType, Context};
use dynamo_protocol::{ErrorKind, ErrorReply, Read, Request, Response, ResponseFrame, Sibling};

use super::{Answer, Op, Outcome};
use crate::http::ApiError;
use crate::http::params::{check_bucket, check_key, content_type_str, context_token};
use crate::metrics::Metrics;

/// The operation of `request`, for the figures of a request refused before the node.
pub(super) fn op_of(request: &Request) -> Op {
    match request {
        Request::Get { .. } => Op::Get,
        Request::Put { .. } => Op::Put,
        Request::Delete { .. } => Op::Delete,
        Request::Ping => Op::Ping,
        Request::Auth { .. } => Op::Auth,
    }
}

/// The node's request for `request`; `None` for a ping, which the node never sees.
///
/// # Errors
/// [`ApiError::BadRequest`] for a bad bucket, key, quorum, context or content type,
/// [`ApiError::TooLarge`] for a value above `max_value_size`.
pub(super) fn request(
    request: Request,
    max_value_size: usize,
) -> Result<Option<ClientRequest>, ApiError> {
    Ok(Some(match request {
        Request::Ping | Request::Auth { .. } => return Ok(None),
        Request::Get { bucket, key, r } => {
            check_bucket(&bucket)?;
            check_key(&bucket, &key)?;
            ClientRequest::Get {
                bucket,
                key,
                r: quorum("r", r)?,
            }
        }
        Request::Put {
            bucket,
            key,
            context,
            value,
            content_type,
            w,
            dw,
            return_body,
        } => {
            check_bucket(&bucket)?;
            check_key(&bucket, &key)?;
            if value.len() > max_value_size {
                return Err(ApiError::TooLarge {
                    size: u64::try_from(value.len()).ok(),
                    max: max_value_size,
                });
            }
            ClientRequest::Put {
                bucket,
                key,
                context: context_of(context.as_deref())?,
                value,
                content_type: match content_type.as_deref() {
                    None => ContentType::octet_stream(),
                    Some(s) => content_type_str(s)?,
                },
                w: quorum("w", w)?,
                dw,
                return_body,
            }
        }
        Request::Delete {
            bucket,
            key,
            context,
            w,
            dw,
        } => {
            check_bucket(&bucket)?;
            check_key(&bucket, &key)?;
            ClientRequest::Delete {
                bucket,
                key,
                context: context_of(context.as_deref())?,
                w: quorum("w", w)?,
                dw,
            }
        }
    }))
}

/// A request's quorum: absent, or from 1 to 255.
fn quorum(name: &str, q: Option<u8>) -> Result<Option<u8>, ApiError> {
    match q {
        Some(0) => Err(ApiError::bad(format!(
            "{name}=0: a quorum is from 1 to 255"
        ))),
        q => Ok(q),
    }
}

/// A request's context: none is a blind write.
fn context_of(token: Option<&str>) -> Result<Context, ApiError> {
    match token {
        None => Ok(Context::new()),
        Some(t) => context_token(t),
    }
}

/// The frame answering `answer`, counted in `metrics` as the HTTP API counts its answers.
pub(super) fn answer(answer: Answer, metrics: &Metrics) -> ResponseFrame {
    let elapsed = answer.elapsed();
    let (op, result) = match answer.outcome {
        Outcome::Node(response) => node_answer(response),
        Outcome::Local(op, result) => (
            op,
            result.map(|()| {
                if op == Op::Auth {
                    Response::Authenticated
                } else {
                    Response::Pong
                }
            }),
        ),
        Outcome::Broken(message) => {
            metrics.binary_bad_frames.inc();
            return ResponseFrame {
                id: 0,
                result: Err(ErrorReply {
                    kind: ErrorKind::Protocol,
                    message,
                }),
            };
        }
    };
    match op {
        Op::Get => {
            metrics.gets.inc();
            metrics.get_latency.observe(elapsed);
            if let Ok(Response::Read(read)) = &result {
                count_read(read, metrics);
            }
        }
        Op::Put => {
            metrics.puts.inc();
            metrics.put_latency.observe(elapsed);
        }
        Op::Delete => {
            metrics.deletes.inc();
            metrics.delete_latency.observe(elapsed);
        }
        Op::Ping | Op::Auth => {}
    }
    ResponseFrame {
        id: answer.id,
        result: result.map_err(|e| {
            e.count(metrics);
            error_reply(&e)
        }),
    }
}

/// The operation and outcome of the node's answer.
fn node_answer(response: ClientResponse) -> (Op, Result<Response, ApiError>) {
    match response {
        ClientResponse::Get(result) => (
            Op::Get,
            result.map(|r| Response::Read(read(&r))).map_err(Into::into),
        ),
        ClientResponse::Put(result) => (Op::Put, result.map(written).map_err(Into::into)),
        ClientResponse::Delete(result) => (Op::Delete, result.map(written).map_err(Into::into)),
        other => (
            Op::Get,
            Err(crate::http::keys::unexpected("binary-protocol", &other)),
        ),
    }
}

/// Counts a read as the HTTP API does: not found (nothing or only tombstones), siblings.
fn count_read(read: &Read, metrics: &Metrics) {
    if read.siblings.iter().all(|s| s.deleted) {
        metrics.not_found.inc();
    } else if read.siblings.len() > 1 {
        metrics.sibling_reads.inc();
    }
}

/// A read as the protocol carries it.
fn read(result: &ReadResult) -> Read {
    Read {
        // A context too large for a token is left out, as the HTTP API does.
        context: result.context.to_token().ok(),
        siblings: result
            .siblings
            .iter()
            .map(|s| Sibling {
                value: s.value.clone(),
                content_type: s.content_type.as_str().to_owned(),
                last_modified: s.last_modified.millis(),
                deleted: s.deleted,
            })
            .collect(),
    }
}

fn written(result: WriteResult) -> Response {
    Response::Written {
        context: result.context.to_token().ok(),
        body: result.body.as_ref().map(read),
    }
}

/// The protocol's form of an error.
pub(super) fn error_reply(e: &ApiError) -> ErrorReply {
    let kind = match e {
        ApiError::BadRequest(_) | ApiError::NoRoute(_) => ErrorKind::BadRequest,
        ApiError::Unauthorized(_) => ErrorKind::Unauthorized,
        ApiError::Forbidden(_) => ErrorKind::Forbidden,
        ApiError::TooLarge { max, .. } => ErrorKind::TooLarge {
            max: u64::try_from(*max).unwrap_or(u64::MAX),
        },
        ApiError::TooManySiblings { limit } => ErrorKind::TooManySiblings {
            limit: u64::try_from(*limit).unwrap_or(u64::MAX),
        },
        ApiError::Unavailable {
            needed, answered, ..
        } => ErrorKind::Unavailable {
            needed: *needed,
            answered: *answered,
        },
        ApiError::Overloaded => ErrorKind::Overloaded,
        ApiError::Stopped => ErrorKind::Stopped,
        ApiError::Storage(_) => ErrorKind::Storage,
        ApiError::Internal(_) => ErrorKind::Internal,
    };
    ErrorReply {
        kind,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamo_core::proto::{QuorumKind, RequestError};
    use std::time::Instant;

    fn put(value_len: usize) -> Request {
        Request::Put {
            bucket: "b".into(),
            key: "k".into(),
            context: None,
            value: vec![0; value_len].into(),
            content_type: None,
            w: None,
            dw: Some(0),
            return_body: false,
        }
    }

    #[test]
    fn requests_are_checked_as_over_http() {
        assert!(matches!(
            request(put(10), 10),
            Ok(Some(ClientRequest::Put { dw: Some(0), .. }))
        ));
        assert!(matches!(
            request(put(11), 10),
            Err(ApiError::TooLarge { max: 10, .. })
        ));
        let bad = [
            Request::Get {
                bucket: "".into(),
                key: "k".into(),
                r: None,
            },
            Request::Get {
                bucket: "b".into(),
                key: "".into(),
                r: None,
            },
            Request::Get {
                bucket: "b".into(),
                key: "k".into(),
                r: Some(0),
            },
            Request::Delete {
                bucket: "b".into(),
                key: "k".into(),
                context: Some("not a token".into()),
                w: None,
                dw: None,
            },
        ];
        for r in bad {
            assert!(
                matches!(request(r.clone(), 10), Err(ApiError::BadRequest(_))),
                "{r:?}"
            );
        }
        assert!(matches!(request(Request::Ping, 10), Ok(None)));
    }

    #[test]
    fn answers_are_counted_like_the_http_apis() {
        let m = Metrics::default();
        let not_found = Answer::node(
            3,
            Instant::now(),
            ClientResponse::Get(Ok(ReadResult {
                siblings: vec![],
                context: Context::new(),
            })),
        );
        let frame = answer(not_found, &m);
        assert_eq!(frame.id, 3);
        assert!(
            matches!(frame.result, Ok(Response::Read(Read { ref siblings, .. })) if siblings.is_empty())
        );
        assert_eq!((m.gets.get(), m.not_found.get()), (1, 1));
        let refused = Answer::node(
            4,
            Instant::now(),
            ClientResponse::Put(Err(RequestError::Unavailable {
                needed: 2,
                answered: 1,
                op: QuorumKind::Write,
            })),
        );
        let frame = answer(refused, &m);
        assert_eq!(
            frame.result.unwrap_err().kind,
            ErrorKind::Unavailable {
                needed: 2,
                answered: 1
            }
        );
        assert_eq!((m.puts.get(), m.unavailable.get()), (1, 1));
    }
}
