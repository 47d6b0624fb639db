//! What one request read, for the response tier, for `extensions.warnings` and for
//! the answer's `Cache-Status` and `Age`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use async_graphql::PathSegment;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Fetched;
use crate::domain::System;
use crate::errors::ErrorCode;

/// A stale value served because its system failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleWarning {
    pub code: &'static str,
    pub source: &'static str,
    pub message: String,
}

/// Collected while a request executes: the tags of every entity read, the shortest
/// freshness among them, and whether anything was stale. A response is cacheable only
/// if nothing was stale and something is fresh for a while.
#[derive(Debug, Default)]
pub struct RequestScope {
    inner: Mutex<Collected>,
    /// The request's trace and its GraphQL operation span, under which resolver groups
    /// and upstream calls are recorded.
    trace: std::sync::OnceLock<crate::telemetry::TraceContext>,
}

#[derive(Debug, Default)]
struct Collected {
    tags: BTreeSet<String>,
    fresh_for: Option<Duration>,
    warnings: Vec<StaleWarning>,
    uncacheable: bool,
    oldest: Option<DateTime<Utc>>,
    cached: bool,
    from_origin: bool,
    fetched_fields: Vec<Vec<PathSegment>>,
}

/// Where the values an executed answer was made of came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    /// Something was read from where it lives during the request: a system (or its
    /// failure), or the hub's own records.
    pub from_origin: bool,
    /// Something came from an entity tier (in process or Redis).
    pub cached: bool,
    /// Something was served past its freshness because its system failed.
    pub stale: bool,
    /// When the oldest value read was fetched from its system.
    pub oldest: Option<DateTime<Utc>>,
    /// How long the shortest-lived value read stays fresh.
    pub fresh_for: Option<Duration>,
}

impl RequestScope {
    pub fn new() -> RequestScope {
        RequestScope::default()
    }

    /// Sets the request's trace (once).
    pub fn set_trace(&self, trace: crate::telemetry::TraceContext) {
        let _ = self.trace.set(trace);
    }

    pub fn trace(&self) -> Option<crate::telemetry::TraceContext> {
        self.trace.get().cloned()
    }

    /// Records one value read: its tags, how long it stays fresh, and where and when
    /// it was fetched.
    pub fn read<V>(&self, fetched: &Fetched<V>, system: System) {
        let fresh_for = fetched.fresh_for;
        let mut inner = self.inner.lock().expect("scope lock");
        inner.tags.extend(fetched.tags.iter().map(str::to_owned));
        inner.fresh_for = Some(inner.fresh_for.map_or(fresh_for, |f| f.min(fresh_for)));
        inner.oldest = Some(
            inner
                .oldest
                .map_or(fetched.fetched_at, |o| o.min(fetched.fetched_at)),
        );
        if fetched.from_cache {
            inner.cached = true;
        } else {
            inner.from_origin = true;
        }
        if fetched.stale {
            inner.uncacheable = true;
            let warning = StaleWarning {
                code: ErrorCode::StaleData.as_str(),
                source: system.as_str(),
                message: format!("{system} is failing; some of its data is served from cache past its time to live"),
            };
            if !inner.warnings.contains(&warning) {
                inner.warnings.push(warning);
            }
        }
    }

    /// Marks the response as not to be cached: it holds what no cache holds (a
    /// system's failure, the hub's own records), read from where it lives.
    pub fn uncacheable(&self) {
        let mut inner = self.inner.lock().expect("scope lock");
        inner.uncacheable = true;
        inner.from_origin = true;
    }

    /// Records where the answer says `fromCache: false`, so that the copy the response
    /// tier keeps can say `true` there: whoever is answered with it later is answered
    /// from the cache, while this request's own answer keeps the truth of its
    /// execution.
    pub fn fetched_field(&self, path: Vec<PathSegment>) {
        self.inner
            .lock()
            .expect("scope lock")
            .fetched_fields
            .push(path);
    }

    /// Takes the paths recorded by [`RequestScope::fetched_field`].
    pub fn take_fetched_fields(&self) -> Vec<Vec<PathSegment>> {
        std::mem::take(&mut self.inner.lock().expect("scope lock").fetched_fields)
    }

    pub fn provenance(&self) -> Provenance {
        let inner = self.inner.lock().expect("scope lock");
        Provenance {
            from_origin: inner.from_origin,
            cached: inner.cached,
            stale: !inner.warnings.is_empty(),
            oldest: inner.oldest,
            fresh_for: inner.fresh_for,
        }
    }

    pub fn warnings(&self) -> Vec<StaleWarning> {
        self.inner.lock().expect("scope lock").warnings.clone()
    }

    /// Tags and time to live for caching the response, or `None` when it must not be.
    pub fn cacheable(&self, max_ttl: Duration) -> Option<(Vec<String>, Duration)> {
        let inner = self.inner.lock().expect("scope lock");
        if inner.uncacheable {
            return None;
        }
        let ttl = inner.fresh_for.map_or(max_ttl, |f| f.min(max_ttl));
        (!ttl.is_zero()).then(|| (inner.tags.iter().cloned().collect(), ttl))
    }
}
