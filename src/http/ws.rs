//! `GET /graphql/ws`: operations over WebSocket (`graphql-transport-ws`, and the older
//! `graphql-ws`). The connection authenticates once; each operation then runs with
//! its own request data, under its own span, and passes the audit gate with every
//! answer, as an HTTP request does.

use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{BatchRequest, BatchResponse, Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures::stream::BoxStream;
use serde_json::Value;
use tracing::Instrument;

use super::audit::{audit, audit_unavailable_response};
use super::protocol::MediaType;
use super::{caller, trace, AppState};
use crate::auth::{Capability, Identity, Viewer};
use crate::cache::TooDeep;
use crate::errors::{ApiError, ErrorCode};
use crate::graphql::{AppSchema, RequestData};
use crate::metrics::Metrics;

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
    /// The upgrade request's `tracestate`, passed on to the upstreams.
    trace_state: opentelemetry::trace::TraceState,
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
    /// role on it; a document too deep to parse is refused.
    fn prepare(
        &self,
        request: async_graphql::Request,
        viewer: Viewer,
        span: &tracing::Span,
    ) -> Result<(&AppSchema, async_graphql::Request), TooDeep> {
        let mut request = self.state.documents.prepare(request)?;
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
            trace_state: self.trace_state.clone(),
            span: span.clone(),
        });
        Ok((schema, data.attach(request)))
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

fn too_deep_response(too_deep: TooDeep) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![ApiError::new(
        ErrorCode::GraphqlValidationFailed,
        too_deep.to_string(),
    )
    .into_server_error()])
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
        let (schema, request) = match self.prepare(request, viewer.clone(), &span) {
            Ok(prepared) => prepared,
            Err(too_deep) => return too_deep_response(too_deep),
        };
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
        let (schema, request) = match self.prepare(request, viewer.clone(), &span) {
            Ok(prepared) => prepared,
            Err(too_deep) => {
                return futures::stream::once(async move { too_deep_response(too_deep) }).boxed()
            }
        };
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
pub(super) async fn graphql_ws(
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
        trace_state: trace.trace_state,
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
