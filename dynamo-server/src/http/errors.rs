//! The HTTP API's errors: one enum, one JSON shape, one status per kind.
//!
//! Every error is answered as `{"error": "<kind>", "message": "..."}` with, for
//! `unavailable`, the quorum `needed` and how many replicas `answered`, and for
//! `too_many_siblings` the `limit`:
//!
//! | kind | status | when |
//! |---|---|---|
//! | `unauthorized` | 401 | no access key, or one unknown, revoked or with the wrong secret |
//! | `forbidden` | 403 | a valid key without the permission |
//! | `bad_request` | 400 | malformed context, bad or unknown query parameter, bad JSON, bad key |
//! | `not_found` | 404 | no such route |
//! | `too_large` | 413 | a body above the maximum value size |
//! | `too_many_siblings` | 409 | the write would exceed the bucket's sibling cap |
//! | `unavailable` | 503 | R or W replicas did not answer in time |
//! | `overloaded` | 503 | admission control: the node's queue is full |
//! | `stopped` | 503 | the node is shutting down |
//! | `storage` | 500 | the storage engine failed |
//! | `internal` | 500 | a bug: the node answered with the wrong kind of response |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dynamo_core::proto::{QuorumKind, RequestError};
use serde_json::json;

use crate::handle::HandleError;
use crate::metrics::Metrics;

/// Why a request failed, as the HTTP API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid access key (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key without the permission (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route (404).
    #[error("no such resource: {0}")]
    NoRoute(String),
    /// The body is larger than the maximum value size (413).
    #[error("the body {} exceeds the maximum value size of {max} bytes", size.map(|s| format!("of {s} bytes")).unwrap_or_default())]
    TooLarge {
        /// The body's announced size, when known.
        size: Option<u64>,
        /// The maximum.
        max: usize,
    },
    /// The write would leave more siblings than the bucket allows (409).
    #[error("too many siblings (limit {limit}): read, resolve, and write with the merged context")]
    TooManySiblings {
        /// The bucket's cap.
        limit: usize,
    },
    /// The quorum was not met (503).
    #[error("{op} quorum not met: needed {needed}, {answered} answered")]
    Unavailable {
        /// The quorum.
        needed: u8,
        /// Replicas that answered successfully.
        answered: u8,
        /// Read or write.
        op: QuorumKind,
    },
    /// The node refused the request to protect itself (503).
    #[error("the node is overloaded; retry later")]
    Overloaded,
    /// The node thread has stopped (503).
    #[error("the node has stopped")]
    Stopped,
    /// The storage engine failed (500).
    #[error("storage error: {0}")]
    Storage(String),
    /// An answer that does not fit the request (500): a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A bad request with this message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManySiblings { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable { .. } | ApiError::Overloaded | ApiError::Stopped => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's kind, the `error` field of the JSON body.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NoRoute(_) => "not_found",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::TooManySiblings { .. } => "too_many_siblings",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Overloaded => "overloaded",
            ApiError::Stopped => "stopped",
            ApiError::Storage(_) => "storage",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Counts the error in the matching figure of `metrics`.
    pub fn count(&self, metrics: &Metrics) {
        match self {
            ApiError::BadRequest(_) | ApiError::TooLarge { .. } | ApiError::NoRoute(_) => {
                metrics.bad_requests.inc();
            }
            ApiError::Unavailable { .. } => metrics.unavailable.inc(),
            ApiError::Unauthorized(_) => metrics.auth_unauthorized.inc(),
            ApiError::Forbidden(_) => metrics.auth_forbidden.inc(),
            ApiError::Overloaded => metrics.overloaded.inc(),
            ApiError::Storage(_) => metrics.storage_errors.inc(),
            ApiError::TooManySiblings { .. } | ApiError::Stopped | ApiError::Internal(_) => {}
        }
    }

    /// Counts the error and renders it.
    pub fn respond(self, metrics: &Metrics) -> Response {
        self.count(metrics);
        self.into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.kind(), "message": self.to_string() });
        match &self {
            ApiError::Unavailable {
                needed,
                answered,
                op,
            } => {
                body["needed"] = (*needed).into();
                body["answered"] = (*answered).into();
                body["op"] = op.to_string().into();
            }
            ApiError::TooManySiblings { limit } => body["limit"] = (*limit).into(),
            ApiError::TooLarge { max, .. } => body["max"] = (*max).into(),
            _ => {}
        }
        (self.status(), Json(body)).into_response()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Unavailable {
                needed,
                answered,
                op,
            } => ApiError::Unavailable {
                needed,
                answered,
                op,
            },
            RequestError::InvalidRequest(m) => ApiError::BadRequest(m),
            RequestError::TooManySiblings { limit } => ApiError::TooManySiblings { limit },
            RequestError::Storage(m) => ApiError::Storage(m),
            RequestError::Overloaded => ApiError::Overloaded,
        }
    }
}

impl From<HandleError> for ApiError {
    fn from(e: HandleError) -> Self {
        match e {
            HandleError::Overloaded => ApiError::Overloaded,
            HandleError::Stopped => ApiError::Stopped,
        }
    }
}

/// Renders a handler's outcome, counting a failure.
pub(crate) fn finish(metrics: &Metrics, outcome: Result<Response, ApiError>) -> Response {
    match outcome {
        Ok(r) => r,
        Err(e) => e.respond(metrics),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_counts() {
        let m = Metrics::default();
        let e = ApiError::from(RequestError::Unavailable {
            needed: 2,
            answered: 1,
            op: QuorumKind::Write,
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.kind(), "unavailable");
        let _ = e.respond(&m);
        assert_eq!(m.unavailable.get(), 1);
        let e = ApiError::from(HandleError::Overloaded);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let _ = e.respond(&m);
        assert_eq!(m.overloaded.get(), 1);
        let e = ApiError::TooLarge {
            size: Some(10),
            max: 5,
        };
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.to_string().contains("of 10 bytes"));
        let _ = e.respond(&m);
        assert_eq!(m.bad_requests.get(), 1);
        assert_eq!(
            ApiError::from(RequestError::InvalidRequest("x".into())).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(RequestError::TooManySiblings { limit: 3 }).status(),
            StatusCode::CONFLICT
        );
    }
}
