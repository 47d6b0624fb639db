//! The OTLP/HTTP span exporter behind a batch processor. The batch processor runs on
//! its own thread with a bounded queue, so a slow or absent collector costs dropped
//! spans, never a request's time; the first failure is logged once, and so is the
//! recovery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::TelemetryError;
use crate::config::{OtlpConfig, OtlpProtocol};

/// A tracer provider that batches spans to the collector `otlp` names.
pub fn provider(otlp: &OtlpConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let protocol = match otlp.protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(otlp.traces_endpoint.clone())
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: otlp.traces_endpoint.clone(),
            detail: e.to_string(),
        })?;
    let resource = Resource::builder()
        .with_service_name(otlp.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(ReportingExporter {
            inner: exporter,
            endpoint: otlp.traces_endpoint.clone(),
            failing: AtomicBool::new(false),
        })
        .build())
}

/// Passes batches on and says when the collector stops (and starts again) taking
/// them: one line per change rather than one per batch, which at a few batches a
/// second would drown the hub's own log.
#[derive(Debug)]
struct ReportingExporter<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                endpoint = %self.endpoint,
                error = %error,
                spans,
                "OTLP collector did not take the spans; dropping spans until it does"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.endpoint, "OTLP collector takes spans again")
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}
