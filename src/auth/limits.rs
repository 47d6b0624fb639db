//! Request-rate limits per token subject and per client application, so that one
//! script (or one compromised portal session) cannot take the hub, or through it core
//! banking, away from everyone else.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::AccessConfig;

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Subject,
    Client,
}

/// How long a refused caller should wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub limit: Limited,
    pub wait: Duration,
}

/// Keyed token buckets; each absent when its rate is 0.
pub struct RateLimits {
    subject: Option<DefaultKeyedRateLimiter<String>>,
    client: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(rate: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(rate.get())).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn new(config: &AccessConfig) -> Arc<RateLimits> {
        Arc::new(RateLimits {
            subject: limiter(config.subject_rate, config.subject_burst),
            client: limiter(config.client_rate, config.client_burst),
            clock: DefaultClock::default(),
        })
    }

    /// Takes one request from both buckets, or says which is empty and for how long.
    pub fn check(&self, subject: &str, client: &str) -> Result<(), RetryAfter> {
        let now = self.clock.now();
        if let Some(limiter) = &self.client {
            if let Err(not_until) = limiter.check_key(&client.to_owned()) {
                return Err(RetryAfter {
                    limit: Limited::Client,
                    wait: not_until.wait_time_from(now),
                });
            }
        }
        if let Some(limiter) = &self.subject {
            if let Err(not_until) = limiter.check_key(&subject.to_owned()) {
                return Err(RetryAfter {
                    limit: Limited::Subject,
                    wait: not_until.wait_time_from(now),
                });
            }
        }
        Ok(())
    }

    /// Forgets callers whose buckets are full again, so that the key maps stay as
    /// small as the set of recent callers. Called periodically.
    pub fn forget_idle(&self) {
        for limiter in [&self.subject, &self.client].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Runs [`RateLimits::forget_idle`] every minute for as long as the hub runs.
    pub fn spawn_janitor(self: &Arc<Self>) {
        let limits = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match limits.upgrade() {
                    Some(limits) => limits.forget_idle(),
                    None => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(subject: (u32, u32), client: (u32, u32)) -> AccessConfig {
        AccessConfig {
            subject_rate: subject.0,
            subject_burst: subject.1,
            client_rate: client.0,
            client_burst: client.1,
            ..AccessConfig::default()
        }
    }

    #[test]
    fn a_subject_past_its_burst_is_told_how_long_to_wait() {
        let limits = RateLimits::new(&config((1, 3), (0, 0)));
        for _ in 0..3 {
            limits.check("alice", "app").unwrap();
        }
        let refused = limits.check("alice", "app").unwrap_err();
        assert_eq!(refused.limit, Limited::Subject);
        assert!(refused.wait > Duration::ZERO && refused.wait <= Duration::from_secs(1));
        // Another subject is untouched.
        limits.check("bob", "app").unwrap();
    }

    #[test]
    fn a_client_limit_covers_all_its_subjects() {
        let limits = RateLimits::new(&config((0, 0), (1, 2)));
        limits.check("a", "portal").unwrap();
        limits.check("b", "portal").unwrap();
        assert_eq!(
            limits.check("c", "portal").unwrap_err().limit,
            Limited::Client
        );
        limits.check("c", "teller-app").unwrap();
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = RateLimits::new(&config((0, 0), (0, 0)));
        for _ in 0..10_000 {
            limits.check("a", "b").unwrap();
        }
    }
}
