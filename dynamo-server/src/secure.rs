//! Authenticated, encrypted peer connections: every peer connection starts with a
//! [Noise](https://noiseprotocol.org) handshake keyed by the cluster secret, and every byte
//! after it is sealed.
//!
//! The pattern is `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` ([`snow`]): both sides make an
//! ephemeral key pair, and the cluster secret is mixed in before the first message, so
//! - the acceptor can read the dialer's first message only if the dialer knows the secret, and
//!   the dialer can read the acceptor's answer only if the acceptor knows it: each side proves
//!   knowledge of the secret to the other, and the secret itself never crosses the wire;
//! - the session keys come from fresh ephemeral keys, so bytes recorded from one connection
//!   mean nothing on another (no replay across connections);
//! - after the handshake, the byte stream (the same frames as without encryption) is cut into
//!   chunks of at most [`MAX_CHUNK`] bytes, each sealed with ChaCha20-Poly1305 under an
//!   implicit counter: a chunk altered, dropped, repeated or reordered fails to open, and the
//!   connection is closed.
//!
//! On the wire, handshake messages and sealed chunks are each a big-endian `u16` length and
//! that many bytes.

use std::fmt;
use std::time::Duration;

use snow::{HandshakeState, TransportState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The Noise protocol name of every peer connection.
const NOISE_PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Largest Noise message (handshake message or sealed chunk).
const MAX_MESSAGE: usize = 65_535;

/// The authentication tag each sealed chunk carries.
const TAG: usize = 16;

/// Most plaintext bytes in one sealed chunk.
pub const MAX_CHUNK: usize = MAX_MESSAGE - TAG;

/// How long a connection may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of a cluster secret.
pub const SECRET_LEN: usize = 32;

/// The secret every node of a cluster shares: 32 random bytes, written as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret([u8; SECRET_LEN]);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log the secret itself.
        f.write_str("ClusterSecret(..)")
    }
}

/// Why a cluster secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cluster secret is {} hex digits (openssl rand -hex 32, or `dynamo secret`)", 2 * SECRET_LEN)]
pub struct BadSecret;

impl ClusterSecret {
    /// A new random secret from the operating system's generator.
    ///
    /// # Errors
    /// When the operating system has no randomness to give.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes)?;
        Ok(ClusterSecret(bytes))
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`BadSecret`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, BadSecret> {
        let text = text.trim().as_bytes();
        if text.len() != 2 * SECRET_LEN {
            return Err(BadSecret);
        }
        let mut bytes = [0u8; SECRET_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(BadSecret);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| BadSecret)?;
        }
        Ok(ClusterSecret(bytes))
    }

    /// The secret as 64 lowercase hex digits (for configuration files).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The well-known secret of a cluster that listens only on loopback and configured none:
    /// it keeps the handshake (and the refusal of plain frames) without protecting anything
    /// from local processes. Never used for an address other machines can reach.
    pub fn loopback_default() -> Self {
        ClusterSecret(*b"dynamo loopback-only dev secret!")
    }
}

/// Why a peer connection could not be secured, or broke.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecureError {
    /// The other side does not know the cluster secret (or is not a node of this store).
    #[error("handshake failed (wrong cluster secret, or not a dynamo peer): {0}")]
    Handshake(snow::Error),
    /// The handshake did not finish in time.
    #[error("no handshake within {0:?}")]
    HandshakeTimeout(Duration),
    /// A sealed chunk did not open: altered, replayed, reordered or forged.
    #[error("a sealed chunk did not open (tampered, replayed or out of order)")]
    Tampered,
    /// A sealed chunk was shorter than its tag.
    #[error("a sealed chunk of {0} bytes is shorter than its tag")]
    ShortChunk(usize),
    /// Reading or writing the socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SecureError {
    /// True when the other side failed to prove itself or sent bytes that do not open (as
    /// opposed to a socket that failed or closed).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, SecureError::Io(_))
    }
}

fn builder(secret: &ClusterSecret) -> Result<snow::Builder<'_>, SecureError> {
    let params = NOISE_PATTERN.parse().map_err(SecureError::Handshake)?;
    snow::Builder::new(params)
        .psk(0, &secret.0)
        .map_err(SecureError::Handshake)
}

/// Runs the dialer's side of the handshake on `stream`; on success the stream carries
/// sealed chunks written with the returned [`Sealer`].
///
/// # Errors
/// [`SecureError`]: the acceptor does not know the secret, took too long, or the socket failed.
pub async fn dial_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secret: &ClusterSecret,
) -> Result<Sealer, SecureError> {
    let run = async {
        let mut hs = builder(secret)?
            .build_initiator()
            .map_err(SecureError::Handshake)?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        send_handshake(stream, &mut hs, &mut buf).await?;
        receive_handshake(stream, &mut hs, &mut buf).await?;
        let transport = hs.into_transport_mode().map_err(SecureError::Handshake)?;
        Ok(Sealer { transport })
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .map_err(|_| SecureError::HandshakeTimeout(HANDSHAKE_TIMEOUT))?
}

/// Runs the acceptor's side of the handshake on `stream`, accepting a dialer that knows any
/// of `secrets` (more than one while the cluster secret is being rotated); on success the
/// stream's sealed chunks are read with the returned [`Opener`].
///
/// # Errors
/// [`SecureError`]: the dialer knows none of the secrets, took too long, or the socket failed.
pub async fn accept_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    secrets: &[ClusterSecret],
) -> Result<Opener, SecureError> {
    let run = async {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let first = read_message(stream).await?;
        // The dialer's first message opens only under its secret: try each in turn.
        let mut refusal = None;
        let mut accepted = None;
        for secret in secrets {
            let mut hs = builder(secret)?
                .build_responder()
                .map_err(SecureError::Handshake)?;
            match hs.read_message(&first, &mut buf) {
                Ok(_) => {
                    accepted = Some(hs);
                    break;
                }
                Err(e) => refusal = Some(e),
            }
        }
        let Some(mut hs) = accepted else {
            return Err(SecureError::Handshake(
                refusal.unwrap_or(snow::Error::Input),
            ));
        };
        send_handshake(stream, &mut hs, &mut buf).await?;
        let transport = hs.into_transport_mode().map_err(SecureError::Handshake)?;
        Ok(Opener {
            transport,
            chunk: vec![0u8; MAX_MESSAGE],
        })
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .map_err(|_| SecureError::HandshakeTimeout(HANDSHAKE_TIMEOUT))?
}

/// Reads one length-prefixed handshake message.
async fn read_message<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, SecureError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}

async fn send_handshake<S: AsyncWrite + Unpin>(
    stream: &mut S,
    hs: &mut HandshakeState,
    buf: &mut [u8],
) -> Result<(), SecureError> {
    let n = hs.write_message(&[], buf).map_err(SecureError::Handshake)?;
    let len = u16::try_from(n).map_err(|_| SecureError::ShortChunk(n))?;
    let mut out = Vec::with_capacity(2 + n);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&buf[..n]);
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(())
}

async fn receive_handshake<S: AsyncRead + Unpin>(
    stream: &mut S,
    hs: &mut HandshakeState,
    buf: &mut [u8],
) -> Result<(), SecureError> {
    let message = read_message(stream).await?;
    hs.read_message(&message, buf)
        .map_err(SecureError::Handshake)?;
    Ok(())
}

/// The sending side of a secured connection: seals plaintext into chunks.
pub struct Sealer {
    transport: TransportState,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// Appends `plain`, sealed as chunks of at most [`MAX_CHUNK`] bytes, to `out`.
    ///
    /// # Errors
    /// [`SecureError::Handshake`] only if the session's counter ran out (2⁶⁴ chunks).
    pub fn seal_into(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), SecureError> {
        for piece in plain.chunks(MAX_CHUNK) {
            let start = out.len();
            let sealed = piece.len() + TAG;
            out.resize(start + 2 + sealed, 0);
            let n = self
                .transport
                .write_message(piece, &mut out[start + 2..])
                .map_err(SecureError::Handshake)?;
            debug_assert_eq!(n, sealed);
            // n <= MAX_MESSAGE: fits a u16.
            let len = u16::try_from(n).unwrap_or(u16::MAX);
            out[start..start + 2].copy_from_slice(&len.to_be_bytes());
            out.truncate(start + 2 + n);
        }
        Ok(())
    }
}

/// The receiving side of a secured connection: opens chunks into plaintext.
pub struct Opener {
    transport: TransportState,
    chunk: Vec<u8>,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opener")
    }
}

impl Opener {
    /// Reads one sealed chunk from `reader` and appends its plaintext to `plain`.
    /// `Ok(false)` when the stream ended cleanly before a chunk.
    ///
    /// # Errors
    /// [`SecureError::Tampered`] for a chunk that does not open, [`SecureError::ShortChunk`],
    /// [`SecureError::Io`] (including a stream that ends inside a chunk).
    pub async fn read_chunk<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        plain: &mut Vec<u8>,
    ) -> Result<bool, SecureError> {
        let mut len = [0u8; 2];
        match reader.read(&mut len[..1]).await? {
            0 => return Ok(false),
            _ => reader.read_exact(&mut len[1..]).await?,
        };
        let len = usize::from(u16::from_be_bytes(len));
        if len < TAG {
            return Err(SecureError::ShortChunk(len));
        }
        let sealed = &mut self.chunk[..len];
        reader.read_exact(sealed).await?;
        let start = plain.len();
        plain.resize(start + len - TAG, 0);
        match self.transport.read_message(sealed, &mut plain[start..]) {
            Ok(n) => {
                plain.truncate(start + n);
                Ok(true)
            }
            Err(_) => {
                plain.truncate(start);
                Err(SecureError::Tampered)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn pair(
        a: &ClusterSecret,
        b: &ClusterSecret,
    ) -> (
        Result<Sealer, SecureError>,
        Result<Opener, SecureError>,
        tokio::io::DuplexStream,
        tokio::io::DuplexStream,
    ) {
        let (mut dialer, mut acceptor) = tokio::io::duplex(1 << 20);
        let (sealer, opener) = tokio::join!(
            dial_handshake(&mut dialer, a),
            accept_handshake(&mut acceptor, std::slice::from_ref(b))
        );
        (sealer, opener, dialer, acceptor)
    }

    #[test]
    fn secrets_parse_and_print_as_hex() {
        let s = ClusterSecret::generate().unwrap();
        assert_eq!(ClusterSecret::from_hex(&s.to_hex()).unwrap(), s);
        assert_eq!(s.to_hex().len(), 64);
        assert_ne!(ClusterSecret::generate().unwrap(), s);
        assert!(ClusterSecret::from_hex("abc").is_err());
        assert!(ClusterSecret::from_hex(&"g".repeat(64)).is_err());
        assert_eq!(format!("{s:?}"), "ClusterSecret(..)");
    }

    #[tokio::test]
    async fn the_same_secret_connects_and_carries_large_frames() {
        let secret = ClusterSecret::generate().unwrap();
        let (sealer, opener, mut dialer, mut acceptor) = pair(&secret, &secret).await;
        let (mut sealer, mut opener) = (sealer.unwrap(), opener.unwrap());
        // Several chunks' worth, then a short one.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        sealer.seal_into(&big, &mut wire).unwrap();
        sealer.seal_into(b"tail", &mut wire).unwrap();
        // Nothing of the plaintext shows on the wire.
        assert!(!wire.windows(4).any(|w| w == b"tail"));
        dialer.write_all(&wire).await.unwrap();
        drop(dialer);
        let mut plain = Vec::new();
        while opener.read_chunk(&mut acceptor, &mut plain).await.unwrap() {}
        assert_eq!(&plain[..big.len()], &big[..]);
        assert_eq!(&plain[big.len()..], b"tail");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_on_both_sides() {
        let (mut dialer, mut acceptor) = tokio::io::duplex(1 << 16);
        let accept = async move {
            // The acceptor cannot open the dialer's first message, and hangs up.
            accept_handshake(&mut acceptor, &[ClusterSecret::generate().unwrap()]).await
        };
        let mine = ClusterSecret::generate().unwrap();
        let (sealer, opener) = tokio::join!(dial_handshake(&mut dialer, &mine), accept);
        let refused = opener.unwrap_err();
        assert!(refused.is_refusal(), "{refused}");
        // The dialer sees the connection end before an answer.
        assert!(matches!(sealer, Err(SecureError::Io(_))), "{sealer:?}");
    }

    #[tokio::test]
    async fn during_a_rotation_the_acceptor_takes_either_secret() {
        let (old, new) = (
            ClusterSecret::generate().unwrap(),
            ClusterSecret::generate().unwrap(),
        );
        let both = [new.clone(), old.clone()];
        for dialer_secret in [&old, &new] {
            let (mut dialer, mut acceptor) = tokio::io::duplex(1 << 16);
            let (sealer, opener) = tokio::join!(
                dial_handshake(&mut dialer, dialer_secret),
                accept_handshake(&mut acceptor, &both)
            );
            let (mut sealer, mut opener) = (sealer.unwrap(), opener.unwrap());
            let mut wire = Vec::new();
            sealer.seal_into(b"hello", &mut wire).unwrap();
            dialer.write_all(&wire).await.unwrap();
            let mut plain = Vec::new();
            assert!(opener.read_chunk(&mut acceptor, &mut plain).await.unwrap());
            assert_eq!(plain, b"hello");
        }
    }

    #[tokio::test]
    async fn tampered_replayed_or_reordered_chunks_do_not_open() {
        let secret = ClusterSecret::generate().unwrap();
        for attack in 0..3 {
            let (sealer, opener, mut dialer, mut acceptor) = pair(&secret, &secret).await;
            let (mut sealer, mut opener) = (sealer.unwrap(), opener.unwrap());
            let (mut one, mut two) = (Vec::new(), Vec::new());
            sealer.seal_into(b"first", &mut one).unwrap();
            sealer.seal_into(b"second", &mut two).unwrap();
            let wire = match attack {
                0 => {
                    let last = one.len() - 1;
                    one[last] ^= 1;
                    one
                }
                1 => [one.clone(), one].concat(),
                _ => [two, one].concat(),
            };
            dialer.write_all(&wire).await.unwrap();
            drop(dialer);
            let mut plain = Vec::new();
            let mut outcome = Ok(true);
            while let Ok(true) = outcome {
                outcome = opener.read_chunk(&mut acceptor, &mut plain).await;
            }
            assert!(
                matches!(outcome, Err(SecureError::Tampered)),
                "attack {attack}: {outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn plain_frames_without_a_handshake_are_refused() {
        let secret = ClusterSecret::generate().unwrap();
        let (mut dialer, mut acceptor) = tokio::io::duplex(1 << 16);
        // What a node without encryption would send first: a frame length and a version.
        dialer
            .write_all(&[0, 0, 0, 40, 2, 0, 1, 2, 3])
            .await
            .unwrap();
        drop(dialer);
        let refused = accept_handshake(&mut acceptor, &[secret])
            .await
            .unwrap_err();
        assert!(
            !matches!(refused, SecureError::HandshakeTimeout(_)),
            "{refused}"
        );
    }
}
