//! Access keys for the client APIs, replicated with the cluster state.
//!
//! A key is an id (public, in every request) and a secret (shown once, when the key is made).
//! The cluster state keeps only a SHA-256 digest of the secret, the key's permissions and
//! whether it was revoked. Keys merge as a grow-only map whose `revoked` flag only ever turns
//! on: a key made on any node reaches every node by gossip, and a revocation wins over
//! everything else, wherever it happened.
//!
//! The secret is generated and hashed by the server, never by the node (which stays
//! deterministic): the node receives only the digest.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Most keys a cluster keeps (revoked ones included): the state travels whole in gossip.
pub const MAX_KEYS: usize = 4_096;

/// Most bucket grants of one key.
pub const MAX_GRANTS: usize = 256;

/// What a request does to a bucket, for [`AccessKey::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads a key or the bucket's properties.
    Read,
    /// Writes or deletes a key.
    Write,
}

/// One bucket's permissions, or every bucket's (`bucket` empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The bucket; empty for every bucket.
    #[serde(with = "crate::serde_helpers::bytes_serde")]
    pub bucket: Bytes,
    /// Reads allowed.
    pub read: bool,
    /// Writes and deletes allowed.
    pub write: bool,
}

/// An access key as the cluster state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// SHA-256 of the secret.
    pub secret_digest: [u8; 32],
    /// Admin keys may also change properties, membership and keys.
    pub admin: bool,
    /// Per-bucket permissions (admin keys may do everything regardless).
    pub grants: Vec<Grant>,
    /// When it was made (the coordinating node's clock, milliseconds).
    pub created_ms: u64,
    /// Revoked keys are refused; they stay in the state so that the revocation is gossiped.
    pub revoked: bool,
}

impl AccessKey {
    /// Whether this key may do `access` on `bucket` (never when revoked).
    pub fn allows(&self, bucket: &[u8], access: Access) -> bool {
        if self.revoked {
            return false;
        }
        if self.admin {
            return true;
        }
        self.grants
            .iter()
            .filter(|g| g.bucket.is_empty() || g.bucket.as_ref() == bucket)
            .any(|g| match access {
                Access::Read => g.read,
                Access::Write => g.write,
            })
    }

    /// Sorts the grants by bucket and folds those of one bucket into one (the canonical form
    /// the cluster state keeps).
    pub fn normalize(&mut self) {
        self.grants.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        let mut out: Vec<Grant> = Vec::with_capacity(self.grants.len());
        for g in self.grants.drain(..) {
            match out.last_mut() {
                Some(last) if last.bucket == g.bucket => {
                    last.read |= g.read;
                    last.write |= g.write;
                }
                _ => out.push(g),
            }
        }
        self.grants = out;
    }

    /// Whether this key is a live admin key.
    pub fn is_admin(&self) -> bool {
        self.admin && !self.revoked
    }

    /// Merges another node's copy of the same key: a revocation wins; otherwise this copy
    /// stays (a key's other fields never change after it is made).
    ///
    /// Returns true when this copy changed.
    pub fn merge(&mut self, other: &AccessKey) -> bool {
        if other.revoked && !self.revoked {
            self.revoked = true;
            return true;
        }
        false
    }
}

/// Checks a key id: 1 to [`MAX_KEY_ID_LEN`] ASCII letters, digits, `-` or `_`.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn check_key_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN {
        return Err("a key id is 1 to 32 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("a key id is ASCII letters, digits, - and _");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(admin: bool, grants: Vec<Grant>) -> AccessKey {
        AccessKey {
            secret_digest: [7; 32],
            admin,
            grants,
            created_ms: 1,
            revoked: false,
        }
    }

    #[test]
    fn grants_admin_and_revocation() {
        let reader = key(
            false,
            vec![Grant {
                bucket: Bytes::from_static(b"cart"),
                read: true,
                write: false,
            }],
        );
        assert!(reader.allows(b"cart", Access::Read));
        assert!(!reader.allows(b"cart", Access::Write));
        assert!(!reader.allows(b"other", Access::Read));
        assert!(!reader.is_admin());
        let everywhere = key(
            false,
            vec![Grant {
                bucket: Bytes::new(),
                read: true,
                write: true,
            }],
        );
        assert!(everywhere.allows(b"any", Access::Write));
        let mut admin = key(true, vec![]);
        assert!(admin.allows(b"any", Access::Write) && admin.is_admin());
        let mut revoked = admin.clone();
        revoked.revoked = true;
        assert!(!revoked.allows(b"any", Access::Read) && !revoked.is_admin());
        // A revocation wins the merge, and never comes undone.
        assert!(admin.merge(&revoked));
        assert!(admin.revoked);
        assert!(!admin.merge(&key(true, vec![])));
        assert!(admin.revoked);
    }

    #[test]
    fn key_ids() {
        assert!(check_key_id("k-1_A").is_ok());
        assert!(check_key_id("").is_err());
        assert!(check_key_id("a b").is_err());
        assert!(check_key_id(&"a".repeat(33)).is_err());
    }
}
