//! Rendering a read (a GET, or a PUT with `returnbody=true`): the status says how many
//! versions there are, the `X-Dynamo-Context` header carries the context, the body the
//! value(s).
//!
//! | versions | status | body |
//! |---|---|---|
//! | none | 404 | `not found` |
//! | only tombstones | 404 + `X-Dynamo-Deleted: true` | `deleted` |
//! | one live value | 200 | the value, with its `Content-Type` |
//! | several | 300 | `multipart/mixed`, one part per version |
//!
//! With `Accept: application/json` the status is the same and the body is always
//! `{"context": "...", "siblings": [...]}` (values in standard base64).

use axum::http::header::{CONTENT_TYPE, IntoHeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dynamo_core::proto::{ReadResult, ReadSibling};
use serde_json::json;

use super::multipart::{self, Part};
use super::{CONTEXT_HEADER, DELETED_HEADER, LAST_MODIFIED_HEADER};

/// The content type of a sibling as a header value (`application/octet-stream` when it has
/// none, as tombstones).
fn content_type_of(s: &ReadSibling) -> &str {
    if s.content_type.as_str().is_empty() {
        "application/octet-stream"
    } else {
        s.content_type.as_str()
    }
}

/// The response for `result`.
pub(crate) fn render(result: &ReadResult, json: bool) -> Response {
    // A context too large for a token (hundreds of actors) is left out: the client's next
    // write then replaces nothing, which is safe.
    let token = result.context.to_token().ok();
    let deleted = result.is_deleted();
    let status = if result.is_not_found() {
        StatusCode::NOT_FOUND
    } else if result.siblings.len() > 1 {
        StatusCode::MULTIPLE_CHOICES
    } else {
        StatusCode::OK
    };
    let mut response = if json {
        let siblings: Vec<_> = result
            .siblings
            .iter()
            .map(|s| {
                json!({
                    "value": STANDARD.encode(&s.value),
                    "content_type": s.content_type.as_str(),
                    "deleted": s.deleted,
                    "last_modified": s.last_modified.millis(),
                })
            })
            .collect();
        (
            status,
            axum::Json(json!({ "context": token, "siblings": siblings })),
        )
            .into_response()
    } else {
        match (status, result.siblings.as_slice()) {
            (StatusCode::NOT_FOUND, _) => (
                status,
                [(CONTENT_TYPE, "text/plain")],
                if deleted { "deleted\n" } else { "not found\n" },
            )
                .into_response(),
            (StatusCode::OK, [one]) => {
                let mut r = (status, one.value.clone()).into_response();
                set(&mut r, CONTENT_TYPE, content_type_of(one));
                set(
                    &mut r,
                    LAST_MODIFIED_HEADER,
                    &one.last_modified.millis().to_string(),
                );
                r
            }
            (_, siblings) => {
                let parts: Vec<Part> = siblings.iter().map(part).collect();
                let body = multipart::encode(&parts);
                let mut r = (status, body.body.clone()).into_response();
                set(&mut r, CONTENT_TYPE, &body.content_type());
                r
            }
        }
    };
    if let Some(token) = &token {
        set(&mut response, CONTEXT_HEADER, token);
    }
    if deleted {
        set(&mut response, DELETED_HEADER, "true");
    }
    response
}

/// The multipart part of one sibling.
fn part(s: &ReadSibling) -> Part {
    let mut headers = vec![
        ("Content-Type", content_type_of(s).to_owned()),
        (
            "X-Dynamo-Last-Modified",
            s.last_modified.millis().to_string(),
        ),
    ];
    if s.deleted {
        headers.push(("X-Dynamo-Deleted", "true".to_owned()));
    }
    Part {
        headers,
        body: s.value.clone(),
    }
}

/// Sets a header whose value is known to be valid (a token, a checked content type, a
/// number); a value that is not is skipped rather than panicking.
pub(crate) fn set<K: IntoHeaderName>(response: &mut Response, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}
