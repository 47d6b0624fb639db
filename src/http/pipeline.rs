//! The one path every GraphQL operation takes, whichever transport carried it: a
//! `GET` or `POST /graphql`, or a query, mutation or subscription over `/graphql/ws`.
//! The stages, always in this order, each able to answer in the place of the ones
//! after it:
//!
//! 1. admission: the session's token has not expired, its role is still defined,
//!    and the per-subject and per-client rate limits have room (one operation
//!    taken from each);
//! 2. the document: sent, persisted or, for a role the allowlist covers, only one of
//!    the manifest's ([`super::persisted`]);
//! 3. the response tier: an identical operation from the same caller view is
//!    answered from memory, after passing the audit gate;
//! 4. checks on the parsed document: method, required variables, aliases,
//!    introspection;
//! 5. execution under the deadline, in the schema that enforces the viewer's field
//!    policy and masking, with the schema's depth and complexity limits checked
//!    first; a subscription's every event is resolved under a deadline of its own;
//! 6. the audit gate ([`super::audit`]): nothing a staff member read leaves before
//!    its access audit is recorded;
//! 7. the answer, kept in the response tier when it may be.
//!
//! Authentication (the token read from a header or from `connection_init`) comes
//! before, in [`super::caller`]; a transport then only frames what the stages decide
//! ([`Framing`]): HTTP as a status, a media type and a body, WebSocket as
//! `graphql-transport-ws` messages carrying the same errors and codes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use axum::body::Bytes;
use axum::http::{header, HeaderName, HeaderValue};
use chrono::Utc;
use futures::stream::BoxStream;
use serde_json::Value;

use super::audit::{audit, AuditRefused};
use super::cache_status::CacheStatus;
use super::caller::{viewer_for, Session};
use super::limits::{asks_for_schema, count_aliases};
use super::persisted::document;
use super::protocol::{preflight, MediaType, Method, Params};
use super::replay::FetchedFlags;
use super::AppState;
use crate::auth::{AccessSummary, Capability, Viewer};
use crate::cache::{KnownDocument, RequestScope, ResponseKey, StaleWarning};
use crate::errors::{ApiError, ErrorCode};
use crate::graphql::RequestData;

/// Why an operation is not run, as every transport reports it: the error (code,
/// message, the HTTP status that goes with it) and what the client should do about
/// it, which HTTP says in a header.
pub(super) struct Refusal {
    pub error: ApiError,
    pub advice: Option<Advice>,
}

/// What a refused client should do, beyond the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Advice {
    /// Wait this many seconds (`Retry-After`).
    RetryAfter(u64),
    /// Send it by POST (`Allow: POST`).
    Post,
    /// Authenticate with a bearer token (`WWW-Authenticate`).
    Authenticate,
}

impl Advice {
    /// The HTTP header that carries the advice.
    pub fn header(self) -> (HeaderName, HeaderValue) {
        match self {
            Advice::RetryAfter(seconds) => (
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits are a header value"),
            ),
            Advice::Post => (header::ALLOW, HeaderValue::from_static("POST")),
            Advice::Authenticate => (
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"c360\", error=\"invalid_token\""),
            ),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Refusal {
        Refusal {
            error,
            advice: None,
        }
    }
}

impl Refusal {
    /// The refusal as a whole GraphQL response, for a transport without statuses.
    pub fn into_response(self) -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![self.error.into_server_error()])
    }
}

/// What a transport adds to the stages: how it writes what they decide.
pub(super) trait Framing {
    type Answer;

    /// The HTTP method the operation came by; over `GET` only queries run. `None`
    /// for a transport without methods.
    fn method(&self) -> Option<Method>;

    /// The media type the answer is written in: a missing variable is a 400 under
    /// `application/graphql-response+json` only.
    fn media(&self) -> MediaType;

    fn refused(&self, refusal: Refusal) -> Self::Answer;

    /// The read could not be recorded by the audit, so it is not answered.
    fn unaudited(&self, refused: AuditRefused) -> Self::Answer;

    /// An answer from the response tier, already text.
    fn replayed(&self, body: Bytes) -> Result<Self::Answer, Refusal>;

    /// The answer with what says which cache served it, where the transport has a
    /// place for that.
    fn labelled(&self, answer: Self::Answer, status: &CacheStatus) -> Self::Answer;

    /// The answer to an executed operation, and its text when `cacheable` (the tier
    /// keeps that text). `request_failed`: the operation did not run at all (it did
    /// not parse or validate), and the response has no data.
    fn written(
        &self,
        response: async_graphql::Response,
        warnings: &[StaleWarning],
        request_failed: bool,
        cacheable: bool,
    ) -> Result<(Self::Answer, Option<Bytes>), Refusal>;
}

/// Stage 1: the viewer of one operation, once the session is still valid and the
/// rate limits have room. Every operation of a WebSocket connection passes it as
/// every HTTP request does: a token that expired since the connection opened, a role
/// removed by a reload, or a caller over its rate are refused here.
pub(super) fn admit(state: &AppState, session: &Session) -> Result<Viewer, Refusal> {
    let unauthenticated = |message: String| {
        state
            .metrics
            .refused
            .with_label_values(&["unauthenticated"])
            .inc();
        Refusal {
            error: ApiError::new(ErrorCode::Unauthenticated, message),
            advice: Some(Advice::Authenticate),
        }
    };
    if SystemTime::now() >= session.expires {
        return Err(unauthenticated(
            "the token has expired; authenticate again".into(),
        ));
    }
    let role = session.identity.role.clone();
    let viewer = viewer_for(
        state,
        session.identity.clone(),
        session.purpose,
        session.peer,
    )
    .ok_or_else(|| {
        unauthenticated(format!(
            "role '{role}' is not defined in the hub's policies"
        ))
    })?;
    let client = viewer.client().unwrap_or("unknown").to_owned();
    if let Err(refused) = state.limits.check(&viewer.identity().subject, &client) {
        let (which, label) = match refused.limit {
            crate::auth::limits::Limited::Subject => ("this caller", "subject"),
            crate::auth::limits::Limited::Client => ("this client application", "client"),
        };
        let seconds = refused.wait.as_secs_f64().ceil().max(1.0) as u64;
        state.metrics.rate_limited.with_label_values(&[label]).inc();
        return Err(Refusal {
            error: ApiError::new(
                ErrorCode::RateLimited,
                format!("too many requests from {which}; retry after {seconds} s"),
            ),
            advice: Some(Advice::RetryAfter(seconds)),
        });
    }
    Ok(viewer)
}

/// One admitted operation: the hub, the viewer, and the deadline its answer must be
/// written by.
pub(super) struct Operation<'a> {
    state: &'a AppState,
    deadline: tokio::time::Instant,
    viewer: Viewer,
    /// When the caller's token stops being accepted (`viewer { expiresAt }`).
    expires: SystemTime,
    trace_id: String,
    trace_state: opentelemetry::trace::TraceState,
}

/// An operation that passed stages 1 to 4 and is ready to execute.
struct Prepared {
    request: async_graphql::Request,
    /// The parsed-document cache's entry for the document, when it keeps it.
    known: Option<Arc<KnownDocument>>,
    response_key: Option<ResponseKey>,
    /// The name the operation is recorded under (metrics, audit).
    name: Option<String>,
}

/// What stage 2 to 4 decided.
enum Decided<A> {
    /// Answered before execution: refused, or replayed from the response tier.
    Answered(A),
    Run(Box<Prepared>),
}

impl<'a> Operation<'a> {
    /// Admits an operation of `session` (stage 1); its deadline starts now.
    pub fn admit(state: &'a AppState, session: &Session) -> Result<Operation<'a>, Refusal> {
        let viewer = admit(state, session)?;
        Ok(Operation {
            state,
            deadline: tokio::time::Instant::now() + state.request_timeout,
            viewer,
            expires: session.expires,
            trace_id: session.trace_id.clone(),
            trace_state: session.trace_state.clone(),
        })
    }

    /// Stages 2 to 7 for an operation with one answer: a query or a mutation (over
    /// HTTP, or over WebSocket). `name` is set to the name the operation is
    /// recorded under.
    pub async fn answer<F: Framing>(
        self,
        params: Params,
        framing: &F,
        name: &mut Option<String>,
    ) -> F::Answer {
        match self.decide(params, framing, name).await {
            Decided::Answered(answer) => answer,
            Decided::Run(prepared) => self.answer_prepared(prepared, framing).await,
        }
    }

    /// Stages 2 to 7 for an operation over WebSocket, which may be a subscription:
    /// its stream of answers. A query or mutation answers once, as
    /// [`Operation::answer`] does; a subscription's every event is resolved under a
    /// deadline of its own and passes the audit gate with what it read.
    pub async fn stream<F>(
        self,
        params: Params,
        framing: F,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> BoxStream<'static, async_graphql::Response>
    where
        F: Framing<Answer = async_graphql::Response> + Send + Sync + 'static,
    {
        use futures::StreamExt;
        let mut name = params.operation_name.clone();
        let mut prepared = match self.decide(params, &framing, &mut name).await {
            Decided::Answered(answer) => return futures::stream::once(async { answer }).boxed(),
            Decided::Run(prepared) => prepared,
        };
        if !is_subscription(&mut prepared.request) {
            let answer = self.answer_prepared(prepared, &framing).await;
            return futures::stream::once(async { answer }).boxed();
        }
        let schema = self.state.schema.for_subscription().clone();
        let data = self.request_data();
        let Prepared { request, name, .. } = *prepared;
        let request = data
            .attach(request)
            .data(crate::graphql::EventDeadline(self.state.request_timeout));
        let state = self.state.clone();
        let viewer = self.viewer.clone();
        let expires = self.expires;
        let trace_id = self.trace_id.clone();
        let trace_state = self.trace_state.clone();
        let framing = Arc::new(framing);
        async_graphql::Executor::execute_stream(&schema, request, session_data)
            .then(move |mut response| {
                let (state, viewer, trace_id, trace_state, name, framing) = (
                    state.clone(),
                    viewer.clone(),
                    trace_id.clone(),
                    trace_state.clone(),
                    name.clone(),
                    framing.clone(),
                );
                request_failed(&mut response);
                async move {
                    let operation = Operation {
                        deadline: tokio::time::Instant::now() + state.request_timeout,
                        state: &state,
                        viewer,
                        expires,
                        trace_id,
                        trace_state,
                    };
                    let reads = operation.viewer.access().drain(name);
                    match operation.audited(&reads).await {
                        Ok(()) => response,
                        Err(refused) => framing.unaudited(refused),
                    }
                }
            })
            .boxed()
    }

    /// [`Operation::answer`] from stage 5 on, for an operation already prepared.
    async fn answer_prepared<F: Framing>(self, prepared: Box<Prepared>, framing: &F) -> F::Answer {
        let Prepared {
            mut request,
            known,
            response_key,
            name,
        } = *prepared;
        let is_query = only_queries(&mut request);
        let (mut response, scope) = match self.execute(request, known.as_deref()).await {
            Ok(executed) => executed,
            Err(timed_out) => return framing.refused(timed_out),
        };
        let request_failed = request_failed(&mut response);
        if let (Some(known), false) = (&known, request_failed) {
            known.mark_validated();
        }
        let cacheable = !request_failed && is_query && response.errors.is_empty();
        let keep = cacheable && self.state.responses.is_some();
        // Where this execution fetched from a system, the copy the response tier keeps
        // says it was served from the cache.
        let fetched = FetchedFlags::of(
            &response.data,
            if keep {
                scope.take_fetched_fields()
            } else {
                Vec::new()
            },
        );
        let (answer, text) =
            match framing.written(response, &scope.warnings(), request_failed, keep) {
                Ok(written) => written,
                Err(refused) => return framing.refused(refused),
            };
        let summary = Arc::new(self.viewer.access().drain(name));
        if let Err(refused) = self.audited(&summary).await {
            return framing.unaudited(refused);
        }
        let stored = text
            .and_then(|text| fetched.replayed(text))
            .and_then(|text| self.keep_in_response_tier(response_key, &scope, text, summary));
        framing.labelled(
            answer,
            &CacheStatus::executed(&scope.provenance(), is_query && !request_failed, stored),
        )
    }

    /// Stages 2 to 4: the document, the response tier, the checks on the parsed
    /// document. `name` is set to the operation's name as soon as it is known.
    async fn decide<F: Framing>(
        &self,
        mut params: Params,
        framing: &F,
        name: &mut Option<String>,
    ) -> Decided<F::Answer> {
        let role = self.viewer.identity().role.clone();
        let query = match document(self.state, &mut params, &role).await {
            Ok(query) => query,
            Err(refused) => return Decided::Answered(framing.refused(refused.into())),
        };
        // A document the tier answers was parsed before: its entry has its digest, and
        // its tree is copied only if it is to be executed.
        let known = self.state.documents.known(&query);
        let response_key = self.response_key(&query, known.as_deref(), &params);
        if let Some(answer) = self
            .answer_from_response_tier(response_key.as_ref(), framing, name)
            .await
        {
            return Decided::Answered(answer);
        }
        // Nesting too deep to parse safely is refused before the parser sees it.
        let (mut request, known) = match self
            .state
            .documents
            .prepare(async_graphql::Request::new(query), known)
        {
            Ok(prepared) => prepared,
            Err(too_deep) => {
                return Decided::Answered(framing.refused(
                    ApiError::new(ErrorCode::GraphqlValidationFailed, too_deep.to_string()).into(),
                ))
            }
        };
        let mut operation = params.operation_name.clone();
        if let Ok(document) = request.parsed_query() {
            if let Some(refused) = self.check_document(document, &params, framing) {
                return Decided::Answered(framing.refused(refused));
            }
            if operation.is_none() {
                operation = first_operation_name(document);
            }
        }
        name.clone_from(&operation);
        Decided::Run(Box::new(Prepared {
            request: self.with_parameters(request, params),
            known,
            response_key,
            name: operation,
        }))
    }

    /// The operation's key in the response tier, `None` when the tier is off. The
    /// viewer's cache key is part of it: no caller is answered with another's view.
    fn response_key(
        &self,
        query: &str,
        known: Option<&KnownDocument>,
        params: &Params,
    ) -> Option<ResponseKey> {
        self.state.responses.as_ref().map(|responses| {
            let document =
                known.map_or_else(|| ResponseKey::document_digest(query), |k| *k.digest());
            let variables = params
                .variables
                .as_ref()
                .map(|v| serde_json::to_string(v).unwrap_or_default())
                .unwrap_or_default();
            responses.key(
                &document,
                params.operation_name.as_deref(),
                &variables,
                self.viewer.cache_key(),
            )
        })
    }

    /// The stored answer to an identical operation, if the response tier holds one.
    /// Only queries are ever stored, so a hit needs no parsing to know it is one. The
    /// caller was admitted before, the view key carries its scope, and the hit
    /// writes the same access audit as the execution it replays.
    async fn answer_from_response_tier<F: Framing>(
        &self,
        key: Option<&ResponseKey>,
        framing: &F,
        name: &mut Option<String>,
    ) -> Option<F::Answer> {
        let (Some(responses), Some(key)) = (&self.state.responses, key) else {
            return None;
        };
        let hit = responses.get(key)?;
        tracing::Span::current().record("graphql.response_cache", "hit");
        name.clone_from(&hit.reads.operation);
        if let Err(refused) = self.audited(&hit.reads).await {
            return Some(framing.unaudited(refused));
        }
        let status = CacheStatus::replayed(hit.fetched_at, hit.fresh_for);
        Some(match framing.replayed(hit.body) {
            Ok(answer) => framing.labelled(answer, &status),
            Err(refused) => framing.refused(refused),
        })
    }

    /// Whether the caller may see the schema itself (`__schema`, `__type`).
    fn may_introspect(&self) -> bool {
        self.state.open_introspection || self.viewer.may(Capability::Introspect)
    }

    /// The refusal of a document this operation may not run, before it runs: an
    /// operation the method does not allow, a required variable missing, too many
    /// aliases, or introspection the caller may not make.
    fn check_document<F: Framing>(
        &self,
        document: &ExecutableDocument,
        params: &Params,
        framing: &F,
    ) -> Option<Refusal> {
        if let Some(refused) = preflight(
            document,
            params.operation_name.as_deref(),
            params.variables.as_ref(),
            framing.method(),
            framing.media(),
        ) {
            let advice = (refused.code() == ErrorCode::MethodNotAllowed).then_some(Advice::Post);
            return Some(Refusal {
                error: refused,
                advice,
            });
        }
        let aliases = count_aliases(document);
        if aliases > self.state.max_aliases {
            self.state
                .metrics
                .refused
                .with_label_values(&["too_many_aliases"])
                .inc();
            return Some(
                ApiError::new(
                    ErrorCode::TooManyAliases,
                    format!(
                        "the document uses {aliases} aliases; at most {} are allowed",
                        self.state.max_aliases
                    ),
                )
                .into(),
            );
        }
        if !self.may_introspect() && asks_for_schema(document) {
            self.state
                .metrics
                .refused
                .with_label_values(&["introspection"])
                .inc();
            return Some(
                ApiError::new(
                    ErrorCode::IntrospectionDisabled,
                    "schema introspection (__schema, __type) is off for this caller",
                )
                .into(),
            );
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

    /// The operation's own data: loaders that never outlive it, its viewer, and the
    /// scope that records what it read, in the caller's trace.
    fn request_data(&self) -> RequestData {
        let data = RequestData::new(&self.state.upstreams, self.viewer.clone(), self.expires);
        data.scope.set_trace(crate::telemetry::TraceContext {
            trace_id: self.trace_id.clone(),
            trace_state: self.trace_state.clone(),
            span: tracing::Span::current(),
        });
        data
    }

    /// Stage 5: executes the request with data of its own and the schema that
    /// enforces the viewer's role; past the deadline, `REQUEST_TIMEOUT`. Returns the
    /// response and the scope that recorded what it read.
    async fn execute(
        &self,
        mut request: async_graphql::Request,
        known: Option<&KnownDocument>,
    ) -> Result<(async_graphql::Response, Arc<RequestScope>), Refusal> {
        let data = self.request_data();
        let scope = data.scope.clone();
        let schema =
            self.state
                .schema
                .for_request(&self.viewer, request.parsed_query().ok(), known);
        let request = data.attach(request);
        match tokio::time::timeout_at(self.deadline, schema.execute(request)).await {
            Ok(response) => Ok((response, scope)),
            Err(_) => Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request did not finish within {:?}",
                    self.state.request_timeout
                ),
            )
            .into()),
        }
    }

    /// Stage 6: the access audit of what the operation read, recorded by its
    /// deadline.
    async fn audited(&self, summary: &AccessSummary) -> Result<(), AuditRefused> {
        audit(
            self.state,
            &self.viewer,
            summary,
            &self.trace_id,
            self.deadline,
        )
        .await
    }

    /// Stores an answer that passed the audit gate in the response tier, when the
    /// tier is on and everything the answer was made of may be cached. Returns how
    /// long the tier keeps it, if it does.
    fn keep_in_response_tier(
        &self,
        key: Option<ResponseKey>,
        scope: &RequestScope,
        body: Bytes,
        summary: Arc<AccessSummary>,
    ) -> Option<Duration> {
        let (Some(responses), Some(key)) = (&self.state.responses, key) else {
            return None;
        };
        match scope.cacheable(responses.max_ttl()) {
            Some((tags, ttl)) => {
                // An answer that read nothing is as old as itself.
                let fetched_at = scope.provenance().oldest.unwrap_or_else(Utc::now);
                responses.insert(key, body, summary, tags, ttl, fetched_at)
            }
            None => {
                self.state
                    .metrics
                    .response_cache
                    .with_label_values(&["uncacheable"])
                    .inc();
                None
            }
        }
    }
}

/// Whether the operation did not run at all: errors without a path and no data (a
/// document that does not parse or validate, variables that do not coerce). Such
/// errors get the `GRAPHQL_VALIDATION_FAILED` code when they have none, on every
/// transport.
fn request_failed(response: &mut async_graphql::Response) -> bool {
    let failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if failed {
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", ErrorCode::GraphqlValidationFailed.as_str());
            }
        }
    }
    failed
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

/// Whether the operation the request names is a subscription.
fn is_subscription(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    request.parsed_query().is_ok_and(|d| {
        d.operations.iter().any(|(n, op)| {
            op.node.ty == OperationType::Subscription
                && name
                    .as_deref()
                    .is_none_or(|name| n.is_some_and(|n| n.as_str() == name))
        })
    })
}
