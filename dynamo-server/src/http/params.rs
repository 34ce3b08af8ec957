//! Strict parsing of what a request carries besides its body: percent-encoded path segments
//! (bucket and key, arbitrary bytes), query parameters (only the names an endpoint accepts,
//! each at most once, with checked values), the context header and the content type.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use bytes::Bytes;
use dynamo_core::node::MAX_CLIENT_KEY_LEN;
use dynamo_core::version::{ContentType, Context};

use super::CONTEXT_HEADER;
use super::errors::ApiError;

/// Decodes `%XX` escapes (and, in a query, `+` as a space) into bytes.
///
/// # Errors
/// [`ApiError::BadRequest`] for a `%` not followed by two hex digits.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<Vec<u8>, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ApiError::bad(format!("bad percent-encoding in {s:?}"))),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The path segments of `path` (raw, percent-encoded), without the leading empty one.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').skip(1).collect()
}

/// The bucket of a `/buckets/{bucket}/...` path, decoded.
///
/// # Errors
/// [`ApiError::BadRequest`] for a bad escape, an empty or over-long name.
pub fn bucket_of(path: &str) -> Result<Bytes, ApiError> {
    let seg = segments(path);
    let raw = seg
        .get(1)
        .ok_or_else(|| ApiError::bad("the path names no bucket"))?;
    let bucket = percent_decode(raw, false)?;
    check_bucket(&bucket)?;
    Ok(Bytes::from(bucket))
}

/// The bucket and key of a `/buckets/{bucket}/keys/{key}` path, decoded.
///
/// # Errors
/// [`ApiError::BadRequest`] for a bad escape, an empty bucket or key, or a bucket and key
/// longer than [`MAX_CLIENT_KEY_LEN`] together.
pub fn bucket_and_key(path: &str) -> Result<(Bytes, Bytes), ApiError> {
    let bucket = bucket_of(path)?;
    let seg = segments(path);
    let raw = seg
        .get(3)
        .ok_or_else(|| ApiError::bad("the path names no key"))?;
    let key = percent_decode(raw, false)?;
    check_key(&bucket, &key)?;
    Ok((bucket, Bytes::from(key)))
}

/// Checks a bucket name (from any protocol): not empty, at most [`MAX_CLIENT_KEY_LEN`] bytes.
///
/// # Errors
/// [`ApiError::BadRequest`] saying which.
pub fn check_bucket(bucket: &[u8]) -> Result<(), ApiError> {
    if bucket.is_empty() {
        return Err(ApiError::bad("empty bucket name"));
    }
    if bucket.len() > MAX_CLIENT_KEY_LEN {
        return Err(ApiError::bad(format!(
            "bucket name of {} bytes; the maximum is {MAX_CLIENT_KEY_LEN}",
            bucket.len()
        )));
    }
    Ok(())
}

/// Checks a key of `bucket` (from any protocol): not empty, bucket and key at most
/// [`MAX_CLIENT_KEY_LEN`] bytes together.
///
/// # Errors
/// [`ApiError::BadRequest`] saying which.
pub fn check_key(bucket: &[u8], key: &[u8]) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad("empty key"));
    }
    if bucket.len() + key.len() > MAX_CLIENT_KEY_LEN {
        return Err(ApiError::bad(format!(
            "bucket and key are {} bytes together; the maximum is {MAX_CLIENT_KEY_LEN}",
            bucket.len() + key.len()
        )));
    }
    Ok(())
}

/// Parses a context token (from any protocol).
///
/// # Errors
/// [`ApiError::BadRequest`] for a malformed token.
pub fn context_token(token: &str) -> Result<Context, ApiError> {
    Context::from_token(token.trim()).map_err(|e| ApiError::bad(format!("malformed context: {e}")))
}

/// Parses a content type (from any protocol): `application/octet-stream` when empty.
///
/// # Errors
/// [`ApiError::BadRequest`] for a type that is not printable ASCII or too long.
pub fn content_type_str(s: &str) -> Result<ContentType, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(ContentType::octet_stream());
    }
    ContentType::new(s).map_err(|e| ApiError::bad(e.to_string()))
}

/// Query parameters, checked against the names an endpoint accepts.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query` (the raw query string, if any), accepting only names in `allowed`,
    /// each at most once.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for an unknown or repeated name, a bad escape, or a name or
    /// value that is not UTF-8.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = utf8(percent_decode(name, true)?, "query parameter name")?;
            let value = utf8(percent_decode(value, true)?, "query parameter value")?;
            if !allowed.contains(&name.as_str()) {
                let accepted = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad(format!(
                    "unknown query parameter {name:?} (accepted: {accepted})"
                )));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad(format!(
                    "query parameter {name:?} given twice"
                )));
            }
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    /// The raw value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A quorum (`r`, `w`, `n`): an integer from 1 to 255.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for anything else.
    pub fn quorum(&self, name: &str) -> Result<Option<u8>, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.parse::<u8>() {
            Ok(q) if q > 0 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(q)),
            _ => Err(ApiError::bad(format!(
                "query parameter {name}={v:?}: expected an integer from 1 to 255"
            ))),
        }
    }

    /// A durable-write quorum: an integer from 0 to 255 (absent: `None`).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for anything else.
    pub fn durable_quorum(&self, name: &str) -> Result<Option<u8>, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match v.parse::<u8>() {
            Ok(q) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(q)),
            _ => Err(ApiError::bad(format!(
                "query parameter {name}={v:?}: expected an integer from 0 to 255"
            ))),
        }
    }

    /// A boolean: `true` or `false` (absent: `false`).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for anything else.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(ApiError::bad(format!(
                "query parameter {name}={v:?}: expected true or false"
            ))),
        }
    }
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, ApiError> {
    String::from_utf8(bytes).map_err(|_| ApiError::bad(format!("{what} is not UTF-8")))
}

/// The context the request sends back: [`Context::new`] when there is no
/// `X-Dynamo-Context` header.
///
/// # Errors
/// [`ApiError::BadRequest`] for a header given twice, not ASCII, or not a valid token.
pub fn context(headers: &HeaderMap) -> Result<Context, ApiError> {
    let mut values = headers.get_all(CONTEXT_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(Context::new());
    };
    if values.next().is_some() {
        return Err(ApiError::bad("X-Dynamo-Context given more than once"));
    }
    let token = value
        .to_str()
        .map_err(|_| ApiError::bad("X-Dynamo-Context is not ASCII"))?;
    context_token(token).map_err(|e| ApiError::bad(format!("X-Dynamo-Context: {e}")))
}

/// The value's content type: the `Content-Type` header, `application/octet-stream` when
/// absent.
///
/// # Errors
/// [`ApiError::BadRequest`] for a type that is not printable ASCII or too long.
pub fn content_type(headers: &HeaderMap) -> Result<ContentType, ApiError> {
    match headers.get(CONTENT_TYPE) {
        None => Ok(ContentType::octet_stream()),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::bad("Content-Type is not ASCII"))?;
            content_type_str(s)
        }
    }
}

/// Checks the announced `Content-Length` against `max` before the body is read.
///
/// # Errors
/// [`ApiError::TooLarge`] above `max`; [`ApiError::BadRequest`] for a length that is not a
/// number.
pub fn check_length(headers: &HeaderMap, max: usize) -> Result<(), ApiError> {
    let Some(v) = headers.get(CONTENT_LENGTH) else {
        return Ok(());
    };
    let len: u64 = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::bad("Content-Length is not a number"))?;
    if len > max as u64 {
        return Err(ApiError::TooLarge {
            size: Some(len),
            max,
        });
    }
    Ok(())
}

/// True when the client asks for JSON (`Accept` lists `application/json`).
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%00", false).unwrap(), b"a/b\0");
        assert_eq!(percent_decode("a+b", false).unwrap(), b"a+b");
        assert_eq!(percent_decode("a+b", true).unwrap(), b"a b");
        assert!(percent_decode("a%2", false).is_err());
        assert!(percent_decode("a%zz", false).is_err());
        assert!(percent_decode("%", false).is_err());
    }

    #[test]
    fn paths() {
        let (b, k) = bucket_and_key("/buckets/b%20x/keys/%FF%00").unwrap();
        assert_eq!(&b[..], b"b x");
        assert_eq!(&k[..], b"\xff\0");
        assert!(bucket_and_key("/buckets/b/keys/").is_err());
        assert!(bucket_and_key("/buckets//keys/k").is_err());
        let long = "k".repeat(MAX_CLIENT_KEY_LEN);
        assert!(bucket_and_key(&format!("/buckets/b/keys/{long}")).is_err());
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some("r=2&returnbody=true"), &["r", "returnbody"]).unwrap();
        assert_eq!(q.quorum("r").unwrap(), Some(2));
        assert!(q.flag("returnbody").unwrap());
        assert_eq!(q.quorum("w").unwrap(), None);
        assert!(Query::parse(Some("x=1"), &["r"]).is_err());
        assert!(Query::parse(Some("r=1&r=2"), &["r"]).is_err());
        for bad in ["r=0", "r=-1", "r=+1", "r=256", "r=abc", "r=", "r"] {
            let q = Query::parse(Some(bad), &["r"]).unwrap();
            assert!(q.quorum("r").is_err(), "{bad}");
        }
        let q = Query::parse(Some("returnbody=yes"), &["returnbody"]).unwrap();
        assert!(q.flag("returnbody").is_err());
        assert!(Query::parse(Some("&&"), &[]).is_ok());
        assert!(Query::parse(Some("%FF=1"), &["r"]).is_err());
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        assert!(context(&h).unwrap().is_empty());
        h.insert(CONTEXT_HEADER, "garbage!".parse().unwrap());
        assert!(context(&h).is_err());
        h.insert(CONTENT_LENGTH, "100".parse().unwrap());
        assert!(check_length(&h, 100).is_ok());
        assert!(matches!(
            check_length(&h, 99),
            Err(ApiError::TooLarge { .. })
        ));
        h.insert(
            ACCEPT,
            "text/plain, Application/JSON; q=0.5".parse().unwrap(),
        );
        assert!(wants_json(&h));
        assert_eq!(content_type(&h).unwrap(), ContentType::octet_stream());
    }
}
