//! The span of each HTTP request: a child of the caller's span when the caller sent a
//! W3C `traceparent`, the root of a new trace otherwise. Handlers find the request's
//! trace id (the access audit records it) and the caller's `tracestate` (passed on to
//! the upstreams) in the request's extensions, and add the GraphQL operation name to
//! the span once they know it.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TraceState;
use tracing::field::Empty;
use tracing::Instrument;

/// The trace a request belongs to, as the handlers see it.
#[derive(Debug, Clone)]
pub struct RequestTrace {
    /// 32 hex digits: the caller's trace id, or a new one.
    pub trace_id: String,
    /// The caller's `tracestate`, empty when it sent none.
    pub trace_state: TraceState,
}

/// Runs the request inside an `http.request` span carrying method, route (the
/// pattern, never the path: paths may carry identifiers), status and trace id.
pub async fn request_span(mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let caller = crate::telemetry::extract(request.headers());
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        graphql.operation.name = Empty,
        trace_id = Empty,
    );
    let trace_id = crate::telemetry::join(&span, caller.as_ref());
    span.record("trace_id", trace_id.as_str());
    let trace_state = caller.map(|c| c.trace_state().clone()).unwrap_or_default();
    request.extensions_mut().insert(RequestTrace {
        trace_id,
        trace_state,
    });
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
