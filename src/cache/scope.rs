//! What one request read, for the response tier and for `extensions.warnings`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::Tags;
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

    /// Records one value read: its tags and how long it stays fresh.
    pub fn read(&self, tags: &Tags, fresh_for: Duration, stale: bool, system: System) {
        let mut inner = self.inner.lock().expect("scope lock");
        inner.tags.extend(tags.iter().map(str::to_owned));
        inner.fresh_for = Some(inner.fresh_for.map_or(fresh_for, |f| f.min(fresh_for)));
        if stale {
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

    /// Marks the response as not to be cached (a failure, a read that bypassed the cache).
    pub fn uncacheable(&self) {
        self.inner.lock().expect("scope lock").uncacheable = true;
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
