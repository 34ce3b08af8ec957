//! Framing: a length, a version byte and a postcard payload (see the
//! [crate documentation](crate)).
//!
//! Both functions are sans-IO: the caller reads bytes from its socket into a buffer and asks
//! [`decode`] for whole frames, and appends encoded frames to its write buffer with
//! [`encode_into`].

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version byte of every frame this build sends and accepts. Postcard is not
/// self-describing: any change to the encoding of a message bumps it.
pub const VERSION: u8 = 1;

/// Bytes before the version byte: the length.
pub const LENGTH_BYTES: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The length announces (or the encoding needs) more than the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversized {
        /// The announced or encoded length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The length is zero: not even a version byte.
    #[error("empty frame (no version byte)")]
    Empty,
    /// The frame was written by another protocol version.
    #[error("protocol version {found}, expected {VERSION}")]
    WrongVersion {
        /// The version byte found.
        found: u8,
    },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(postcard::Error),
    /// The payload decoded but bytes were left over.
    #[error("malformed frame: {0} bytes after the message")]
    TrailingBytes(usize),
    /// The message could not be encoded.
    #[error("cannot encode the message: {0}")]
    Encode(postcard::Error),
}

/// Appends the whole frame for `message` (length, version, payload) to `out`.
///
/// # Errors
/// [`ProtocolError::Encode`] when serialization fails, [`ProtocolError::Oversized`] when the
/// frame would exceed `max_frame` bytes (length prefix excluded); `out` is then left as it
/// was.
pub fn encode_into<T: Serialize>(
    message: &T,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_BYTES]);
    out.push(VERSION);
    if let Err(e) = postcard::to_extend(message, Appender(out)) {
        out.truncate(start);
        return Err(ProtocolError::Encode(e));
    }
    let len = out.len() - start - LENGTH_BYTES;
    let Some(len32) = u32::try_from(len).ok().filter(|_| len <= max_frame) else {
        out.truncate(start);
        return Err(ProtocolError::Oversized {
            len,
            max: max_frame,
        });
    };
    out[start..start + LENGTH_BYTES].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// Lets postcard append to a borrowed buffer.
struct Appender<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Appender<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Decodes the first frame of `bytes`: `Ok(None)` while they hold less than a whole frame,
/// else the message and how many bytes it took.
///
/// A length above `max_frame` is refused as soon as the length is read, before the caller
/// buffers the rest, so a peer cannot make the reader hold more than `max_frame` bytes.
///
/// # Errors
/// [`ProtocolError::Empty`], [`ProtocolError::Oversized`], [`ProtocolError::WrongVersion`],
/// [`ProtocolError::Malformed`], [`ProtocolError::TrailingBytes`].
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    max_frame: usize,
) -> Result<Option<(T, usize)>, ProtocolError> {
    let Some(prefix) = bytes.first_chunk::<LENGTH_BYTES>() else {
        return Ok(None);
    };
    let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(ProtocolError::Empty);
    }
    if len > max_frame {
        return Err(ProtocolError::Oversized {
            len,
            max: max_frame,
        });
    }
    let end = LENGTH_BYTES.saturating_add(len);
    let Some(body) = bytes.get(LENGTH_BYTES..end) else {
        return Ok(None);
    };
    let (&version, payload) = body.split_first().ok_or(ProtocolError::Empty)?;
    if version != VERSION {
        return Err(ProtocolError::WrongVersion { found: version });
    }
    // The length said the payload was complete: running out of bytes is malformed too.
    let (message, rest) =
        postcard::take_from_bytes::<T>(payload).map_err(ProtocolError::Malformed)?;
    if !rest.is_empty() {
        return Err(ProtocolError::TrailingBytes(rest.len()));
    }
    Ok(Some((message, end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{
        ErrorKind, ErrorReply, Read, Request, RequestFrame, Response, ResponseFrame, Sibling,
    };

    const MAX: usize = 1 << 20;

    fn put() -> RequestFrame {
        RequestFrame {
            id: 42,
            request: Request::Put {
                bucket: "b".into(),
                key: "k".into(),
                context: Some("AQID".into()),
                value: vec![7u8; 1000].into(),
                content_type: Some("text/plain".into()),
                w: Some(2),
                dw: None,
                return_body: true,
            },
        }
    }

    #[test]
    fn frames_round_trip_and_report_their_size() {
        let mut wire = Vec::new();
        encode_into(&put(), MAX, &mut wire).unwrap();
        let answer = ResponseFrame {
            id: 42,
            result: Ok(Response::Read(Read {
                context: None,
                siblings: vec![Sibling {
                    value: "v".into(),
                    content_type: "text/plain".into(),
                    last_modified: 1_700_000_000_000,
                    deleted: false,
                }],
            })),
        };
        let first = wire.len();
        encode_into(&answer, MAX, &mut wire).unwrap();
        let (got, used) = decode::<RequestFrame>(&wire, MAX).unwrap().unwrap();
        assert_eq!((got, used), (put(), first));
        let (got, used) = decode::<ResponseFrame>(&wire[first..], MAX)
            .unwrap()
            .unwrap();
        assert_eq!((got, used), (answer, wire.len() - first));
        // A 1000-byte value costs a few dozen bytes of framing, not hundreds.
        assert!(first < 1000 + 40, "{first}");
    }

    #[test]
    fn a_partial_frame_is_not_an_error() {
        let mut wire = Vec::new();
        encode_into(&put(), MAX, &mut wire).unwrap();
        for cut in 0..wire.len() {
            assert!(decode::<RequestFrame>(&wire[..cut], MAX).unwrap().is_none());
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut wire = Vec::new();
        encode_into(&put(), MAX, &mut wire).unwrap();
        // Oversized: refused from the length alone.
        assert!(matches!(
            decode::<RequestFrame>(&wire[..4], 10),
            Err(ProtocolError::Oversized { max: 10, .. })
        ));
        assert!(matches!(
            encode_into(&put(), 10, &mut Vec::new()),
            Err(ProtocolError::Oversized { .. })
        ));
        let mut other = wire.clone();
        other[4] = VERSION + 1;
        assert!(matches!(
            decode::<RequestFrame>(&other, MAX),
            Err(ProtocolError::WrongVersion { .. })
        ));
        assert!(matches!(
            decode::<RequestFrame>(&[0, 0, 0, 0], MAX),
            Err(ProtocolError::Empty)
        ));
        // A request decoded as an answer, and a frame whose length hides bytes after it.
        assert!(decode::<ResponseFrame>(&wire, MAX).is_err());
        let mut longer = wire.clone();
        longer.push(0);
        let len = u32::try_from(longer.len() - LENGTH_BYTES).unwrap();
        longer[..4].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            decode::<RequestFrame>(&longer, MAX),
            Err(ProtocolError::TrailingBytes(1))
        ));
    }

    #[test]
    fn errors_carry_their_details() {
        let frame = ResponseFrame {
            id: 0,
            result: Err(ErrorReply {
                kind: ErrorKind::Unavailable {
                    needed: 2,
                    answered: 1,
                },
                message: "write quorum not met".into(),
            }),
        };
        let mut wire = Vec::new();
        encode_into(&frame, MAX, &mut wire).unwrap();
        assert_eq!(
            decode::<ResponseFrame>(&wire, MAX).unwrap().unwrap().0,
            frame
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic spray of frames with random bodies behind a valid header.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 64).unwrap();
            let mut frame = u32::try_from(len + 1).unwrap().to_be_bytes().to_vec();
            frame.push(VERSION);
            frame.extend((0..len).map(|_| next().to_le_bytes()[0]));
            let _ = decode::<RequestFrame>(&frame, MAX);
            let _ = decode::<ResponseFrame>(&frame, MAX);
        }
    }
}
