//! `GET /buckets/{bucket}/keys?limit=N&continuation=T` (a page of a bucket's keys) and
//! `GET /buckets` (the buckets that have keys or properties).
//!
//! A page is built from slices ([`dynamo_core::listing`]): the handler asks the node for one
//! bounded slice after another (each reads at most [`SLICE_BUDGET`] records of one partition,
//! from a live replica) until it has `limit` keys or has read the last partition. Each slice
//! is one command in the node's queue, so a listing never holds the node for longer than one
//! slice: the node serves the requests queued meanwhile between two slices.
//!
//! Keys are listed partition by partition (0 to Q - 1), each partition in key-byte order, so
//! the order is stable while the ring's partition count stays (it is fixed for the cluster's
//! life). Keys come percent-encoded as in a key's URL (`/buckets/{b}/keys/{key}`), so that any
//! byte string survives JSON.
//!
//! The continuation token is opaque base64url (no padding) over a versioned body (version 1:
//! partition, and the last key read or the partition's start), followed by a 16-byte
//! HMAC-SHA-256 tag over the bucket and the body, keyed by a key derived from the cluster
//! secret (a node without one uses the well-known loopback secret, so the tag is then a
//! checksum). Decoding checks the tag, the version, the partition against the ring, and the
//! key's length against the bucket; any failure is `400`, never a panic.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use dynamo_core::listing::{Cursor, Item, MAX_SLICE, Scope, Slice, SliceRequest};
use dynamo_core::membership::keys::Access;
use dynamo_core::node::MAX_CLIENT_KEY_LEN;
use dynamo_core::proto::{ClientRequest, ClientResponse};
use dynamo_core::ring::PartitionId;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::HttpState;
use super::errors::{ApiError, finish};
use super::keys::unexpected;
use super::params::{self, Query};
use crate::auth::Need;
use crate::secure::ClusterSecret;

/// Keys a page holds when the request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 1_000;
/// Most keys a page may hold.
pub const MAX_LIMIT: u32 = 10_000;
/// Records one slice reads at most: what one listing may hold the node's task for at a time.
pub const SLICE_BUDGET: u32 = 256;
/// Longest continuation token accepted, in characters (a key of the longest length, encoded).
pub const MAX_TOKEN_LEN: usize = 1_024;

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// The key that signs continuation tokens, derived from the cluster secret so that a token
/// made by one node is accepted by every node of the cluster.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// The key of the cluster whose secret is `secret`.
    pub fn from_secret(secret: &ClusterSecret) -> Self {
        let mut h = Sha256::new();
        h.update(b"dynamo listing continuation token key v1\0");
        h.update(secret.to_hex().as_bytes());
        TokenKey(h.finalize().into())
    }

    /// HMAC-SHA-256 (RFC 2104) of the bucket and the token body, truncated to 16 bytes.
    /// Public only for the fuzz harness, which signs its bodies so that mutations reach the
    /// fields behind the tag.
    #[doc(hidden)]
    pub fn tag(&self, bucket: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let pad = |byte: u8| block.map(|b| b ^ byte);
        let mut inner = Sha256::new();
        inner.update(pad(0x36));
        inner.update(
            u16::try_from(bucket.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        inner.update(bucket);
        inner.update(body);
        let mut outer = Sha256::new();
        outer.update(pad(0x5c));
        outer.update(inner.finalize());
        let full = outer.finalize();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

/// Where a listing resumes: a partition and a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The partition.
    pub partition: u32,
    /// The place in the partition.
    pub after: Cursor,
}

/// Why a continuation token was refused (each is a `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("the continuation token is too long")]
    TooLong,
    /// Not base64url.
    #[error("the continuation token is not base64url")]
    NotBase64,
    /// Shorter than its fixed fields.
    #[error("the continuation token is truncated")]
    Truncated,
    /// A version this node does not know.
    #[error("continuation token version {0} is not supported")]
    Version(u8),
    /// The tag does not match: altered, forged, or made for another bucket or cluster.
    #[error(
        "the continuation token is not valid for this bucket (altered, forged, or from another cluster)"
    )]
    BadTag,
    /// A field out of its bounds.
    #[error("the continuation token is malformed: {0}")]
    Field(&'static str),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Encodes the token of `position` in `bucket`.
pub fn encode_token(key: &TokenKey, bucket: &[u8], position: &Position) -> String {
    let mut body = vec![TOKEN_VERSION];
    body.extend_from_slice(&position.partition.to_be_bytes());
    match &position.after {
        Cursor::Start => body.push(0),
        Cursor::After(k) => {
            body.push(1);
            body.extend_from_slice(&u16::try_from(k.len()).unwrap_or(u16::MAX).to_be_bytes());
            body.extend_from_slice(k);
        }
    }
    let tag = key.tag(bucket, &body);
    body.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(body)
}

/// Decodes and checks a token for `bucket` in a ring of `partitions` partitions.
///
/// # Errors
/// [`TokenError`] for anything but a token this cluster made for this bucket.
pub fn decode_token(
    key: &TokenKey,
    bucket: &[u8],
    partitions: u32,
    token: &str,
) -> Result<Position, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::NotBase64)?;
    let Some(body_len) = raw.len().checked_sub(TAG_LEN) else {
        return Err(TokenError::Truncated);
    };
    let (body, tag) = raw.split_at(body_len);
    let version = *body.first().ok_or(TokenError::Truncated)?;
    if version != TOKEN_VERSION {
        return Err(TokenError::Version(version));
    }
    let expected = key.tag(bucket, body);
    if expected
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        != 0
    {
        return Err(TokenError::BadTag);
    }
    let Some((partition, rest)) = body[1..].split_first_chunk::<4>() else {
        return Err(TokenError::Truncated);
    };
    let partition = u32::from_be_bytes(*partition);
    if partition >= partitions {
        return Err(TokenError::Field("partition out of range"));
    }
    let after = match rest {
        [0] => Cursor::Start,
        [1, rest @ ..] => {
            let Some((len, k)) = rest.split_first_chunk::<2>() else {
                return Err(TokenError::Truncated);
            };
            let len = usize::from(u16::from_be_bytes(*len));
            if len != k.len() {
                return Err(TokenError::Field("key length"));
            }
            if len == 0 || bucket.len() + len > MAX_CLIENT_KEY_LEN {
                return Err(TokenError::Field("key length out of bounds"));
            }
            Cursor::After(Bytes::copy_from_slice(k))
        }
        [] => return Err(TokenError::Truncated),
        _ => return Err(TokenError::Field("position")),
    };
    Ok(Position { partition, after })
}

/// Percent-encodes `bytes` as a URL path segment (RFC 3986 unreserved characters kept).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page size of a `limit` parameter. Public only for the fuzz harness.
///
/// # Errors
/// `400` unless `limit` is absent or an integer from 1 to [`MAX_LIMIT`].
#[doc(hidden)]
pub fn limit_of(query: &Query) -> Result<u32, ApiError> {
    let Some(raw) = query.get("limit") else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(format!(
            "limit must be an integer from 1 to {MAX_LIMIT}, not {raw:?}"
        ))),
    }
}

/// The ring's partition count.
async fn partitions(st: &HttpState) -> Result<u32, ApiError> {
    Ok(st
        .handle
        .inspect(|node| node.config().ring.partitions())
        .await?)
}

/// One slice, asked of the node.
async fn slice(st: &HttpState, request: SliceRequest) -> Result<Slice, ApiError> {
    match st.handle.request(ClientRequest::ListSlice(request)).await? {
        ClientResponse::ListSlice(result) => Ok(result?),
        other => Err(unexpected("listing", &other)),
    }
}

/// `GET /buckets/{bucket}/keys[?limit=N&continuation=T]`.
pub(crate) async fn list_keys(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = list_keys_inner(&st, &uri).await;
    finish(&st.metrics, outcome)
}

async fn list_keys_inner(st: &HttpState, uri: &Uri) -> Result<Response, ApiError> {
    let bucket = params::bucket_of(uri.path())?;
    let query = Query::parse(uri.query(), &["limit", "continuation"])?;
    let limit = limit_of(&query)?;
    let partitions = partitions(st).await?;
    let mut position = match query.get("continuation") {
        None | Some("") => Position {
            partition: 0,
            after: Cursor::Start,
        },
        Some(token) => decode_token(&st.listing_key, &bucket, partitions, token)?,
    };
    let mut keys: Vec<Bytes> = Vec::new();
    while (keys.len() as u64) < u64::from(limit) && position.partition < partitions {
        let room = limit.saturating_sub(u32::try_from(keys.len()).unwrap_or(u32::MAX));
        let got = slice(
            st,
            SliceRequest {
                partition: PartitionId(position.partition),
                scope: Scope::Keys {
                    bucket: bucket.clone(),
                },
                after: position.after.clone(),
                max: room.clamp(1, SLICE_BUDGET.min(MAX_SLICE)),
            },
        )
        .await?;
        keys.extend(got.items.into_iter().map(|Item(k)| k));
        position = match got.next {
            Some(Item(last)) => Position {
                partition: position.partition,
                after: Cursor::After(last),
            },
            None => Position {
                partition: position.partition + 1,
                after: Cursor::Start,
            },
        };
    }
    let continuation = (position.partition < partitions)
        .then(|| encode_token(&st.listing_key, &bucket, &position));
    let keys: Vec<String> = keys.iter().map(|k| percent_encode(k)).collect();
    Ok(Json(json!({ "keys": keys, "continuation": continuation })).into_response())
}

/// Most buckets `GET /buckets` reports.
pub const MAX_BUCKETS: usize = 10_000;

/// `GET /buckets`: the buckets with keys (or tombstones not yet reaped) or their own
/// properties, that the caller's key may read.
pub(crate) async fn list_buckets(
    State(st): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let outcome = list_buckets_inner(&st, &uri, &headers).await;
    finish(&st.metrics, outcome)
}

async fn list_buckets_inner(
    st: &HttpState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    Query::parse(uri.query(), &[])?;
    let (partitions, mut buckets) = st
        .handle
        .inspect(|node| {
            let names: BTreeSet<Bytes> = node
                .membership()
                .state()
                .buckets()
                .keys()
                .cloned()
                .collect();
            (node.config().ring.partitions(), names)
        })
        .await?;
    let mut truncated = false;
    'partitions: for partition in 0..partitions {
        let mut after = Cursor::Start;
        loop {
            let got = slice(
                st,
                SliceRequest {
                    partition: PartitionId(partition),
                    scope: Scope::Buckets,
                    after,
                    max: SLICE_BUDGET.min(MAX_SLICE),
                },
            )
            .await?;
            buckets.extend(got.items.into_iter().map(|Item(b)| b));
            if buckets.len() > MAX_BUCKETS {
                truncated = true;
                break 'partitions;
            }
            match got.next {
                Some(Item(last)) => after = Cursor::After(last),
                None => break,
            }
        }
    }
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let names: Vec<String> = buckets
        .iter()
        .filter(|b| match &st.keys {
            None => true,
            Some(keys) => keys
                .check(authorization, &Need::Bucket(b.to_vec(), Access::Read))
                .is_ok(),
        })
        .take(MAX_BUCKETS)
        .map(|b| percent_encode(b))
        .collect();
    Ok(Json(json!({ "buckets": names, "truncated": truncated })).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn key() -> TokenKey {
        TokenKey::from_secret(&ClusterSecret::loopback_default())
    }

    #[test]
    fn tokens_round_trip() {
        for position in [
            Position {
                partition: 0,
                after: Cursor::Start,
            },
            Position {
                partition: 63,
                after: Cursor::After(Bytes::from_static(b"\x00key\xff")),
            },
        ] {
            let token = encode_token(&key(), b"cart", &position);
            assert!(
                token
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
            assert_eq!(decode_token(&key(), b"cart", 64, &token), Ok(position));
        }
    }

    #[test]
    fn forged_altered_or_foreign_tokens_are_refused() {
        let position = Position {
            partition: 5,
            after: Cursor::After(Bytes::from_static(b"alice")),
        };
        let token = encode_token(&key(), b"cart", &position);
        // Another bucket, another cluster.
        assert_eq!(
            decode_token(&key(), b"other", 64, &token),
            Err(TokenError::BadTag)
        );
        let other = TokenKey::from_secret(&ClusterSecret::from_hex(&"ab".repeat(32)).unwrap());
        assert_eq!(
            decode_token(&other, b"cart", 64, &token),
            Err(TokenError::BadTag)
        );
        // Every single-bit change of the bytes is refused.
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..raw.len() * 8 {
            let mut bad = raw.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let bad = URL_SAFE_NO_PAD.encode(bad);
            assert!(decode_token(&key(), b"cart", 64, &bad).is_err(), "bit {i}");
        }
        // A partition beyond the ring, though signed.
        assert_eq!(
            decode_token(&key(), b"cart", 4, &token),
            Err(TokenError::Field("partition out of range"))
        );
        for junk in ["", "!!!", "AA", &"A".repeat(2_000)] {
            assert!(decode_token(&key(), b"cart", 64, junk).is_err());
        }
    }

    #[test]
    fn signed_but_malformed_bodies_are_refused_without_panic() {
        let k = key();
        let sign = |body: &[u8]| {
            let mut raw = body.to_vec();
            raw.extend_from_slice(&k.tag(b"cart", body));
            URL_SAFE_NO_PAD.encode(raw)
        };
        for body in [
            &[][..],
            &[1],
            &[2, 0, 0, 0, 0, 0],
            &[1, 0, 0, 0, 0],
            &[1, 0, 0, 0, 0, 2],
            &[1, 0, 0, 0, 0, 1, 0],
            &[1, 0, 0, 0, 0, 1, 0, 0],
            &[1, 0, 0, 0, 0, 1, 0, 5, b'a'],
            &[1, 0, 0, 0, 0, 0, 9],
        ] {
            assert!(
                decode_token(&k, b"cart", 64, &sign(body)).is_err(),
                "{body:?}"
            );
        }
        let mut long = vec![1, 0, 0, 0, 0, 1, 1, 0xf0];
        long.extend(std::iter::repeat_n(b'x', 0x1f0));
        assert!(decode_token(&k, b"cart", 64, &sign(&long)).is_err());
    }

    #[test]
    fn percent_encoding_keeps_unreserved_bytes() {
        assert_eq!(percent_encode(b"a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode(b"a b/\xff"), "a%20b%2F%FF");
    }
}
