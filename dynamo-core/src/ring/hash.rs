//! The key hash: SipHash-2-4 with a fixed, published key.
//!
//! Every stored key's location depends on this function, and so does every client that routes
//! requests itself: it must never change. Tests pin its values.
//!
//! Why SipHash-2-4: it is a standard function (Aumasson and Bernstein, 2012) with published
//! test vectors and implementations in every language, so a client written elsewhere can
//! compute partitions exactly; its output is uniform in every bit, which matters because the
//! partition is taken from the *top* bits (FNV-1a, for one, mixes its top bits poorly for
//! short keys); and it needs no dependency. Its flooding resistance is irrelevant here — the
//! key is public, as it must be for clients to route.

/// The SipHash key, first half: bytes `00 01 .. 07` read little-endian, as in the SipHash
/// paper's test vectors.
pub const SIPHASH_K0: u64 = 0x0706_0504_0302_0100;
/// The SipHash key, second half: bytes `08 09 .. 0f` read little-endian.
pub const SIPHASH_K1: u64 = 0x0f0e_0d0c_0b0a_0908;

/// The 64-bit position of `key` of `bucket` on the ring:
/// `SipHash-2-4(k = 00 01 02 .. 0f, m = be64(len(bucket)) || bucket || key)`.
///
/// The bucket's length comes first, as an 8-byte big-endian number, so that no two distinct
/// (bucket, key) pairs hash the same input bytes: `("ab", "c")` and `("a", "bc")` differ.
/// The key needs no length, being last.
pub fn key_hash(bucket: &[u8], key: &[u8]) -> u64 {
    let mut h = SipHasher24::new(SIPHASH_K0, SIPHASH_K1);
    h.write(&(bucket.len() as u64).to_be_bytes());
    h.write(bucket);
    h.write(key);
    h.finish()
}

/// SipHash-2-4 of `bytes` under the ring's fixed key (also used for ring digests and claim
/// tie-breaks, so that they too are the same on every node).
pub(crate) fn sip(bytes: &[u8]) -> u64 {
    let mut h = SipHasher24::new(SIPHASH_K0, SIPHASH_K1);
    h.write(bytes);
    h.finish()
}

/// Streaming SipHash-2-4 (2 compression rounds, 4 finalization rounds), 64-bit output.
#[derive(Debug, Clone)]
pub(crate) struct SipHasher24 {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
    /// Bytes of an incomplete 8-byte word, little-endian.
    tail: u64,
    /// How many bytes `tail` holds (0..8).
    ntail: usize,
    /// Total bytes written.
    length: u64,
}

impl SipHasher24 {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        SipHasher24 {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline]
    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.round();
        self.v0 ^= m;
    }

    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        // Complete a pending partial word first.
        while self.ntail > 0 && self.ntail < 8 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            self.tail |= u64::from(b) << (8 * self.ntail);
            self.ntail += 1;
            bytes = rest;
        }
        if self.ntail == 8 {
            let m = self.tail;
            self.compress(m);
            self.tail = 0;
            self.ntail = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut le = [0u8; 8];
            le.copy_from_slice(w);
            self.compress(u64::from_le_bytes(le));
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            self.tail |= u64::from(b) << (8 * i);
        }
        self.ntail = words.remainder().len();
    }

    pub(crate) fn finish(mut self) -> u64 {
        let b = ((self.length & 0xff) << 56) | self.tail;
        self.compress(b);
        self.v2 ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published SipHash-2-4 vectors (reference implementation `vectors.h`, key `00..0f`,
    /// message `00 01 .. (len-1)`), read as little-endian u64.
    #[test]
    fn reference_vectors() {
        let msg: Vec<u8> = (0u8..64).collect();
        let expected: [(usize, u64); 4] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (len, want) in expected {
            assert_eq!(sip(&msg[..len]), want, "length {len}");
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let msg: Vec<u8> = (0u8..100).map(|i| i.wrapping_mul(37)).collect();
        let whole = sip(&msg);
        for cut1 in 0..msg.len() {
            for cut2 in [cut1, (cut1 + 3).min(msg.len()), msg.len()] {
                let mut h = SipHasher24::new(SIPHASH_K0, SIPHASH_K1);
                h.write(&msg[..cut1]);
                h.write(&msg[cut1..cut2]);
                h.write(&msg[cut2..]);
                assert_eq!(h.finish(), whole, "cuts {cut1} {cut2}");
            }
        }
    }
}
