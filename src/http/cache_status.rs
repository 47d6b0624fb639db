//! Which cache answered, in an answer's HTTP headers: `Cache-Status` (RFC 9211) under
//! the cache name `c360`, and `Age` (RFC 9111).
//!
//! A client, a proxy or an access log can tell a replayed answer from an executed one,
//! and how old its data is, without reading the body; `sources { fromCache }` in the
//! body says it per system. The scheme is in the README ("Caching").

use std::fmt::Write;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};

use crate::cache::Provenance;

const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// How an answer was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// Replayed from the response tier.
    Response,
    /// Executed, every upstream value from an entity tier.
    Entity,
    /// Executed, and something was served past its freshness because its system
    /// failed.
    Stale,
    /// Executed, and something was read where it lives: a system, the hub's own
    /// records.
    Miss,
    /// An operation the caches never answer: a mutation, or a document that did not
    /// run.
    Bypass,
}

/// What an answer's `Cache-Status` and `Age` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CacheStatus {
    served: Served,
    /// The response tier kept this answer.
    stored: bool,
    /// How long the answer stays fresh.
    ttl: Option<Duration>,
    /// When the oldest data of an answer served from a cache was fetched from its
    /// system; `None` for an answer made of data fetched for it.
    fetched_at: Option<DateTime<Utc>>,
}

impl CacheStatus {
    /// An answer replayed from the response tier, its oldest data fetched at
    /// `fetched_at`, kept for `fresh_for` more.
    pub fn replayed(fetched_at: DateTime<Utc>, fresh_for: Duration) -> CacheStatus {
        CacheStatus {
            served: Served::Response,
            stored: false,
            ttl: Some(fresh_for),
            fetched_at: Some(fetched_at),
        }
    }

    /// An executed answer, made of what `provenance` says; `ran_queries`: the
    /// document was queries only, and ran; `stored`: how long the response tier keeps
    /// the answer, if it does.
    pub fn executed(
        provenance: &Provenance,
        ran_queries: bool,
        stored: Option<Duration>,
    ) -> CacheStatus {
        let (served, fetched_at) = if !ran_queries {
            (Served::Bypass, None)
        } else if provenance.stale {
            (Served::Stale, provenance.oldest)
        } else if provenance.cached && !provenance.from_origin {
            (Served::Entity, provenance.oldest)
        } else {
            (Served::Miss, None)
        };
        let ttl = match served {
            Served::Entity => stored.or(provenance.fresh_for),
            _ => stored,
        };
        CacheStatus {
            served,
            stored: stored.is_some(),
            ttl,
            fetched_at,
        }
    }

    fn cache_status(&self) -> HeaderValue {
        let mut text = String::with_capacity(48);
        text.push_str(match self.served {
            Served::Response | Served::Entity => "c360; hit",
            Served::Stale => "c360; fwd=stale",
            Served::Miss => "c360; fwd=miss",
            Served::Bypass => "c360; fwd=bypass",
        });
        if self.stored {
            text.push_str("; stored");
        }
        if let Some(ttl) = self.ttl {
            let _ = write!(text, "; ttl={}", ttl.as_secs());
        }
        text.push_str(match self.served {
            Served::Response => "; detail=response",
            Served::Entity | Served::Stale => "; detail=entity",
            Served::Miss | Served::Bypass => "",
        });
        HeaderValue::try_from(text).expect("ASCII without controls is a header value")
    }

    /// Whole seconds since the oldest data was fetched, at `now`.
    fn age(&self, now: DateTime<Utc>) -> Option<HeaderValue> {
        let seconds = (now - self.fetched_at?).num_seconds().max(0);
        Some(HeaderValue::from(seconds))
    }

    /// Sets `Cache-Status`, and `Age` for an answer served from a cache.
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert(CACHE_STATUS, self.cache_status());
        if let Some(age) = self.age(Utc::now()) {
            headers.insert(header::AGE, age);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            from_origin: false,
            cached: false,
            stale: false,
            oldest: None,
            fresh_for: None,
        }
    }

    fn written(status: CacheStatus, now: DateTime<Utc>) -> (String, Option<String>) {
        (
            status.cache_status().to_str().unwrap().to_owned(),
            status.age(now).map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    #[test]
    fn a_replay_is_a_hit_of_the_response_tier_as_old_as_its_data() {
        let now = Utc::now();
        let fetched_at = now - chrono::Duration::milliseconds(12_700);
        assert_eq!(
            written(
                CacheStatus::replayed(fetched_at, Duration::from_millis(17_900)),
                now
            ),
            (
                "c360; hit; ttl=17; detail=response".into(),
                Some("12".into())
            )
        );
    }

    #[test]
    fn an_execution_says_whether_its_data_came_from_the_entity_tier() {
        let now = Utc::now();
        let oldest = Some(now - chrono::Duration::seconds(4));
        let from_entities = Provenance {
            cached: true,
            oldest,
            fresh_for: Some(Duration::from_secs(26)),
            ..provenance()
        };
        assert_eq!(
            written(CacheStatus::executed(&from_entities, true, None), now),
            ("c360; hit; ttl=26; detail=entity".into(), Some("4".into()))
        );
        assert_eq!(
            written(
                CacheStatus::executed(&from_entities, true, Some(Duration::from_secs(20))),
                now
            ),
            (
                "c360; hit; stored; ttl=20; detail=entity".into(),
                Some("4".into())
            )
        );

        let partly_fetched = Provenance {
            from_origin: true,
            ..from_entities
        };
        assert_eq!(
            written(
                CacheStatus::executed(&partly_fetched, true, Some(Duration::from_secs(20))),
                now
            ),
            ("c360; fwd=miss; stored; ttl=20".into(), None),
            "data fetched for this answer: no Age"
        );

        let stale = Provenance {
            stale: true,
            ..partly_fetched
        };
        assert_eq!(
            written(CacheStatus::executed(&stale, true, None), now),
            ("c360; fwd=stale; detail=entity".into(), Some("4".into()))
        );
    }

    #[test]
    fn a_mutation_bypasses_the_caches() {
        let cached = Provenance {
            cached: true,
            oldest: Some(Utc::now()),
            ..provenance()
        };
        assert_eq!(
            written(CacheStatus::executed(&cached, false, None), Utc::now()),
            ("c360; fwd=bypass".into(), None)
        );
    }
}
