//! A latency histogram in the manner of HdrHistogram: log-linear buckets (128 per power of two,
//! so any recorded value is known to within 0.8%), exact below 256, a fixed 59 KB table covering
//! the whole `u64` range, and constant-time recording. Histograms of several clients merge by
//! adding their tables.
//!
//! Written here rather than taken from the `hdrhistogram` crate: the load generator needs only
//! record, merge and quantiles, and that crate has seen no release since 2023.

/// Sub-buckets per power of two: 2^7, for a relative error below 1/128.
const SUB_BITS: u32 = 7;
/// 128.
const SUB: u64 = 1 << SUB_BITS;
/// Values below this have a bucket each.
const EXACT: u64 = 2 * SUB;
/// Buckets: values below [`EXACT`], then 128 per power of two up to 2^63.
const BUCKETS: usize = ((64 - SUB_BITS) as usize) * (SUB as usize) + SUB as usize;

/// Counts of values (microseconds, for the load generator) in log-linear buckets, with the exact
/// count, sum, minimum and maximum.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of `value`.
fn index_of(value: u64) -> usize {
    if value < EXACT {
        // Lossless: `value` < 256.
        return value as usize;
    }
    let magnitude = value.ilog2(); // >= 8
    let shift = magnitude - SUB_BITS; // >= 1
    let sub = value >> shift; // in [128, 256)
    // Lossless: shift <= 56 and sub < 256, so the index is below BUCKETS.
    (u64::from(shift) * SUB + sub) as usize
}

/// The largest value that falls in bucket `index`.
fn highest_in(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT {
        return index;
    }
    let shift = index / SUB - 1;
    let sub = index - shift * SUB;
    // sub + 1 <= 256 and shift <= 56: up to 2^64, so computed in u128.
    let high = ((u128::from(sub) + 1) << shift) - 1;
    u64::try_from(high).unwrap_or(u64::MAX)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[index_of(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean of the values recorded (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value below or at which a fraction `q` (0..=1) of the recorded values lie: the top of
    /// the bucket holding the value of rank ⌈q·count⌉, never above the maximum recorded. 0 when
    /// empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = q.clamp(0.0, 1.0);
        // Rank of the value asked for, 1-based: at least the first, at most the last.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return highest_in(index).min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        // Every bucket starts right after the previous one ends, and is at most 1/128 wide.
        let mut previous_high = None::<u64>;
        for index in 0..BUCKETS {
            let high = highest_in(index);
            if let Some(p) = previous_high {
                let low = p + 1;
                assert_eq!(index_of(low), index, "value {low}");
                assert_eq!(index_of(high), index, "value {high}");
                assert!(
                    (high - low) as f64 <= low as f64 / 128.0 + 1.0,
                    "bucket {index}"
                );
            }
            if high == u64::MAX {
                assert_eq!(index, BUCKETS - 1);
                break;
            }
            previous_high = Some(high);
        }
        assert_eq!(index_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 10_000);
        assert!((h.mean() - 5_000.5).abs() < 1e-9);
        for (q, exact) in [(0.5, 5_000u64), (0.9, 9_000), (0.99, 9_900), (0.999, 9_990)] {
            let got = h.quantile(q);
            assert!(got >= exact, "q {q}: {got} < {exact}");
            assert!(
                got as f64 <= exact as f64 * (1.0 + 1.0 / 128.0),
                "q {q}: {got}"
            );
        }
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.quantile(0.0), 1);
        // Small values are exact.
        let mut small = Histogram::new();
        for v in [3, 3, 7, 200] {
            small.record(v);
        }
        assert_eq!(small.quantile(0.5), 3);
        assert_eq!(small.quantile(0.75), 7);
        assert_eq!(small.quantile(1.0), 200);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        a.record(1_000_000);
        b.record(5);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.min(), 5);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.quantile(0.3), 5);
        assert_eq!(a.quantile(0.5), 10);
        let empty = Histogram::new();
        assert_eq!(empty.quantile(0.99), 0);
        assert_eq!(empty.min(), 0);
        assert_eq!(empty.mean(), 0.0);
    }
}
