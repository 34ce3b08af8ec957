//! An interleaved comparison of two stores on one workload, for a machine shared with other
//! work.
//!
//! criterion measures one benchmark after the other, so on a busy machine (other builds, other
//! fsyncs on the same disk) the adapter and its raw crate can see different conditions, and a
//! ratio of their medians moves by more than the adapter's overhead. [`compare`] instead runs
//! the two in alternating rounds — A then B, B then A, ... — with the same number of iterations
//! each, so that both see the same conditions within a round, and reports the median over the
//! rounds of B's time ÷ A's time, with its quartiles.

use std::time::{Duration, Instant};

use crate::workload::{Runner, Workload};
use crate::{BenchResult, BenchStore};

/// Fewest rounds of a comparison, whatever the time budget.
pub const MIN_ROUNDS: usize = 10;
/// Most rounds of a comparison.
pub const MAX_ROUNDS: usize = 200;

/// The result of [`compare`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// The workload compared.
    pub workload: Workload,
    /// Median over the rounds of A's time per iteration, in nanoseconds.
    pub a_ns: f64,
    /// Median over the rounds of B's time per iteration, in nanoseconds.
    pub b_ns: f64,
    /// Median over the rounds of B's time ÷ A's time in the same round: A's speed relative to
    /// B's (for A an adapter and B its raw crate, 1.0 means no overhead).
    pub ratio: f64,
    /// First quartile of the per-round ratios.
    pub ratio_q1: f64,
    /// Third quartile of the per-round ratios.
    pub ratio_q3: f64,
    /// Rounds run.
    pub rounds: usize,
    /// Iterations of each store per round.
    pub iters: u64,
}

/// Runs `workload` on `a` and `b` in alternating rounds for about `budget` of wall time (at
/// least [`MIN_ROUNDS`] rounds), each round timing the same number of iterations of both,
/// chosen so that a round of A takes about `budget / 40`.
///
/// # Errors
/// A failure of either store.
pub fn compare<A: BenchStore, B: BenchStore>(
    a: &mut Runner<'_, A>,
    b: &mut Runner<'_, B>,
    workload: Workload,
    budget: Duration,
) -> BenchResult<Paired> {
    // Warm both up (and make their shared stores), then find the iteration count.
    a.run(workload, 1)?;
    b.run(workload, 1)?;
    let target = budget / 40;
    let mut iters = 1u64;
    loop {
        let elapsed = a.run(workload, iters)?;
        if elapsed >= target || iters >= 1 << 30 {
            break;
        }
        let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
        iters = ((iters as f64 * scale.min(10.0)).ceil() as u64).max(iters + 1);
    }

    let start = Instant::now();
    let (mut times_a, mut times_b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    while ratios.len() < MIN_ROUNDS || (start.elapsed() < budget && ratios.len() < MAX_ROUNDS) {
        let (ta, tb) = if ratios.len() % 2 == 0 {
            let ta = a.run(workload, iters)?;
            (ta, b.run(workload, iters)?)
        } else {
            let tb = b.run(workload, iters)?;
            (a.run(workload, iters)?, tb)
        };
        let per = |t: Duration| t.as_secs_f64() * 1e9 / iters as f64;
        times_a.push(per(ta));
        times_b.push(per(tb));
        ratios.push(per(tb) / per(ta).max(f64::MIN_POSITIVE));
    }
    let rounds = ratios.len();
    Ok(Paired {
        workload,
        a_ns: quantile(&mut times_a, 0.5),
        b_ns: quantile(&mut times_b, 0.5),
        ratio: quantile(&mut ratios, 0.5),
        ratio_q1: quantile(&mut ratios, 0.25),
        ratio_q3: quantile(&mut ratios, 0.75),
        rounds,
        iters,
    })
}

/// The `q` quantile of `values` (sorted in place), interpolating between neighbours.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let at = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    values[low] + (values[high] - values[low]) * (at - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::btree::RawBTree;
    use crate::workload::Workloads;
    use crate::{Adapter, BenchSize};

    #[test]
    fn quantiles_interpolate() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    /// Checks the comparison's bookkeeping, not speeds: timings depend on the machine's load,
    /// and speed is measured in benchmarks, never asserted in tests.
    #[test]
    fn comparison_runs_its_rounds_and_orders_its_quartiles() {
        let data = Workloads::new(BenchSize { keys: 2_000 });
        let mut a = Runner::<RawBTree>::new(&data);
        let mut b = Runner::<RawBTree>::new(&data);
        let p = compare(
            &mut a,
            &mut b,
            Workload::RandomReads,
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(p.rounds >= MIN_ROUNDS);
        assert!(p.ratio.is_finite() && p.ratio > 0.0, "{p:?}");
        assert!(p.ratio_q1 <= p.ratio && p.ratio <= p.ratio_q3);
        let mut m = Runner::<Adapter<engine_mem::MemEngine>>::new(&data);
        let p = compare(
            &mut m,
            &mut b,
            Workload::BulkLoad,
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(p.rounds >= MIN_ROUNDS, "{p:?}");
        assert!(p.a_ns > 0.0 && p.b_ns > 0.0);
    }
}
