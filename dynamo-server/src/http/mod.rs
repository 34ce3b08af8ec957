//! The client-facing HTTP API (axum), following Riak's conventions.
//!
//! | Route | What |
//! |---|---|
//! | `GET /buckets/{b}/keys/{k}[?r=N]` | read: 200 one value, 300 siblings, 404 absent or deleted |
//! | `PUT /buckets/{b}/keys/{k}[?w=N&returnbody=true]` | write: 204, or the read's answer with `returnbody` |
//! | `DELETE /buckets/{b}/keys/{k}[?w=N]` | delete: 204 |
//! | `GET /buckets/{b}/keys[?limit=N&continuation=T]` | JSON: a page of the bucket's keys (see [`listing`]) |
//! | `GET /buckets` | JSON: the buckets with keys or properties that the caller may read |
//! | `GET`/`PUT /buckets/{b}/props` | bucket properties as JSON (`n`, `r`, `w`, `versioning`) |
//! | `GET /ping` | `OK` |
//! | `GET /stats` | JSON: the node, its metrics and its load |
//! | `GET /metrics` | Prometheus text |
//! | `GET /ring[?n=N]` | JSON: ring version, digest, partitions with owners and preference lists |
//! | `GET /members` | JSON: members with status, address and health |
//! | `GET /admin/status` | JSON: the node's admin report |
//! | `GET /ui`, `/ui/status`, `/ui/history` | the status page and the JSON it reads (see [`ui`]) |
//! | `POST /admin/join?seed=<id>@<host:port>` | join the cluster of `seed` |
//! | `POST /admin/leave` | leave the cluster |
//! | `GET`/`POST /admin/keys`, `DELETE /admin/keys/{id}` | list, make and revoke access keys |
//!
//! With `auth = "on"` every route but `/ping`, `/metrics`, `/ui`, `/ui/history` and the
//! CORS preflight `OPTIONS /ui/status` needs an access key (`Authorization: Bearer <id>.<secret>`; see [`crate::auth`] for what each route
//! needs).
//!
//! The causal context travels, opaque, in the `X-Dynamo-Context` header: returned by reads and
//! writes, sent back with the next write or delete of the key. Several concurrent versions
//! (siblings) come back as `300 Multiple Choices` with a `multipart/mixed` body, one part per
//! sibling with its own `Content-Type` (a deleted sibling is a part marked
//! `X-Dynamo-Deleted: true`), or, when the request says `Accept: application/json`, as
//! `{"context": "...", "siblings": [{"value": "<base64>", "content_type": "...",
//! "deleted": false, "last_modified": <ms>}]}`.
//!
//! Input is checked strictly: an unknown query parameter, a bad value, a malformed context, a
//! bad percent-encoding or an over-long key is `400`, a value above the configured maximum is
//! `413` (checked on `Content-Length` before reading, and while reading). Every error is JSON
//! `{"error": "<kind>", "message": "..."}` (see [`errors`]). Nothing a client sends can panic
//! a handler.
//!
//! Handlers only parse, hand a [`ClientRequest`](dynamo_core::proto::ClientRequest) to the
//! node thread through the [`NodeHandle`], and render its answer; they count what they see in
//! [`Metrics`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};

use crate::auth::KeyTable;
use crate::handle::NodeHandle;
use crate::metrics::Metrics;

mod admin;
mod buckets;
pub mod errors;
mod info;
pub(crate) mod keys;
pub mod listing;
pub mod multipart;
pub mod params;
mod read;
pub mod serve;
pub(crate) mod shards;
pub mod ui;

pub use errors::ApiError;

/// Header carrying the opaque causal context, on reads and writes.
pub const CONTEXT_HEADER: &str = "x-dynamo-context";
/// Header marking a deleted version (a 404's tombstones, a tombstone part of a 300).
pub const DELETED_HEADER: &str = "x-dynamo-deleted";
/// Header giving a version's last-modified time, in milliseconds since the UNIX epoch.
pub const LAST_MODIFIED_HEADER: &str = "x-dynamo-last-modified";

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The way to the node thread.
    pub handle: NodeHandle,
    /// Counters for `/stats` and `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Largest value accepted by a put, in bytes (larger is `413`).
    pub max_value_size: usize,
    /// The access keys requests are checked against; `None` when `auth` is off.
    pub keys: Option<KeyTable>,
    /// Signs and checks listing continuation tokens (derived from the cluster secret).
    pub listing_key: listing::TokenKey,
}

/// The HTTP API of one node (see the [module documentation](self) for the routes).
///
/// Request bodies are limited to `max_value_size` bytes (axum's [`DefaultBodyLimit`]);
/// unknown routes answer a JSON `404`.
pub fn router(state: HttpState) -> Router {
    let limit = state.max_value_size;
    Router::new()
        .route(
            "/buckets/{bucket}/keys/{key}",
            get(keys::get_key)
                .put(keys::put_key)
                .delete(keys::delete_key),
        )
        .route("/buckets", get(listing::list_buckets))
        .route("/buckets/{bucket}/keys", get(listing::list_keys))
        .route(
            "/buckets/{bucket}/props",
            get(buckets::get_props).put(buckets::put_props),
        )
        .route(
            "/props",
            get(buckets::get_default_props).put(buckets::put_default_props),
        )
        .route("/ping", get(info::ping))
        .route("/stats", get(info::stats))
        .route("/metrics", get(info::metrics))
        .route("/ring", get(info::ring))
        .route("/members", get(info::members))
        .route("/admin/status", get(admin::status))
        .route("/ui/status", get(ui::status).options(ui::status_preflight))
        .route("/admin/join", post(admin::join))
        .route("/admin/leave", post(admin::leave))
        .route("/admin/keys", get(admin::list_keys).post(admin::create_key))
        .route("/admin/keys/{id}", axum::routing::delete(admin::revoke_key))
        .fallback(info::no_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ring_header,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        // After the layers: the page and the load history need no key.
        .merge(ui::public_routes())
        .with_state(state)
}

/// The header every answer carries with the node's ring version: a client that routes by
/// the ring refreshes its copy when it sees a version above its own.
pub const RING_HEADER: &str = "x-dynamo-ring";

/// Adds [`RING_HEADER`] to the answer.
async fn ring_header(
    State(st): State<HttpState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let version = st
        .metrics
        .ring_version
        .load(std::sync::atomic::Ordering::Relaxed);
    response
        .headers_mut()
        .insert(RING_HEADER, axum::http::HeaderValue::from(version));
    response
}

/// Checks the request's access key against what its route needs ([`crate::auth`]); a
/// refusal is the JSON `401` or `403` of [`ApiError`], counted.
async fn authorize(
    State(st): State<HttpState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(keys) = &st.keys else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    let bucket = path
        .strip_prefix("/buckets/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|raw| params::percent_decode(raw, false).ok());
    let need = crate::auth::need_of(request.method(), path, bucket);
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match keys.check(authorization, &need) {
        Ok(()) => next.run(request).await,
        Err(crate::auth::Denied::Unauthenticated(why)) => {
            ApiError::Unauthorized(why.to_owned()).respond(&st.metrics)
        }
        Err(denied @ crate::auth::Denied::Forbidden(_)) => {
            ApiError::Forbidden(denied.to_string()).respond(&st.metrics)
        }
    }
}
