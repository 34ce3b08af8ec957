//! Access keys on the HTTP API: who a request is (`Authorization: Bearer <id>.<secret>`) and
//! what it may do.
//!
//! Keys live in the cluster state ([`dynamo_core::membership::keys`]): made and revoked
//! through any node, gossiped to all, stored as a SHA-256 digest of the secret. Beside them,
//! a node's configuration may list *bootstrap* admin keys (`admin_keys`, as `id:digest`),
//! which is how the first admin key exists before any key was made (`dynamo up` writes one).
//!
//! The node task publishes the cluster's keys into a [`KeyTable`] whenever they change; a
//! request is checked against that snapshot without a round trip to the node.
//!
//! | route | needs |
//! |---|---|
//! | `GET /ping`, `GET /metrics` | nothing (health checks and scrapers) |
//! | `OPTIONS /ui/status` | nothing (a CORS preflight never carries a key; see [`crate::http::ui`]) |
//! | `GET /buckets/{b}/keys/{k}`, `GET /buckets/{b}/props` | read on `b` |
//! | `PUT`/`DELETE /buckets/{b}/keys/{k}` | write on `b` |
//! | `PUT /buckets/{b}/props`, `/props`, `/admin/*` (keys included) | an admin key |
//! | anything else (`/stats`, `/ring`, `/members`) | any valid key |
//!
//! No key, or a key that is unknown, revoked or has the wrong secret: `401`. A valid key
//! without the permission: `403`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use dynamo_core::membership::keys::{Access, AccessKey};
use sha2::{Digest, Sha256};

/// Bytes of a key's secret.
pub const SECRET_LEN: usize = 32;

/// What a request needs (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing: open to all.
    Nothing,
    /// Any valid key.
    AnyKey,
    /// Read or write on a bucket.
    Bucket(Vec<u8>, Access),
    /// An admin key.
    Admin,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No credentials, or credentials that match no live key (`401`).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid key without the permission (`403`).
    #[error("key {0} may not do this")]
    Forbidden(String),
}

/// The SHA-256 digest of a secret, as the cluster state keeps it.
pub fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// A new key: a random id (16 hex digits) and secret (64 hex digits), and the token a client
/// sends (`id.secret`).
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn new_token() -> Result<(String, [u8; SECRET_LEN], String), getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; SECRET_LEN];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id = hex(&id);
    let token = format!("{id}.{}", hex(&secret));
    Ok((id, secret, token))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Parses a bootstrap admin key of the configuration: `id:<64 hex digits of the digest>`.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse_admin_key(spec: &str) -> Result<(String, [u8; 32]), &'static str> {
    let (id, digest) = spec
        .split_once(':')
        .ok_or("an admin key is id:digest (64 hex digits)")?;
    dynamo_core::membership::keys::check_key_id(id)?;
    let digest = unhex::<32>(digest).ok_or("an admin key's digest is 64 hex digits")?;
    Ok((id.to_owned(), digest))
}

/// Equal digests, compared in constant time (no early exit on the first difference).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The keys a node checks requests against: the cluster's (a snapshot the node task
/// replaces when they change) and the configured bootstrap admin keys.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    cluster: Arc<RwLock<Arc<BTreeMap<String, AccessKey>>>>,
    bootstrap: Arc<BTreeMap<String, [u8; 32]>>,
}

impl KeyTable {
    /// A table with these bootstrap admin keys (id → digest) and no cluster keys yet.
    pub fn new(bootstrap: BTreeMap<String, [u8; 32]>) -> Self {
        KeyTable {
            cluster: Arc::default(),
            bootstrap: Arc::new(bootstrap),
        }
    }

    /// Replaces the cluster's keys (the node task calls this when they changed).
    pub fn publish(&self, keys: BTreeMap<String, AccessKey>) {
        let fresh = Arc::new(keys);
        match self.cluster.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// The cluster's keys as last published.
    pub fn cluster_keys(&self) -> Arc<BTreeMap<String, AccessKey>> {
        match self.cluster.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Checks the `Authorization` header's value (if any) against `need`.
    ///
    /// # Errors
    /// [`Denied`].
    pub fn check(&self, authorization: Option<&str>, need: &Need) -> Result<(), Denied> {
        if *need == Need::Nothing {
            return Ok(());
        }
        let token = authorization
            .ok_or(Denied::Unauthenticated(
                "this request needs an access key: Authorization: Bearer <id>.<secret>",
            ))?
            .strip_prefix("Bearer ")
            .ok_or(Denied::Unauthenticated(
                "the Authorization header is not Bearer <id>.<secret>",
            ))?;
        self.check_token(token, need)
    }

    /// Checks a key's token (`<id>.<secret>`) against `need`.
    ///
    /// # Errors
    /// [`Denied`].
    pub fn check_token(&self, token: &str, need: &Need) -> Result<(), Denied> {
        if *need == Need::Nothing {
            return Ok(());
        }
        let token = token.trim();
        let (id, secret) = token
            .split_once('.')
            .ok_or(Denied::Unauthenticated("a key is <id>.<secret>"))?;
        let secret = unhex::<SECRET_LEN>(secret)
            .ok_or(Denied::Unauthenticated("a key's secret is 64 hex digits"))?;
        let presented = digest(&secret);
        let unknown = Denied::Unauthenticated("unknown, revoked or wrong key");
        if let Some(d) = self.bootstrap.get(id) {
            return if same(d, &presented) {
                Ok(())
            } else {
                Err(unknown)
            };
        }
        let keys = self.cluster_keys();
        let key = keys.get(id).ok_or(unknown.clone())?;
        if key.revoked || !same(&key.secret_digest, &presented) {
            return Err(unknown);
        }
        let allowed = match need {
            Need::Nothing | Need::AnyKey => true,
            Need::Bucket(bucket, access) => key.allows(bucket, *access),
            Need::Admin => key.is_admin(),
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied::Forbidden(id.to_owned()))
        }
    }
}

/// What a request to `path` with `method` needs (see the [module documentation](self)).
/// `bucket` is the decoded bucket of a `/buckets/{b}/...` path, when it decoded.
pub fn need_of(method: &axum::http::Method, path: &str, bucket: Option<Vec<u8>>) -> Need {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let read = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    match segments.as_slice() {
        ["ping"] | ["metrics"] => Need::Nothing,
        // The browser's CORS preflight before a cross-origin `GET /ui/status` with a key: it
        // carries no key by design, and its answer holds no data.
        ["ui", "status"] if *method == axum::http::Method::OPTIONS => Need::Nothing,
        ["props"] | ["admin", ..] => Need::Admin,
        ["buckets", _, "props"] if !read => Need::Admin,
        ["buckets", _, rest @ ..] if !rest.is_empty() => match bucket {
            Some(b) => Need::Bucket(b, if read { Access::Read } else { Access::Write }),
            // A path that does not decode is answered 400 by its handler, to a valid key.
            None => Need::AnyKey,
        },
        _ => Need::AnyKey,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use bytes::Bytes;
    use dynamo_core::membership::keys::Grant;

    fn table() -> (KeyTable, String, String, String) {
        let (admin_id, admin_secret, admin_token) = new_token().unwrap();
        let (reader_id, reader_secret, reader_token) = new_token().unwrap();
        let (_, _, stranger) = new_token().unwrap();
        let mut boot = BTreeMap::new();
        boot.insert(admin_id, digest(&admin_secret));
        let t = KeyTable::new(boot);
        let mut keys = BTreeMap::new();
        keys.insert(
            reader_id,
            AccessKey {
                secret_digest: digest(&reader_secret),
                admin: false,
                grants: vec![Grant {
                    bucket: Bytes::from_static(b"cart"),
                    read: true,
                    write: false,
                }],
                created_ms: 1,
                revoked: false,
            },
        );
        t.publish(keys);
        (t, admin_token, reader_token, stranger)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn keys_are_checked_against_what_a_route_needs() {
        let (t, admin, reader, stranger) = table();
        let read_cart = Need::Bucket(b"cart".to_vec(), Access::Read);
        let write_cart = Need::Bucket(b"cart".to_vec(), Access::Write);
        assert_eq!(t.check(None, &Need::Nothing), Ok(()));
        assert!(matches!(
            t.check(None, &read_cart),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            t.check(Some(&bearer(&stranger)), &read_cart),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            t.check(Some("Basic abc"), &read_cart),
            Err(Denied::Unauthenticated(_))
        ));
        assert_eq!(t.check(Some(&bearer(&reader)), &read_cart), Ok(()));
        assert!(matches!(
            t.check(Some(&bearer(&reader)), &write_cart),
            Err(Denied::Forbidden(_))
        ));
        assert!(matches!(
            t.check(Some(&bearer(&reader)), &Need::Admin),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(t.check(Some(&bearer(&admin)), &Need::Admin), Ok(()));
        // The right id with another secret is unknown.
        let (id, _) = reader.split_once('.').unwrap();
        let forged = format!("{id}.{}", "00".repeat(32));
        assert!(matches!(
            t.check(Some(&bearer(&forged)), &read_cart),
            Err(Denied::Unauthenticated(_))
        ));
        // Revoked: unknown from then on.
        let mut keys = (*t.cluster_keys()).clone();
        keys.values_mut().for_each(|k| k.revoked = true);
        t.publish(keys);
        assert!(matches!(
            t.check(Some(&bearer(&reader)), &read_cart),
            Err(Denied::Unauthenticated(_))
        ));
    }

    #[test]
    fn routes_need_what_the_table_says() {
        use axum::http::Method;
        let b = || Some(b"b".to_vec());
        assert_eq!(need_of(&Method::GET, "/ping", None), Need::Nothing);
        assert_eq!(need_of(&Method::GET, "/metrics", None), Need::Nothing);
        assert_eq!(
            need_of(&Method::GET, "/buckets/b/keys/k", b()),
            Need::Bucket(b"b".to_vec(), Access::Read)
        );
        assert_eq!(
            need_of(&Method::DELETE, "/buckets/b/keys/k", b()),
            Need::Bucket(b"b".to_vec(), Access::Write)
        );
        assert_eq!(
            need_of(&Method::GET, "/buckets/b/props", b()),
            Need::Bucket(b"b".to_vec(), Access::Read)
        );
        assert_eq!(need_of(&Method::PUT, "/buckets/b/props", b()), Need::Admin);
        assert_eq!(need_of(&Method::GET, "/props", None), Need::Admin);
        assert_eq!(need_of(&Method::POST, "/admin/keys", None), Need::Admin);
        assert_eq!(need_of(&Method::GET, "/stats", None), Need::AnyKey);
        assert_eq!(need_of(&Method::GET, "/ui/status", None), Need::AnyKey);
        assert_eq!(need_of(&Method::OPTIONS, "/ui/status", None), Need::Nothing);
        assert_eq!(need_of(&Method::OPTIONS, "/stats", None), Need::AnyKey);
    }

    #[test]
    fn bootstrap_keys_parse() {
        let d = hex(&digest(b"s"));
        assert_eq!(parse_admin_key(&format!("root:{d}")).unwrap().0, "root");
        assert!(parse_admin_key("root").is_err());
        assert!(parse_admin_key("root:abc").is_err());
        assert!(parse_admin_key(&format!("bad id:{d}")).is_err());
    }
}
