//! The causal context as an opaque token for clients.
//!
//! A client receives the [`Context`] of what it read in a response header and sends it back,
//! unchanged and unread, with its next write to the key (Riak's `X-Riak-Vclock`
//! convention). The token is:
//!
//! ```text
//! base64url-nopad( version=1 (u8) ++ actor table ++ version vector ++ dot cloud ++ crc32 )
//! ```
//!
//! with the binary pieces laid out as in the [stored record](super) (big-endian integers,
//! actors stored once and referred to by index, crc32 of every preceding byte).
//!
//! **Alphabet.** URL-safe base64 without padding (RFC 4648 §5): its characters
//! (`A-Z a-z 0-9 - _`) are valid unescaped in an HTTP header value, in a URL query
//! parameter, in a cookie and in a file name, so the token survives every way a client may
//! carry it; standard base64's `+`, `/` and `=` would need percent-encoding in URLs, and a
//! `+` silently turns into a space in form-encoded queries. No padding also makes the
//! encoding unique (non-canonical input is rejected), so equal contexts have equal tokens.
//!
//! **Bounds.** A token is at most [`MAX_TOKEN_LEN`] characters (8 KiB, the header size most
//! HTTP servers accept by default): longer input is rejected before any decoding, and
//! [`Context::to_token`] refuses to produce one.
//!
//! **Trust.** The checksum detects damaged or garbage tokens; it is not a signature. As in
//! Dynamo, clients are trusted: a client forging a well-formed token can only decide which
//! versions its own write replaces, which is what a context is for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::version::Context;

use super::codec::{
    ActorTable, Reader, Writer, check_all_used, open_frame, read_actors, read_context,
};
use super::error::{DecodeError, EncodeError};

/// Longest token accepted or produced, in characters (bytes) of base64.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Format version of the binary content of a token.
pub const TOKEN_FORMAT_VERSION: u8 = 1;

/// Why a context token from a client was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is empty. (A client without a context sends no token at all; the node then
    /// uses [`Context::new`].)
    #[error("empty context token")]
    Empty,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("context token of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not canonical unpadded URL-safe base64.
    #[error("context token is not valid base64url: {0}")]
    Base64(#[source] base64::DecodeError),
    /// Valid base64 whose content is truncated, corrupt, of an unknown version or malformed.
    #[error("invalid context token: {0}")]
    Content(#[from] DecodeError),
}

impl Context {
    /// Encodes the context as a client token; see the [module documentation](self).
    ///
    /// # Errors
    /// [`EncodeError::TooLarge`] when the token would exceed [`MAX_TOKEN_LEN`] (a context
    /// naming hundreds of actors or isolated writes); the caller may then answer without a
    /// context, and the client's next write will replace nothing.
    pub fn to_token(&self) -> Result<String, EncodeError> {
        let too_large = EncodeError::TooLarge {
            what: "context token",
        };
        // Cheap bound first, so that an absurd context is not encoded at all.
        if self.len().saturating_mul(18) > MAX_TOKEN_LEN {
            return Err(too_large);
        }
        let mut actors = ActorTable::default();
        actors.add_context(self);
        let mut w = Writer::default();
        w.u8(TOKEN_FORMAT_VERSION);
        actors.write(&mut w)?;
        actors.write_context(&mut w, self)?;
        let bytes = w.seal();
        if base64::encoded_len(bytes.len(), false).is_none_or(|n| n > MAX_TOKEN_LEN) {
            return Err(too_large);
        }
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Decodes and validates a token from a client.
    ///
    /// # Errors
    /// A [`TokenError`] for an empty, over-long, badly encoded, corrupt, unknown-version or
    /// malformed token.
    pub fn from_token(token: &str) -> Result<Context, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(TokenError::Base64)?;
        let body = open_frame(&bytes, TOKEN_FORMAT_VERSION)?;
        let mut r = Reader::new(body);
        let actors = read_actors(&mut r)?;
        let ctx = read_context(&mut r, &actors)?;
        r.finish()?;
        let mut used = ActorTable::default();
        used.add_context(&ctx);
        check_all_used(&actors, &used)?;
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{Actor, Dot};
    use crate::{NodeId, Timestamp};

    fn ctx() -> Context {
        let a = Actor::new(NodeId::new("n1").unwrap(), 1);
        let b = Actor::new(NodeId::new("n2").unwrap(), 2);
        let mut c = Context::new();
        c.add(Dot::new(a.clone(), 1), Timestamp(5));
        c.add(Dot::new(a, 2), Timestamp(6));
        c.add(Dot::new(b, 4), Timestamp(7));
        c
    }

    #[test]
    fn round_trip() {
        let t = ctx().to_token().unwrap();
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Context::from_token(&t).unwrap(), ctx());
        let empty = Context::new().to_token().unwrap();
        assert_eq!(Context::from_token(&empty).unwrap(), Context::new());
    }

    #[test]
    fn rejections() {
        assert_eq!(Context::from_token(""), Err(TokenError::Empty));
        assert!(matches!(
            Context::from_token(&"A".repeat(MAX_TOKEN_LEN + 1)),
            Err(TokenError::TooLong { .. })
        ));
        assert!(matches!(
            Context::from_token("a+b/"),
            Err(TokenError::Base64(_))
        ));
        let t = ctx().to_token().unwrap();
        assert!(matches!(
            Context::from_token(&format!("{t}==")),
            Err(TokenError::Base64(_))
        ));
        assert!(matches!(
            Context::from_token("AAAA"),
            Err(TokenError::Content(DecodeError::UnknownVersion(0)))
        ));
    }

    #[test]
    fn a_table_with_an_unused_actor_is_not_canonical() {
        // Found by the context_token fuzz target: an empty context whose actor table names
        // one actor (":s", epoch 3). It decoded to the empty context, whose token differs;
        // equal contexts must have equal tokens.
        assert_eq!(
            Context::from_token("AQABAjpzS20A6wAAXdYAAAAAAAAGLEtA"),
            Err(TokenError::Content(DecodeError::Malformed(
                "unused actor in the table"
            )))
        );
        let mut w = Writer::default();
        w.u8(TOKEN_FORMAT_VERSION);
        let (n1, n2) = (
            Actor::new(NodeId::new("n1").unwrap(), 1),
            Actor::new(NodeId::new("n2").unwrap(), 1),
        );
        let mut table = ActorTable::default();
        table.add(&n1);
        table.add(&n2);
        table.write(&mut w).unwrap();
        let only_n1 = Context::from_clock(crate::version::VClock::from_entries([
            crate::version::Entry::new(n1.clone(), 1, Timestamp(5)).unwrap(),
        ]));
        table.write_context(&mut w, &only_n1).unwrap();
        let token = URL_SAFE_NO_PAD.encode(w.seal());
        assert_eq!(
            Context::from_token(&token),
            Err(TokenError::Content(DecodeError::Malformed(
                "unused actor in the table"
            )))
        );
        let canonical = only_n1.to_token().unwrap();
        assert_eq!(Context::from_token(&canonical).unwrap(), only_n1);
    }
}
