//! What every handler of the hub's HTTP surface shares: [`AppState`], built once by
//! the library's start-up from the configuration and cloned by axum into each request.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::allowlist::Allowlist;
use crate::auth::limits::RateLimits;
use crate::auth::{AccessSummary, AuditWriter, Deidentify, LivePolicies, Verifier};
use crate::cache::{ParsedDocuments, PersistedQueries, RedisTier, ResponseCache};
use crate::graphql::AppSchemas;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::upstream::Upstreams;

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
    /// This hub's metrics, which `GET /metrics` renders.
    pub metrics: Arc<Metrics>,
    pub schema: AppSchemas,
    pub upstreams: Upstreams,
    /// The response tier; `None` when turned off.
    pub responses: Option<Arc<ResponseCache<AccessSummary>>>,
    pub persisted: Arc<PersistedQueries>,
    /// Documents parsed before, by their text.
    pub documents: Arc<ParsedDocuments>,
    pub redis: Option<Arc<RedisTier>>,
    /// Shared secret of `POST /events`; `None` refuses every event.
    pub events_secret: Option<Arc<str>>,
    /// The window of `POST /events` and the event ids received within it.
    pub events_seen: Arc<super::SeenEvents>,
    /// Applies validated change events (as the broker feed does).
    pub changes: Arc<crate::feed::Changes>,
    /// The hub's database, for `/readyz`.
    pub store: Store,
    /// Carries invalidations and change notices to every instance.
    pub bus: crate::bus::Bus,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub graphiql: bool,
    /// The console and GraphiQL's files; `None` when neither is served.
    pub console: Option<Arc<super::ConsoleSite>>,
    /// Connector files the hub runs with, for `/readyz`.
    pub connector_files: Arc<Vec<String>>,
    /// Checks bearer tokens.
    pub verifier: Verifier,
    pub policies: LivePolicies,
    /// Pseudonym key, amount bands and `k`, for roles the policies mark pseudonymous.
    pub deidentify: Arc<Deidentify>,
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
}
