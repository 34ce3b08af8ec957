//! Running a scenario over many seeds, and replaying the one that failed.
//!
//! A scenario is a function from a seed to its [`Summary`] or a failure message.
//! [`sweep`] runs it over a range of seeds, stops at the first failure (a panic counts as one)
//! and says which seed to replay. The range comes from the environment
//! ([`seeds_from_env`]):
//!
//! - `SIM_SEED=<seed>`: only that seed (replay a failure);
//! - `SIM_SEEDS=<count>`: that many seeds (default: the test's own count);
//! - `SIM_SEED_START=<seed>`: the first seed of the range (default 0);
//! - `SIM_DIGEST=1`: record the history's digest in sweeps (see [`history_mode`]);
//! - `SIM_HISTORY=<file>`: where [`write_history_if_asked`] writes a run's full history
//!   (use it with `SIM_SEED`: the scenario records everything when [`replay_seed`] is set,
//!   see [`history_mode`]).

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::history::History;
use crate::sim::HistoryMode;
use crate::summary::Summary;

/// The outcome of a sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Seeds run (including the failing one).
    pub seeds_run: u64,
    /// Merged figures of the seeds that passed.
    pub summary: Summary,
    /// The first seed that failed, with its message.
    pub failure: Option<(u64, String)>,
}

impl SweepReport {
    /// `Ok` with the merged figures when every seed passed.
    ///
    /// # Errors
    /// A message naming the failing seed and the command line that replays it.
    pub fn into_result(self) -> Result<Summary, String> {
        match self.failure {
            None => Ok(self.summary),
            Some((seed, msg)) => Err(format!(
                "seed {seed} failed: {msg}\nreplay with SIM_SEED={seed}"
            )),
        }
    }
}

/// Runs `scenario` for each seed of `seeds`, stopping at the first failure or panic.
pub fn sweep<F>(seeds: Range<u64>, mut scenario: F) -> SweepReport
where
    F: FnMut(u64) -> Result<Summary, String>,
{
    let mut report = SweepReport::default();
    for seed in seeds {
        report.seeds_run += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| scenario(seed)));
        let failure = match outcome {
            Ok(Ok(summary)) => {
                report.summary.merge(&summary);
                continue;
            }
            Ok(Err(msg)) => msg,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panic".to_owned());
                format!("panicked: {msg}")
            }
        };
        report.failure = Some((seed, failure));
        break;
    }
    report
}

/// The seeds to run: `SIM_SEED` alone if set, else `SIM_SEED_START..+SIM_SEEDS`, with
/// `default_count` seeds from 0 when neither is set. Unparsable values are ignored.
pub fn seeds_from_env(default_count: u64) -> Range<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    seeds_from(
        var("SIM_SEED"),
        var("SIM_SEED_START"),
        var("SIM_SEEDS"),
        default_count,
    )
}

/// The seed given by `SIM_SEED`, when one is: a replay.
pub fn replay_seed() -> Option<u64> {
    std::env::var("SIM_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The history a scenario should record: everything when replaying one seed
/// ([`replay_seed`]); only the digest when `SIM_DIGEST` is set (detects nondeterminism at
/// about half the speed); nothing otherwise (fastest, for long sweeps).
pub fn history_mode() -> HistoryMode {
    if replay_seed().is_some() {
        HistoryMode::Full
    } else if std::env::var_os("SIM_DIGEST").is_some() {
        HistoryMode::Digest
    } else {
        HistoryMode::Off
    }
}

/// Writes `history` as text to the file named by `SIM_HISTORY`, when it is set and the
/// history kept its entries; returns the path written.
///
/// # Errors
/// The I/O error of writing the file.
pub fn write_history_if_asked(history: &History) -> std::io::Result<Option<String>> {
    match std::env::var("SIM_HISTORY") {
        Ok(path) if history.keeps_entries() => {
            std::fs::write(&path, history.render())?;
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}

fn seeds_from(
    seed: Option<u64>,
    start: Option<u64>,
    count: Option<u64>,
    default_count: u64,
) -> Range<u64> {
    if let Some(s) = seed {
        return s..s.saturating_add(1);
    }
    let start = start.unwrap_or(0);
    start..start.saturating_add(count.unwrap_or(default_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_rules() {
        assert_eq!(seeds_from(Some(7), Some(100), Some(5), 10), 7..8);
        assert_eq!(seeds_from(None, Some(100), Some(5), 10), 100..105);
        assert_eq!(seeds_from(None, None, None, 10), 0..10);
    }

    #[test]
    fn stops_at_first_failure_and_catches_panics() {
        let r = sweep(0..100, |s| {
            if s == 13 {
                Err("boom".into())
            } else {
                Ok(Summary {
                    seeds: 1,
                    ..Summary::default()
                })
            }
        });
        assert_eq!(r.seeds_run, 14);
        assert_eq!(r.summary.seeds, 13);
        assert_eq!(r.failure, Some((13, "boom".into())));
        let msg = r.into_result().err().unwrap_or_default();
        assert!(msg.contains("SIM_SEED=13"), "{msg}");

        let r = sweep(5..10, |s| {
            assert!(s < 7, "seed too big");
            Ok(Summary::default())
        });
        let (seed, msg) = r.failure.unwrap_or_default();
        assert_eq!(seed, 7);
        assert!(msg.contains("seed too big"), "{msg}");
    }
}
