//! Running one GraphQL-over-HTTP request, stage by stage and always in this order:
//! the document (sent, persisted or allowlisted), the response tier, checks on the
//! parsed document (method, variables, aliases, introspection), execution under the
//! request's deadline, the answer written to text, the audit gate, and the response
//! tier again on the way out. [`super::protocol`] has authenticated the caller and
//! checked the request's parameters before; [`super::ws`] runs WebSocket operations.

use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use tracing::Instrument;

use super::audit::{audit, audit_unavailable};
use super::caller::Caller;
use super::limits::{asks_for_schema, count_aliases};
use super::persisted::document;
use super::protocol::{graphql_body, preflight, request_error, MediaType, Method, Params};
use super::AppState;
use crate::auth::{AccessSummary, Capability, Viewer};
use crate::cache::{RequestScope, ResponseKey, StaleWarning};
use crate::errors::{ApiError, ErrorCode};
use crate::graphql::RequestData;

/// Runs a request and records it in the request metrics, per operation name.
pub(super) async fn execute(
    state: &AppState,
    media: MediaType,
    params: Params,
    method: Method,
    caller: Caller,
) -> Response {
    let started = std::time::Instant::now();
    let mut operation = params.operation_name.clone();
    let span = tracing::info_span!(
        "graphql.operation",
        graphql.operation.name = tracing::field::Empty,
        graphql.response_cache = tracing::field::Empty,
    );
    let response = execute_inner(state, media, params, method, caller, &mut operation)
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

/// The stages of one request; each may answer in the place of the ones after it.
/// `operation_name` is set to the name the metrics record the request under.
async fn execute_inner(
    state: &AppState,
    media: MediaType,
    mut params: Params,
    method: Method,
    caller: Caller,
    operation_name: &mut Option<String>,
) -> Response {
    let run = Run {
        state,
        media,
        // One deadline for the whole request: execution, then the wait for the audit.
        deadline: tokio::time::Instant::now() + state.request_timeout,
        viewer: caller.viewer,
        trace_id: caller.trace_id,
        trace_state: caller.trace_state,
    };
    let query = match document(state, media, &mut params, &run.viewer.identity().role).await {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let response_key = run.response_key(&query, &params);
    if let Some(answer) = run
        .answer_from_response_tier(response_key.as_ref(), operation_name)
        .await
    {
        return answer;
    }
    let mut request = match state.documents.prepare(async_graphql::Request::new(query)) {
        Ok(request) => request,
        Err(too_deep) => {
            return request_error(
                media,
                ApiError::new(ErrorCode::GraphqlValidationFailed, too_deep.to_string()),
            )
        }
    };
    let mut operation = params.operation_name.clone();
    if let Ok(document) = request.parsed_query() {
        if let Some(refused) = run.check_document(document, &params, method) {
            return refused;
        }
        if operation.is_none() {
            operation = first_operation_name(document);
        }
    }
    operation_name.clone_from(&operation);
    let mut request = run.with_parameters(request, params);
    let is_query = only_queries(&mut request);
    let (response, scope) = match run.execute(request).await {
        Ok(executed) => executed,
        Err(timed_out) => return timed_out,
    };
    let Some(answer) = Answer::write(&response, media, &scope.warnings(), is_query) else {
        return request_error(
            media,
            ApiError::new(ErrorCode::Internal, "response could not be serialized"),
        );
    };
    let summary = Arc::new(run.viewer.access().drain(operation));
    if let Err(refused) = audit(state, &run.viewer, &summary, &run.trace_id, run.deadline).await {
        return audit_unavailable(media, refused);
    }
    if answer.cacheable {
        run.keep_in_response_tier(response_key, &scope, &answer.body, summary);
    }
    graphql_body(answer.status, media, answer.body)
}

/// What every stage of one request works with: the hub, the caller, the media type
/// the answer is written in and the deadline it must be written by.
struct Run<'a> {
    state: &'a AppState,
    media: MediaType,
    deadline: tokio::time::Instant,
    viewer: Viewer,
    trace_id: String,
    /// The caller's `tracestate`, passed on to the upstreams.
    trace_state: opentelemetry::trace::TraceState,
}

impl Run<'_> {
    /// The request's key in the response tier, `None` when the tier is off. The
    /// viewer's cache key is part of it: no caller is answered with another's view.
    fn response_key(&self, query: &str, params: &Params) -> Option<ResponseKey> {
        self.state.responses.as_ref().map(|_| {
            let variables = params
                .variables
                .as_ref()
                .map(|v| serde_json::to_string(v).unwrap_or_default())
                .unwrap_or_default();
            ResponseKey::new(
                query,
                params.operation_name.as_deref(),
                &variables,
                self.viewer.cache_key(),
            )
        })
    }

    /// The stored answer to an identical request, if the response tier holds one.
    /// Only queries are ever stored, so a hit needs no parsing to know it is one. The
    /// caller was authenticated before, the view key carries its scope, and the hit
    /// writes the same access audit as the execution it replays.
    async fn answer_from_response_tier(
        &self,
        key: Option<&ResponseKey>,
        operation_name: &mut Option<String>,
    ) -> Option<Response> {
        let (Some(responses), Some(key)) = (&self.state.responses, key) else {
            return None;
        };
        let (body, reads) = responses.get(key)?;
        tracing::Span::current().record("graphql.response_cache", "hit");
        operation_name.clone_from(&reads.operation);
        if let Err(refused) = audit(
            self.state,
            &self.viewer,
            &reads,
            &self.trace_id,
            self.deadline,
        )
        .await
        {
            return Some(audit_unavailable(self.media, refused));
        }
        Some(graphql_body(StatusCode::OK, self.media, body))
    }

    /// Whether the caller may see the schema itself (`__schema`, `__type`).
    fn may_introspect(&self) -> bool {
        self.state.open_introspection || self.viewer.may(Capability::Introspect)
    }

    /// The refusal of a document this request may not run, before it runs: an
    /// operation the method does not allow, a required variable missing, too many
    /// aliases, or introspection the caller may not make.
    fn check_document(
        &self,
        document: &ExecutableDocument,
        params: &Params,
        method: Method,
    ) -> Option<Response> {
        if let Some(refused) = preflight(
            document,
            params.operation_name.as_deref(),
            params.variables.as_ref(),
            method,
            self.media,
        ) {
            return Some(refused);
        }
        let aliases = count_aliases(document);
        if aliases > self.state.max_aliases {
            self.state
                .metrics
                .refused
                .with_label_values(&["too_many_aliases"])
                .inc();
            return Some(request_error(
                self.media,
                ApiError::new(
                    ErrorCode::TooManyAliases,
                    format!(
                        "the document uses {aliases} aliases; at most {} are allowed",
                        self.state.max_aliases
                    ),
                ),
            ));
        }
        if !self.may_introspect() && asks_for_schema(document) {
            self.state
                .metrics
                .refused
                .with_label_values(&["introspection"])
                .inc();
            return Some(request_error(
                self.media,
                ApiError::new(
                    ErrorCode::IntrospectionDisabled,
                    "schema introspection (__schema, __type) is off for this caller",
                ),
            ));
        }
        None
    }

    /// The request as async-graphql runs it: introspection off unless the caller may,
    /// with the operation name, variables and extensions the caller sent.
    fn with_parameters(
        &self,
        mut request: async_graphql::Request,
        params: Params,
    ) -> async_graphql::Request {
        if !self.may_introspect() {
            request = request.disable_introspection();
        }
        if let Some(name) = params.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = params.variables {
            request = request.variables(async_graphql::Variables::from_json(Value::Object(
                variables,
            )));
        }
        if let Some(extensions) = params.extensions {
            for (key, value) in extensions {
                if let Ok(value) = async_graphql::Value::from_json(value) {
                    request.extensions.insert(key, value);
                }
            }
        }
        request
    }

    /// Executes the request with data of its own (loaders, scope, trace) and the
    /// schema that enforces the viewer's role; past the deadline, 504. Returns the
    /// response and the scope that recorded what it read.
    async fn execute(
        &self,
        mut request: async_graphql::Request,
    ) -> Result<(async_graphql::Response, Arc<RequestScope>), Response> {
        let data = RequestData::new(&self.state.upstreams, self.viewer.clone());
        data.scope.set_trace(crate::telemetry::TraceContext {
            trace_id: self.trace_id.clone(),
            trace_state: self.trace_state.clone(),
            span: tracing::Span::current(),
        });
        let scope = data.scope.clone();
        let schema = self
            .state
            .schema
            .for_request(&self.viewer, request.parsed_query().ok());
        let request = data.attach(request);
        match tokio::time::timeout_at(self.deadline, schema.execute(request)).await {
            Ok(response) => Ok((response, scope)),
            Err(_) => Err(request_error(
                self.media,
                ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request did not finish within {:?}",
                        self.state.request_timeout
                    ),
                ),
            )),
        }
    }

    /// Stores an answer that passed the audit gate in the response tier, when the
    /// tier is on and everything the answer was made of may be cached.
    fn keep_in_response_tier(
        &self,
        key: Option<ResponseKey>,
        scope: &RequestScope,
        body: &Bytes,
        summary: Arc<AccessSummary>,
    ) {
        if let (Some(responses), Some(key)) = (&self.state.responses, key) {
            match scope.cacheable(responses.max_ttl()) {
                Some((tags, ttl)) => responses.insert(key, body.clone(), summary, tags, ttl),
                None => self
                    .state
                    .metrics
                    .response_cache
                    .with_label_values(&["uncacheable"])
                    .inc(),
            }
        }
    }
}

/// The name of the document's first operation: what an unnamed request is recorded
/// under.
fn first_operation_name(document: &ExecutableDocument) -> Option<String> {
    document
        .operations
        .iter()
        .next()
        .and_then(|(name, _)| name.map(|n| n.to_string()))
}

/// Only documents made of queries are cached: a mutation's answer is never replayed.
fn only_queries(request: &mut async_graphql::Request) -> bool {
    request
        .parsed_query()
        .map(|d| {
            d.operations
                .iter()
                .all(|(_, op)| op.node.ty == OperationType::Query)
        })
        .unwrap_or(false)
}

/// An execution's answer, written to text.
struct Answer {
    status: StatusCode,
    body: Bytes,
    /// Whether the response tier may keep it: a query that fully succeeded.
    cacheable: bool,
}

impl Answer {
    /// A request error (parse, validation, variable coercion) has errors without a
    /// path and no data: the response then has no `data` entry at all, and is a 400
    /// under `application/graphql-response+json`. `None` when the response cannot be
    /// written to text.
    fn write(
        response: &async_graphql::Response,
        media: MediaType,
        warnings: &[StaleWarning],
        is_query: bool,
    ) -> Option<Answer> {
        let request_failed = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = if request_failed && media == MediaType::GraphqlResponse {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let cacheable = !request_failed && is_query && response.errors.is_empty();
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
            cacheable,
        })
    }
}

/// The text of a response that needs more than async-graphql gives: a request error
/// loses its `data` entry and gets a code, and stale reads are announced in
/// `extensions.warnings`.
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
        if let Some(Value::Array(errors)) = body.get_mut("errors") {
            for error in errors {
                if let Some(error) = error.as_object_mut() {
                    let extensions = error.entry("extensions").or_insert_with(|| json!({}));
                    if let Some(extensions) = extensions.as_object_mut() {
                        extensions
                            .entry("code")
                            .or_insert_with(|| json!(ErrorCode::GraphqlValidationFailed.as_str()));
                    }
                }
            }
        }
    }
    if !warnings.is_empty() {
        let extensions = body.entry("extensions").or_insert_with(|| json!({}));
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert("warnings".into(), json!(warnings));
        }
    }
    serde_json::to_vec(&Value::Object(body)).ok()
}
