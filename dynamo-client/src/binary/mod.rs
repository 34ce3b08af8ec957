//! The [`BinaryClient`]: one node's binary protocol ([`dynamo_protocol`]) as async methods,
//! with the same signatures and meaning as the HTTP [`Client`](crate::Client)'s data path.
//!
//! A client holds a few TCP connections to its node (one by default) and is shared by any
//! number of tasks: each request takes the next connection round-robin, gets a fresh id, and
//! waits for the answer carrying it, while the requests of other tasks are in flight on the
//! same connection (pipelining; answers may come in any order). See the `connection` module
//! for how the frames of concurrent callers leave in one write.

mod connection;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dynamo_protocol::{Read, Request, Response};

use crate::error::ClientError;
use crate::types::{Context, DeleteOptions, GetOptions, Object, PutOptions, PutResult, Sibling};
use connection::Connection;

/// Settings of a [`BinaryClient`]: set the fields that matter, the rest from
/// [`BinaryOptions::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryOptions {
    /// How many TCP connections to the node the client spreads its requests over,
    /// round-robin (default 1; 0 is taken as 1). One connection carries many requests at
    /// once; more spread the work of reading and writing them over more tasks.
    pub connections: usize,
    /// The time limit of one request, from the call to the answer, opening a connection
    /// included (default [`BinaryOptions::DEFAULT_TIMEOUT`]).
    pub request_timeout: Duration,
    /// The largest frame sent or accepted, length prefix excluded (default
    /// [`BinaryOptions::DEFAULT_MAX_FRAME`]). A request above it fails before it is sent
    /// ([`ClientError::TooLarge`]); an answer above it breaks the connection
    /// ([`ClientError::Protocol`] for every request in flight on it).
    pub max_frame: usize,
    /// The access key (`<id>.<secret>`) presented on every connection before its first
    /// request, for a node with `auth = "on"` (default none).
    pub token: Option<String>,
    /// Speak TLS, trusting the certificates this configuration trusts, to a node with
    /// `tls_cert` set (default none: plain TCP). The node's certificate must name the host of
    /// the address dialled.
    pub tls: Option<crate::TlsConfig>,
}

/// The id of the key's request on a new connection (callers' ids count up from 1).
const AUTH_ID: u64 = u64::MAX;

impl BinaryOptions {
    /// Default time limit of a request (connecting included).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Default largest frame sent or accepted (length prefix excluded): 64 MiB.
    pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;
}

impl Default for BinaryOptions {
    fn default() -> Self {
        BinaryOptions {
            connections: 1,
            request_timeout: Self::DEFAULT_TIMEOUT,
            max_frame: Self::DEFAULT_MAX_FRAME,
            token: None,
            tls: None,
        }
    }
}

/// A client of one node's binary protocol. Cheap to clone (clones share the connections),
/// `Send` and `Sync`: share one among many tasks, whose requests it pipelines.
///
/// Any node accepts any request: it coordinates it or forwards it to a node that stores the
/// key. When a connection breaks, every request in flight on it fails (with
/// [`ClientError::Connection`], [`ClientError::ConnectionClosed`] or
/// [`ClientError::Protocol`]) and the next request on it opens a new one.
///
/// The client needs a tokio runtime (with the time driver): each connection runs a reader
/// and a writer task on the runtime where it was opened.
///
/// ```no_run
/// use dynamo_client::{BinaryClient, PutOptions};
///
/// # async fn demo() -> Result<(), dynamo_client::ClientError> {
/// let client = BinaryClient::connect("127.0.0.1:7001").await?;
/// client.put("cart", "alice", "apples", &PutOptions::default()).await?;
/// let read = client.get("cart", "alice").await?;
/// assert_eq!(read.value().map(|v| &v[..]), Some(&b"apples"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BinaryClient {
    inner: Arc<Inner>,
}

/// What the clones of a client share.
struct Inner {
    /// The node's `host:port`.
    address: String,
    options: BinaryOptions,
    slots: Box<[Slot]>,
    /// The slot of the next request.
    next_slot: AtomicUsize,
    /// The id of the next request (ids start at 1: 0 is reserved).
    next_id: AtomicU64,
}

/// One connection, replaced when it closes.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Arc<Connection>>>,
    /// Held while opening a new connection, so that one caller opens it and the others wait
    /// for it.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    /// The connection, unless there is none or it closed.
    fn live(&self) -> Option<Arc<Connection>> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The connection, opened anew when there is none or it closed.
    async fn get(
        &self,
        options: &BinaryOptions,
        address: &str,
    ) -> Result<Arc<Connection>, ClientError> {
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let _opening = self.opening.lock().await;
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let fresh =
            Arc::new(Connection::open(address, options.max_frame, options.tls.as_ref()).await?);
        if let Some(token) = &options.token {
            // The key first: the node checks every later request of the connection against it.
            let request = Request::Auth {
                token: token.clone(),
            };
            match fresh.call(AUTH_ID, request).await? {
                Response::Authenticated => {}
                other => return Err(unexpected("key", &other)),
            }
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

impl std::fmt::Debug for BinaryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinaryClient")
            .field("address", &self.inner.address)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl BinaryClient {
    /// Connects to the node whose binary protocol listens at `address` (`host:port`), with
    /// [`BinaryOptions::default`].
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the connection cannot be opened,
    /// [`ClientError::Timeout`] when it takes longer than the request timeout.
    pub async fn connect(address: &str) -> Result<BinaryClient, ClientError> {
        BinaryClient::connect_with(address, BinaryOptions::default()).await
    }

    /// Connects to the node at `address` with `options`, opening all its connections.
    ///
    /// # Errors
    /// As [`BinaryClient::connect`].
    pub async fn connect_with(
        address: &str,
        options: BinaryOptions,
    ) -> Result<BinaryClient, ClientError> {
        let slots = (0..options.connections.max(1))
            .map(|_| Slot::default())
            .collect();
        let client = BinaryClient {
            inner: Arc::new(Inner {
                address: address.to_owned(),
                options,
                slots,
                next_slot: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
            }),
        };
        let inner = &client.inner;
        for slot in &inner.slots {
            tokio::time::timeout(
                inner.options.request_timeout,
                slot.get(&inner.options, &inner.address),
            )
            .await
            .unwrap_or(Err(ClientError::Timeout(inner.options.request_timeout)))?;
        }
        Ok(client)
    }

    /// The node's address, as given.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The client's settings.
    pub fn options(&self) -> &BinaryOptions {
        &self.inner.options
    }

    /// Reads `key` of `bucket`: every version and the context covering them. An absent or
    /// deleted key is not an error: see [`Object::is_not_found`].
    ///
    /// # Errors
    /// [`ClientError::InvalidName`] for an empty bucket or key, [`ClientError::Unavailable`]
    /// when R replicas did not answer, [`ClientError::BadRequest`] for a bad key or quorum,
    /// and transport or protocol errors ([`ClientError::Connect`],
    /// [`ClientError::Connection`], [`ClientError::ConnectionClosed`],
    /// [`ClientError::Timeout`], [`ClientError::Protocol`]).
    pub async fn get(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<Object, ClientError> {
        self.get_with(bucket, key, &GetOptions::default()).await
    }

    /// [`BinaryClient::get`] with options (the read quorum).
    ///
    /// # Errors
    /// As [`BinaryClient::get`].
    pub async fn get_with(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &GetOptions,
    ) -> Result<Object, ClientError> {
        let (bucket, key) = names(bucket.as_ref(), key.as_ref())?;
        let request = Request::Get {
            bucket,
            key,
            r: options.r,
        };
        match self.call(request).await? {
            Response::Read(read) => Ok(object(read)),
            other => Err(unexpected("get", &other)),
        }
    }

    /// Writes `value` to `key` of `bucket`. Pass the context of the last read in
    /// [`PutOptions::context`] to replace what that read returned; without it the value
    /// becomes a sibling of what is there.
    ///
    /// # Errors
    /// [`ClientError::InvalidName`], [`ClientError::Unavailable`] when W replicas did not
    /// acknowledge, [`ClientError::TooLarge`] (from the node, or before sending when the
    /// frame exceeds [`BinaryOptions::max_frame`]), [`ClientError::BadRequest`] (malformed
    /// context, bad key), [`ClientError::TooManySiblings`], transport or protocol errors as
    /// for [`BinaryClient::get`].
    pub async fn put(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        options: &PutOptions,
    ) -> Result<PutResult, ClientError> {
        let (bucket, key) = names(bucket.as_ref(), key.as_ref())?;
        let request = Request::Put {
            bucket,
            key,
            context: options.context.as_ref().map(|c| c.as_str().to_owned()),
            value: value.into(),
            content_type: options.content_type.clone(),
            w: options.w,
            dw: options.dw,
            return_body: options.return_body,
        };
        match self.call(request).await? {
            Response::Written { context, body } => {
                let body = body.map(object);
                let context = body
                    .as_ref()
                    .and_then(|b| b.context.clone())
                    .or_else(|| context.map(Context::from_token));
                Ok(PutResult { context, body })
            }
            // A put with `return_body` may be answered as a read.
            Response::Read(read) if options.return_body => {
                let body = object(read);
                Ok(PutResult {
                    context: body.context.clone(),
                    body: Some(body),
                })
            }
            other => Err(unexpected("put", &other)),
        }
    }

    /// Deletes `key` of `bucket`: writes a tombstone replacing what
    /// [`DeleteOptions::context`] saw. Returns the tombstone's context.
    ///
    /// # Errors
    /// As [`BinaryClient::put`].
    pub async fn delete(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &DeleteOptions,
    ) -> Result<Option<Context>, ClientError> {
        let (bucket, key) = names(bucket.as_ref(), key.as_ref())?;
        let request = Request::Delete {
            bucket,
            key,
            context: options.context.as_ref().map(|c| c.as_str().to_owned()),
            w: options.w,
            dw: options.dw,
        };
        match self.call(request).await? {
            Response::Written { context, .. } => Ok(context.map(Context::from_token)),
            other => Err(unexpected("delete", &other)),
        }
    }

    /// Checks that the node answers (a `Ping` frame, answered without touching the store).
    ///
    /// # Errors
    /// Transport or protocol errors, as for [`BinaryClient::get`].
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.call(Request::Ping).await? {
            Response::Pong => Ok(()),
            other => Err(unexpected("ping", &other)),
        }
    }

    /// Sends `request` on the next connection (opened if needed) and waits for its answer,
    /// within the request timeout.
    async fn call(&self, request: Request) -> Result<Response, ClientError> {
        let inner = &*self.inner;
        let timeout = inner.options.request_timeout;
        let slot = inner.next_slot.fetch_add(1, Ordering::Relaxed) % inner.slots.len();
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let connection = inner.slots[slot]
                .get(&inner.options, &inner.address)
                .await?;
            connection.call(id, request).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)))
    }
}

/// The bucket and key as sent, refusing empty ones (as the HTTP client does; `.` and `..`,
/// which a URL cannot carry, are fine here).
fn names(bucket: &[u8], key: &[u8]) -> Result<(Bytes, Bytes), ClientError> {
    for (what, name) in [("bucket", bucket), ("key", key)] {
        if name.is_empty() {
            return Err(ClientError::InvalidName {
                what,
                reason: "it is empty",
            });
        }
    }
    Ok((Bytes::copy_from_slice(bucket), Bytes::copy_from_slice(key)))
}

/// A read as the client's [`Object`].
fn object(read: Read) -> Object {
    Object {
        context: read.context.map(Context::from_token),
        siblings: read
            .siblings
            .into_iter()
            .map(|s| Sibling {
                value: s.value,
                content_type: s.content_type,
                deleted: s.deleted,
                last_modified: Some(s.last_modified),
            })
            .collect(),
    }
}

/// The error for a well-formed answer of the wrong kind.
fn unexpected(request: &str, answer: &Response) -> ClientError {
    let kind = match answer {
        Response::Read(_) => "a read",
        Response::Written { .. } => "a write's",
        Response::Pong => "a pong",
        Response::Authenticated => "a key's",
    };
    ClientError::Protocol(format!("{kind} answer to a {request}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_have_documented_defaults() {
        let o = BinaryOptions::default();
        assert_eq!(o.connections, 1);
        assert_eq!(o.request_timeout, Duration::from_secs(10));
        assert_eq!(o.max_frame, 64 << 20);
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(matches!(
            names(b"", b"k"),
            Err(ClientError::InvalidName { what: "bucket", .. })
        ));
        assert!(matches!(
            names(b"b", b""),
            Err(ClientError::InvalidName { what: "key", .. })
        ));
        assert!(names(b".", b"..").is_ok());
    }

    #[test]
    fn answers_of_the_wrong_kind_are_protocol_errors() {
        let e = unexpected("get", &Response::Pong);
        assert!(matches!(e, ClientError::Protocol(ref m) if m == "a pong answer to a get"));
    }

    #[test]
    fn reads_become_objects() {
        let read = Read {
            context: Some("ctx".into()),
            siblings: vec![dynamo_protocol::Sibling {
                value: Bytes::from_static(b"v"),
                content_type: "text/plain".into(),
                last_modified: 5,
                deleted: false,
            }],
        };
        let o = object(read);
        assert_eq!(o.context, Some(Context::from_token("ctx")));
        assert_eq!(o.value(), Some(&Bytes::from_static(b"v")));
        assert_eq!(o.siblings[0].last_modified, Some(5));
    }
}
