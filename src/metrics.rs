//! Prometheus metrics, in one registry served by `GET /metrics`.
//!
//! Labels use the system names (`core`, `cards`, `loans`, `channels`) and tier names
//! (`l1`, `l2`, `response`) and never carry customer data.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::errors::ErrorCode;

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
}

fn registered<M: Collector + Clone + 'static>(metric: M) -> M {
    REGISTRY
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

/// Entity cache lookups by tier, system and result (`hit`, `miss`, `stale`).
pub static CACHE_LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_cache_lookups_total",
        "Entity cache lookups by tier, system and result",
        &["tier", "system", "result"],
    )
});

/// Stale entries served because the upstream failed.
pub static STALE_SERVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_cache_stale_served_total",
        "Stale cache entries served because the upstream failed",
        &["system"],
    )
});

/// Entries evicted for size, by tier.
pub static CACHE_EVICTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_cache_evictions_total",
        "Cache entries evicted for size or age",
        &["tier"],
    )
});

/// Entries dropped by invalidation events, by tier.
pub static CACHE_INVALIDATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_cache_invalidations_total",
        "Cache entries dropped by invalidation",
        &["tier"],
    )
});

/// Response tier lookups (`hit`, `miss`) and stores (`stored`, `uncacheable`, and
/// `too_large` for answers over `cache.response_max_entry_bytes`).
pub static RESPONSE_CACHE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_response_cache_total",
        "Response cache lookups and stores",
        &["result"],
    )
});

/// Redis operations that failed or timed out, by operation.
pub static REDIS_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_redis_errors_total",
        "Redis operations that failed or timed out",
        &["op"],
    )
});

/// Upstream calls by system and outcome (`ok` or an error code).
pub static UPSTREAM_CALLS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_upstream_calls_total",
        "Calls to upstream systems by system, endpoint and outcome",
        &["system", "endpoint", "outcome"],
    )
});

/// 1 while the last Redis operation succeeded, 0 after a failure.
pub static REDIS_UP: LazyLock<IntGauge> = LazyLock::new(|| {
    registered(
        IntGauge::new(
            "c360_redis_up",
            "Whether the last Redis operation succeeded",
        )
        .expect("valid metric"),
    )
});

/// Access-audit rows committed to the database.
pub static AUDIT_ROWS_WRITTEN: LazyLock<IntCounter> = LazyLock::new(|| {
    registered(
        IntCounter::new(
            "c360_audit_rows_written_total",
            "Access-audit rows committed to the database",
        )
        .expect("valid metric"),
    )
});

/// Rows per `INSERT` of new interactions: concurrent `logInteraction`s share a
/// statement and its commit, so under load this grows and commits per write fall.
pub static INTERACTION_ROWS_PER_STATEMENT: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    registered(
        prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "c360_interaction_rows_per_statement",
                "New interactions written by one INSERT (and one commit)",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid metric"),
    )
});

/// Failed attempts to write a batch of audit rows, by store error code; every failed
/// batch is retried, so this counts delays, not losses.
pub static AUDIT_WRITE_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let failures = counter(
        "c360_audit_write_failures_total",
        "Failed attempts to write a batch of access-audit rows (retried), by error code",
        &["code"],
    );
    // Exported at zero from the start, so that an alert on their rate has a series.
    for code in [ErrorCode::StoreUnavailable, ErrorCode::Internal] {
        failures.with_label_values(&[code.as_str()]);
    }
    failures
});

/// Audit rows recorded but not yet committed: queued or awaiting a retry. A value that
/// keeps growing means the database is refusing the audit.
pub static AUDIT_ROWS_PENDING: LazyLock<IntGauge> = LazyLock::new(|| {
    registered(
        IntGauge::new(
            "c360_audit_rows_pending",
            "Access-audit rows recorded but not yet committed",
        )
        .expect("valid metric"),
    )
});

/// Staff reads refused because the audit had no room for their rows by the request's
/// deadline (its database not taking writes): answered 503 `AUDIT_UNAVAILABLE`.
pub static AUDIT_REFUSED_READS: LazyLock<IntCounter> = LazyLock::new(|| {
    registered(
        IntCounter::new(
            "c360_audit_refused_reads_total",
            "Reads refused because the access audit could not record them in time",
        )
        .expect("valid metric"),
    )
});

/// Requests refused by a rate limit (`subject` or `client`).
pub static RATE_LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_rate_limited_total",
        "Requests refused with 429, by the limit they ran into",
        &["limit"],
    )
});

/// Requests refused before execution: `unauthenticated` (401), `forbidden_operation`
/// (allowlist), `too_many_aliases`.
pub static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_requests_refused_total",
        "Requests refused before execution, by reason",
        &["reason"],
    )
});

fn histogram(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    registered(
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid metric"),
    )
}

/// Latency buckets from a response-tier hit (well under a millisecond) to a request
/// that ran into its deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];

/// Upstream call latency by system and endpoint, retries included.
pub static UPSTREAM_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "c360_upstream_call_duration_seconds",
        "Time of upstream calls (with retries) by system and endpoint",
        &["system", "endpoint"],
        &LATENCY_BUCKETS,
    )
});

/// Circuit breaker state per upstream system: 0 closed, 1 half open, 2 open.
pub static UPSTREAM_CIRCUIT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    registered(
        IntGaugeVec::new(
            Opts::new(
                "c360_upstream_circuit_state",
                "Circuit breaker per system: 0 closed, 1 half open, 2 open",
            ),
            &["system"],
        )
        .expect("valid metric"),
    )
});

/// GraphQL requests by operation name and outcome (`ok`, `errors` for an answer
/// with field errors, `refused` for a request error).
pub static GRAPHQL_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "c360_graphql_requests_total",
        "GraphQL requests by operation and outcome",
        &["operation", "outcome"],
    )
});

pub static GRAPHQL_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram(
        "c360_graphql_request_duration_seconds",
        "Time to answer a GraphQL request by operation (response-tier hits included)",
        &["operation"],
        &LATENCY_BUCKETS,
    )
});

/// Open subscriptions (WebSocket operations still streaming).
pub static SUBSCRIPTIONS_OPEN: LazyLock<IntGauge> = LazyLock::new(|| {
    registered(
        IntGauge::new(
            "c360_subscriptions_open",
            "GraphQL operations currently streaming over WebSocket",
        )
        .expect("valid metric"),
    )
});

/// Database connections of this process: open, and idle among them.
pub static DB_CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    registered(
        IntGaugeVec::new(
            Opts::new(
                "c360_db_connections",
                "Database pool connections by state (open, idle)",
            ),
            &["state"],
        )
        .expect("valid metric"),
    )
});

/// Distinct operation names that get their own label; past it they share `other`,
/// so that clients inventing names cannot grow the registry without bound.
const MAX_OPERATION_LABELS: usize = 200;

/// The label for an operation name: the name when it is a plain GraphQL name among
/// the first [`MAX_OPERATION_LABELS`] seen, `anonymous` without one, else `other`.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        LazyLock::new(Default::default);
    let Some(name) = name else {
        return "anonymous".into();
    };
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plain {
        return "other".into();
    }
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".into()
    }
}

/// The registry in Prometheus text format.
pub fn render() -> String {
    // Touch every metric so that a fresh process exports all of them at zero.
    LazyLock::force(&CACHE_LOOKUPS);
    LazyLock::force(&STALE_SERVED);
    LazyLock::force(&CACHE_EVICTIONS);
    LazyLock::force(&CACHE_INVALIDATIONS);
    LazyLock::force(&RESPONSE_CACHE);
    LazyLock::force(&REDIS_ERRORS);
    LazyLock::force(&UPSTREAM_CALLS);
    LazyLock::force(&UPSTREAM_LATENCY);
    LazyLock::force(&UPSTREAM_CIRCUIT);
    LazyLock::force(&GRAPHQL_REQUESTS);
    LazyLock::force(&GRAPHQL_LATENCY);
    LazyLock::force(&SUBSCRIPTIONS_OPEN);
    LazyLock::force(&DB_CONNECTIONS);
    LazyLock::force(&REDIS_UP);
    LazyLock::force(&AUDIT_ROWS_WRITTEN);
    LazyLock::force(&AUDIT_WRITE_FAILURES);
    LazyLock::force(&AUDIT_ROWS_PENDING);
    LazyLock::force(&AUDIT_REFUSED_READS);
    LazyLock::force(&INTERACTION_ROWS_PER_STATEMENT);
    LazyLock::force(&RATE_LIMITED);
    LazyLock::force(&REFUSED);
    TextEncoder::new()
        .encode_to_string(&REGISTRY.gather())
        .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
}
