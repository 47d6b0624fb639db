//! W3C Trace Context: reading a caller's `traceparent`, joining its trace, and writing
//! the `traceparent` of an upstream call so that the upstream's spans join it too.
//!
//! With an OTLP exporter the ids are the OpenTelemetry span's, so what a collector
//! receives from the hub and from the upstreams forms one tree. Without one the trace
//! id is still carried (from the caller, or a new one) and each upstream call gets a
//! fresh span id, which costs no more than formatting a header.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A parsed `traceparent` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span: 16 lowercase hex digits, not all zero.
    pub parent_id: String,
    /// Whether the caller records this trace (flag bit 0).
    pub sampled: bool,
}

impl TraceParent {
    /// Reads `version-traceid-parentid-flags` as the W3C recommendation says: an
    /// unknown future version is read for its first four fields, version `ff` and
    /// all-zero ids are invalid, and anything invalid is ignored (a new trace starts).
    pub fn parse(header: &str) -> Option<TraceParent> {
        let header = header.trim();
        let mut parts = header.split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let parent_id = parts.next()?;
        let flags = parts.next()?;
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(version, 2) || version.eq_ignore_ascii_case("ff") {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        if !hex(trace_id, 32) || zero(trace_id) || !hex(parent_id, 16) || zero(parent_id) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16)
            .ok()
            .filter(|_| flags.len() == 2)?;
        Some(TraceParent {
            trace_id: trace_id.to_ascii_lowercase(),
            parent_id: parent_id.to_ascii_lowercase(),
            sampled: flags & 1 == 1,
        })
    }

    fn span_context(&self) -> Option<SpanContext> {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Some(SpanContext::new(
            TraceId::from_hex(&self.trace_id).ok()?,
            SpanId::from_hex(&self.parent_id).ok()?,
            flags,
            true,
            TraceState::default(),
        ))
    }
}

/// The trace an upstream call belongs to: the request's trace id and the span the call
/// is made under (a resolver group's load).
#[derive(Debug, Clone)]
pub struct TraceContext {
    pub trace_id: String,
    pub span: tracing::Span,
}

/// Makes `span` (a request's, not yet entered) a child of the caller's span when the
/// caller sent a `traceparent`, and returns the request's trace id.
pub fn join(span: &tracing::Span, caller: Option<&TraceParent>) -> String {
    if super::exporting() {
        if let Some(parent) = caller.and_then(TraceParent::span_context) {
            // Fails only when the span is disabled by the filter: then there is no
            // span to export and the caller's trace id is still used below.
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
        }
        let context = span.context();
        let exported = context.span().span_context().clone();
        if exported.is_valid() {
            return exported.trace_id().to_string();
        }
    }
    caller
        .map(|c| c.trace_id.clone())
        .unwrap_or_else(new_trace_id)
}

/// The `traceparent` of an upstream call made under `span`: the span's own ids when
/// it is exported, else `trace_id` (the request's, or a new one) and a new span id.
pub fn outgoing(span: &tracing::Span, trace_id: Option<&str>) -> String {
    if super::exporting() {
        let context = span.context();
        let exported = context.span().span_context().clone();
        if exported.is_valid() {
            return format!(
                "00-{}-{}-{:02x}",
                exported.trace_id(),
                exported.span_id(),
                exported.trace_flags().to_u8()
            );
        }
    }
    let trace_id = trace_id.map_or_else(new_trace_id, str::to_owned);
    format!("00-{trace_id}-{:016x}-01", fastrand::u64(1..))
}

/// A random 128-bit trace id as 32 hex digits (UUID v7: time-ordered, so ids found in
/// logs sort by when the request came).
fn new_trace_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_traceparent_is_read_and_lowercased() {
        let parsed =
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01").unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id, "00f067aa0ba902b7");
        assert!(parsed.sampled);
        let unsampled =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn malformed_or_invalid_traceparents_are_ignored() {
        for bad in [
            "garbage",
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_future_version_is_read_for_its_first_four_fields() {
        let parsed =
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")
                .unwrap();
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn without_an_exporter_the_caller_trace_id_is_kept_and_calls_get_new_span_ids() {
        let caller =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let span = tracing::Span::none();
        assert_eq!(join(&span, Some(&caller)), caller.trace_id);
        let fresh = join(&span, None);
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, caller.trace_id);
        let first = TraceParent::parse(&outgoing(&span, Some(&caller.trace_id))).unwrap();
        let second = TraceParent::parse(&outgoing(&span, Some(&caller.trace_id))).unwrap();
        assert_eq!(first.trace_id, caller.trace_id);
        assert_ne!(first.parent_id, second.parent_id);
    }
}
