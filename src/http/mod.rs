//! The hub's HTTP surface: `/graphql` (GraphQL over HTTP, done to the specification),
//! `/graphql/ws` (subscriptions over WebSocket, `graphql-transport-ws`), `/healthz`
//! and `/readyz`.
//!
//! async-graphql's stock axum integration answers `application/graphql-response+json`
//! even to `Accept: application/json`, returns 200 for parse and validation errors and
//! executes POSTs without a JSON content type. This handler instead:
//! - negotiates the media type (`application/graphql-response+json` when accepted,
//!   else `application/json`; 406 when neither is acceptable);
//! - refuses a POST that is not `application/json` with 415 before anything runs (a
//!   `text/plain` form post is the CSRF route into a GraphQL API);
//! - refuses mutations over GET with 405;
//! - with `application/graphql-response+json`, answers request errors (bad JSON,
//!   invalid parameters, parse and validation failures) with 400 and no `data` entry;
//! - bounds the body size and the time of each request, with a JSON error body.
//!
//! In front of execution sits the response tier: an identical operation from the same
//! caller view is answered from memory without parsing anything. Automatic persisted
//! queries (Apollo's protocol) let clients send a document's hash instead of the
//! document. `POST /events` takes upstream change notifications and drops what they
//! invalidate; `GET /metrics` serves Prometheus text.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use futures::stream::BoxStream;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::auth::allowlist::Allowlist;
use crate::auth::limits::RateLimits;
use crate::auth::{
    AccessSummary, AuditWriter, Capability, Identity, LivePolicies, Verifier, Viewer,
};
use crate::cache::{
    ParsedDocuments, PersistedQueries, PersistedQueryError, RedisTier, ResponseCache, ResponseKey,
};
use crate::graphql::{AppSchema, AppSchemas, RequestData};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::upstream::Upstreams;

mod caller;
mod events;
mod trace;

pub use caller::PURPOSE_HEADER;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// What every handler shares, behind one `Arc`.
///
/// axum clones the state for every request. Cloned field by field, that was some
/// twenty reference counts raised and dropped again per request, on counters both
/// workers touch: 3 % of the hub's CPU on answers from the response tier.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub schema: AppSchemas,
    pub upstreams: Upstreams,
    /// The response tier; `None` when turned off.
    pub responses: Option<Arc<ResponseCache>>,
    pub persisted: Arc<PersistedQueries>,
    /// Documents parsed before, by their text.
    pub documents: Arc<ParsedDocuments>,
    pub redis: Option<Arc<RedisTier>>,
    /// Shared secret of `POST /events`; `None` refuses every event.
    pub events_secret: Option<Arc<str>>,
    /// The hub's database, for `/readyz`.
    pub store: Store,
    /// Carries invalidations and change notices to every instance.
    pub bus: crate::bus::Bus,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub graphiql: bool,
    /// Connector files the hub runs with, for `/readyz`.
    pub connector_files: Arc<Vec<String>>,
    /// Checks bearer tokens.
    pub verifier: Verifier,
    pub policies: LivePolicies,
    pub limits: Arc<RateLimits>,
    /// Allowlist mode: only these operations may run (for the roles it covers).
    pub allowlist: Option<Arc<Allowlist>>,
    /// Introspection for every role (the demo profile); otherwise only for roles
    /// with the `introspect` capability.
    pub open_introspection: bool,
    pub max_aliases: usize,
    /// Where staff reads of customers are recorded.
    pub audit: AuditWriter,
    /// Turns true when the hub starts shutting down: open WebSockets close.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// This hub's metrics, which `GET /metrics` renders.
    pub metrics: Arc<Metrics>,
}

pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/events", post(events::receive))
        // A route layer, so that the span knows the matched route pattern.
        .route_layer(axum::middleware::from_fn(trace::request_span))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Ready when the database answers; the connectors were checked at start. A hub
/// whose database is down still serves upstream reads, but a load balancer should
/// prefer an instance that can also write. A degraded Redis costs speed, not
/// answers: it is reported but does not make the hub unready.
async fn readyz(State(state): State<AppState>) -> Response {
    let database = match state.store.ping().await {
        Ok(()) => json!({"status": "ok", "backend": state.store.backend().as_str()}),
        Err(e) => {
            json!({"status": "unavailable", "backend": state.store.backend().as_str(), "code": e.code()})
        }
    };
    let redis = match &state.redis {
        None => json!({"status": "disabled"}),
        Some(redis) if redis.ping().await => json!({"status": "ok"}),
        Some(_) => {
            json!({"status": "degraded", "detail": "unreachable; serving from the in-process tier and upstreams"})
        }
    };
    let circuits: Map<String, Value> = state
        .upstreams
        .circuits()
        .into_iter()
        .map(|(system, circuit)| (system.as_str().to_owned(), json!(circuit.as_str())))
        .collect();
    let all_closed = circuits.values().all(|c| c == "closed");
    let ready = database["status"] == "ok";
    let body = Json(json!({
        "status": if ready { "ready" } else { "degraded" },
        "checks": {
            // An open circuit costs that system's fields, not the hub's answers: it is
            // reported, and the hub stays ready.
            "connectors": {
                "status": if all_closed { "ok" } else { "degraded" },
                "files": *state.connector_files,
                "circuits": circuits,
            },
            "database": database,
            "cache": { "redis": redis, "response_tier": state.responses.is_some() }
        }
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// Runs each operation of a WebSocket connection with its own [`RequestData`], as the
/// HTTP handler does for each request: loaders never outlive one operation, so
/// nothing read for one is served to another.
#[derive(Clone)]
struct PerOperation {
    state: AppState,
    /// The identity the connection authenticated as (from the upgrade request's
    /// header); otherwise the one `connection_init` carried, in the session data.
    identity: Option<Identity>,
    peer: Option<std::net::SocketAddr>,
    /// The upgrade request's trace: every operation of the connection belongs to it,
    /// and its access audit records it.
    trace_id: String,
}

/// Counts an operation streaming over WebSocket for as long as its stream lives.
struct OpenSubscription(prometheus::IntGauge);

impl OpenSubscription {
    fn new(metrics: &Metrics) -> OpenSubscription {
        metrics.subscriptions_open.inc();
        OpenSubscription(metrics.subscriptions_open.clone())
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What `connection_init` established for a WebSocket connection.
struct WsSession {
    identity: Identity,
}

impl PerOperation {
    /// A new viewer per operation (its access log is the operation's), from the
    /// connection's identity; `None` when the connection never authenticated.
    fn viewer(&self, session: Option<&Data>) -> Option<Viewer> {
        let identity = self.identity.clone().or_else(|| {
            session
                .and_then(|d| d.get(&std::any::TypeId::of::<WsSession>()))
                .and_then(|b| b.downcast_ref::<WsSession>())
                .map(|s| s.identity.clone())
        })?;
        caller::viewer_for(&self.state, identity, None, self.peer)
    }

    /// `span` is the operation's: the upstream calls it makes are recorded under it.
    /// Returns the request with its data, and the schema that enforces the viewer's
    /// role on it.
    fn prepare(
        &self,
        request: async_graphql::Request,
        viewer: Viewer,
        span: &tracing::Span,
    ) -> (&AppSchema, async_graphql::Request) {
        let mut request = self.state.documents.prepare(request);
        let schema = self
            .state
            .schema
            .for_request(&viewer, request.parsed_query().ok());
        let request = if self.state.open_introspection || viewer.may(Capability::Introspect) {
            request
        } else {
            request.disable_introspection()
        };
        let data = RequestData::new(&self.state.upstreams, viewer);
        data.scope.set_trace(crate::telemetry::TraceContext {
            trace_id: self.trace_id.clone(),
            span: span.clone(),
        });
        (schema, data.attach(request))
    }
}

/// The span of one operation over WebSocket: a child of the connection's span (the
/// current one while the connection is served), named as the metrics name it.
fn ws_operation_span(metrics: &Metrics, name: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "graphql.operation",
        graphql.operation.name = tracing::field::Empty,
        graphql.transport = "websocket",
    );
    span.record(
        "graphql.operation.name",
        metrics.operation_label(name).as_str(),
    );
    span
}

fn unauthenticated_response() -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
        "not authenticated: send the bearer token in connection_init's payload",
        None,
    )])
}

impl Executor for PerOperation {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let Some(viewer) = self.viewer(None) else {
            return unauthenticated_response();
        };
        let name = request.operation_name.clone();
        let span = ws_operation_span(&self.state.metrics, name.as_deref());
        let (schema, request) = self.prepare(request, viewer.clone(), &span);
        async {
            let deadline = tokio::time::Instant::now() + self.state.request_timeout;
            let response = schema.execute(request).await;
            let reads = viewer.access().drain(name);
            match audit(&self.state, &viewer, &reads, &self.trace_id, deadline).await {
                Ok(()) => response,
                Err(refused) => audit_unavailable_response(refused),
            }
        }
        .instrument(span)
        .await
    }

    async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => {
                let mut responses = Vec::with_capacity(requests.len());
                for request in requests {
                    responses.push(self.execute(request).await);
                }
                BatchResponse::Batch(responses)
            }
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        let Some(viewer) = self.viewer(session_data.as_deref()) else {
            return futures::stream::once(async { unauthenticated_response() }).boxed();
        };
        let name = request.operation_name.clone();
        let span = ws_operation_span(&self.state.metrics, name.as_deref());
        let (schema, request) = self.prepare(request, viewer.clone(), &span);
        let state = self.state.clone();
        let trace = self.trace_id.clone();
        let open = OpenSubscription::new(&self.state.metrics);
        // Each answer of the operation writes the audit of what it read since the
        // last one: a subscription's customer is recorded when it starts.
        let answers =
            Executor::execute_stream(schema, request, session_data).then(move |response| {
                let (state, viewer, name, trace) =
                    (state.clone(), viewer.clone(), name.clone(), trace.clone());
                let _open = &open;
                async move {
                    let deadline = tokio::time::Instant::now() + state.request_timeout;
                    let reads = viewer.access().drain(name);
                    match audit(&state, &viewer, &reads, &trace, deadline).await {
                        Ok(()) => response,
                        Err(refused) => audit_unavailable_response(refused),
                    }
                }
            });
        in_span(span, answers)
    }
}

/// Polls `stream` inside `span`, so that what it does (resolvers, upstream calls, log
/// lines) is recorded under the operation for as long as the operation lives.
fn in_span<S>(span: tracing::Span, stream: S) -> BoxStream<'static, S::Item>
where
    S: futures::Stream + Send + 'static,
{
    use futures::StreamExt;
    let mut stream = Box::pin(stream);
    futures::stream::poll_fn(move |cx| {
        let _entered = span.enter();
        stream.as_mut().poll_next(cx)
    })
    .boxed()
}

/// `GET /graphql/ws`: subscriptions (and queries and mutations) over WebSocket, in
/// the `graphql-transport-ws` protocol (the older `graphql-ws` is accepted too).
///
/// The bearer token comes in the upgrade request's `Authorization` header or, from
/// browsers (which cannot set it), in `connection_init`'s payload as
/// `{"Authorization": "Bearer <JWT>"}`; a connection without a valid one is closed.
async fn graphql_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let identity = match caller::bearer(&headers) {
        Ok(token) => match caller::identify(&state, token).await {
            Ok(identity) => Some(identity),
            Err(refusal) => return caller::refused(&state, MediaType::Json, refusal),
        },
        Err(_) => None,
    };
    let init_state = state.clone();
    let mut shutting_down = state.shutting_down.clone();
    let authenticated = identity.is_some();
    // Lives as long as the connection, under the upgrade request's span: each
    // operation's span is its child, in the trace the upgrade request carried.
    let connection = tracing::info_span!(
        "graphql.ws.connection",
        otel.kind = "server",
        trace_id = %trace.trace_id,
    );
    let executor = PerOperation {
        state,
        identity,
        peer: Some(peer),
        trace_id: trace.trace_id,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            async move {
                use futures::{SinkExt, StreamExt};
                // The protocol runs over a channel so that, when the hub shuts down, this
                // side still holds the socket to close it properly (1001, going away).
                let (mut socket_tx, socket_rx) = socket.split();
                let (tx, mut rx) =
                    futures::channel::mpsc::channel::<axum::extract::ws::Message>(16);
                let stop = async move {
                    let _ = shutting_down.wait_for(|down| *down).await;
                };
                let input = socket_rx.take_until(Box::pin(stop));
                let forward = async move {
                    while let Some(message) = rx.next().await {
                        if socket_tx.send(message).await.is_err() {
                            return;
                        }
                    }
                    let _ = socket_tx
                        .send(axum::extract::ws::Message::Close(Some(
                            axum::extract::ws::CloseFrame {
                                code: 1001,
                                reason: "the hub is shutting down".into(),
                            },
                        )))
                        .await;
                };
                let serve = GraphQLWebSocket::new_with_pair(tx, input, executor, protocol)
                    .on_connection_init(move |payload| async move {
                        let mut data = Data::default();
                        if authenticated {
                            return Ok(data);
                        }
                        let token = payload
                            .as_object()
                            .and_then(|p| {
                                p.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                                    .map(|(_, v)| v)
                            })
                            .and_then(Value::as_str)
                            .and_then(|v| v.trim().split_once(' '))
                            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                            .map(|(_, token)| token.trim().to_owned())
                            .ok_or_else(|| {
                                async_graphql::Error::new(
                                    "send {\"Authorization\": \"Bearer <JWT>\"} in connection_init",
                                )
                            })?;
                        let identity = caller::identify(&init_state, &token)
                            .await
                            .map_err(|r| async_graphql::Error::new(r.message))?;
                        data.insert(WsSession { identity });
                        Ok(data)
                    })
                    .serve();
                tokio::join!(serve, forward);
            }
            .instrument(connection)
        })
}

/// Why a read was not answered: its access audit could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuditRefused {
    /// The hub is shutting down.
    Closed,
    /// The audit had no room by the request's deadline: its database has not been
    /// taking writes for a while.
    Behind,
}

/// Writes the access audit of one request: a record per customer read, for roles
/// whose reads are audited. Waits while the audit is full, but not past `deadline`:
/// a read that cannot be recorded is not answered faster than it can be, and is
/// refused rather than left hanging while the audit's database is away.
async fn audit(
    state: &AppState,
    viewer: &Viewer,
    summary: &AccessSummary,
    trace_id: &str,
    deadline: tokio::time::Instant,
) -> Result<(), AuditRefused> {
    if !viewer.policy().audited || summary.reads.is_empty() {
        return Ok(());
    }
    let at = chrono::Utc::now();
    let identity = viewer.identity();
    let records = summary
        .reads
        .iter()
        .map(|(cif, revealed)| crate::store::AccessRecord {
            at,
            actor: identity.subject.clone(),
            role: identity.role.clone(),
            branch: identity.branch.clone(),
            customer_id: cif.clone(),
            operation: summary.operation.clone(),
            fields_revealed: revealed.names().into_iter().map(str::to_owned).collect(),
            purpose: viewer.purpose().map(|p| p.as_str().to_owned()),
            client: viewer.client().map(str::to_owned),
            trace_id: trace_id.to_owned(),
        })
        .collect();
    match tokio::time::timeout_at(deadline, state.audit.record(records)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(crate::auth::AuditClosed)) => Err(AuditRefused::Closed),
        Err(_) => {
            state.metrics.audit_refused_reads.inc();
            tracing::warn!("read refused: the access audit had no room by the request's deadline");
            Err(AuditRefused::Behind)
        }
    }
}

impl AuditRefused {
    fn message(self) -> &'static str {
        match self {
            AuditRefused::Closed => {
                "the access audit cannot record this read (the hub is shutting down); try again"
            }
            AuditRefused::Behind => {
                "the access audit cannot record this read in time (its database is not \
                 taking writes); try again later"
            }
        }
    }
}

/// A read that could not be recorded is not answered.
fn audit_unavailable(media: MediaType, refused: AuditRefused) -> Response {
    request_error(
        StatusCode::SERVICE_UNAVAILABLE,
        media,
        "AUDIT_UNAVAILABLE",
        refused.message(),
    )
}

fn audit_unavailable_response(refused: AuditRefused) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new(refused.message(), None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "AUDIT_UNAVAILABLE");
    error.extensions = Some(extensions);
    async_graphql::Response::from_errors(vec![error])
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.connections();
    state
        .metrics
        .db_connections
        .with_label_values(&["open"])
        .set(i64::from(open));
    state
        .metrics
        .db_connections
        .with_label_values(&["idle"])
        .set(idle as i64);
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The media type an answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }

    /// Picks the answer's media type from `Accept`: the client's most preferred of the
    /// two, `application/json` when the header is absent (legacy clients), `None`
    /// when neither is acceptable.
    fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(MediaType::Json);
        };
        let mut best: Option<(f32, u8, MediaType)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .next()
                .unwrap_or(1.0);
            let candidate = match essence.as_str() {
                GRAPHQL_RESPONSE_JSON => Some((2, MediaType::GraphqlResponse)),
                APPLICATION_JSON => Some((1, MediaType::Json)),
                "*/*" | "application/*" => Some((0, MediaType::Json)),
                _ => None,
            };
            if let Some((specificity, media)) = candidate {
                if q > 0.0 && best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specificity > bs))
                {
                    best = Some((q, specificity, media));
                }
            }
        }
        best.map(|(_, _, media)| media)
    }
}

/// A request error answered before execution: a status, a message and a stable code.
fn request_error(
    status: StatusCode,
    media: MediaType,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let body = json!({"errors": [{"message": message.into(), "extensions": {"code": code}}]});
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    response
}

/// A request that is not a well-formed GraphQL-over-HTTP request: 400 whatever the
/// media type (the specification's 200-for-everything applies only to well-formed
/// requests under legacy `application/json`).
fn invalid_request(media: MediaType, message: impl Into<String>) -> Response {
    request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message)
}

fn not_acceptable() -> Response {
    request_error(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        "NOT_ACCEPTABLE",
        "Accept must allow application/graphql-response+json or application/json",
    )
}

async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err(problem) = json_content_type(&headers) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            problem,
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body larger than {} bytes", state.body_limit)
            } else {
                "request body could not be read".to_owned()
            };
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "PAYLOAD_TOO_LARGE"
            } else {
                "BAD_REQUEST"
            };
            return request_error(status, media, code, message);
        }
    };
    if body.is_empty() {
        return invalid_request(media, "request body is empty; send {\"query\": \"…\"}");
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return invalid_request(media, format!("request body is not valid JSON: {e}")),
    };
    let params = match Params::from_json(value) {
        Ok(params) => params,
        Err(problem) => return invalid_request(media, problem),
    };
    let caller =
        match caller::authenticate(&state, &headers, Some(peer), media, trace.trace_id).await {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
    execute(&state, media, params, Method::Post, caller).await
}

async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if state.graphiql && wants_html && !pairs.iter().any(|(k, _)| k == "query") {
        return Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    }
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let params = match Params::from_query(pairs) {
        Ok(params) => params,
        Err(problem) => return invalid_request(media, problem),
    };
    let caller =
        match caller::authenticate(&state, &headers, Some(peer), media, trace.trace_id).await {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
    execute(&state, media, params, Method::Get, caller).await
}

/// `Content-Type` must be `application/json`, in UTF-8 if a charset is given.
fn json_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("Content-Type is missing; send application/json".into());
    };
    let value = value
        .to_str()
        .map_err(|_| "Content-Type is not readable".to_owned())?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != APPLICATION_JSON {
        return Err(format!(
            "Content-Type {essence} is not supported; send application/json"
        ));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset")
                && !charset
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("utf-8")
            {
                return Err("only UTF-8 request bodies are supported".into());
            }
        }
    }
    Ok(())
}

/// The parameters of a GraphQL-over-HTTP request, checked.
struct Params {
    /// Absent when a persisted query's hash stands in for it.
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    extensions: Option<Map<String, Value>>,
}

impl Params {
    fn from_json(value: Value) -> Result<Params, String> {
        let Value::Object(mut body) = value else {
            return Err("request body must be a JSON object with a `query`".into());
        };
        let query = match body.remove("query") {
            Some(Value::String(query)) => Some(query),
            None | Some(Value::Null) => None,
            Some(_) => return Err("`query` must be a string".into()),
        };
        let operation_name = match body.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err("`operationName` must be a string or null".into()),
        };
        let variables = object_param(body.remove("variables"), "variables")?;
        let extensions = object_param(body.remove("extensions"), "extensions")?;
        Ok(Params {
            query,
            operation_name,
            variables,
            extensions,
        })
    }

    fn from_query(pairs: Vec<(String, String)>) -> Result<Params, String> {
        let mut query = None;
        let mut operation_name = None;
        let mut variables = None;
        let mut extensions = None;
        for (key, value) in pairs {
            match key.as_str() {
                "query" => query = Some(value),
                "operationName" if !value.is_empty() => operation_name = Some(value),
                "variables" if !value.is_empty() => {
                    variables = Some(parse_json_param(&value, "variables")?)
                }
                "extensions" if !value.is_empty() => {
                    extensions = Some(parse_json_param(&value, "extensions")?)
                }
                _ => {}
            }
        }
        Ok(Params {
            query,
            operation_name,
            variables: object_param(variables, "variables")?,
            extensions: object_param(extensions, "extensions")?,
        })
    }
}

fn parse_json_param(raw: &str, name: &str) -> Result<Value, String> {
    serde_json::from_str(raw).map_err(|_| format!("`{name}` must be a JSON object"))
}

fn object_param(value: Option<Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("`{name}` must be a JSON object or null")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Checks made on the parsed document before execution: the operation may run over
/// this method, and every required variable is given; `Some` is the refusal. A missing variable is a request
/// error (no `data`), which async-graphql would otherwise report as a field error.
fn preflight(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
    variables: Option<&Map<String, Value>>,
    method: Method,
    media: MediaType,
) -> Option<Response> {
    let operation = match operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))
            .map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    let operation = operation?;
    if method == Method::Get && operation.node.ty != OperationType::Query {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "METHOD_NOT_ALLOWED",
            "mutations and subscriptions are not allowed over GET; use POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Some(response);
    }
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let given = variables
            .and_then(|v| v.get(name))
            .is_some_and(|v| !v.is_null());
        if !definition.var_type.node.nullable && definition.default_value.is_none() && !given {
            let status = match media {
                MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
                MediaType::Json => StatusCode::OK,
            };
            return Some(request_error(
                status,
                media,
                "BAD_USER_INPUT",
                format!(
                    "variable ${name} of type {} is required but was not given",
                    definition.var_type.node
                ),
            ));
        }
    }
    None
}

/// The document of a request: sent, or found by its persisted-query hash.
async fn document(
    state: &AppState,
    media: MediaType,
    params: &mut Params,
    role: &str,
) -> Result<String, Response> {
    let persisted = params
        .extensions
        .as_ref()
        .and_then(|e| e.get("persistedQuery"))
        .and_then(Value::as_object);
    if let Some(allowlist) = state.allowlist.as_ref().filter(|l| l.applies_to(role)) {
        let id = persisted
            .and_then(|p| p.get("sha256Hash"))
            .and_then(Value::as_str);
        return match allowlist.find(id, params.query.as_deref()) {
            Some(document) => Ok(document),
            None => {
                state
                    .metrics
                    .refused
                    .with_label_values(&["not_allowlisted"])
                    .inc();
                Err(request_error(
                    StatusCode::FORBIDDEN,
                    media,
                    "OPERATION_NOT_ALLOWED",
                    "only the operations of the persisted-query manifest may run for this caller",
                ))
            }
        };
    }
    let Some(persisted) = persisted else {
        return params
            .query
            .take()
            .ok_or_else(|| invalid_request(media, "`query` is missing"));
    };
    let hash = persisted
        .get("sha256Hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = persisted.get("version").and_then(Value::as_i64);
    match state
        .persisted
        .resolve(params.query.take(), version, hash)
        .await
    {
        Ok(query) => Ok(query),
        // Apollo clients look for this exact message, then resend with the document.
        Err(PersistedQueryError::NotFound) => Err(request_error(
            StatusCode::OK,
            media,
            "PERSISTED_QUERY_NOT_FOUND",
            "PersistedQueryNotFound",
        )),
        Err(PersistedQueryError::HashMismatch) => Err(invalid_request(
            media,
            "persistedQuery.sha256Hash does not match the query",
        )),
        Err(PersistedQueryError::Invalid(problem)) => Err(invalid_request(media, problem)),
    }
}

fn graphql_body(status: StatusCode, media: MediaType, body: Bytes) -> Response {
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    http
}

/// The text of a response that needs more than async-graphql gives: a request error
/// loses its `data` entry and gets a code, and stale reads are announced in
/// `extensions.warnings`.
fn reshaped(
    response: &async_graphql::Response,
    request_failed: bool,
    warnings: &[crate::cache::StaleWarning],
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
                            .or_insert_with(|| json!("GRAPHQL_VALIDATION_FAILED"));
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

/// Runs a request and records it in the request metrics, per operation name.
async fn execute(
    state: &AppState,
    media: MediaType,
    params: Params,
    method: Method,
    caller: caller::Caller,
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

async fn execute_inner(
    state: &AppState,
    media: MediaType,
    mut params: Params,
    method: Method,
    caller: caller::Caller,
    operation_name: &mut Option<String>,
) -> Response {
    // One deadline for the whole request: execution, then the wait for the audit.
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let viewer = caller.viewer;
    let query = match document(state, media, &mut params, &viewer.identity().role).await {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let response_key = state.responses.as_ref().map(|_| {
        let variables = params
            .variables
            .as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .unwrap_or_default();
        ResponseKey::new(
            &query,
            params.operation_name.as_deref(),
            &variables,
            viewer.cache_key(),
        )
    });
    // Only queries are ever stored, so a hit needs no parsing to know it is one. The
    // caller was authenticated above, the view key carries its scope, and the hit
    // writes the same access audit as the execution it replays.
    if let (Some(responses), Some(key)) = (&state.responses, &response_key) {
        if let Some((body, reads)) = responses.get(key) {
            tracing::Span::current().record("graphql.response_cache", "hit");
            operation_name.clone_from(&reads.operation);
            if let Err(refused) = audit(state, &viewer, &reads, &caller.trace_id, deadline).await {
                return audit_unavailable(media, refused);
            }
            return graphql_body(StatusCode::OK, media, body);
        }
    }
    let mut request = state.documents.prepare(async_graphql::Request::new(query));
    let mut operation = params.operation_name.clone();
    if let Ok(document) = request.parsed_query() {
        if let Some(refused) = preflight(
            document,
            params.operation_name.as_deref(),
            params.variables.as_ref(),
            method,
            media,
        ) {
            return refused;
        }
        let aliases = count_aliases(document);
        if aliases > state.max_aliases {
            state
                .metrics
                .refused
                .with_label_values(&["too_many_aliases"])
                .inc();
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "TOO_MANY_ALIASES",
                format!(
                    "the document uses {aliases} aliases; at most {} are allowed",
                    state.max_aliases
                ),
            );
        }
        if !(state.open_introspection || viewer.may(Capability::Introspect))
            && asks_for_schema(document)
        {
            state
                .metrics
                .refused
                .with_label_values(&["introspection"])
                .inc();
            return request_error(
                StatusCode::FORBIDDEN,
                media,
                "INTROSPECTION_DISABLED",
                "schema introspection (__schema, __type) is off for this caller",
            );
        }
        if operation.is_none() {
            operation = document
                .operations
                .iter()
                .next()
                .and_then(|(name, _)| name.map(|n| n.to_string()));
        }
    }
    operation_name.clone_from(&operation);
    if !(state.open_introspection || viewer.may(Capability::Introspect)) {
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
    // Only documents made of queries are cached: a mutation's answer is never replayed.
    let is_query = request
        .parsed_query()
        .map(|d| {
            d.operations
                .iter()
                .all(|(_, op)| op.node.ty == OperationType::Query)
        })
        .unwrap_or(false);
    let data = RequestData::new(&state.upstreams, viewer.clone());
    data.scope.set_trace(crate::telemetry::TraceContext {
        trace_id: caller.trace_id.clone(),
        span: tracing::Span::current(),
    });
    let scope = data.scope.clone();
    let schema = state
        .schema
        .for_request(&viewer, request.parsed_query().ok());
    let request = data.attach(request);
    let response = match tokio::time::timeout_at(deadline, schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => {
            return request_error(
                StatusCode::GATEWAY_TIMEOUT,
                media,
                "REQUEST_TIMEOUT",
                format!(
                    "the request did not finish within {:?}",
                    state.request_timeout
                ),
            )
        }
    };
    // A request error (parse, validation, variable coercion) has errors without a path
    // and no data: the response then has no `data` entry at all.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if request_failed && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let warnings = scope.warnings();
    let cacheable = !request_failed && is_query && response.errors.is_empty();
    // Most answers go out as async-graphql made them, written straight to text; only
    // a failed request or one with warnings is reshaped first.
    let body = if request_failed || !warnings.is_empty() {
        reshaped(&response, request_failed, &warnings)
    } else {
        serde_json::to_vec(&response).ok()
    };
    let Some(body) = body.map(Bytes::from) else {
        return request_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            media,
            "INTERNAL",
            "response could not be serialized",
        );
    };
    let summary = Arc::new(viewer.access().drain(operation));
    if let Err(refused) = audit(state, &viewer, &summary, &caller.trace_id, deadline).await {
        return audit_unavailable(media, refused);
    }
    if let (true, Some(responses), Some(key)) = (cacheable, &state.responses, response_key) {
        match scope.cacheable(responses.max_ttl()) {
            Some((tags, ttl)) => responses.insert(key, body.clone(), summary, tags, ttl),
            None => state
                .metrics
                .response_cache
                .with_label_values(&["uncacheable"])
                .inc(),
        }
    }
    graphql_body(status, media, body)
}

/// Whether a document asks for `__schema` or `__type` (at the root, where they live,
/// directly or through fragments). `__typename` is not introspection of the schema.
fn asks_for_schema(document: &async_graphql::parser::types::ExecutableDocument) -> bool {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn root(
        set: &SelectionSet,
        document: &async_graphql::parser::types::ExecutableDocument,
        depth: usize,
    ) -> bool {
        depth <= 16
            && set.items.iter().any(|item| match &item.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type")
                }
                Selection::InlineFragment(inline) => {
                    root(&inline.node.selection_set.node, document, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| root(&f.node.selection_set.node, document, depth + 1)),
            })
    }
    document
        .operations
        .iter()
        .any(|(_, op)| root(&op.node.selection_set.node, document, 0))
}

/// Aliased fields in the operations of a document, fragments counted where they are
/// spread (so spreading one aliased fragment a hundred times counts a hundred).
/// Runs before validation, so fragment cycles are cut off by depth.
fn count_aliases(document: &async_graphql::parser::types::ExecutableDocument) -> usize {
    use async_graphql::parser::types::{Selection, SelectionSet};
    const MAX_SPREAD_DEPTH: usize = 16;
    fn walk(
        set: &SelectionSet,
        document: &async_graphql::parser::types::ExecutableDocument,
        depth: usize,
    ) -> usize {
        if depth > MAX_SPREAD_DEPTH {
            return 0;
        }
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some())
                        + walk(&field.node.selection_set.node, document, depth)
                }
                Selection::InlineFragment(inline) => {
                    walk(&inline.node.selection_set.node, document, depth)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map(|f| walk(&f.node.selection_set.node, document, depth + 1))
                    .unwrap_or(0),
            })
            .fold(0usize, usize::saturating_add)
    }
    document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node, document, 0))
        .fold(0usize, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: customer(id: 1) { x: id ...F } b: customer(id: 2) { ...F ...F } } fragment F on Customer { y: name z: name }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 3 + 3 * 2);
        let cyclic = async_graphql::parser::parse_query(
            "query { ...A } fragment A on Query { a: __typename ...A }",
        )
        .unwrap();
        assert!(count_aliases(&cyclic) <= 17, "cycles end");
    }
}
