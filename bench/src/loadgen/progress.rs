//! Progress of a run, counted by the clients and printed on stderr every few seconds: the
//! phase, operations done so far, the rate over the last interval, failures.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The phases a run reports progress of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Writing every key once.
    Preload = 0,
    /// Warm-up then measured mix.
    Mix = 1,
    /// Reading back every written key.
    Verify = 2,
}

/// Counters shared by the clients and the printer. Relaxed atomics: counts only, nothing is
/// published through them.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    phase: AtomicU8,
    /// Operations (or keys) the phase has to do; 0 when open-ended.
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    /// When the phase began, and when its measured part begins.
    clock: Mutex<Option<(Instant, Option<Instant>)>>,
}

impl Progress {
    /// Starts `phase` with its counters at zero.
    pub(crate) fn begin(&self, phase: Phase, total: u64, measure_from: Option<Instant>) {
        self.done.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), measure_from));
    }

    /// One operation of the phase succeeded.
    pub(crate) fn ok(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// One operation of the phase failed.
    pub(crate) fn fail(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Successful operations of the phase so far.
    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Failed operations of the phase so far.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The current progress line, given the count and time of the previous one (for the rate).
    fn line(&self, previous: &mut (u8, u64, Instant)) -> String {
        let now = Instant::now();
        let phase = self.phase.load(Ordering::Relaxed);
        let (done, failed) = (self.done(), self.failed());
        let total = self.total.load(Ordering::Relaxed);
        let (began, measure_from) = self
            .clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or((now, None));
        if previous.0 != phase {
            *previous = (phase, 0, began);
        }
        let interval = now.saturating_duration_since(previous.2).as_secs_f64();
        let rate = if interval > 0.0 {
            done.saturating_sub(previous.1) as f64 / interval
        } else {
            0.0
        };
        *previous = (phase, done, now);
        let t = now.saturating_duration_since(began).as_secs_f64();
        let what = match phase {
            0 => format!("preload   {done}/{total} keys"),
            2 => format!("verify    {done}/{total} keys"),
            _ => {
                let label = match measure_from {
                    Some(m) if now < m => "warm-up  ",
                    _ => "measuring",
                };
                format!("{label} {done} ops")
            }
        };
        format!("[loadgen {t:6.1}s] {what}, {rate:.0}/s, {failed} errors")
    }
}

/// Prints a progress line on stderr every `every`, until aborted.
pub(crate) async fn print_every(every: Duration, progress: std::sync::Arc<Progress>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate.
    ticks.tick().await;
    let mut previous = (u8::MAX, 0, Instant::now());
    loop {
        ticks.tick().await;
        eprintln!("{}", progress.line(&mut previous));
    }
}
