//! What stands between the hub and an upstream system: a circuit breaker, a bulkhead
//! and a rate limit, one set per system.
//!
//! Core banking limits how hard it may be called and degrades badly when pushed: a
//! traffic spike at the hub must queue or fail fast here, not reach it. A system that
//! keeps failing is not called at all for a while (the breaker opens), then probed by
//! a few calls, and trusted again when they succeed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock (the system's monotonic clock outside tests), so that the breaker's
// tests can pause it and step through `open_for` instead of sleeping it out.
use tokio::time::Instant;

/// Per-system settings (`[resilience]` in `connectors/<system>.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resilience {
    /// Calls in flight at once toward the system; more wait for a free slot.
    pub max_concurrent: usize,
    /// Calls per second the system may receive from this hub instance; 0: no limit.
    pub rate_per_second: u32,
    /// Longest a call waits for a slot or for the rate limit before failing fast.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// The breaker opens when at least this share of calls failed…
    pub failure_ratio: f64,
    /// …among at least this many calls…
    pub min_calls: u32,
    /// …in this window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long an open breaker refuses calls before probing.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Trial calls let through while half open; all must succeed to close again.
    pub probes: u32,
    /// Retries may add at most this share of the calls made in `window` (plus
    /// `min_retries`), so that retrying never multiplies the load on a system that is
    /// already struggling.
    pub retry_ratio: f64,
    pub min_retries: u32,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            max_concurrent: 64,
            rate_per_second: 0,
            max_wait: Duration::from_millis(500),
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            probes: 3,
            retry_ratio: 0.2,
            min_retries: 5,
        }
    }
}

impl Resilience {
    /// Problems with the settings, as (key, problem) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.max_concurrent == 0 {
            problems.push(("max_concurrent", "must be at least 1".to_owned()));
        }
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            problems.push(("failure_ratio", "must be above 0 and at most 1".to_owned()));
        }
        if self.min_calls == 0 {
            problems.push(("min_calls", "must be at least 1".to_owned()));
        }
        if self.window < Duration::from_secs(1) {
            problems.push(("window", "must be at least 1s".to_owned()));
        }
        if self.probes == 0 {
            problems.push(("probes", "must be at least 1".to_owned()));
        }
        if !(0.0..=1.0).contains(&self.retry_ratio) {
            problems.push(("retry_ratio", "must be between 0 and 1".to_owned()));
        }
        problems
    }
}

/// The breaker's state, as `/readyz` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// For the `c360_upstream_circuit_state` gauge.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// Why a call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The breaker is open: the system failed too often just now.
    CircuitOpen,
    /// No slot or no rate budget within `max_wait`.
    Saturated,
}

/// Outcomes per second over the window: (calls, failures).
#[derive(Debug)]
struct Window {
    buckets: Vec<(u32, u32)>,
    /// The second each bucket holds, counted from `origin`.
    seconds: Vec<u64>,
    origin: Instant,
}

impl Window {
    fn new(window: Duration, origin: Instant) -> Window {
        let n = window.as_secs().max(1) as usize;
        Window {
            buckets: vec![(0, 0); n],
            seconds: vec![u64::MAX; n],
            origin,
        }
    }

    fn record(&mut self, now: Instant, failed: bool) {
        let second = now.duration_since(self.origin).as_secs();
        let i = (second % self.buckets.len() as u64) as usize;
        if self.seconds[i] != second {
            self.seconds[i] = second;
            self.buckets[i] = (0, 0);
        }
        self.buckets[i].0 += 1;
        self.buckets[i].1 += u32::from(failed);
    }

    fn totals(&self, now: Instant) -> (u32, u32) {
        let second = now.duration_since(self.origin).as_secs();
        let span = self.buckets.len() as u64;
        self.buckets
            .iter()
            .zip(&self.seconds)
            .filter(|(_, s)| **s != u64::MAX && second.saturating_sub(**s) < span)
            .fold((0, 0), |(c, f), ((bc, bf), _)| (c + bc, f + bf))
    }

    fn clear(&mut self) {
        self.seconds.iter_mut().for_each(|s| *s = u64::MAX);
    }
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Breaker {
    state: State,
    window: Window,
    /// Counts the times the breaker went half open, so that a probe outliving its
    /// half-open spell (the breaker reopened and went half open again meanwhile) is
    /// not taken for one of the new spell's probes.
    spell: u64,
}

/// A permit to call: hold it for the duration of the call, then report the outcome.
/// A permit dropped unreported (the call was cancelled: the request's deadline, a
/// client gone) gives its probe back, so that a cancelled trial call cannot leave the
/// breaker half open with no probe left and the system cut off until a restart.
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    probe: Option<Probe>,
}

/// One of the trial calls of a half-open spell, given back when dropped unsettled.
/// Taken before `admit` waits for a slot, so that an `admit` dropped while it waits
/// gives it back too.
struct Probe {
    breaker: Arc<Mutex<Breaker>>,
    spell: u64,
    settled: bool,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        if breaker.spell != self.spell {
            return;
        }
        if let State::HalfOpen { in_flight, .. } = &mut breaker.state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

/// One system's guard.
pub struct Guard {
    settings: Resilience,
    breaker: Arc<Mutex<Breaker>>,
    /// Calls (first attempts) and retries over the window: the retry budget.
    budget: Mutex<Window>,
    slots: Arc<Semaphore>,
    rate: Option<DefaultDirectRateLimiter>,
}

impl Guard {
    pub fn new(settings: Resilience) -> Guard {
        let rate = std::num::NonZeroU32::new(settings.rate_per_second)
            .map(|r| RateLimiter::direct(Quota::per_second(r)));
        Guard {
            breaker: Arc::new(Mutex::new(Breaker {
                state: State::Closed,
                window: Window::new(settings.window, Instant::now()),
                spell: 0,
            })),
            budget: Mutex::new(Window::new(settings.window, Instant::now())),
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
            rate,
            settings,
        }
    }

    pub fn state(&self) -> BreakerState {
        let breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match breaker.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Waits (at most `max_wait`) for permission to call.
    pub async fn admit(&self) -> Result<Permit, Refused> {
        // Refused below, the probe (if any) is dropped and so given back.
        let probe = self.breaker_admits()?;
        let deadline = Instant::now() + self.settings.max_wait;
        let slot = match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(slot)) => slot,
            _ => return Err(Refused::Saturated),
        };
        if let Some(rate) = &self.rate {
            if let Err(not_until) = rate.check() {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                if Instant::now() + wait > deadline {
                    return Err(Refused::Saturated);
                }
                if tokio::time::timeout_at(deadline, rate.until_ready())
                    .await
                    .is_err()
                {
                    return Err(Refused::Saturated);
                }
            }
        }
        Ok(Permit { _slot: slot, probe })
    }

    /// Whether the breaker lets a call through, and the probe it takes if half open.
    fn breaker_admits(&self) -> Result<Option<Probe>, Refused> {
        let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match breaker.state {
            State::Closed => return Ok(None),
            State::Open { until } if now < until => return Err(Refused::CircuitOpen),
            State::Open { .. } => {
                breaker.spell += 1;
                breaker.state = State::HalfOpen {
                    in_flight: 1,
                    succeeded: 0,
                };
            }
            State::HalfOpen {
                ref mut in_flight,
                succeeded,
            } => {
                if *in_flight + succeeded < self.settings.probes {
                    *in_flight += 1;
                } else {
                    return Err(Refused::CircuitOpen);
                }
            }
        }
        Ok(Some(Probe {
            breaker: Arc::clone(&self.breaker),
            spell: breaker.spell,
            settled: false,
        }))
    }

    /// Counts a first attempt toward the retry budget.
    pub fn attempted(&self) {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        budget.record(Instant::now(), false);
    }

    /// Takes a retry from the budget, or says there is none left in this window.
    pub fn may_retry(&self) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (calls, retries) = budget.totals(now);
        let allowed = self.settings.min_retries as f64
            + self.settings.retry_ratio * f64::from(calls.saturating_sub(retries));
        if f64::from(retries) < allowed {
            // A retry is recorded as a "failed" entry of the window: calls counts
            // both, retries only these.
            budget.record(now, true);
            true
        } else {
            false
        }
    }

    /// Reports how a permitted call ended. Only unavailability and timeouts count as
    /// failures: a "not found" or a rejected request is the system working.
    pub fn finish(&self, mut permit: Permit, failed: bool) {
        let probe_spell = permit.probe.as_mut().map(|probe| {
            probe.settled = true;
            probe.spell
        });
        let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match breaker.state {
            State::HalfOpen {
                in_flight,
                succeeded,
            } if probe_spell == Some(breaker.spell) => {
                if failed {
                    breaker.state = State::Open {
                        until: now + self.settings.open_for,
                    };
                } else if succeeded + 1 >= self.settings.probes {
                    breaker.state = State::Closed;
                    breaker.window.clear();
                } else {
                    breaker.state = State::HalfOpen {
                        in_flight: in_flight.saturating_sub(1),
                        succeeded: succeeded + 1,
                    };
                }
            }
            State::Closed => {
                breaker.window.record(now, failed);
                let (calls, failures) = breaker.window.totals(now);
                if calls >= self.settings.min_calls
                    && f64::from(failures) >= self.settings.failure_ratio * f64::from(calls)
                {
                    breaker.state = State::Open {
                        until: now + self.settings.open_for,
                    };
                    breaker.window.clear();
                }
            }
            // A call admitted before the breaker opened, or a probe of an earlier
            // half-open spell: its outcome changes nothing.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Resilience {
        Resilience {
            max_concurrent: 2,
            rate_per_second: 0,
            max_wait: Duration::from_millis(50),
            failure_ratio: 0.5,
            min_calls: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_millis(100),
            probes: 2,
            retry_ratio: 0.2,
            min_retries: 5,
        }
    }

    async fn call(guard: &Guard, failed: bool) -> Result<(), Refused> {
        let permit = guard.admit().await?;
        guard.finish(permit, failed);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_on_the_failure_ratio_probes_and_closes_again() {
        let guard = Guard::new(settings());
        call(&guard, false).await.unwrap();
        call(&guard, true).await.unwrap();
        call(&guard, false).await.unwrap();
        assert_eq!(
            guard.state(),
            BreakerState::Closed,
            "3 calls: below min_calls"
        );
        call(&guard, true).await.unwrap();
        assert_eq!(guard.state(), BreakerState::Open, "2 of 4 failed");
        assert_eq!(call(&guard, false).await, Err(Refused::CircuitOpen));

        tokio::time::advance(Duration::from_millis(120)).await;
        assert_eq!(guard.state(), BreakerState::HalfOpen);
        // A failing probe opens it again.
        call(&guard, true).await.unwrap();
        assert_eq!(guard.state(), BreakerState::Open);

        tokio::time::advance(Duration::from_millis(120)).await;
        let first = guard.admit().await.unwrap();
        let second = guard.admit().await.unwrap();
        assert!(
            matches!(guard.admit().await, Err(Refused::CircuitOpen)),
            "only `probes` trial calls at once"
        );
        guard.finish(first, false);
        assert_eq!(guard.state(), BreakerState::HalfOpen);
        guard.finish(second, false);
        assert_eq!(guard.state(), BreakerState::Closed);
        // Closed with a fresh window: one failure does not reopen it.
        call(&guard, true).await.unwrap();
        assert_eq!(guard.state(), BreakerState::Closed);
    }

    /// Fails calls until the breaker opens, then waits it out: the next call is a probe.
    async fn half_open(guard: &Guard) {
        for _ in 0..4 {
            call(guard, true).await.unwrap();
        }
        assert_eq!(guard.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_millis(120)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_whose_call_is_cancelled_is_given_back() {
        let guard = Guard::new(settings());
        half_open(&guard).await;
        let kept = guard.admit().await.unwrap();
        // The other probe's upstream hangs and the request gives up on it: the future
        // holding the permit is dropped before `finish`.
        let cancelled = tokio::time::timeout(Duration::from_millis(10), async {
            let permit = guard.admit().await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            guard.finish(permit, false);
        })
        .await;
        assert!(cancelled.is_err(), "the call was cut short");

        let again = guard
            .admit()
            .await
            .expect("the cancelled call's probe is free for another trial call");
        assert!(
            matches!(guard.admit().await, Err(Refused::CircuitOpen)),
            "still only `probes` trial calls at once"
        );
        guard.finish(kept, false);
        assert_eq!(
            guard.state(),
            BreakerState::HalfOpen,
            "a cancelled probe is no success"
        );
        guard.finish(again, false);
        assert_eq!(guard.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_whose_admission_is_cancelled_is_given_back() {
        let guard = Guard::new(Resilience {
            max_concurrent: 1,
            ..settings()
        });
        half_open(&guard).await;
        let first = guard.admit().await.unwrap();
        // The second probe waits for the one slot, and is dropped while it waits.
        let waiting = tokio::time::timeout(Duration::from_millis(10), guard.admit()).await;
        assert!(waiting.is_err(), "still waiting for the slot");
        guard.finish(first, false);
        let second = guard
            .admit()
            .await
            .expect("the probe taken by the dropped wait is free again");
        guard.finish(second, false);
        assert_eq!(guard.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_of_an_earlier_half_open_spell_frees_none_of_the_next() {
        let guard = Guard::new(Resilience {
            max_concurrent: 4,
            ..settings()
        });
        half_open(&guard).await;
        let stale = guard.admit().await.unwrap();
        let failing = guard.admit().await.unwrap();
        guard.finish(failing, true);
        assert_eq!(guard.state(), BreakerState::Open, "a failed probe reopens");
        tokio::time::advance(Duration::from_millis(120)).await;
        let _a = guard.admit().await.unwrap();
        let _b = guard.admit().await.unwrap();
        drop(stale);
        assert!(
            matches!(guard.admit().await, Err(Refused::CircuitOpen)),
            "both of this spell's probes are still out"
        );
    }

    #[tokio::test]
    async fn the_bulkhead_bounds_calls_in_flight() {
        let guard = Guard::new(settings());
        let a = guard.admit().await.unwrap();
        let _b = guard.admit().await.unwrap();
        assert_eq!(guard.admit().await.err(), Some(Refused::Saturated));
        guard.finish(a, false);
        assert!(guard.admit().await.is_ok(), "a freed slot is taken");
    }

    #[tokio::test]
    async fn the_rate_limit_spaces_calls_and_refuses_beyond_the_wait() {
        let guard = Guard::new(Resilience {
            max_concurrent: 100,
            rate_per_second: 10,
            max_wait: Duration::from_millis(250),
            ..settings()
        });
        // Thirty calls at once: a burst of ten passes, then one per 100 ms while the
        // 250 ms wait allows; the rest fail fast instead of queueing.
        let outcomes = futures::future::join_all((0..30).map(|_| async {
            match guard.admit().await {
                Ok(permit) => {
                    guard.finish(permit, false);
                    true
                }
                Err(Refused::Saturated) => false,
                Err(other) => panic!("{other:?}"),
            }
        }))
        .await;
        let admitted = outcomes.iter().filter(|ok| **ok).count();
        assert!((10..=14).contains(&admitted), "{admitted} admitted");
    }

    #[test]
    fn retries_stay_within_their_share_of_the_calls() {
        let guard = Guard::new(Resilience {
            retry_ratio: 0.2,
            min_retries: 2,
            ..settings()
        });
        // Two retries are always allowed, then one per five first attempts.
        assert!(guard.may_retry());
        assert!(guard.may_retry());
        assert!(!guard.may_retry(), "budget spent");
        for _ in 0..5 {
            guard.attempted();
        }
        assert!(guard.may_retry());
        assert!(!guard.may_retry());
    }

    #[test]
    fn settings_are_checked() {
        let bad = Resilience {
            max_concurrent: 0,
            failure_ratio: 1.5,
            probes: 0,
            ..Resilience::default()
        };
        let keys: Vec<&str> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["max_concurrent", "failure_ratio", "probes"]);
        assert!(Resilience::default().problems().is_empty());
    }
}
