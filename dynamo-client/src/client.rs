//! The [`Client`]: one node's HTTP API as async methods.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::admin::{AdminStatus, KeyInfo, Members, NewKey, RingInfo};
use crate::error::{ClientError, from_answer};
use crate::tls::TlsConfig;
use crate::types::{
    BucketProps, BucketPropsUpdate, Context, DeleteOptions, GetOptions, Object, PutOptions,
    PutResult, ReadJson, Sibling,
};

/// The header carrying the causal context.
pub const CONTEXT_HEADER: &str = "x-dynamo-context";

/// A client of one node's HTTP API. Cheap to clone (connections are pooled and shared).
///
/// Any node accepts any request: it coordinates it or forwards it to a node that stores the
/// key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The node's base URL, without a trailing `/` (shared: clones are cheap).
    base: Arc<str>,
    /// Where the highest ring version seen in answers (`X-Dynamo-Ring`) is kept, for a
    /// routing [`ClusterClient`](crate::ClusterClient).
    ring_seen: Option<Arc<AtomicU64>>,
}

/// The header in which nodes announce their ring version.
pub const RING_HEADER: &str = "x-dynamo-ring";

/// A [`Client`] being configured: see [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    token: Option<String>,
    tls: Option<TlsConfig>,
    timeout: Duration,
}

impl ClientBuilder {
    /// Sends the access key `token` (`<id>.<secret>`) with every request.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Trusts the certificates `tls` trusts for an `https://` URL (default: the system's
    /// roots).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The time limit of a request, connecting included (default
    /// [`Client::DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// As [`Client::new`] and [`Client::with_token`]; [`ClientError::Tls`] if TLS cannot be
    /// set up.
    pub fn build(self) -> Result<Client, ClientError> {
        let headers = auth_headers(self.token.as_deref(), &self.base_url)?;
        let http = crate::tls::http_builder(self.tls.as_ref())?
            .timeout(self.timeout)
            .tcp_nodelay(true)
            .no_proxy()
            .default_headers(headers)
            .build()?;
        Client::with_http_client(&self.base_url, http)
    }
}

/// The default headers of a client sending the access key `token` (none without one): its
/// `Authorization: Bearer` header, marked sensitive. `url` names the node in the error.
pub(crate) fn auth_headers(token: Option<&str>, url: &str) -> Result<HeaderMap, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientError::InvalidUrl {
                url: url.to_owned(),
                reason: "the access key is not a valid header value".to_owned(),
            })?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// An answer read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn context(&self) -> Option<Context> {
        self.headers
            .get(CONTEXT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Context::from_token)
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Decode {
            status: self.status.as_u16(),
            detail: format!("bad JSON: {e}"),
        })
    }

    /// The answer as an error.
    fn error(&self) -> ClientError {
        from_answer(self.status.as_u16(), &self.body)
    }
}

impl Client {
    /// Default time limit of a request, connection included.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A client of the node at `base_url` (e.g. `http://127.0.0.1:8001`), with
    /// [`Client::DEFAULT_TIMEOUT`] and `TCP_NODELAY`; an `https://` URL trusts the system's
    /// roots (see [`Client::builder`] for a CA file, a key or another timeout).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] unless `base_url` is an `http` or `https` URL without query
    /// or fragment; [`ClientError::Transport`] if the HTTP client cannot be built.
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        Client::builder(base_url).build()
    }

    /// A client of the node at `base_url` that sends the access key `token` (`<id>.<secret>`,
    /// as `dynamo admin key create` prints it) with every request.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] as for [`Client::new`], or for a token that cannot be a
    /// header value.
    pub fn with_token(base_url: &str, token: &str) -> Result<Client, ClientError> {
        Client::builder(base_url).token(token).build()
    }

    /// A client of the node at `base_url` with more settings: an access key, the CA that
    /// signs the node's certificate, a timeout.
    ///
    /// ```no_run
    /// use dynamo_client::{Client, TlsConfig};
    ///
    /// # fn demo() -> Result<(), dynamo_client::ClientError> {
    /// let client = Client::builder("https://127.0.0.1:8001")
    ///     .tls(TlsConfig::from_ca_file("dynamo-up/tls/ca.pem")?)
    ///     .token("k1.5f0c...")
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            token: None,
            tls: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// A client of the node at `base_url` using `http` (for custom timeouts or pools).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] as for [`Client::new`].
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Client, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let url = reqwest::Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a node URL has no query or fragment"));
        }
        if url.host_str().is_none() {
            return Err(invalid("no host"));
        }
        let base: Arc<str> = url.as_str().trim_end_matches('/').into();
        Ok(Client {
            http,
            base,
            ring_seen: None,
        })
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Reads `key` of `bucket`: every version and the context covering them. An absent or
    /// deleted key is not an error: see [`Object::is_not_found`].
    ///
    /// # Errors
    /// [`ClientError::Unavailable`] when R replicas did not answer, [`ClientError::BadRequest`]
    /// for a bad key or quorum, and transport or decoding errors.
    pub async fn get(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<Object, ClientError> {
        self.get_with(bucket, key, &GetOptions::default()).await
    }

    /// [`Client::get`] with options (the read quorum).
    ///
    /// # Errors
    /// As [`Client::get`].
    pub async fn get_with(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &GetOptions,
    ) -> Result<Object, ClientError> {
        let mut url = self.key_url(bucket.as_ref(), key.as_ref())?;
        if let Some(r) = options.r {
            url.push_str(&format!("?r={r}"));
        }
        let answer = self
            .send(self.http.get(url).header(ACCEPT, "application/json"))
            .await?;
        match answer.status {
            StatusCode::OK | StatusCode::MULTIPLE_CHOICES => read_object(&answer),
            // A 404 of a key is a read (absent or tombstones); a 404 of an unknown route is
            // the API's error JSON.
            StatusCode::NOT_FOUND => read_object(&answer).map_err(|_| answer.error()),
            _ => Err(answer.error()),
        }
    }

    /// Writes `value` to `key` of `bucket`. Pass the context of the last read in
    /// [`PutOptions::context`] to replace what that read returned; without it the value
    /// becomes a sibling of what is there.
    ///
    /// # Errors
    /// [`ClientError::Unavailable`] when W replicas did not acknowledge,
    /// [`ClientError::TooLarge`], [`ClientError::BadRequest`] (malformed context, bad key or
    /// content type), [`ClientError::TooManySiblings`], transport or decoding errors.
    pub async fn put(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        options: &PutOptions,
    ) -> Result<PutResult, ClientError> {
        let mut url = self.key_url(bucket.as_ref(), key.as_ref())?;
        let mut query = Vec::new();
        if let Some(w) = options.w {
            query.push(format!("w={w}"));
        }
        if let Some(dw) = options.dw {
            query.push(format!("dw={dw}"));
        }
        if options.return_body {
            query.push("returnbody=true".to_owned());
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let content_type = options
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let mut request = self
            .http
            .put(url)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, "application/json")
            .body(value.into());
        if let Some(c) = &options.context {
            request = request.header(CONTEXT_HEADER, c.as_str());
        }
        let answer = self.send(request).await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(PutResult {
                context: answer.context(),
                body: None,
            }),
            StatusCode::OK | StatusCode::MULTIPLE_CHOICES | StatusCode::NOT_FOUND
                if options.return_body =>
            {
                let body = read_object(&answer)?;
                Ok(PutResult {
                    context: body.context.clone().or_else(|| answer.context()),
                    body: Some(body),
                })
            }
            _ => Err(answer.error()),
        }
    }

    /// Deletes `key` of `bucket`: writes a tombstone replacing what
    /// [`DeleteOptions::context`] saw. Returns the tombstone's context.
    ///
    /// # Errors
    /// As [`Client::put`].
    pub async fn delete(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &DeleteOptions,
    ) -> Result<Option<Context>, ClientError> {
        let mut url = self.key_url(bucket.as_ref(), key.as_ref())?;
        let query: Vec<String> = [("w", options.w), ("dw", options.dw)]
            .into_iter()
            .filter_map(|(name, q)| q.map(|q| format!("{name}={q}")))
            .collect();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let mut request = self.http.delete(url);
        if let Some(c) = &options.context {
            request = request.header(CONTEXT_HEADER, c.as_str());
        }
        let answer = self.send(request).await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(answer.context()),
            _ => Err(answer.error()),
        }
    }

    /// The properties of `bucket` (the defaults when never set).
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn bucket_props(&self, bucket: impl AsRef<[u8]>) -> Result<BucketProps, ClientError> {
        let url = self.props_url(bucket.as_ref())?;
        self.json_call(Method::GET, url, None).await
    }

    /// Changes the properties of `bucket` (the fields of `update` that are set) and returns
    /// the new properties. The change reaches the other nodes by gossip.
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] for invalid properties (`r` or `w` above `n`, unknown
    /// versioning), transport or decoding errors.
    pub async fn set_bucket_props(
        &self,
        bucket: impl AsRef<[u8]>,
        update: &BucketPropsUpdate,
    ) -> Result<BucketProps, ClientError> {
        let url = self.props_url(bucket.as_ref())?;
        let body = serde_json::to_vec(update).map_err(|e| ClientError::Decode {
            status: 0,
            detail: format!("could not encode the properties: {e}"),
        })?;
        self.json_call(Method::PUT, url, Some(body)).await
    }

    /// Checks that the node answers (`GET /ping`).
    ///
    /// # Errors
    /// Transport errors, or any answer but `200`.
    pub async fn ping(&self) -> Result<(), ClientError> {
        let answer = self
            .send(self.http.get(format!("{}/ping", self.base)))
            .await?;
        if answer.status == StatusCode::OK {
            Ok(())
        } else {
            Err(answer.error())
        }
    }

    /// The node's statistics (`GET /stats`): its load, membership summary and every metric,
    /// as JSON.
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn stats(&self) -> Result<serde_json::Value, ClientError> {
        self.json_call(Method::GET, format!("{}/stats", self.base), None)
            .await
    }

    /// The node's metrics in Prometheus' text format (`GET /metrics`).
    ///
    /// # Errors
    /// Transport errors or the node's errors.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let answer = self
            .send(self.http.get(format!("{}/metrics", self.base)))
            .await?;
        if answer.status == StatusCode::OK {
            Ok(String::from_utf8_lossy(&answer.body).into_owned())
        } else {
            Err(answer.error())
        }
    }

    /// The node's admin report: membership, health, ring, hints, transfers.
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn status(&self) -> Result<AdminStatus, ClientError> {
        self.json_call(Method::GET, format!("{}/admin/status", self.base), None)
            .await
    }

    /// Asks the node to join the cluster of `seed` (a node id), which listens for peers at
    /// `seed_address` (`host:port`). Answers the node's report after it acted (`joining`).
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] for a bad seed, or when the node already shares a ring
    /// with others (it must leave first); transport or decoding errors.
    pub async fn join(&self, seed: &str, seed_address: &str) -> Result<AdminStatus, ClientError> {
        let seed = format!("{seed}@{seed_address}");
        let url = format!("{}/admin/join?seed={}", self.base, encode(seed.as_bytes()));
        self.json_call(Method::POST, url, None).await
    }

    /// Asks the node to leave its cluster: it hands its partitions off, then exits the ring.
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn leave(&self) -> Result<AdminStatus, ClientError> {
        self.json_call(Method::POST, format!("{}/admin/leave", self.base), None)
            .await
    }

    /// The ring the node routes with, with preference lists of length `n` (default: the
    /// default bucket's `n`).
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn ring(&self, n: Option<u8>) -> Result<RingInfo, ClientError> {
        let url = match n {
            Some(n) => format!("{}/ring?n={n}", self.base),
            None => format!("{}/ring", self.base),
        };
        self.json_call(Method::GET, url, None).await
    }

    /// Makes an access key (needs an admin key): an admin key when `admin`, else one that may
    /// read the buckets of `read` and write those of `write` (`"*"`: every bucket). Answers
    /// the key's id and its token (`<id>.<secret>`), which is shown only this once.
    ///
    /// # Errors
    /// `401`/`403` as [`ClientError::Api`], a bad bucket name, transport or decoding errors.
    pub async fn create_key(
        &self,
        admin: bool,
        read: &[String],
        write: &[String],
    ) -> Result<NewKey, ClientError> {
        let body = serde_json::json!({"admin": admin, "read": read, "write": write});
        let body = serde_json::to_vec(&body).map_err(|e| ClientError::Decode {
            status: 0,
            detail: e.to_string(),
        })?;
        self.json_call(
            Method::POST,
            format!("{}/admin/keys", self.base),
            Some(body),
        )
        .await
    }

    /// Every access key of the cluster, with its permissions (never a secret).
    ///
    /// # Errors
    /// `401`/`403` as [`ClientError::Api`], transport or decoding errors.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, ClientError> {
        self.json_call(Method::GET, format!("{}/admin/keys", self.base), None)
            .await
    }

    /// Revokes the access key `id` on every node (the revocation is gossiped).
    ///
    /// # Errors
    /// [`ClientError::BadRequest`] for an unknown key; `401`/`403`, transport or decoding
    /// errors.
    pub async fn revoke_key(&self, id: &str) -> Result<Vec<KeyInfo>, ClientError> {
        let url = format!("{}/admin/keys/{}", self.base, encode(id.as_bytes()));
        self.json_call(Method::DELETE, url, None).await
    }

    /// The members the node knows, with their health as it sees it.
    ///
    /// # Errors
    /// Transport, decoding or the node's errors.
    pub async fn members(&self) -> Result<Members, ClientError> {
        self.json_call(Method::GET, format!("{}/members", self.base), None)
            .await
    }

    fn key_url(&self, bucket: &[u8], key: &[u8]) -> Result<String, ClientError> {
        check_name("bucket", bucket)?;
        check_name("key", key)?;
        Ok(format!(
            "{}/buckets/{}/keys/{}",
            self.base,
            encode(bucket),
            encode(key)
        ))
    }

    fn props_url(&self, bucket: &[u8]) -> Result<String, ClientError> {
        check_name("bucket", bucket)?;
        Ok(format!("{}/buckets/{}/props", self.base, encode(bucket)))
    }

    /// This client, noting in `seen` the highest ring version its answers announce.
    pub(crate) fn watching_ring(mut self, seen: Arc<AtomicU64>) -> Client {
        self.ring_seen = Some(seen);
        self
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, ClientError> {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(seen) = &self.ring_seen {
            let version = headers
                .get(RING_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(version) = version {
                seen.fetch_max(version, Ordering::Relaxed);
            }
        }
        let body = response.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub(crate) async fn json_call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let answer = self.send(request).await?;
        if answer.status.is_success() {
            answer.json()
        } else {
            Err(answer.error())
        }
    }
}

/// Decodes the JSON form of a read.
fn read_object(answer: &Answer) -> Result<Object, ClientError> {
    let read: ReadJson = answer.json()?;
    let siblings = read
        .siblings
        .into_iter()
        .map(|s| {
            let value = STANDARD.decode(&s.value).map_err(|e| ClientError::Decode {
                status: answer.status.as_u16(),
                detail: format!("a sibling's value is not base64: {e}"),
            })?;
            Ok(Sibling {
                value: Bytes::from(value),
                content_type: s.content_type,
                deleted: s.deleted,
                last_modified: s.last_modified,
            })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(Object {
        context: read
            .context
            .map(Context::from_token)
            .or_else(|| answer.context()),
        siblings,
    })
}

/// Refuses names a URL path segment cannot carry.
pub(crate) fn check_name(what: &'static str, name: &[u8]) -> Result<(), ClientError> {
    let reason = match name {
        [] => "it is empty",
        b"." | b".." => "\".\" and \"..\" cannot be sent as a URL path segment",
        _ => return Ok(()),
    };
    Err(ClientError::InvalidName { what, reason })
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(encode(b"a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(encode(b"a/b c\0\xff"), "a%2Fb%20c%00%FF");
        assert!(check_name("key", b"").is_err());
        assert!(check_name("key", b"..").is_err());
        assert!(check_name("key", b"...").is_ok());
    }

    #[test]
    fn base_urls() {
        let c = Client::new("http://127.0.0.1:8001/").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:8001");
        let c = Client::new("http://h:1/prefix/").unwrap();
        assert_eq!(c.base_url(), "http://h:1/prefix");
        assert!(Client::new("127.0.0.1:8001").is_err());
        assert!(Client::new("ftp://h/").is_err());
        assert!(Client::new("http://h/?x=1").is_err());
        assert_eq!(
            c.key_url(b"b", b"k/1").unwrap(),
            "http://h:1/prefix/buckets/b/keys/k%2F1"
        );
    }
}
