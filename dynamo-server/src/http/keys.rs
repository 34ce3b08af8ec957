//! `GET`, `PUT` and `DELETE /buckets/{bucket}/keys/{key}`.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dynamo_core::proto::{ClientRequest, ClientResponse, WriteResult};

use super::errors::{ApiError, finish};
use super::params::{self, Query};
use super::read::{render, set};
use super::{CONTEXT_HEADER, HttpState};

/// `GET /buckets/{bucket}/keys/{key}[?r=N]`.
pub(crate) async fn get_key(State(st): State<HttpState>, uri: Uri, headers: HeaderMap) -> Response {
    let start = Instant::now();
    let outcome = get_inner(&st, &uri, &headers).await;
    st.metrics.gets.inc();
    st.metrics.get_latency.observe(start.elapsed());
    finish(&st.metrics, outcome)
}

async fn get_inner(st: &HttpState, uri: &Uri, headers: &HeaderMap) -> Result<Response, ApiError> {
    let (bucket, key) = params::bucket_and_key(uri.path())?;
    let query = Query::parse(uri.query(), &["r"])?;
    let r = query.quorum("r")?;
    let json = params::wants_json(headers);
    match st
        .handle
        .request(ClientRequest::Get { bucket, key, r })
        .await?
    {
        ClientResponse::Get(result) => {
            let response = render(&result?, json);
            match response.status() {
                StatusCode::NOT_FOUND => st.metrics.not_found.inc(),
                StatusCode::MULTIPLE_CHOICES => st.metrics.sibling_reads.inc(),
                _ => {}
            }
            Ok(response)
        }
        other => Err(unexpected("get", &other)),
    }
}

/// `PUT /buckets/{bucket}/keys/{key}[?w=N&returnbody=true]`.
pub(crate) async fn put_key(State(st): State<HttpState>, request: Request) -> Response {
    let start = Instant::now();
    let outcome = put_inner(&st, request).await;
    st.metrics.puts.inc();
    st.metrics.put_latency.observe(start.elapsed());
    finish(&st.metrics, outcome)
}

async fn put_inner(st: &HttpState, request: Request) -> Result<Response, ApiError> {
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let (bucket, key) = params::bucket_and_key(uri.path())?;
    let query = Query::parse(uri.query(), &["w", "dw", "returnbody"])?;
    let w = query.quorum("w")?;
    let dw = query.durable_quorum("dw")?;
    let return_body = query.flag("returnbody")?;
    let context = params::context(&headers)?;
    let content_type = params::content_type(&headers)?;
    params::check_length(&headers, st.max_value_size)?;
    let value = read_body(st, request).await?;
    let json = params::wants_json(&headers);
    match st
        .handle
        .request(ClientRequest::Put {
            bucket,
            key,
            context,
            value,
            content_type,
            w,
            dw,
            return_body,
        })
        .await?
    {
        ClientResponse::Put(result) => Ok(written(result?, json)),
        other => Err(unexpected("put", &other)),
    }
}

/// `DELETE /buckets/{bucket}/keys/{key}[?w=N]`.
pub(crate) async fn delete_key(
    State(st): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let start = Instant::now();
    let outcome = delete_inner(&st, &uri, &headers).await;
    st.metrics.deletes.inc();
    st.metrics.delete_latency.observe(start.elapsed());
    finish(&st.metrics, outcome)
}

async fn delete_inner(
    st: &HttpState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (bucket, key) = params::bucket_and_key(uri.path())?;
    let query = Query::parse(uri.query(), &["w", "dw"])?;
    let w = query.quorum("w")?;
    let dw = query.durable_quorum("dw")?;
    let context = params::context(headers)?;
    match st
        .handle
        .request(ClientRequest::Delete {
            bucket,
            key,
            context,
            w,
            dw,
        })
        .await?
    {
        ClientResponse::Delete(result) => Ok(written(result?, false)),
        other => Err(unexpected("delete", &other)),
    }
}

/// The answer to a successful write: the read's rendering when the body was asked for,
/// else 204 with the new context.
fn written(result: WriteResult, json: bool) -> Response {
    if let Some(body) = &result.body {
        return render(body, json);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(token) = result.context.to_token() {
        set(&mut response, CONTEXT_HEADER, &token);
    }
    response
}

/// Reads the body within the configured limit (axum's `DefaultBodyLimit`).
pub(crate) async fn read_body(st: &HttpState, request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, st).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge {
                size: None,
                max: st.max_value_size,
            }
        } else {
            ApiError::bad(format!("could not read the body: {}", e.body_text()))
        }
    })
}

/// The node answered a request with a response of another kind: a bug, reported as 500.
pub(crate) fn unexpected(what: &str, response: &ClientResponse) -> ApiError {
    let kind = match response {
        ClientResponse::Get(_) => "get",
        ClientResponse::Put(_) => "put",
        ClientResponse::Delete(_) => "delete",
        ClientResponse::BucketProps(_) => "bucket props",
        ClientResponse::Admin(_) => "admin",
        ClientResponse::Keys(_) => "keys",
        ClientResponse::ListSlice(_) => "listing",
    };
    ApiError::Internal(format!("a {what} request was answered as a {kind} request"))
}
