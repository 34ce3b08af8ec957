//! Deterministic key-value data: random keys and values from a seeded ChaCha generator.

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Length of every key, as in redb's `lmdb_benchmark`.
pub const KEY_LEN: usize = 24;
/// Length of the values of most workloads, as in redb's `lmdb_benchmark`.
pub const SMALL_VALUE_LEN: usize = 150;
/// Length of the values of the 1 KiB workloads.
pub const LARGE_VALUE_LEN: usize = 1024;

/// A key and its value.
pub type Pair = (Bytes, Bytes);

/// A fixed list of key-value pairs, the same on every run for the same arguments.
///
/// Keys are uniformly random, so the list's order is a random order of the key space: reading
/// the keys in list order is a random-read workload, as in redb's benchmark (which replays its
/// generator). Keys and values are slices of two shared buffers, so cloning a pair only bumps a
/// reference count.
#[derive(Debug, Clone)]
pub struct Dataset {
    pairs: Vec<Pair>,
}

impl Dataset {
    /// `n` pairs of a [`KEY_LEN`]-byte key and a `value_len`-byte value, drawn from ChaCha8
    /// seeded with `seed`.
    pub fn generate(n: usize, value_len: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut keys = vec![0u8; n * KEY_LEN];
        let mut values = vec![0u8; n * value_len];
        // Draw key then value, pair by pair, so that a prefix of a larger dataset is the smaller
        // dataset of the same seed.
        for i in 0..n {
            rng.fill_bytes(&mut keys[i * KEY_LEN..(i + 1) * KEY_LEN]);
            rng.fill_bytes(&mut values[i * value_len..(i + 1) * value_len]);
        }
        let keys = Bytes::from(keys);
        let values = Bytes::from(values);
        let pairs = (0..n)
            .map(|i| {
                (
                    keys.slice(i * KEY_LEN..(i + 1) * KEY_LEN),
                    values.slice(i * value_len..(i + 1) * value_len),
                )
            })
            .collect();
        Self { pairs }
    }

    /// The pairs, in generation (random key) order.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there is no pair.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// What [`crate::BenchStore::read_cycle`] must return as checksum after reading `n` keys
    /// of this dataset cyclically from a store holding all of them: the sum of the first byte
    /// of each value read.
    pub fn checksum(&self, n: u64) -> u64 {
        let first = |(_, v): &Pair| u64::from(v.first().copied().unwrap_or(0));
        let len = self.pairs.len() as u64;
        if len == 0 {
            return 0;
        }
        let round: u64 = self.pairs.iter().map(first).sum();
        let rest = usize::try_from(n % len).unwrap_or(usize::MAX);
        (n / len) * round + self.pairs[..rest].iter().map(first).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_prefix_stable() {
        let a = Dataset::generate(10, 150, 3);
        let b = Dataset::generate(20, 150, 3);
        assert_eq!(a.pairs(), &b.pairs()[..10]);
        let c = Dataset::generate(10, 150, 4);
        assert_ne!(a.pairs(), c.pairs());
        assert!(
            a.pairs()
                .iter()
                .all(|(k, v)| k.len() == KEY_LEN && v.len() == 150)
        );
    }

    #[test]
    fn checksum_cycles() {
        let a = Dataset::generate(3, 8, 1);
        let one_round: u64 = a.pairs().iter().map(|(_, v)| u64::from(v[0])).sum();
        assert_eq!(a.checksum(6), 2 * one_round);
    }
}
