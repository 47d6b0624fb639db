//! The hub's HTTP surface: `/graphql` (GraphQL over HTTP, done to the specification),
//! `/graphql/ws` (subscriptions over WebSocket, `graphql-transport-ws`), `/healthz`,
//! `/readyz`, `/metrics`, `POST /events`, `GET /export` and the console on `/console`.
//!
//! # Layout
//! - `state`: [`AppState`], what every handler shares.
//! - `endpoint`: the `GET` and `POST /graphql` handlers.
//! - `protocol`: GraphQL over HTTP: media negotiation, request parameters, request
//!   errors, the checks made before a document runs.
//! - `caller`: who is calling: token, role, purpose.
//! - `pipeline`: the stages every operation takes, HTTP or WebSocket: admission
//!   (token still valid, rate limits), document, response tier, document checks,
//!   execution under the deadline, audit gate.
//! - `persisted`: the document an operation runs: sent, persisted or allowlisted.
//! - `execute`: the HTTP framing of the pipeline, and the request metrics.
//! - `limits`: what a document may ask (aliases, introspection), read before it runs.
//! - `audit`: the audit gate every staff read passes before it is answered.
//! - `cache_status`: `Cache-Status` and `Age`, which cache served an answer.
//! - `ws`: the WebSocket framing of the pipeline: one session per connection, ended
//!   with its token.
//! - `health`: `/healthz`, `/readyz` and `/metrics`.
//! - `events`: `POST /events`, upstream change notifications.
//! - `export`: `GET /export`, the BI snapshot as CSV or Parquet, streamed.
//! - `console`: the front-office console and the GraphiQL page, built into the binary.
//! - `trace`: the span of each HTTP request.
//!
//! In front of execution sits the response tier: an identical operation from the same
//! caller view is answered from memory without parsing anything. Automatic persisted
//! queries (Apollo's protocol) let clients send a document's hash instead of the
//! document.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

mod audit;
mod cache_status;
mod caller;
mod console;
mod endpoint;
mod events;
mod execute;
mod export;
mod health;
mod limits;
mod persisted;
mod pipeline;
mod protocol;
mod replay;
mod state;
mod trace;
mod ws;

pub use caller::PURPOSE_HEADER;
pub use console::ConsoleSite;
pub use events::SeenEvents;
pub use state::{AppState, Shared};

/// Every route of the hub, for [`crate::App`] to serve and for a test to call without
/// a socket.
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    let mut router = Router::new();
    if let Some(site) = &state.console {
        router = router
            .route("/console/{*path}", get(console::file))
            .route("/console/config.json", get(console::config));
        if site.serves_console() {
            router = router
                .route("/console", get(console::page))
                .route("/console/", get(console::page));
            if site.leads_from_root() {
                router = router.route("/", get(console::root));
            }
        }
    }
    router
        .route(
            "/graphql",
            get(endpoint::graphql_get).post(endpoint::graphql_post),
        )
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/events", post(events::receive))
        .route("/export", get(export::export))
        // A route layer, so that the span knows the matched route pattern.
        .route_layer(axum::middleware::from_fn(trace::request_span))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
