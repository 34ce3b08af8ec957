//! Hedged reads: the recent reads' 95th percentile, and a race between a first attempt and a
//! second one started if the first is slower than that.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ClientError;

/// Reads kept for the percentile.
const WINDOW: usize = 1024;
/// The percentile is computed again every this many reads.
const EVERY: usize = 64;
/// No hedging before this many reads were seen.
const MIN_SAMPLES: usize = 100;

/// Latencies of the recent successful reads.
#[derive(Debug)]
pub(super) struct Latencies {
    recent: Mutex<(VecDeque<u64>, usize)>,
    /// The 95th percentile in microseconds (0: not known yet).
    p95_us: AtomicU64,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            recent: Mutex::new((VecDeque::with_capacity(WINDOW), 0)),
            p95_us: AtomicU64::new(0),
        }
    }

    /// Notes a read's latency.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut guard = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let (recent, since) = &mut *guard;
        if recent.len() == WINDOW {
            recent.pop_front();
        }
        recent.push_back(us);
        *since += 1;
        if *since >= EVERY && recent.len() >= MIN_SAMPLES {
            *since = 0;
            let mut sorted: Vec<u64> = recent.iter().copied().collect();
            sorted.sort_unstable();
            let at = (sorted.len() * 95 / 100).min(sorted.len() - 1);
            self.p95_us.store(sorted[at].max(1), Ordering::Relaxed);
        }
    }

    /// The 95th percentile of the recent reads, once enough were seen.
    pub fn p95(&self) -> Option<Duration> {
        match self.p95_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// Runs `first`; if it has not finished after `after`, starts `second()` too. Returns the
/// first success (or, when both fail, the error of the one that failed last) and whether it
/// came from the second.
pub(super) async fn race<T, A, B>(
    first: A,
    after: Duration,
    second: impl FnOnce() -> B,
) -> (Result<T, ClientError>, bool)
where
    A: Future<Output = Result<T, ClientError>>,
    B: Future<Output = Result<T, ClientError>>,
{
    let mut first = pin!(first);
    if let Ok(result) = tokio::time::timeout(after, first.as_mut()).await {
        return (result, false);
    }
    let mut second = pin!(second());
    tokio::select! {
        result = first.as_mut() => match result {
            Ok(v) => (Ok(v), false),
            Err(_) => (second.await, true),
        },
        result = second.as_mut() => match result {
            Ok(v) => (Ok(v), true),
            Err(_) => (first.await, false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_needs_enough_reads() {
        let l = Latencies::new();
        for i in 0..(MIN_SAMPLES - 1) {
            l.record(Duration::from_millis(i as u64));
        }
        assert_eq!(l.p95(), None);
        for _ in 0..EVERY {
            l.record(Duration::from_millis(1));
        }
        let p95 = l.p95().unwrap();
        assert!(
            p95 >= Duration::from_millis(70) && p95 <= Duration::from_millis(99),
            "{p95:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_attempt_is_overtaken() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ClientError>(1)
        };
        let (result, by_second) = race(slow, Duration::from_millis(10), || async { Ok(2) }).await;
        assert_eq!((result.ok(), by_second), (Some(2), true));
        // A fast first attempt never starts the second.
        let (result, by_second) = race(async { Ok(1) }, Duration::from_millis(10), || async {
            panic!("the second attempt started")
        })
        .await;
        assert_eq!((result.ok(), by_second), (Some(1), false));
        // The second fails: the first's answer is waited for.
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, ClientError>(1)
        };
        let (result, by_second) = race(slow, Duration::from_millis(10), || async {
            Err(ClientError::ConnectionClosed)
        })
        .await;
        assert_eq!((result.ok(), by_second), (Some(1), false));
    }
}
