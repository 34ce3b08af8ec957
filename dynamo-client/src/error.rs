//! What can go wrong talking to a node.

use std::time::Duration;

use dynamo_protocol::{ErrorKind, ErrorReply};
use serde::Deserialize;

/// Why a request failed: the node's documented errors, one variant each, and transport or
/// decoding failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node URL given to [`Client::new`](crate::Client::new) is not an `http(s)` URL.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bucket or key the client refuses to send (empty, or `.`/`..`, which URLs cannot
    /// carry as a path segment).
    #[error("invalid {what}: {reason}")]
    InvalidName {
        /// `bucket` or `key`.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The request did not complete: connection refused or reset, timeout, etc. (HTTP; the
    /// binary client's transport failures are [`Connect`](ClientError::Connect),
    /// [`Connection`](ClientError::Connection), [`ConnectionClosed`](ClientError::ConnectionClosed)
    /// and [`Timeout`](ClientError::Timeout)).
    ///
    /// Its message holds the whole chain of causes (reqwest's own message names only the
    /// URL; the reason, such as "connection refused", is in its sources), and it has no
    /// [`source`](std::error::Error::source), so that a caller printing the chain (`{:#}`
    /// with anyhow) does not print reqwest's message twice.
    #[error("request failed: {}", causes(.0))]
    Transport(reqwest::Error),
    /// The [`BinaryClient`](crate::BinaryClient) could not open a connection to the node.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The node's address, as given.
        address: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// TLS could not be set up: a CA file that cannot be read or holds no certificate, an
    /// address with no name a certificate can carry, or a handshake that failed (the node's
    /// certificate not signed by a trusted CA, or not for the host dialled). Nothing was
    /// sent.
    #[error("TLS: {message}")]
    Tls {
        /// What went wrong.
        message: String,
    },
    /// A write was sent to `node` and no answer came back (a timeout, a connection that
    /// broke after the request left): it may or may not have been applied. The
    /// [`ClusterClient`](crate::ClusterClient) does not send it to another node, since that
    /// could apply it twice; read the key to find out, or write again with the context of
    /// the last read.
    #[error("outcome unknown: the write was sent to {node} and no answer came ({message})")]
    OutcomeUnknown {
        /// The node the write was sent to.
        node: String,
        /// What happened to the request.
        message: String,
    },
    /// A binary connection failed (reset, broken pipe) with the request in flight. Whether the
    /// node applied a write is unknown; the next request opens a new connection.
    #[error("connection failed: {0}")]
    Connection(#[source] std::io::Error),
    /// The node closed the binary connection before answering. Whether it applied a write is
    /// unknown; the next request opens a new connection.
    #[error("the node closed the connection before answering")]
    ConnectionClosed,
    /// No answer within the [`BinaryClient`](crate::BinaryClient)'s request timeout
    /// (connecting included). A late answer is dropped; the connection stays open.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The binary connection carried bytes that are not a valid answer (malformed, oversized,
    /// of another protocol version), or the node said the client's frames were: the
    /// connection is closed, every request in flight on it fails, and the next request opens
    /// a new one. Also a well-formed answer of the wrong kind (a pong to a get); that one
    /// fails its request only.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// 503 `unavailable`: R or W replicas did not answer in time.
    #[error("unavailable: {message}")]
    Unavailable {
        /// The quorum needed, as the node reported it.
        needed: Option<u8>,
        /// How many replicas answered.
        answered: Option<u8>,
        /// The node's message.
        message: String,
    },
    /// 503 `overloaded` (or `stopped`): the node refuses work for now; retry later or elsewhere.
    #[error("overloaded: {message}")]
    Overloaded {
        /// The node's message.
        message: String,
    },
    /// 400 `bad_request`: malformed context, bad parameter, key too long, bad properties.
    #[error("bad request: {message}")]
    BadRequest {
        /// The node's message.
        message: String,
    },
    /// 413 `too_large`: the value is larger than the node accepts.
    #[error("value too large: {message}")]
    TooLarge {
        /// The node's message.
        message: String,
    },
    /// 409 `too_many_siblings`: read, resolve the siblings, and write with the merged context.
    #[error("too many siblings: {message}")]
    TooManySiblings {
        /// The bucket's cap, as the node reported it.
        limit: Option<usize>,
        /// The node's message.
        message: String,
    },
    /// Any other error answer (storage failure, unknown route, internal error).
    #[error("HTTP {status} {kind}: {message}")]
    Api {
        /// The HTTP status (over the binary protocol, the status the same error has over
        /// HTTP: 500 for `storage` and `internal`).
        status: u16,
        /// The error's kind (the `error` field), empty when the body was not the API's JSON.
        kind: String,
        /// The message, or the body's start.
        message: String,
    },
    /// A success answer the client could not understand (not the documented JSON).
    #[error("unexpected answer (HTTP {status}): {detail}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not decode.
        detail: String,
    },
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Transport(e)
    }
}

/// An error's message followed by each of its causes', joined by ": ".
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // A cause whose message the previous one already ends with adds nothing.
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

impl ClientError {
    /// True for errors worth retrying later or on another node: quorum not met, node
    /// overloaded or stopping, transport failure (HTTP or binary: connection refused, broken
    /// or closed, timeout).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::Unavailable { .. }
                | ClientError::Overloaded { .. }
                | ClientError::Transport(_)
                | ClientError::Connect { .. }
                | ClientError::Connection(_)
                | ClientError::ConnectionClosed
                | ClientError::Timeout(_)
        )
    }
}

/// The error for an error answer of the binary protocol: the same variant as the HTTP API's
/// answer of the same kind.
pub(crate) fn from_reply(reply: ErrorReply) -> ClientError {
    let ErrorReply { kind, message } = reply;
    let api = |kind: &str, message| ClientError::Api {
        status: 500,
        kind: kind.to_owned(),
        message,
    };
    match kind {
        ErrorKind::BadRequest => ClientError::BadRequest { message },
        ErrorKind::TooLarge { .. } => ClientError::TooLarge { message },
        ErrorKind::TooManySiblings { limit } => ClientError::TooManySiblings {
            limit: usize::try_from(limit).ok(),
            message,
        },
        ErrorKind::Unavailable { needed, answered } => ClientError::Unavailable {
            needed: Some(needed),
            answered: Some(answered),
            message,
        },
        ErrorKind::Overloaded | ErrorKind::Stopped => ClientError::Overloaded { message },
        ErrorKind::Storage => api("storage", message),
        ErrorKind::Internal => api("internal", message),
        ErrorKind::Protocol => ClientError::Protocol(format!("the node says: {message}")),
        ErrorKind::Unauthorized => ClientError::Api {
            status: 401,
            kind: "unauthorized".to_owned(),
            message,
        },
        ErrorKind::Forbidden => ClientError::Api {
            status: 403,
            kind: "forbidden".to_owned(),
            message,
        },
        // A kind added to the protocol after this client was built.
        other => api(&format!("{other:?}"), message),
    }
}

/// The API's error body.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    needed: Option<u8>,
    answered: Option<u8>,
    limit: Option<usize>,
}

/// The error for a failed answer of status `status` and body `body`.
pub(crate) fn from_answer(status: u16, body: &[u8]) -> ClientError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let Some(e) = parsed.filter(|e| !e.error.is_empty()) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return ClientError::Api {
            status,
            kind: String::new(),
            message: text,
        };
    };
    match e.error.as_str() {
        "unavailable" => ClientError::Unavailable {
            needed: e.needed,
            answered: e.answered,
            message: e.message,
        },
        "overloaded" | "stopped" => ClientError::Overloaded { message: e.message },
        "bad_request" => ClientError::BadRequest { message: e.message },
        "too_large" => ClientError::TooLarge { message: e.message },
        "too_many_siblings" => ClientError::TooManySiblings {
            limit: e.limit,
            message: e.message,
        },
        _ => ClientError::Api {
            status,
            kind: e.error,
            message: e.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_variants() {
        let e = from_answer(
            503,
            br#"{"error":"unavailable","message":"m","needed":2,"answered":1}"#,
        );
        assert!(matches!(
            e,
            ClientError::Unavailable {
                needed: Some(2),
                answered: Some(1),
                ..
            }
        ));
        assert!(e.is_retryable());
        let e = from_answer(400, br#"{"error":"bad_request","message":"no"}"#);
        assert!(matches!(e, ClientError::BadRequest { ref message } if message == "no"));
        assert!(!e.is_retryable());
        let e = from_answer(500, br#"{"error":"storage","message":"disk"}"#);
        assert!(matches!(e, ClientError::Api { status: 500, ref kind, .. } if kind == "storage"));
        let e = from_answer(502, b"<html>bad gateway</html>");
        assert!(matches!(e, ClientError::Api { status: 502, ref kind, .. } if kind.is_empty()));
    }

    fn reply(kind: ErrorKind) -> ClientError {
        from_reply(ErrorReply {
            kind,
            message: "m".into(),
        })
    }

    #[test]
    fn binary_error_replies_map_to_the_http_variants() {
        let e = reply(ErrorKind::Unavailable {
            needed: 2,
            answered: 1,
        });
        assert!(matches!(
            e,
            ClientError::Unavailable {
                needed: Some(2),
                answered: Some(1),
                ref message,
            } if message == "m"
        ));
        assert!(e.is_retryable());
        for kind in [ErrorKind::Overloaded, ErrorKind::Stopped] {
            let e = reply(kind);
            assert!(matches!(e, ClientError::Overloaded { .. }), "{e}");
            assert!(e.is_retryable());
        }
        let e = reply(ErrorKind::BadRequest);
        assert!(matches!(e, ClientError::BadRequest { ref message } if message == "m"));
        assert!(!e.is_retryable());
        let e = reply(ErrorKind::TooLarge { max: 10 });
        assert!(matches!(e, ClientError::TooLarge { .. }), "{e}");
        let e = reply(ErrorKind::TooManySiblings { limit: 7 });
        assert!(
            matches!(e, ClientError::TooManySiblings { limit: Some(7), .. }),
            "{e}"
        );
        let e = reply(ErrorKind::Storage);
        assert!(matches!(e, ClientError::Api { status: 500, ref kind, .. } if kind == "storage"));
        let e = reply(ErrorKind::Internal);
        assert!(matches!(e, ClientError::Api { status: 500, ref kind, .. } if kind == "internal"));
        let e = reply(ErrorKind::Protocol);
        assert!(
            matches!(e, ClientError::Protocol(ref m) if m.contains('m')),
            "{e}"
        );
        assert!(!e.is_retryable());
    }

    #[test]
    fn binary_transport_failures_are_retryable() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for e in [
            ClientError::Connect {
                address: "h:1".into(),
                source: io(),
            },
            ClientError::Connection(io()),
            ClientError::ConnectionClosed,
            ClientError::Timeout(Duration::from_secs(1)),
        ] {
            assert!(e.is_retryable(), "{e}");
        }
        assert!(!ClientError::Protocol("garbage".into()).is_retryable());
        let e = ClientError::Connect {
            address: "h:1".into(),
            source: io(),
        };
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("h:1"), "{e}");
    }
}
