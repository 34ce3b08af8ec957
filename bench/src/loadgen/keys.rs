//! What the load generator reads and writes: key names, the choice of a key (uniform or Zipf),
//! and values that say who wrote them, so that a read-back can tell a value this run wrote to
//! that very key from anything else.

use bytes::{Bytes, BytesMut};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes at the start of every value: key index, client, sequence number, payload offset
/// (four little-endian `u32`s).
pub const VALUE_HEADER_LEN: usize = 16;

/// Length of the shared random buffer the payloads are sliced from, beyond the payload size.
const POOL_SLACK: usize = 4096;

/// The name of key number `index`: `key00000042`.
pub fn key_name(index: u32) -> String {
    format!("key{index:08}")
}

/// How keys are drawn.
#[derive(Debug, Clone)]
pub enum KeyChooser {
    /// Every key equally likely.
    Uniform {
        /// Number of keys.
        keys: u32,
    },
    /// Key `i` with probability ∝ 1/(i+1)^s: the cumulative distribution, searched by
    /// bisection.
    Zipf {
        /// `cdf[i]` = P(key ≤ i); the last is 1.
        cdf: Vec<f64>,
    },
}

impl KeyChooser {
    /// Uniform over `keys` keys when `zipf` is `None` or 0, else Zipf with exponent `zipf`.
    pub fn new(keys: u32, zipf: Option<f64>) -> KeyChooser {
        match zipf {
            Some(s) if s > 0.0 => {
                let weights: Vec<f64> = (0..keys).map(|i| (f64::from(i) + 1.0).powf(-s)).collect();
                let total: f64 = weights.iter().sum();
                let mut acc = 0.0;
                let mut cdf: Vec<f64> = weights
                    .iter()
                    .map(|w| {
                        acc += w;
                        acc / total
                    })
                    .collect();
                if let Some(last) = cdf.last_mut() {
                    *last = 1.0;
                }
                KeyChooser::Zipf { cdf }
            }
            _ => KeyChooser::Uniform { keys },
        }
    }

    /// Draws a key index.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        match self {
            KeyChooser::Uniform { keys } => rng.random_range(0..*keys),
            KeyChooser::Zipf { cdf } => {
                let u: f64 = rng.random();
                let i = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
                // Lossless: there are at most u32::MAX keys.
                i as u32
            }
        }
    }
}

/// Makes and checks the values: a header naming the write, then a slice of a random buffer
/// drawn from the run's seed.
#[derive(Debug, Clone)]
pub struct ValueMaker {
    pool: Bytes,
    size: usize,
}

/// Who wrote a value, as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteId {
    /// The key index the writer meant it for.
    pub key: u32,
    /// The writing client.
    pub client: u32,
    /// The client's write number.
    pub seq: u32,
}

impl ValueMaker {
    /// Values of `size` bytes (at least [`VALUE_HEADER_LEN`]), payloads from a buffer drawn
    /// with `seed`.
    pub fn new(size: usize, seed: u64) -> ValueMaker {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a1e_5eed_u64);
        let mut pool = vec![0u8; size.saturating_sub(VALUE_HEADER_LEN) + POOL_SLACK];
        rng.fill_bytes(&mut pool);
        ValueMaker {
            pool: Bytes::from(pool),
            size,
        }
    }

    /// The value of write `id`, with its payload at a random offset of the buffer.
    pub fn make(&self, id: WriteId, rng: &mut ChaCha8Rng) -> Bytes {
        let payload = self.size.saturating_sub(VALUE_HEADER_LEN);
        // Lossless: the offset is below POOL_SLACK.
        let offset = rng.random_range(0..POOL_SLACK) as u32;
        let mut value = BytesMut::with_capacity(VALUE_HEADER_LEN + payload);
        for field in [id.key, id.client, id.seq, offset] {
            value.extend_from_slice(&field.to_le_bytes());
        }
        let start = offset as usize;
        value.extend_from_slice(&self.pool[start..start + payload]);
        value.freeze()
    }

    /// Who wrote `value`, if it is a value of this size that this maker could have made.
    ///
    /// # Errors
    /// What is wrong with it: its length, its offset, its payload.
    pub fn check(&self, value: &[u8]) -> Result<WriteId, String> {
        if value.len() != self.size.max(VALUE_HEADER_LEN) {
            return Err(format!(
                "a value of {} bytes, {} expected",
                value.len(),
                self.size
            ));
        }
        let field = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&value[4 * i..4 * i + 4]);
            u32::from_le_bytes(b)
        };
        let offset = field(3) as usize;
        let payload = &value[VALUE_HEADER_LEN..];
        if offset >= POOL_SLACK {
            return Err(format!("payload offset {offset} out of range"));
        }
        if payload != &self.pool[offset..offset + payload.len()] {
            return Err("the payload is not the one written".to_owned());
        }
        Ok(WriteId {
            key: field(0),
            client: field(1),
            seq: field(2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_corruption_is_seen() {
        let maker = ValueMaker::new(100, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let id = WriteId {
            key: 42,
            client: 3,
            seq: 9,
        };
        let v = maker.make(id, &mut rng);
        assert_eq!(v.len(), 100);
        assert_eq!(maker.check(&v), Ok(id));
        let mut bad = v.to_vec();
        bad[50] ^= 1;
        assert!(maker.check(&bad).is_err());
        assert!(maker.check(&v[..99]).is_err());
        // Another seed's buffer differs.
        assert!(ValueMaker::new(100, 8).check(&v).is_err());
        // A size below the header is raised to it.
        let tiny = ValueMaker::new(4, 7);
        let v = tiny.make(id, &mut rng);
        assert_eq!(v.len(), VALUE_HEADER_LEN);
        assert_eq!(tiny.check(&v), Ok(id));
    }

    #[test]
    fn zipf_prefers_low_keys_and_uniform_does_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let zipf = KeyChooser::new(1000, Some(1.0));
        let mut hits = vec![0u32; 1000];
        for _ in 0..100_000 {
            hits[zipf.sample(&mut rng) as usize] += 1;
        }
        // P(key 0) = 1/H(1000) ≈ 0.134.
        assert!((12_000..15_000).contains(&hits[0]), "{}", hits[0]);
        assert!(hits[0] > hits[1] && hits[1] > hits[9]);
        let uniform = KeyChooser::new(1000, None);
        let mut hits = vec![0u32; 1000];
        for _ in 0..100_000 {
            hits[uniform.sample(&mut rng) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| (40..170).contains(&h)));
        assert!(matches!(
            KeyChooser::new(10, Some(0.0)),
            KeyChooser::Uniform { keys: 10 }
        ));
    }
}
