//! Peer framing: how [`PeerMessage`]s travel between nodes over TCP.
//!
//! A frame is the big-endian `u32` length of the rest, then the protocol version byte
//! ([`PROTOCOL_VERSION`]), then the postcard encoding of a [`Frame`]:
//!
//! ```text
//! +----------------+---------+-------------------------------+
//! | length (u32 BE)| version | postcard(Frame)               |
//! +----------------+---------+-------------------------------+
//!                  <------------- length bytes -------------->
//! ```
//!
//! Connections are one-way: the dialer sends, the acceptor receives. The dialer's first
//! frame is [`Frame::Hello`] (who it is, where it listens); every later frame is a
//! [`Frame::Message`]. A length above the maximum frame size is refused before anything is
//! allocated. Decoding never panics: a malformed, oversized, truncated or other-version frame
//! is a [`WireError`], and the transport closes that connection.
//!
//! Postcard is not self-describing: both sides must run the same [`PROTOCOL_VERSION`]; bump
//! it whenever the encoding of [`Frame`] (or of anything inside [`PeerMessage`]) changes.

use dynamo_core::NodeId;
use dynamo_core::proto::PeerMessage;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The version byte of every frame this build sends and accepts.
pub const PROTOCOL_VERSION: u8 = 5;

/// Bytes before the version byte: the length.
pub const LENGTH_BYTES: usize = 4;

/// The dialer's introduction, the first frame on every peer connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The dialing node.
    pub node: NodeId,
    /// Where it accepts peer connections (its advertised address), so that the acceptor can
    /// answer before gossip told it.
    pub peer_addr: String,
}

/// What one frame carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame of a connection.
    Hello(Hello),
    /// A message between nodes.
    Message(PeerMessage),
}

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The length announces more than the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversized {
        /// The announced (or encoded) length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The length is zero: not even a version byte.
    #[error("empty frame (no version byte)")]
    Empty,
    /// The frame was written by another protocol version.
    #[error("protocol version {found}, expected {PROTOCOL_VERSION}")]
    WrongVersion {
        /// The version byte found.
        found: u8,
    },
    /// The payload is not a valid postcard [`Frame`].
    #[error("malformed frame: {0}")]
    Malformed(postcard::Error),
    /// The payload decoded but bytes were left over.
    #[error("malformed frame: {0} bytes after the message")]
    TrailingBytes(usize),
    /// The input ended inside a frame.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs in all.
        needed: usize,
        /// Bytes there were.
        available: usize,
    },
    /// The message could not be encoded (e.g. a context too large for its token).
    #[error("cannot encode the message: {0}")]
    Encode(postcard::Error),
    /// Reading from the socket failed.
    #[error("i/o: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for WireError {
    fn from(e: std::io::Error) -> Self {
        WireError::Io(e)
    }
}

impl WireError {
    /// True for errors that mean the peer sent bad bytes (as opposed to a closed or failing
    /// socket): the connection is closed and counted as a bad frame.
    pub fn is_bad_frame(&self) -> bool {
        !matches!(self, WireError::Io(_) | WireError::Encode(_))
    }
}

/// Appends the whole frame for `frame` (length, version, payload) to `out`.
///
/// # Errors
/// [`WireError::Encode`] when serialization fails, [`WireError::Oversized`] when the frame
/// would exceed `max_frame` bytes (length prefix excluded); `out` is then left as it was.
pub fn encode_into(frame: &Frame, max_frame: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_BYTES]);
    out.push(PROTOCOL_VERSION);
    if let Err(e) = postcard::to_extend(frame, Appender(out)) {
        out.truncate(start);
        return Err(WireError::Encode(e));
    }
    let len = out.len() - start - LENGTH_BYTES;
    let Some(len32) = u32::try_from(len).ok().filter(|_| len <= max_frame) else {
        out.truncate(start);
        return Err(WireError::Oversized {
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

/// The whole frame for `frame`: length, version, payload.
///
/// # Errors
/// As [`encode_into`].
pub fn encode(frame: &Frame, max_frame: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_into(frame, max_frame, &mut out)?;
    Ok(out)
}

/// Checks a frame's announced length against the maximum.
///
/// # Errors
/// [`WireError::Empty`] for 0, [`WireError::Oversized`] above `max_frame`.
pub fn check_length(len: u32, max_frame: usize) -> Result<usize, WireError> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(WireError::Empty);
    }
    if len > max_frame {
        return Err(WireError::Oversized {
            len,
            max: max_frame,
        });
    }
    Ok(len)
}

/// Decodes a frame's body: the version byte and the payload (what follows the length).
///
/// # Errors
/// [`WireError::Empty`], [`WireError::WrongVersion`], [`WireError::Malformed`],
/// [`WireError::TrailingBytes`].
pub fn decode_body(body: &[u8]) -> Result<Frame, WireError> {
    let (&version, payload) = body.split_first().ok_or(WireError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::WrongVersion { found: version });
    }
    // The length said the payload was complete: running out of bytes is malformed too.
    let (frame, rest) =
        postcard::take_from_bytes::<Frame>(payload).map_err(WireError::Malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(frame)
}

/// Decodes the first frame of `bytes` and says how many bytes it took.
///
/// # Errors
/// [`WireError::Truncated`] when `bytes` hold less than a whole frame; otherwise as
/// [`check_length`] and [`decode_body`].
pub fn decode(bytes: &[u8], max_frame: usize) -> Result<(Frame, usize), WireError> {
    let Some(prefix) = bytes.first_chunk::<LENGTH_BYTES>() else {
        return Err(WireError::Truncated {
            needed: LENGTH_BYTES,
            available: bytes.len(),
        });
    };
    let len = check_length(u32::from_be_bytes(*prefix), max_frame)?;
    let end = LENGTH_BYTES + len;
    let body = bytes.get(LENGTH_BYTES..end).ok_or(WireError::Truncated {
        needed: end,
        available: bytes.len(),
    })?;
    Ok((decode_body(body)?, end))
}

/// Reads one frame from `reader`, reusing `buf` for its body. `Ok(None)` when the stream
/// ends cleanly between frames. Returns the frame and its size on the wire.
///
/// The body is read only after its length passed [`check_length`], so a peer cannot make
/// the reader allocate more than `max_frame` bytes.
///
/// # Errors
/// [`WireError::Truncated`] when the stream ends inside a frame, [`WireError::Io`] when
/// reading fails; otherwise as [`check_length`] and [`decode_body`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame: usize,
    buf: &mut Vec<u8>,
) -> Result<Option<(Frame, usize)>, WireError> {
    let mut prefix = [0u8; LENGTH_BYTES];
    let mut got = 0;
    while got < LENGTH_BYTES {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(WireError::Truncated {
                    needed: LENGTH_BYTES,
                    available: got,
                })
            };
        }
        got += n;
    }
    let len = check_length(u32::from_be_bytes(prefix), max_frame)?;
    buf.clear();
    buf.resize(len, 0);
    let mut filled = 0;
    while filled < len {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(WireError::Truncated {
                needed: LENGTH_BYTES + len,
                available: LENGTH_BYTES + filled,
            });
        }
        filled += n;
    }
    let frame = decode_body(buf)?;
    Ok(Some((frame, LENGTH_BYTES + len)))
}
