//! `GET /graphql/ws`: operations over WebSocket (`graphql-transport-ws`, and the older
//! `graphql-ws`). The connection authenticates once, from the upgrade request's
//! `Authorization` header or `connection_init`'s payload; each operation then takes
//! the stages of [`super::pipeline`] as an HTTP request does (admission with the rate
//! limits, allowlist, document checks, deadline, field policy and masking, audit
//! gate), with its own request data and span. This module only frames: a refusal is
//! a `next` message carrying the same error and `extensions.code` as over HTTP.
//!
//! The connection itself is bounded as an HTTP request is: no message may be larger
//! than the body limit (the socket closes with 1009), and the session ends when its
//! token expires (the socket closes with 4403; operations sent before the close
//! arrives are refused as `UNAUTHENTICATED`).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use futures::stream::BoxStream;
use serde_json::Value;
use tracing::Instrument;

use super::audit::{audit_unavailable_response, AuditRefused};
use super::cache_status::CacheStatus;
use super::caller::Session;
use super::pipeline::{Framing, Operation, Refusal};
use super::protocol::{MediaType, Method, Params};
use super::{caller, trace, AppState};
use crate::cache::StaleWarning;
use crate::errors::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// Runs each operation of a WebSocket connection through the pipeline, with its own
/// request data: loaders never outlive one operation, so nothing read for one is
/// served to another.
#[derive(Clone)]
struct PerOperation {
    state: AppState,
    /// The session of the upgrade request's header; otherwise the one
    /// `connection_init` established, in the session data.
    session: Option<Session>,
}

/// The close code of a session whose token expired (`graphql-transport-ws`'s
/// Forbidden): the client must authenticate again, on a new connection.
const TOKEN_EXPIRED: u16 = 4403;

/// The close code of a message over the size limit (RFC 6455's "message too big").
const MESSAGE_TOO_BIG: u16 = 1009;

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
struct WsSession(Session);

impl PerOperation {
    /// The connection's session; `None` when it never authenticated.
    fn session(&self, data: Option<&Data>) -> Option<Session> {
        self.session.clone().or_else(|| {
            data.and_then(|d| d.get(&std::any::TypeId::of::<WsSession>()))
                .and_then(|b| b.downcast_ref::<WsSession>())
                .map(|s| s.0.clone())
        })
    }

    /// One operation of the connection, through the pipeline: its stream of answers
    /// (one for a query or mutation, one per event for a subscription).
    async fn operation(
        self,
        request: async_graphql::Request,
        data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        let Some(session) = self.session(data.as_deref()) else {
            return futures::stream::once(async { unauthenticated_response() }).boxed();
        };
        let span = ws_operation_span(&self.state.metrics, request.operation_name.as_deref());
        let state = self.state.clone();
        let answers = async move {
            let params = match params_of(&request) {
                Ok(params) => params,
                Err(refused) => {
                    return futures::stream::once(async { refused.into_response() }).boxed()
                }
            };
            match Operation::admit(&state, &session) {
                Ok(operation) => operation.stream(params, WebSocket, data).await,
                Err(refused) => futures::stream::once(async { refused.into_response() }).boxed(),
            }
        }
        .instrument(span.clone())
        .await;
        let open = OpenSubscription::new(&self.state.metrics);
        in_span(
            span,
            answers.map(move |answer| {
                let _open = &open;
                answer
            }),
        )
    }
}

/// The parameters of an operation sent over WebSocket, read by the same rules as a
/// POST body's: `subscribe`'s payload has the same fields.
fn params_of(request: &async_graphql::Request) -> Result<Params, Refusal> {
    let mut value = serde_json::to_value(request)
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the operation could not be read"))?;
    // async-graphql reads an absent `query` as an empty one; a persisted query's hash
    // stands in for it then.
    if value.get("query").and_then(Value::as_str) == Some("") {
        if let Some(object) = value.as_object_mut() {
            object.remove("query");
        }
    }
    Params::from_json(value).map_err(|problem| ApiError::new(ErrorCode::BadRequest, problem).into())
}

/// `graphql-transport-ws` framing: every answer, refusals included, is a GraphQL
/// response that async-graphql sends as a `next` message.
struct WebSocket;

impl Framing for WebSocket {
    type Answer = async_graphql::Response;

    fn method(&self) -> Option<Method> {
        None
    }

    fn media(&self) -> MediaType {
        MediaType::GraphqlResponse
    }

    fn refused(&self, refusal: Refusal) -> async_graphql::Response {
        refusal.into_response()
    }

    fn unaudited(&self, refused: AuditRefused) -> async_graphql::Response {
        audit_unavailable_response(refused)
    }

    fn replayed(&self, body: Bytes) -> Result<async_graphql::Response, Refusal> {
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(ErrorCode::Internal, "a stored answer could not be read").into()
        })
    }

    /// A `graphql-transport-ws` message has no headers: over WebSocket, only
    /// `sources` in the answer says where its data came from.
    fn labelled(
        &self,
        answer: async_graphql::Response,
        _status: &CacheStatus,
    ) -> async_graphql::Response {
        answer
    }

    fn written(
        &self,
        response: async_graphql::Response,
        _warnings: &[StaleWarning],
        _request_failed: bool,
        cacheable: bool,
    ) -> Result<(async_graphql::Response, Option<Bytes>), Refusal> {
        let text = if cacheable {
            Some(Bytes::from(serde_json::to_vec(&response).map_err(
                |_| ApiError::new(ErrorCode::Internal, "response could not be serialized"),
            )?))
        } else {
            None
        };
        Ok((response, text))
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
    Refusal::from(ApiError::new(
        ErrorCode::Unauthenticated,
        "not authenticated: send the bearer token in connection_init's payload",
    ))
    .into_response()
}

impl Executor for PerOperation {
    /// async-graphql's WebSocket protocol runs every operation as a stream; this is
    /// its first answer.
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        use futures::StreamExt;
        let mut answers = self.clone().operation(request, None).await;
        answers.next().await.unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        let this = self.clone();
        futures::stream::once(this.operation(request, session_data))
            .flatten()
            .boxed()
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
/// `{"Authorization": "Bearer <JWT>"}`; a connection without a valid one is closed,
/// and so is one whose token expires. The purpose of its reads comes the same way:
/// the `X-C360-Purpose` header, or that key in the payload.
pub(super) async fn graphql_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header_purpose = headers
        .get(caller::PURPOSE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let purpose = match caller::stated_purpose(header_purpose) {
        Ok(purpose) => purpose,
        Err(problem) => {
            return super::protocol::request_error(
                MediaType::Json,
                ApiError::new(ErrorCode::BadRequest, problem),
            )
        }
    };
    let session = match caller::bearer(&headers) {
        Ok(token) => match caller::identify(&state, token).await {
            Ok((identity, expires)) => Some(Session {
                identity,
                expires,
                purpose,
                peer: Some(peer),
                trace_id: trace.trace_id.clone(),
                trace_state: trace.trace_state.clone(),
            }),
            Err(refusal) => return caller::refused(&state, MediaType::Json, refusal),
        },
        Err(_) => None,
    };
    let init_state = state.clone();
    let shutting_down = state.shutting_down.clone();
    let limit = state.body_limit;
    // When the session's token expires: known now from the header, or once
    // `connection_init` has authenticated.
    let (expiry_tx, expiry_rx) = tokio::sync::oneshot::channel::<SystemTime>();
    let expiry_tx = match &session {
        Some(session) => {
            let _ = expiry_tx.send(session.expires);
            None
        }
        None => Some(expiry_tx),
    };
    let authenticated = session.is_some();
    // Lives as long as the connection, under the upgrade request's span: each
    // operation's span is its child, in the trace the upgrade request carried.
    let connection = tracing::info_span!(
        "graphql.ws.connection",
        otel.kind = "server",
        trace_id = %trace.trace_id,
    );
    let executor = PerOperation { state, session };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            async move {
                use futures::{SinkExt, StreamExt};
                // The protocol runs over a channel so that this side still holds the
                // socket to close it with a reason of its own: the hub shutting down
                // (1001), the token expired, a message too big.
                let (mut socket_tx, socket_rx) = socket.split();
                let (tx, mut rx) = futures::channel::mpsc::channel::<Message>(16);
                let ending: Arc<Mutex<Option<CloseFrame>>> = Arc::default();
                let end = {
                    let ending = ending.clone();
                    move |code: u16, reason: String| {
                        let mut ending = ending.lock().unwrap_or_else(|e| e.into_inner());
                        ending.get_or_insert(CloseFrame {
                            code,
                            reason: reason.into(),
                        });
                    }
                };
                let stop = {
                    let end = end.clone();
                    let mut shutting_down = shutting_down;
                    async move {
                        tokio::select! {
                            _ = shutting_down.wait_for(|down| *down) => {
                                end(1001, "the hub is shutting down".into());
                            }
                            _ = until_expired(expiry_rx) => {
                                end(TOKEN_EXPIRED, "Forbidden: the token expired; authenticate again".into());
                            }
                        }
                    }
                };
                let input = socket_rx
                    .inspect({
                        let end = end.clone();
                        move |message| {
                            if let Err(error) = message {
                                if is_too_big(error) {
                                    end(
                                        MESSAGE_TOO_BIG,
                                        format!("PAYLOAD_TOO_LARGE: messages are limited to {limit} bytes"),
                                    );
                                }
                            }
                        }
                    })
                    .take_until(Box::pin(stop));
                let forward = async move {
                    while let Some(message) = rx.next().await {
                        if socket_tx.send(message).await.is_err() {
                            return;
                        }
                    }
                    let frame = ending.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(frame) = frame {
                        let _ = socket_tx.send(Message::Close(Some(frame))).await;
                    }
                };
                let serve = GraphQLWebSocket::new_with_pair(tx, input, executor, protocol)
                    .on_connection_init(move |payload| async move {
                        let mut data = Data::default();
                        if authenticated {
                            return Ok(data);
                        }
                        let entry = |name: &str| {
                            payload.as_object().and_then(|p| {
                                p.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                                    .map(|(_, v)| v)
                            })
                        };
                        // A browser cannot set headers on a WebSocket: the purpose
                        // comes with the token, under the header's name.
                        let purpose = match entry(caller::PURPOSE_HEADER) {
                            None => purpose,
                            Some(value) => {
                                caller::stated_purpose(Some(value.as_str().unwrap_or("")))
                                    .map_err(async_graphql::Error::new)?
                            }
                        };
                        let token = entry("authorization")
                            .and_then(Value::as_str)
                            .and_then(|v| v.trim().split_once(' '))
                            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                            .map(|(_, token)| token.trim().to_owned())
                            .ok_or_else(|| {
                                async_graphql::Error::new(
                                    "send {\"Authorization\": \"Bearer <JWT>\"} in connection_init",
                                )
                            })?;
                        let (identity, expires) = caller::identify(&init_state, &token)
                            .await
                            .map_err(|r| async_graphql::Error::new(r.message))?;
                        if let Some(tx) = expiry_tx {
                            let _ = tx.send(expires);
                        }
                        data.insert(WsSession(Session {
                            identity,
                            expires,
                            purpose,
                            peer: Some(peer),
                            trace_id: trace.trace_id,
                            trace_state: trace.trace_state,
                        }));
                        Ok(data)
                    })
                    .serve();
                tokio::join!(serve, forward);
            }
            .instrument(connection)
        })
}

/// Waits until the session's token expires; forever when the connection never
/// authenticates (async-graphql closes it then).
async fn until_expired(expiry: tokio::sync::oneshot::Receiver<SystemTime>) {
    match expiry.await {
        Ok(at) => {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(left).await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Whether a read failed because a message or frame was over the size limit.
/// axum does not expose the WebSocket library's error type, so its message is read.
fn is_too_big(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded")
}
