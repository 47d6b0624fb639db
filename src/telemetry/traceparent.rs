//! W3C Trace Context: reading a caller's `traceparent` and `tracestate`, joining its
//! trace, and writing both headers on an upstream call so that the upstream's spans
//! join it too. The headers are read and written by OpenTelemetry's
//! [`TraceContextPropagator`]; this module decides which context it is given.
//!
//! With an OTLP exporter the ids are the OpenTelemetry span's, so what a collector
//! receives from the hub and from the upstreams forms one tree. Without one the trace
//! id is still carried (from the caller, or a new one), with the caller's `tracestate`,
//! and each upstream call gets a fresh span id, which costs no more than formatting a
//! header.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace an upstream call belongs to: the request's trace id, the caller's
/// `tracestate`, and the span the call is made under (a resolver group's load).
#[derive(Debug, Clone)]
pub struct TraceContext {
    pub trace_id: String,
    /// Passed on unchanged to the upstreams, as the W3C recommendation asks of a
    /// participant that adds no entry of its own.
    pub trace_state: TraceState,
    pub span: tracing::Span,
}

/// The caller's span from a request's `traceparent` (with its `tracestate`), when the
/// header is valid: an invalid one is ignored and a new trace starts, as the W3C
/// recommendation says.
pub fn extract(headers: &http::HeaderMap) -> Option<SpanContext> {
    let context = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &HeaderExtractor(headers));
    let caller = context.span().span_context().clone();
    caller.is_valid().then_some(caller)
}

/// Makes `span` (a request's, not yet entered) a child of the caller's span when the
/// caller sent a valid `traceparent`, and returns the request's trace id.
pub fn join(span: &tracing::Span, caller: Option<&SpanContext>) -> String {
    if super::exporting() {
        if let Some(parent) = caller {
            // Fails only when the span is disabled by the filter: then there is no
            // span to export and the caller's trace id is still used below.
            let _ = span.set_parent(Context::new().with_remote_span_context(parent.clone()));
        }
        let context = span.context();
        let exported = context.span().span_context().clone();
        if exported.is_valid() {
            return exported.trace_id().to_string();
        }
    }
    caller
        .map_or_else(new_trace_id, SpanContext::trace_id)
        .to_string()
}

/// Writes the `traceparent` and `tracestate` of an upstream call made under `span`
/// into `headers`: the span's own context when it is exported, else the request's
/// trace id (or a new one), a new span id and the caller's `tracestate`.
pub fn inject(span: &tracing::Span, trace: Option<&TraceContext>, headers: &mut http::HeaderMap) {
    let exported = if super::exporting() {
        Some(span.context()).filter(|context| context.span().span_context().is_valid())
    } else {
        None
    };
    let Some(context) = exported else {
        // Written byte by byte: going through a `Context` and the propagator cost about
        // 6,000 instructions per upstream call for one header of 55 characters, and
        // `format!` with the ids' `Display` about 4,000.
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-01";
        match trace
            .map(|t| t.trace_id.as_bytes())
            .filter(|id| is_trace_id(id))
        {
            Some(id) => value[3..35].copy_from_slice(id),
            None => write_hex(&mut value[3..35], &new_trace_id().to_bytes()),
        }
        write_hex(&mut value[36..52], &fastrand::u64(1..).to_be_bytes());
        if let Ok(value) = http::HeaderValue::from_bytes(&value) {
            headers.insert(TRACEPARENT_HEADER, value);
        }
        // Upstreams are spared a `tracestate` that says nothing.
        let state = trace
            .map(|t| t.trace_state.header())
            .filter(|s| !s.is_empty());
        if let Some(value) = state.and_then(|s| http::HeaderValue::try_from(s).ok()) {
            headers.insert(TRACESTATE_HEADER, value);
        }
        return;
    };
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    // The propagator writes `tracestate` even when it is empty.
    if headers
        .get(TRACESTATE)
        .is_some_and(|value| value.is_empty())
    {
        headers.remove(TRACESTATE);
    }
}

const TRACESTATE: &str = "tracestate";
const TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE_HEADER: http::HeaderName = http::HeaderName::from_static(TRACESTATE);

/// A valid W3C trace id: 32 lowercase hex digits, not all zero.
fn is_trace_id(id: &[u8]) -> bool {
    id.len() == 32
        && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && id.iter().any(|b| *b != b'0')
}

/// Lowercase hex of `bytes` into `out` (twice as long).
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// A random 128-bit trace id (UUID v7: time-ordered, so ids found in logs sort by when
/// the request came).
fn new_trace_id() -> TraceId {
    TraceId::from(uuid::Uuid::now_v7().as_u128())
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn traceparent(flags: &str) -> String {
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-{flags}")
    }

    #[test]
    fn a_well_formed_traceparent_is_read_with_its_tracestate() {
        let caller = extract(&headers(&[
            ("traceparent", &traceparent("01")),
            ("tracestate", "vendor=opaque,other=1"),
        ]))
        .unwrap();
        assert_eq!(caller.trace_id().to_string(), CALLER_TRACE);
        assert_eq!(caller.span_id().to_string(), CALLER_SPAN);
        assert!(caller.is_sampled());
        assert_eq!(caller.trace_state().header(), "vendor=opaque,other=1");
        let unsampled = extract(&headers(&[("traceparent", &traceparent("00"))])).unwrap();
        assert!(!unsampled.is_sampled());
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
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(extract(&headers(&[("traceparent", bad)])), None, "{bad}");
        }
        assert_eq!(extract(&HeaderMap::new()), None);
    }

    #[test]
    fn a_future_version_is_read_for_its_first_four_fields() {
        let caller = extract(&headers(&[(
            "traceparent",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
        )]))
        .unwrap();
        assert_eq!(caller.trace_id().to_string(), CALLER_TRACE);
    }

    fn call_headers(trace: Option<&TraceContext>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        inject(&tracing::Span::none(), trace, &mut headers);
        headers
    }

    #[test]
    fn without_an_exporter_the_caller_trace_is_kept_and_calls_get_new_span_ids() {
        let caller = extract(&headers(&[
            ("traceparent", &traceparent("01")),
            ("tracestate", "vendor=opaque"),
        ]))
        .unwrap();
        let span = tracing::Span::none();
        let trace_id = join(&span, Some(&caller));
        assert_eq!(trace_id, CALLER_TRACE);
        let fresh = join(&span, None);
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, CALLER_TRACE);

        let trace = TraceContext {
            trace_id,
            trace_state: caller.trace_state().clone(),
            span,
        };
        let first = extract(&call_headers(Some(&trace))).unwrap();
        let second = extract(&call_headers(Some(&trace))).unwrap();
        assert_eq!(first.trace_id().to_string(), CALLER_TRACE);
        assert_ne!(first.span_id(), second.span_id());
        assert_ne!(first.span_id().to_string(), CALLER_SPAN);
        assert_eq!(first.trace_state().header(), "vendor=opaque");
    }

    #[test]
    fn a_call_outside_any_request_starts_a_trace_and_sends_no_empty_tracestate() {
        let headers = call_headers(None);
        let call = extract(&headers).unwrap();
        assert!(call.is_sampled());
        let written = headers["traceparent"].to_str().unwrap();
        assert!(
            written.len() == 55 && written.starts_with("00-") && written.ends_with("-01"),
            "{written}"
        );
        assert!(!headers.contains_key(TRACESTATE), "{headers:?}");
    }

    #[test]
    fn a_request_trace_id_that_is_not_w3c_is_replaced_on_the_call() {
        for bad in [
            "",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "00000000000000000000000000000000",
            "4bf9",
        ] {
            let trace = TraceContext {
                trace_id: bad.to_owned(),
                trace_state: TraceState::default(),
                span: tracing::Span::none(),
            };
            let call = extract(&call_headers(Some(&trace))).expect("a valid traceparent");
            assert_ne!(call.trace_id().to_string(), bad.to_lowercase());
        }
    }
}
