//! Errors of the encodings.

/// Why bytes read from disk or the network were rejected. Decoders never panic and never
/// return a partially decoded value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before the structure it announces (or is empty).
    #[error("input is truncated")]
    Truncated,
    /// The leading format-version byte names a format this build does not know.
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// The crc32 checksum does not match: the bytes were corrupted (or forged).
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum found in the input.
        stored: u32,
        /// The checksum of the bytes it covers.
        computed: u32,
    },
    /// The checksum matches but the content breaks the format's rules (a bug on the writing
    /// side, or a forgery).
    #[error("malformed input: {0}")]
    Malformed(&'static str),
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A part exceeds what the format can represent (or what the format bounds, such as the
    /// context token size).
    #[error("{what} is too large to encode")]
    TooLarge {
        /// Which part.
        what: &'static str,
    },
}
