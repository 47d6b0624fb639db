//! Prometheus metrics: one [`Metrics`] per hub, its registry served by `GET /metrics`.
//!
//! The hub builds its `Metrics` once, in `App::build`, and hands an `Arc` of it to
//! every part that counts (cache tiers, connectors, store, audit writer, HTTP layer).
//! Nothing here is process-global, so two hubs in one process (the integration tests
//! start several) keep separate counts; a component built alone, in a unit test or a
//! benchmark, gets a `Metrics::new()` of its own.
//!
//! Labels use the system names (`core`, `cards`, `loans`, `channels`) and tier names
//! (`l1`, `l2`, `response`) and never carry customer data.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::errors::ErrorCode;

/// Distinct operation names that get their own label; past it they share `other`,
/// so that clients inventing names cannot grow the registry without bound.
const MAX_OPERATION_LABELS: usize = 200;

/// Latency buckets from a response-tier hit (well under a millisecond) to a request
/// that ran into its deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
];

/// Event age buckets, from a change applied while its sender's transaction is still
/// warm to one that waited out a broker outage.
const EVENT_AGE_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

/// Buckets of rows per interaction `INSERT`: powers of two up to the writer's bound.
const ROWS_PER_STATEMENT_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// One hub's metrics: the registry `GET /metrics` renders and the handles that count
/// into it. Every metric is registered when this is built, so a fresh hub exports
/// them all (a labelled family once it has a series).
pub struct Metrics {
    registry: Registry,
    /// Operation names given a label of their own so far (see [`Metrics::operation_label`]).
    operation_labels: Mutex<HashSet<String>>,

    /// Entity cache lookups by tier, system and result (`hit`, `miss`, `stale`).
    pub cache_lookups: IntCounterVec,
    /// Stale entries served because the upstream failed.
    pub stale_served: IntCounterVec,
    /// Entries gone from an in-process tier before their time, by tier and cause:
    /// `size` (no room: the tier is too small for what is read), `expiry` (past the
    /// tier's longest keep, or the answer's own time), `invalidation` (a change event,
    /// a reload). Series exist from the start for each tier the hub runs.
    pub cache_evictions: IntCounterVec,
    /// What an in-process tier holds, by tier: its weight, the resident bytes it is
    /// bounded by (`cache.l1_max_bytes`, `cache.response_max_bytes`). Read at each
    /// scrape.
    pub cache_bytes: IntGaugeVec,
    /// Entries an in-process tier holds, by tier; read at each scrape. The entity tier
    /// holds five per profile (customer, accounts, cards, loans, online banking), so
    /// `c360_cache_bytes / c360_cache_entries * 5` is the bytes of a profile.
    pub cache_entries: IntGaugeVec,
    /// Entries dropped by invalidation events, by tier.
    pub cache_invalidations: IntCounterVec,
    /// Response tier lookups (`hit`, `miss`) and stores (`stored`, `uncacheable`, and
    /// `too_large` for answers over `cache.response_max_entry_bytes`); `cleared` for
    /// each reload that dropped the tier, `superseded` for an answer begun before it
    /// and therefore not kept.
    pub response_cache: IntCounterVec,
    /// Redis operations that failed or timed out, by operation.
    pub redis_errors: IntCounterVec,
    /// 1 while the last Redis operation succeeded, 0 after a failure.
    pub redis_up: IntGauge,
    /// Upstream calls by system and outcome (`ok` or an error code).
    pub upstream_calls: IntCounterVec,
    /// Upstream call latency by system and endpoint, retries included.
    pub upstream_latency: HistogramVec,
    /// Circuit breaker state per upstream system: 0 closed, 1 half open, 2 open.
    pub upstream_circuit: IntGaugeVec,
    /// Access-audit rows committed to the database.
    pub audit_rows_written: IntCounter,
    /// Failed attempts to write a batch of audit rows, by store error code; every
    /// failed batch is retried, so this counts delays, not losses.
    pub audit_write_failures: IntCounterVec,
    /// Audit rows recorded but not yet committed: queued or awaiting a retry. A value
    /// that keeps growing means the database is refusing the audit.
    pub audit_rows_pending: IntGauge,
    /// Staff reads refused because the audit had no room for their rows by the
    /// request's deadline (its database not taking writes): answered 503
    /// `AUDIT_UNAVAILABLE`.
    pub audit_refused_reads: IntCounter,
    /// Rows per `INSERT` of new interactions: concurrent `logInteraction`s share a
    /// statement and its commit, so under load this grows and commits per write fall.
    pub interaction_rows_per_statement: Histogram,
    /// Pages in the embedded SQLite store's WAL at its last checkpoint pass: it grows
    /// under steady writes and starts over past 65,536 (256 MiB).
    pub sqlite_wal_pages: IntGauge,
    /// Full checkpoints that restart SQLite's WAL, by outcome: `restarted`, or `busy`
    /// when a reader held the WAL past the wait and the restart was put off a pass.
    pub sqlite_wal_restarts: IntCounterVec,
    /// Requests refused by a rate limit (`subject` or `client`).
    pub rate_limited: IntCounterVec,
    /// Requests refused before execution: `unauthenticated` (401),
    /// `not_allowlisted`, `too_many_aliases`, `introspection`.
    pub refused: IntCounterVec,
    /// GraphQL requests by operation name and outcome (`ok`, `refused` for a request
    /// error, `failed` for anything else).
    pub graphql_requests: IntCounterVec,
    /// Time to answer a GraphQL request by operation.
    pub graphql_latency: HistogramVec,
    /// Open subscriptions (WebSocket operations still streaming).
    pub subscriptions_open: IntGauge,
    /// Database connections of this hub's pool: open, and idle among them.
    pub db_connections: IntGaugeVec,
    /// Redis values that did not open, by reason (`format`, `key_id`,
    /// `authentication`: moved from another key, or altered); each was a miss.
    pub cache_seal_rejected: IntCounterVec,
    /// Messages from other instances dropped because they did not open, by reason
    /// (as [`Metrics::cache_seal_rejected`]); a clear message on a sealed bus is
    /// `format`.
    pub bus_rejected: IntCounterVec,
    /// `POST /events` requests refused, by reason (`unauthenticated`, `bad_request`,
    /// `window`, `replayed`, `unavailable`).
    pub events_refused: IntCounterVec,
    /// Change events from the broker by system and outcome: `consumed` (each
    /// delivery a binding took), then one of `applied`, `duplicate` (applied before:
    /// acknowledged, nothing done), `dead_lettered`, or `retried` (handed back to the
    /// broker after a transient failure, and consumed again later). Deliveries no
    /// binding takes count under system `unknown`.
    pub feed_events: IntCounterVec,
    /// Deliveries rejected to the dead-letter exchange, by reason (`not_json`,
    /// `missing`, `invalid`, `no_binding`).
    pub feed_dead_lettered: IntCounterVec,
    /// Messages waiting in the feed's queue, sampled every `feed.lag_interval`.
    pub feed_lag: IntGauge,
    /// 1 while this hub consumes from the broker, 0 while it is reconnecting.
    pub feed_connected: IntGauge,
    /// Time from the event's own timestamp to its application, by system.
    pub feed_event_age: HistogramVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let audit_write_failures = counter_vec(
            r,
            "c360_audit_write_failures_total",
            "Failed attempts to write a batch of access-audit rows (retried), by error code",
            &["code"],
        );
        // Exported at zero from the start, so that an alert on their rate has a series.
        for code in [
            ErrorCode::StoreUnavailable.as_str(),
            ErrorCode::Internal.as_str(),
        ] {
            audit_write_failures.with_label_values(&[code]);
        }
        let cache_seal_rejected = counter_vec(
            r,
            "c360_cache_seal_rejected_total",
            "Sealed Redis values that did not open (read as misses), by reason",
            &["reason"],
        );
        let bus_rejected = counter_vec(
            r,
            "c360_bus_messages_rejected_total",
            "Bus messages from Redis dropped because they did not open, by reason",
            &["reason"],
        );
        // A value moved between keys is what an alert watches for: its series exists
        // from the start.
        cache_seal_rejected.with_label_values(&["authentication"]);
        bus_rejected.with_label_values(&["authentication"]);
        Metrics {
            cache_lookups: counter_vec(
                r,
                "c360_cache_lookups_total",
                "Entity cache lookups by tier, system and result",
                &["tier", "system", "result"],
            ),
            stale_served: counter_vec(
                r,
                "c360_cache_stale_served_total",
                "Stale cache entries served because the upstream failed",
                &["system"],
            ),
            cache_evictions: counter_vec(
                r,
                "c360_cache_evictions_total",
                "In-process cache entries gone before their time, by tier and cause (size, expiry, invalidation)",
                &["tier", "cause"],
            ),
            cache_bytes: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "c360_cache_bytes",
                        "Weight (estimated resident bytes) an in-process cache tier holds",
                    ),
                    &["tier"],
                ),
            ),
            cache_entries: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "c360_cache_entries",
                        "Entries an in-process cache tier holds",
                    ),
                    &["tier"],
                ),
            ),
            cache_invalidations: counter_vec(
                r,
                "c360_cache_invalidations_total",
                "Cache entries dropped by invalidation",
                &["tier"],
            ),
            response_cache: counter_vec(
                r,
                "c360_response_cache_total",
                "Response cache lookups and stores",
                &["result"],
            ),
            redis_errors: counter_vec(
                r,
                "c360_redis_errors_total",
                "Redis operations that failed or timed out",
                &["op"],
            ),
            redis_up: registered(
                r,
                IntGauge::new(
                    "c360_redis_up",
                    "Whether the last Redis operation succeeded",
                ),
            ),
            upstream_calls: counter_vec(
                r,
                "c360_upstream_calls_total",
                "Calls to upstream systems by system, endpoint and outcome",
                &["system", "endpoint", "outcome"],
            ),
            upstream_latency: histogram_vec(
                r,
                "c360_upstream_call_duration_seconds",
                "Time of upstream calls (with retries) by system and endpoint",
                &["system", "endpoint"],
                &LATENCY_BUCKETS,
            ),
            upstream_circuit: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "c360_upstream_circuit_state",
                        "Circuit breaker per system: 0 closed, 1 half open, 2 open",
                    ),
                    &["system"],
                ),
            ),
            audit_rows_written: registered(
                r,
                IntCounter::new(
                    "c360_audit_rows_written_total",
                    "Access-audit rows committed to the database",
                ),
            ),
            audit_write_failures,
            audit_rows_pending: registered(
                r,
                IntGauge::new(
                    "c360_audit_rows_pending",
                    "Access-audit rows recorded but not yet committed",
                ),
            ),
            audit_refused_reads: registered(
                r,
                IntCounter::new(
                    "c360_audit_refused_reads_total",
                    "Reads refused because the access audit could not record them in time",
                ),
            ),
            interaction_rows_per_statement: registered(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "c360_interaction_rows_per_statement",
                        "New interactions written by one INSERT (and one commit)",
                    )
                    .buckets(ROWS_PER_STATEMENT_BUCKETS.to_vec()),
                ),
            ),
            sqlite_wal_pages: registered(
                r,
                IntGauge::new(
                    "c360_sqlite_wal_pages",
                    "Pages in the SQLite store's WAL at the last checkpoint pass",
                ),
            ),
            sqlite_wal_restarts: counter_vec(
                r,
                "c360_sqlite_wal_restarts_total",
                "Full checkpoints that restart the SQLite store's WAL, by outcome",
                &["outcome"],
            ),
            rate_limited: counter_vec(
                r,
                "c360_rate_limited_total",
                "Requests refused with 429, by the limit they ran into",
                &["limit"],
            ),
            refused: counter_vec(
                r,
                "c360_requests_refused_total",
                "Requests refused before execution, by reason",
                &["reason"],
            ),
            graphql_requests: counter_vec(
                r,
                "c360_graphql_requests_total",
                "GraphQL requests by operation and outcome",
                &["operation", "outcome"],
            ),
            graphql_latency: histogram_vec(
                r,
                "c360_graphql_request_duration_seconds",
                "Time to answer a GraphQL request by operation (response-tier hits included)",
                &["operation"],
                &LATENCY_BUCKETS,
            ),
            subscriptions_open: registered(
                r,
                IntGauge::new(
                    "c360_subscriptions_open",
                    "GraphQL operations currently streaming over WebSocket",
                ),
            ),
            db_connections: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "c360_db_connections",
                        "Database pool connections by state (open, idle)",
                    ),
                    &["state"],
                ),
            ),
            cache_seal_rejected,
            bus_rejected,
            events_refused: counter_vec(
                r,
                "c360_events_refused_total",
                "POST /events requests refused, by reason",
                &["reason"],
            ),
            feed_events: counter_vec(
                r,
                "c360_feed_events_total",
                "Change events from the broker by system and outcome (consumed, applied, duplicate, dead_lettered, retried)",
                &["system", "outcome"],
            ),
            feed_dead_lettered: counter_vec(
                r,
                "c360_feed_dead_lettered_total",
                "Broker deliveries rejected to the dead-letter exchange, by reason",
                &["reason"],
            ),
            feed_lag: registered(
                r,
                IntGauge::new(
                    "c360_feed_lag_messages",
                    "Messages waiting in the change feed's queue (sampled)",
                ),
            ),
            feed_connected: registered(
                r,
                IntGauge::new(
                    "c360_feed_connected",
                    "Whether this hub is consuming from the broker",
                ),
            ),
            feed_event_age: histogram_vec(
                r,
                "c360_feed_event_age_seconds",
                "Time from a change event's timestamp to its application, by system",
                &["system"],
                &EVENT_AGE_BUCKETS,
            ),
            operation_labels: Mutex::default(),
            registry,
        }
    }

    /// The label for an operation name: the name when it is a plain GraphQL name among
    /// the first [`MAX_OPERATION_LABELS`] this hub has seen, `anonymous` without one,
    /// else `other`.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".into();
        };
        let plain = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return "other".into();
        }
        let mut seen = self
            .operation_labels
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
            seen.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".into()
        }
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// `metric`, registered in `registry`. The names are fixed and distinct, so neither
/// building nor registering can fail.
fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_registries_count_apart() {
        let counted = Metrics::new();
        let idle = Metrics::new();
        counted.audit_rows_written.inc_by(3);
        assert!(counted
            .render()
            .contains("\nc360_audit_rows_written_total 3\n"));
        assert!(idle
            .render()
            .contains("\nc360_audit_rows_written_total 0\n"));
    }

    #[test]
    fn operation_names_past_the_cap_share_one_label() {
        let metrics = Metrics::new();
        for i in 0..MAX_OPERATION_LABELS {
            assert_eq!(
                metrics.operation_label(Some(&format!("Op{i}"))),
                format!("Op{i}")
            );
        }
        assert_eq!(metrics.operation_label(Some("OneTooMany")), "other");
        assert_eq!(metrics.operation_label(Some("Op0")), "Op0", "seen before");
        assert_eq!(metrics.operation_label(Some("no-dashes")), "other");
        assert_eq!(metrics.operation_label(None), "anonymous");
    }
}
