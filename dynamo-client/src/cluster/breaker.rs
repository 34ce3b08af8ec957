//! A circuit breaker per node: after a failure the node is skipped for a cool-down, then it
//! is probed (a `GET /ping` in the background, so that no request, least of all a write, is
//! the probe); a success closes the breaker, another failure doubles the cool-down (up to a
//! maximum). So a dead node costs one failed request, not one per request. An answered probe
//! closes the breaker but only a request that succeeds resets the doubling: a node that
//! answers pings and fails requests (a coordinator cut off from its replicas) is tried after
//! 1, 2, 4... cool-downs, not after every one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The breaker of one node.
#[derive(Debug)]
pub(super) struct Breaker {
    state: Mutex<State>,
    /// True while `state` is not closed: the checks of every request read only this.
    tripped: AtomicBool,
    cooldown: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Failures since the last success.
    failures: u32,
    /// Until when requests skip the node (`None`: closed).
    open_until: Option<Instant>,
}

/// The longest cool-down, however many failures in a row.
const MAX_COOLDOWN: Duration = Duration::from_secs(30);

impl Breaker {
    /// A closed breaker whose first cool-down is `cooldown`.
    pub fn new(cooldown: Duration) -> Breaker {
        Breaker {
            state: Mutex::new(State::default()),
            tripped: AtomicBool::new(false),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while requests skip the node: after a failure, until a probe succeeds.
    pub fn is_open(&self) -> bool {
        self.tripped.load(Ordering::Acquire) && self.lock().open_until.is_some()
    }

    /// Whether the caller should probe the node now: the breaker is open and its cool-down
    /// is over. The caller that gets `true` owns the probe (the others get `false` for one
    /// more cool-down) and reports its outcome with [`success`](Self::success) or
    /// [`failure`](Self::failure).
    pub fn probe_due(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match state.open_until {
            Some(until) if now >= until => {
                state.open_until = Some(now + self.cooldown);
                true
            }
            _ => false,
        }
    }

    /// The node answered: close the breaker.
    pub fn success(&self) {
        if !self.tripped.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.lock();
        state.failures = 0;
        state.open_until = None;
        self.tripped.store(false, Ordering::Release);
    }

    /// A probe was answered: close the breaker, but keep the count of failures, so that a
    /// node that answers pings and still fails requests is skipped twice as long next time.
    /// A request that succeeds ([`success`](Self::success)) resets it.
    pub fn probe_success(&self) {
        // `tripped` stays set until a request succeeds, so `success` resets the count.
        self.lock().open_until = None;
    }

    /// The node failed (unreachable, no answer in time, overloaded): open the breaker for a
    /// cool-down that doubles with each failure in a row.
    pub fn failure(&self, now: Instant) {
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        let doublings = state.failures.saturating_sub(1).min(16);
        let cooldown = self
            .cooldown
            .saturating_mul(1 << doublings)
            .min(MAX_COOLDOWN.max(self.cooldown));
        state.open_until = Some(now + cooldown);
        self.tripped.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_skips_the_node_until_a_probe_succeeds() {
        let b = Breaker::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert!(!b.is_open());
        assert!(!b.probe_due(t0));
        b.failure(t0);
        assert!(b.is_open());
        assert!(!b.probe_due(t0 + Duration::from_millis(999)));
        // The cool-down is over: one probe, and the node stays skipped meanwhile.
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.probe_due(t1));
        assert!(!b.probe_due(t1));
        assert!(b.is_open());
        // The probe fails: twice as long.
        b.failure(t1);
        assert!(!b.probe_due(t1 + Duration::from_millis(1999)));
        assert!(b.probe_due(t1 + Duration::from_secs(2)));
        // It succeeds: closed.
        b.success();
        assert!(!b.is_open());
    }

    #[test]
    fn an_answered_probe_closes_but_only_a_request_resets_the_doubling() {
        let b = Breaker::new(Duration::from_secs(1));
        let t0 = Instant::now();
        b.failure(t0);
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.probe_due(t1));
        b.probe_success();
        assert!(!b.is_open());
        // It fails a request again: skipped twice as long.
        b.failure(t1);
        assert!(b.is_open());
        assert!(!b.probe_due(t1 + Duration::from_millis(1999)));
        let t2 = t1 + Duration::from_secs(2);
        assert!(b.probe_due(t2));
        b.probe_success();
        // A request succeeds: the next failure starts from one cool-down again.
        b.success();
        assert!(!b.is_open());
        b.failure(t2);
        assert!(b.probe_due(t2 + Duration::from_secs(1)));
    }

    #[test]
    fn the_cooldown_is_bounded() {
        let b = Breaker::new(Duration::from_secs(1));
        let t = Instant::now();
        for _ in 0..100 {
            b.failure(t);
        }
        assert!(b.probe_due(t + MAX_COOLDOWN));
    }
}
