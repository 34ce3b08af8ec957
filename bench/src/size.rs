//! How many keys the benchmarks load: a quick size for CI, the full size of redb's benchmark.

/// Number of keys preloaded into each store (and written by bulk load, deleted by removals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchSize {
    /// Number of keys.
    pub keys: usize,
}

impl BenchSize {
    /// The default: 10,000 keys, for CI and a quick `cargo bench -p bench`.
    pub const QUICK: BenchSize = BenchSize { keys: 10_000 };
    /// 1,000,000 keys, the order of magnitude of redb's published table.
    pub const FULL: BenchSize = BenchSize { keys: 1_000_000 };

    /// Parses a size: `quick`, `full`, or a number of keys (`_` allowed as a separator).
    pub fn parse(text: &str) -> Option<BenchSize> {
        match text.trim() {
            "" | "quick" => Some(Self::QUICK),
            "full" => Some(Self::FULL),
            n => n
                .replace('_', "")
                .parse::<usize>()
                .ok()
                .filter(|&keys| keys >= 1)
                .map(|keys| BenchSize { keys }),
        }
    }

    /// The size named by the `BENCH_SIZE` environment variable; [`BenchSize::QUICK`] when it is
    /// unset.
    ///
    /// # Errors
    /// A message when `BENCH_SIZE` is set to something [`BenchSize::parse`] rejects.
    pub fn from_env() -> Result<BenchSize, String> {
        match std::env::var("BENCH_SIZE") {
            Err(_) => Ok(Self::QUICK),
            Ok(text) => Self::parse(&text).ok_or_else(|| {
                format!("BENCH_SIZE={text:?}: expected `quick`, `full` or a number of keys")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(BenchSize::parse("quick"), Some(BenchSize::QUICK));
        assert_eq!(BenchSize::parse("full"), Some(BenchSize::FULL));
        assert_eq!(
            BenchSize::parse("100_000"),
            Some(BenchSize { keys: 100_000 })
        );
        assert_eq!(BenchSize::parse("0"), None);
        assert_eq!(BenchSize::parse("lots"), None);
    }
}
