//! Stored encoding of the node's [`EpochState`] (kept in its meta keyspace).
//!
//! Fourteen bytes: format version `1`, the epoch (u64, big-endian), a flags byte (bit 0:
//! clean shutdown; other bits 0), and the crc32 of the preceding ten bytes (u32,
//! big-endian).

use crate::version::EpochState;

use super::codec::{Reader, Writer, open_frame};
use super::error::DecodeError;

/// Format version of the epoch state encoding.
pub const EPOCH_FORMAT_VERSION: u8 = 1;

/// Encodes an epoch state for the meta keyspace.
pub fn encode_epoch_state(state: &EpochState) -> Vec<u8> {
    let mut w = Writer::with_capacity(14);
    w.u8(EPOCH_FORMAT_VERSION);
    w.u64(state.epoch);
    w.u8(u8::from(state.clean_shutdown));
    w.seal()
}

/// Decodes what [`encode_epoch_state`] wrote.
///
/// # Errors
/// A [`DecodeError`] for truncated, corrupt or unknown-version input. A node that cannot
/// read its epoch state must treat it as absent (and so start a new epoch), never guess.
pub fn decode_epoch_state(input: &[u8]) -> Result<EpochState, DecodeError> {
    let body = open_frame(input, EPOCH_FORMAT_VERSION)?;
    let mut r = Reader::new(body);
    let epoch = r.u64()?;
    let clean_shutdown = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Malformed("epoch flags")),
    };
    r.finish()?;
    Ok(EpochState {
        epoch,
        clean_shutdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let s = EpochState {
            epoch: 1_700_000_000_123,
            clean_shutdown: true,
        };
        let bytes = encode_epoch_state(&s);
        assert_eq!(bytes.len(), 14);
        assert_eq!(decode_epoch_state(&bytes), Ok(s));
        for cut in 0..bytes.len() {
            assert!(decode_epoch_state(&bytes[..cut]).is_err());
        }
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_epoch_state(&b).is_err());
        }
    }
}
