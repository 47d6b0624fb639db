//! One GraphQL-over-HTTP request through the stages of [`super::pipeline`], the
//! same every WebSocket operation takes; this module adds only the HTTP framing (a
//! status, the negotiated media type, `Retry-After`, `Allow` and `WWW-Authenticate`,
//! a request error without `data`) and the request metrics. The handlers of
//! [`super::endpoint`] have authenticated the caller and checked the request's
//! parameters before.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use tracing::Instrument;

use super::audit::{audit_unavailable, AuditRefused};
use super::cache_status::CacheStatus;
use super::caller::Session;
use super::pipeline::{Framing, Operation, Refusal};
use super::protocol::{graphql_body, request_error, MediaType, Method, Params};
use super::AppState;
use crate::cache::StaleWarning;
use crate::errors::{ApiError, ErrorCode};

/// Runs a request and records it in the request metrics, per operation name.
pub(super) async fn execute(
    state: &AppState,
    media: MediaType,
    params: Params,
    method: Method,
    session: Session,
) -> Response {
    let started = std::time::Instant::now();
    let mut operation = params.operation_name.clone();
    let span = tracing::info_span!(
        "graphql.operation",
        graphql.operation.name = tracing::field::Empty,
        graphql.response_cache = tracing::field::Empty,
    );
    let response = execute_inner(state, media, params, method, session, &mut operation)
        .instrument(span.clone())
        .await;
    let operation = state.metrics.operation_label(operation.as_deref());
    // The name as the metrics label has it: a plain GraphQL name or `other`, so a
    // crafted name cannot smuggle data into traces.
    span.record("graphql.operation.name", operation.as_str());
    tracing::Span::current().record("graphql.operation.name", operation.as_str());
    let outcome = match response.status().as_u16() {
        200..=299 => "ok",
        400..=499 => "refused",
        _ => "failed",
    };
    state
        .metrics
        .graphql_requests
        .with_label_values(&[operation.as_str(), outcome])
        .inc();
    state
        .metrics
        .graphql_latency
        .with_label_values(&[operation.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The stages of [`super::pipeline`] for one HTTP request, framed as HTTP.
/// `operation_name` is set to the name the metrics record the request under.
async fn execute_inner(
    state: &AppState,
    media: MediaType,
    params: Params,
    method: Method,
    session: Session,
    operation_name: &mut Option<String>,
) -> Response {
    let framing = Http { media, method };
    match Operation::admit(state, &session) {
        Ok(operation) => operation.answer(params, &framing, operation_name).await,
        Err(refused) => framing.refused(refused),
    }
}

/// GraphQL over HTTP: a status, the negotiated media type, and headers.
struct Http {
    media: MediaType,
    method: Method,
}

impl Framing for Http {
    type Answer = Response;

    fn method(&self) -> Option<Method> {
        Some(self.method)
    }

    fn media(&self) -> MediaType {
        self.media
    }

    fn refused(&self, refusal: Refusal) -> Response {
        let mut response = request_error(self.media, refusal.error);
        if let Some((name, value)) = refusal.advice.map(|a| a.header()) {
            response.headers_mut().insert(name, value);
        }
        response
    }

    fn unaudited(&self, refused: AuditRefused) -> Response {
        audit_unavailable(self.media, refused)
    }

    fn replayed(&self, body: Bytes) -> Result<Response, Refusal> {
        Ok(graphql_body(StatusCode::OK, self.media, body))
    }

    fn labelled(&self, mut answer: Response, status: &CacheStatus) -> Response {
        status.write(answer.headers_mut());
        answer
    }

    fn written(
        &self,
        response: async_graphql::Response,
        warnings: &[StaleWarning],
        request_failed: bool,
        cacheable: bool,
    ) -> Result<(Response, Option<Bytes>), Refusal> {
        let answer =
            Answer::write(&response, self.media, warnings, request_failed).ok_or_else(|| {
                ApiError::new(ErrorCode::Internal, "response could not be serialized")
            })?;
        let text = cacheable.then(|| answer.body.clone());
        Ok((graphql_body(answer.status, self.media, answer.body), text))
    }
}

/// An execution's answer, written to text.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    /// A request error (parse, validation, variable coercion) has no `data` entry at
    /// all, and is a 400 under `application/graphql-response+json`. `None` when the
    /// response cannot be written to text.
    fn write(
        response: &async_graphql::Response,
        media: MediaType,
        warnings: &[StaleWarning],
        request_failed: bool,
    ) -> Option<Answer> {
        let status = if request_failed && media == MediaType::GraphqlResponse {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        // Most answers go out as async-graphql made them, written straight to text;
        // only a failed request or one with warnings is reshaped first.
        let body = if request_failed || !warnings.is_empty() {
            reshaped(response, request_failed, warnings)
        } else {
            serde_json::to_vec(response).ok()
        };
        Some(Answer {
            status,
            body: Bytes::from(body?),
        })
    }
}

/// The text of a response that needs more than async-graphql gives: a request error
/// loses its `data` entry, and stale reads are announced in `extensions.warnings`.
fn reshaped(
    response: &async_graphql::Response,
    request_failed: bool,
    warnings: &[StaleWarning],
) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut body)) = serde_json::to_value(response) else {
        return None;
    };
    if request_failed {
        body.remove("data");
    }
    if !warnings.is_empty() {
        let extensions = body.entry("extensions").or_insert_with(|| json!({}));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert("warnings".into(), json!(warnings));
        }
    }
    serde_json::to_vec(&Value::Object(body)).ok()
}
