//! Logs and traces: the process's `tracing` subscriber (log lines on stderr, JSON or
//! readable, and spans to an OTLP collector when one is configured) and the W3C trace
//! context that joins a request, its upstream calls and its log lines.
//!
//! Spans the hub opens, each at `info`:
//! - `http.request` (in [`crate::http`]): method, route, status, trace id, operation name;
//! - `graphql.operation`: one per executed or replayed operation;
//! - `upstream.load`: a resolver group, i.e. one system's batched read for a request
//!   (all the customers, accounts, … that a loader gathered) that the in-process tier
//!   could not answer at once;
//! - `upstream.call`: one HTTP attempt toward a system, its `traceparent` carrying the
//!   span's ids and its `tracestate` the caller's.
//!
//! No span field holds a query, variables, a URL or a key: only names, counts,
//! statuses and durations, so that neither logs nor traces ever carry personal data.

mod export;
mod traceparent;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use traceparent::{extract, inject, join, TraceContext};

use crate::config::{Config, LogFormat};

/// Set once an OTLP exporter is installed: only then do spans have OpenTelemetry ids
/// worth asking for.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an OTLP endpoint was configured at start).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter for {endpoint}: {detail}")]
    Exporter { endpoint: String, detail: String },
    #[error("a tracing subscriber is already installed in this process")]
    AlreadyInstalled,
}

/// Keeps the span exporter alive; dropping it exports the spans still queued (within
/// the exporter's timeout), so `main` holds it until after graceful shutdown.
#[must_use = "spans still queued are lost unless the guard lives until exit"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(error) = provider.shutdown() {
                // The subscriber may already be gone from other threads' view; stderr
                // is what is left at exit.
                eprintln!("c360: spans still queued could not be exported: {error}");
            }
        }
    }
}

/// Installs the process-wide subscriber: `config.log` decides the filter and format of
/// log lines, `config.otlp` whether spans are exported.
pub fn init(config: &Config) -> Result<TelemetryGuard, TelemetryError> {
    // RUST_LOG is the tracing ecosystem's convention and wins over the file, as the
    // configuration documents.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let lines = match config.log.format.resolve(config.profile) {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = config.otlp.as_ref().map(export::provider).transpose()?;
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("c360"))
            // Thread and source location add attributes to every span and say nothing
            // an operator needs; idle/busy time is what the span durations already show.
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
    });
    tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .with(filter)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    EXPORTING.store(provider.is_some(), Ordering::Relaxed);
    Ok(TelemetryGuard { provider })
}
