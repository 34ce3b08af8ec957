//! `GET` and `PUT /buckets/{bucket}/props`: a bucket's replication, versioning and durability
//! as JSON `{"n": 3, "r": 2, "w": 2, "versioning": "dvv", "durability": "all"}`. A PUT may give any subset of the fields;
//! the others keep their current values. The change spreads to the cluster by gossip.
//!
//! `GET` and `PUT /props`: the same for the cluster's defaults, which every bucket without
//! its own properties uses.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Json, http::Uri};
use dynamo_core::membership::{DurabilityMode, parse_versioning_mode, versioning_mode_name};
use dynamo_core::node::BucketProps;
use dynamo_core::proto::{ClientRequest, ClientResponse};
use serde::{Deserialize, Serialize};

use super::HttpState;
use super::errors::{ApiError, finish};
use super::keys::{read_body, unexpected};
use super::params::{self, Query};

/// Bucket properties as the API spells them.
#[derive(Debug, Clone, Serialize)]
struct PropsJson {
    n: u8,
    r: u8,
    w: u8,
    versioning: &'static str,
    durability: &'static str,
}

impl From<BucketProps> for PropsJson {
    fn from(p: BucketProps) -> Self {
        PropsJson {
            n: p.n,
            r: p.r,
            w: p.w,
            versioning: versioning_mode_name(p.mode),
            durability: p.durability.name(),
        }
    }
}

/// The fields a PUT may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropsPatch {
    n: Option<u8>,
    r: Option<u8>,
    w: Option<u8>,
    versioning: Option<String>,
    durability: Option<String>,
}

/// `GET /buckets/{bucket}/props`.
pub(crate) async fn get_props(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        let bucket = params::bucket_of(uri.path())?;
        get_inner(&st, &uri, Some(bucket)).await
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `GET /props`: the cluster's defaults.
pub(crate) async fn get_default_props(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = get_inner(&st, &uri, None).await;
    finish(&st.metrics, outcome)
}

async fn get_inner(
    st: &HttpState,
    uri: &Uri,
    bucket: Option<bytes::Bytes>,
) -> Result<Response, ApiError> {
    Query::parse(uri.query(), &[])?;
    let props = current(st, bucket).await?;
    Ok(Json(PropsJson::from(props)).into_response())
}

/// `PUT /buckets/{bucket}/props`: answers the new properties.
pub(crate) async fn put_props(State(st): State<HttpState>, request: Request) -> Response {
    let outcome = async {
        let bucket = params::bucket_of(request.uri().path())?;
        put_inner(&st, request, Some(bucket)).await
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `PUT /props`: sets the cluster's defaults; answers them.
pub(crate) async fn put_default_props(State(st): State<HttpState>, request: Request) -> Response {
    let outcome = put_inner(&st, request, None).await;
    finish(&st.metrics, outcome)
}

/// Reads the patch, applies it to the current properties of `bucket` (the cluster's
/// defaults for `None`) and sets the result.
async fn put_inner(
    st: &HttpState,
    request: Request,
    bucket: Option<bytes::Bytes>,
) -> Result<Response, ApiError> {
    let uri = request.uri().clone();
    let headers: HeaderMap = request.headers().clone();
    Query::parse(uri.query(), &[])?;
    params::check_length(&headers, st.max_value_size)?;
    let body = read_body(st, request).await?;
    let patch: PropsPatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("bad bucket properties JSON: {e}")))?;
    let mut props = current(st, bucket.clone()).await?;
    if let Some(n) = patch.n {
        props.n = n;
    }
    if let Some(r) = patch.r {
        props.r = r;
    }
    if let Some(w) = patch.w {
        props.w = w;
    }
    if let Some(v) = &patch.versioning {
        props.mode = parse_versioning_mode(v).map_err(|e| ApiError::bad(e.to_string()))?;
    }
    if let Some(d) = &patch.durability {
        props.durability = DurabilityMode::parse(d).map_err(|e| ApiError::bad(e.to_string()))?;
    }
    props.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    let request = match bucket {
        Some(bucket) => ClientRequest::SetBucketProps { bucket, props },
        None => ClientRequest::SetDefaultProps { props },
    };
    match st.handle.request(request).await? {
        ClientResponse::BucketProps(r) => Ok(Json(PropsJson::from(r?)).into_response()),
        other => Err(unexpected("set bucket props", &other)),
    }
}

/// The properties of `bucket` (the cluster's defaults for `None`) as the node knows them.
async fn current(st: &HttpState, bucket: Option<bytes::Bytes>) -> Result<BucketProps, ApiError> {
    let request = match bucket {
        Some(bucket) => ClientRequest::GetBucketProps { bucket },
        None => ClientRequest::GetDefaultProps,
    };
    match st.handle.request(request).await? {
        ClientResponse::BucketProps(r) => Ok(r?),
        other => Err(unexpected("get bucket props", &other)),
    }
}
