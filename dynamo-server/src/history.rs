//! A short history of the node's client load, for the status page (`/ui`) and `dynamo top`:
//! operations per second and their 99th-percentile latency, one [`Sample`] a second for the
//! last [`CAPACITY`] seconds.
//!
//! `/metrics` gives totals since start, from which a scraper computes rates; an operator
//! looking at one node's page has no scraper, so the server keeps the recent rates itself.
//! A task ([`spawn_sampler`]) reads the [`Metrics`] counters and latency histograms once a
//! second and stores the difference from the previous reading in a fixed-size ring buffer:
//! no work on the request path, and a bounded memory of a few kilobytes.
//!
//! The percentile comes from the histograms' fixed buckets ([`LATENCY_BUCKETS`]), linearly
//! interpolated within the bucket it falls in (as Prometheus' `histogram_quantile` does): it is
//! as precise as the buckets are narrow. A percentile above the last bound (2 s) is reported
//! as that bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::metrics::{LATENCY_BUCKETS, Metrics};

/// How often the sampler reads the counters.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// How many samples are kept: five minutes of one-second samples.
pub const CAPACITY: usize = 300;

/// The client load of one interval (about [`SAMPLE_INTERVAL`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the interval ended, in milliseconds since the UNIX epoch (the server's clock).
    pub at_ms: u64,
    /// How long the interval lasted, in milliseconds (at least 1).
    pub interval_ms: u64,
    /// Client gets answered in the interval (HTTP and binary protocol, any outcome).
    pub gets: u64,
    /// Client puts answered in the interval.
    pub puts: u64,
    /// Client deletes answered in the interval.
    pub deletes: u64,
    /// Operations answered per second over the interval.
    pub ops_per_sec: f64,
    /// The 99th percentile of the interval's operations' latencies (all three kinds), in
    /// milliseconds; `None` when there were none.
    pub p99_ms: Option<f64>,
}

/// Totals read from the metrics at one instant.
#[derive(Debug, Clone, Copy)]
struct Totals {
    at: Instant,
    gets: u64,
    puts: u64,
    deletes: u64,
    /// Cumulative counts per bucket bound, over the three latency histograms.
    buckets: [u64; LATENCY_BUCKETS.len()],
}

impl Totals {
    fn read(metrics: &Metrics, at: Instant) -> Totals {
        let mut buckets = [0u64; LATENCY_BUCKETS.len()];
        for h in [
            &metrics.get_latency,
            &metrics.put_latency,
            &metrics.delete_latency,
        ] {
            for (slot, (_, count)) in buckets.iter_mut().zip(h.cumulative()) {
                *slot += count;
            }
        }
        Totals {
            at,
            gets: metrics.get_latency.count(),
            puts: metrics.put_latency.count(),
            deletes: metrics.delete_latency.count(),
            buckets,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    last: Option<Totals>,
    samples: VecDeque<Sample>,
}

/// The ring buffer of recent [`Sample`]s (see the [module documentation](self)).
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

impl History {
    /// Reads `metrics` at `now` (`at_ms` on the wall clock) and, from the second reading on,
    /// appends the sample of the interval since the previous one, dropping the oldest beyond
    /// [`CAPACITY`].
    pub fn record(&self, metrics: &Metrics, now: Instant, at_ms: u64) {
        let totals = Totals::read(metrics, now);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = inner.last.replace(totals) {
            let sample = sample_between(&last, &totals, at_ms);
            if inner.samples.len() == CAPACITY {
                inner.samples.pop_front();
            }
            inner.samples.push_back(sample);
        }
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.samples.iter().copied().collect()
    }
}

fn sample_between(a: &Totals, b: &Totals, at_ms: u64) -> Sample {
    let interval_ms = u64::try_from(b.at.saturating_duration_since(a.at).as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    // Counters only grow; saturate anyway rather than trust it.
    let gets = b.gets.saturating_sub(a.gets);
    let puts = b.puts.saturating_sub(a.puts);
    let deletes = b.deletes.saturating_sub(a.deletes);
    let mut deltas = [0u64; LATENCY_BUCKETS.len()];
    for (d, (x, y)) in deltas.iter_mut().zip(a.buckets.iter().zip(&b.buckets)) {
        *d = y.saturating_sub(*x);
    }
    let total = gets + puts + deletes;
    Sample {
        at_ms,
        interval_ms,
        gets,
        puts,
        deletes,
        ops_per_sec: total as f64 * 1000.0 / interval_ms as f64,
        p99_ms: quantile(&deltas, total, 0.99).map(|s| s * 1000.0),
    }
}

/// The `q` quantile, in seconds, of `total` observations whose cumulative counts per bound
/// of [`LATENCY_BUCKETS`] are `cumulative`, interpolated linearly within its bucket; the
/// last bound when it lies above it; `None` when `total` is 0.
pub fn quantile(cumulative: &[u64; LATENCY_BUCKETS.len()], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    let mut lower = 0.0;
    for (bound, count) in LATENCY_BUCKETS.iter().zip(cumulative) {
        if *count as f64 >= rank && *count > below {
            let in_bucket = (count - below) as f64;
            let fraction = ((rank - below as f64) / in_bucket).clamp(0.0, 1.0);
            return Some(lower + (bound - lower) * fraction);
        }
        below = (*count).max(below);
        lower = *bound;
    }
    LATENCY_BUCKETS.last().copied()
}

/// Starts the task that samples `metrics` every [`SAMPLE_INTERVAL`] into
/// [`Metrics::history`]. It holds the metrics weakly and ends once every other holder has
/// dropped them (the server stopped). Must be called within a tokio runtime.
pub fn spawn_sampler(metrics: &Arc<Metrics>) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Metrics> = Arc::downgrade(metrics);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(metrics) = weak.upgrade() else {
                return;
            };
            metrics.history.record(&metrics, Instant::now(), unix_ms());
        }
    })
}

/// The wall clock in milliseconds since the UNIX epoch (0 if it is set before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_the_differences_between_readings() {
        let m = Metrics::default();
        let t0 = Instant::now();
        m.history.record(&m, t0, 1_000);
        assert!(
            m.history.samples().is_empty(),
            "the first reading is a baseline"
        );
        for _ in 0..99 {
            m.get_latency.observe(Duration::from_micros(800));
        }
        m.put_latency.observe(Duration::from_millis(40));
        m.history.record(&m, t0 + Duration::from_millis(500), 1_500);
        let s = m.history.samples();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].gets, s[0].puts, s[0].deletes), (99, 1, 0));
        assert_eq!(s[0].interval_ms, 500);
        assert!((s[0].ops_per_sec - 200.0).abs() < 1e-9, "{s:?}");
        // 99 of 100 at most 1 ms: the 99th is the top of the (0.5, 1] ms bucket.
        let p99 = s[0].p99_ms.unwrap();
        assert!((p99 - 1.0).abs() < 1e-9, "{p99}");
        // An idle interval: no operations, no percentile.
        m.history
            .record(&m, t0 + Duration::from_millis(1_500), 2_500);
        let idle = m.history.samples()[1];
        assert_eq!(idle.ops_per_sec, 0.0);
        assert_eq!(idle.p99_ms, None);
    }

    #[test]
    fn the_buffer_keeps_the_newest() {
        let m = Metrics::default();
        let t0 = Instant::now();
        for i in 0..(CAPACITY as u64 + 10) {
            m.history.record(&m, t0 + Duration::from_secs(i), 1_000 * i);
        }
        let s = m.history.samples();
        assert_eq!(s.len(), CAPACITY);
        assert_eq!(s.last().unwrap().at_ms, 1_000 * (CAPACITY as u64 + 9));
        assert_eq!(s[0].at_ms, 1_000 * 10);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let mut cumulative = [0u64; LATENCY_BUCKETS.len()];
        // 10 in (1, 2] ms, 10 in (2, 5] ms.
        for (i, c) in cumulative.iter_mut().enumerate() {
            *c = match i {
                0 | 1 => 0,
                2 => 10,
                _ => 20,
            };
        }
        assert_eq!(quantile(&cumulative, 0, 0.99), None);
        let median = quantile(&cumulative, 20, 0.5).unwrap();
        assert!((median - 0.002).abs() < 1e-12, "{median}");
        let p75 = quantile(&cumulative, 20, 0.75).unwrap();
        assert!((p75 - 0.0035).abs() < 1e-12, "{p75}");
        // Everything above the last bound: the last bound.
        let over = [0u64; LATENCY_BUCKETS.len()];
        assert_eq!(quantile(&over, 5, 0.99), Some(2.0));
    }
}
