//! The open-loop schedule (`--rate R`): operation `i` of the run is meant to start at
//! `t0 + i/R`, whatever the clients are doing. A client takes the next slot whose time has
//! come, sends at once, and its latency is counted from the slot's intended time, so that when
//! the nodes fall behind, the time an operation waited for a free client is part of its
//! latency (no coordinated omission).
//!
//! Slots are handed out through a semaphore: a pacer on a blocking thread adds one permit per
//! slot as its time comes, and each client waits for a permit. The pacer sleeps with the
//! operating system's timer (precise to tens of microseconds) rather than the async runtime's,
//! which ticks only every millisecond and would add up to a millisecond to every latency.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The pacer's longest sleep, so that it sees a stop request soon.
const MAX_NAP: Duration = Duration::from_millis(20);

/// Most slots released at once: far below the semaphore's limit.
const MAX_BATCH: u64 = 1 << 20;

/// The shared schedule of an open-loop run.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// When slot 0 is due.
    t0: Instant,
    /// Slots per second.
    rate: f64,
    /// No slot is due at or after this.
    end: Instant,
    /// One permit per slot due and not yet taken; closed when the schedule is over.
    due: Semaphore,
    /// Slots handed to clients.
    taken: AtomicU64,
    /// Slots whose time has come.
    released: AtomicU64,
    /// Slots whose operation was sent (a client may take a slot and then see the run is over).
    sent: AtomicU64,
}

impl Schedule {
    /// `rate` slots per second from `t0` until `end`.
    pub(crate) fn new(t0: Instant, end: Instant, rate: f64) -> Schedule {
        Schedule {
            t0,
            rate,
            end,
            due: Semaphore::new(0),
            taken: AtomicU64::new(0),
            released: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        }
    }

    /// The intended start of slot `slot`.
    fn intended(&self, slot: u64) -> Instant {
        Duration::try_from_secs_f64(slot as f64 / self.rate)
            .ok()
            .and_then(|offset| self.t0.checked_add(offset))
            .unwrap_or(self.end)
    }

    /// Slots due before the end: those `i` with `i / rate` below the length of the schedule.
    fn total(&self) -> u64 {
        // Saturating float-to-integer conversion; the rate is positive and finite.
        (self.end.saturating_duration_since(self.t0).as_secs_f64() * self.rate).ceil() as u64
    }

    /// Waits for the next slot whose time has come and returns its intended start (never
    /// after now). `None`: the schedule is over.
    pub(crate) async fn next(&self) -> Option<Instant> {
        self.due.acquire().await.ok()?.forget();
        let slot = self.taken.fetch_add(1, Ordering::Relaxed);
        Some(self.intended(slot))
    }

    /// Notes that the operation of a slot taken was sent.
    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Slots whose time came before the end (or the stop) that no client sent: the clients
    /// were all busy until then.
    pub(crate) fn unsent(&self) -> u64 {
        let released = self.released.load(Ordering::Relaxed);
        released.saturating_sub(self.sent.load(Ordering::Relaxed))
    }

    /// The pacer: releases each slot when its time comes, until the end or until `stop`, then
    /// closes the schedule (clients waiting for a slot get `None`). Blocks the thread: run it
    /// with `spawn_blocking`.
    pub(crate) fn run_pacer(&self, stop: &AtomicBool) {
        let total = self.total();
        let mut released = 0u64;
        loop {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(self.t0).as_secs_f64();
            // Slots i with i / rate <= elapsed (saturating conversion).
            let due = ((elapsed * self.rate).floor() as u64)
                .saturating_add(1)
                .min(total);
            if due > released {
                let batch = (due - released).min(MAX_BATCH);
                // Lossless: at most MAX_BATCH.
                self.due.add_permits(batch as usize);
                released += batch;
                self.released.store(released, Ordering::Relaxed);
                if released < due {
                    continue;
                }
            }
            if now >= self.end || stop.load(Ordering::Relaxed) {
                break;
            }
            let wake = if released < total {
                self.intended(released).min(self.end)
            } else {
                self.end
            };
            let nap = wake.saturating_duration_since(Instant::now()).min(MAX_NAP);
            if !nap.is_zero() {
                std::thread::sleep(nap);
            }
        }
        self.due.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// One client taking every slot of 1000/s for 300 ms: slots come in order, never before
    /// their time, about 300 of them, and the schedule closes at the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_come_at_their_time_and_in_order() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(300);
        let schedule = Arc::new(Schedule::new(t0, end, 1000.0));
        let stop = Arc::new(AtomicBool::new(false));
        let pacer = {
            let (schedule, stop) = (Arc::clone(&schedule), Arc::clone(&stop));
            tokio::task::spawn_blocking(move || schedule.run_pacer(&stop))
        };
        let mut previous = None;
        let mut slots = 0u64;
        while let Some(at) = schedule.next().await {
            assert!(at <= Instant::now());
            assert!(at < end);
            assert!(previous.is_none_or(|p| p < at));
            previous = Some(at);
            schedule.sent();
            slots += 1;
        }
        pacer.await.unwrap();
        assert_eq!(schedule.total(), 300);
        assert_eq!(
            slots + schedule.unsent(),
            schedule.released.load(Ordering::Relaxed)
        );
        assert!((295..=300).contains(&slots), "{slots} slots");
    }

    /// A stop ends the schedule early.
    #[tokio::test]
    async fn a_stop_closes_the_schedule() {
        let t0 = Instant::now();
        let schedule = Arc::new(Schedule::new(t0, t0 + Duration::from_secs(3600), 10.0));
        let stop = Arc::new(AtomicBool::new(true));
        let pacer = {
            let (schedule, stop) = (Arc::clone(&schedule), Arc::clone(&stop));
            tokio::task::spawn_blocking(move || schedule.run_pacer(&stop))
        };
        pacer.await.unwrap();
        // Slot 0 was due at once and released before the stop was seen, but nobody takes it
        // from a closed schedule.
        assert_eq!(schedule.next().await, None);
        assert_eq!(schedule.unsent(), 1);
    }
}
