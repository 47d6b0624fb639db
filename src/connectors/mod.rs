//! Connectors: how the hub reads the four upstream systems.
//!
//! One [`Connector`] trait; one implementation, [`RestConnector`], driven by a spec per
//! system (`connectors/<system>.toml`, see `docs/connectors.md`). Specs are loaded and
//! checked by [`load`] at start and by `c360 check`; every problem names the file, the
//! key and what is wrong. What a connector returns are canonical records ([`Record`]:
//! the field names and value forms of [`crate::domain`]); the typed layer in
//! [`crate::upstream`] reads them into domain values.

mod address;
mod answer;
mod compile;
mod error;
pub mod guard;
mod load;
mod mapping;
mod pool;
mod record;
mod rest;
mod spec;
mod template;
mod transport;
mod tree;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use foldhash::HashMap;
use tracing::Instrument;

pub use compile::{CompiledSpec, Endpoint, SpecError};
pub use error::{ConnectorError, ErrorKind};
pub use load::{embedded_specs, load, SpecErrors};
pub use mapping::MapError;
pub use record::{Member, Record};
pub use rest::RestConnector;

use crate::domain::fields::Entity;
use crate::domain::{Page, System};
use crate::metrics::Metrics;
use crate::telemetry::TraceContext;

/// An endpoint the hub calls. A spec must define each for its system, under this name,
/// with this kind and entity, using only these parameters in its templates.
#[derive(Debug, Clone, Copy)]
pub struct EndpointContract {
    pub system: System,
    pub name: &'static str,
    pub kind: EndpointKind,
    pub entity: Entity,
    /// Parameters the hub passes to a list endpoint (`{name}` in templates).
    pub params: &'static [&'static str],
}

const fn contract(
    system: System,
    name: &'static str,
    kind: EndpointKind,
    entity: Entity,
    params: &'static [&'static str],
) -> EndpointContract {
    EndpointContract {
        system,
        name,
        kind,
        entity,
        params,
    }
}

pub const CONTRACTS: &[EndpointContract] = &[
    contract(
        System::Core,
        "customers",
        EndpointKind::Batch,
        Entity::Customer,
        &[],
    ),
    contract(
        System::Core,
        "customer_search",
        EndpointKind::List,
        Entity::Customer,
        &["id_number", "mobile", "name"],
    ),
    contract(
        System::Core,
        "customer_book",
        EndpointKind::List,
        Entity::Customer,
        &["branch"],
    ),
    contract(
        System::Core,
        "accounts",
        EndpointKind::Batch,
        Entity::Account,
        &[],
    ),
    contract(
        System::Core,
        "transactions",
        EndpointKind::List,
        Entity::Transaction,
        &["account", "from", "to"],
    ),
    contract(
        System::Core,
        "relationships",
        EndpointKind::Batch,
        Entity::Relationship,
        &[],
    ),
    contract(
        System::Core,
        "party",
        EndpointKind::Batch,
        Entity::Party,
        &[],
    ),
    contract(
        System::Core,
        "activity",
        EndpointKind::Batch,
        Entity::Activity,
        &[],
    ),
    contract(
        System::Cards,
        "cards",
        EndpointKind::Batch,
        Entity::Card,
        &[],
    ),
    contract(
        System::Loans,
        "loans",
        EndpointKind::Batch,
        Entity::Loan,
        &[],
    ),
    contract(
        System::Channels,
        "online_users",
        EndpointKind::Batch,
        Entity::OnlineUser,
        &[],
    ),
    contract(
        System::Channels,
        "login_events",
        EndpointKind::List,
        Entity::LoginEvent,
        &["user_id"],
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// Takes a set of keys (`{keys}`), answers items that each carry their key.
    Batch,
    /// Takes named parameters and answers one page.
    List,
}

/// A page request: at most `limit` items, starting at `key` (the upstream's own opaque
/// next-page key) or at the first page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub key: Option<String>,
}

/// What a batch call answered, per key.
pub type BatchResult = HashMap<String, Result<Vec<Record>, ConnectorError>>;

/// Named parameters for list endpoints (`{account}`, `{id_number?}`).
pub type Params = BTreeMap<String, String>;

/// One upstream system, seen through its spec.
/// How long what an endpoint answers stays fresh, and how long past that it may still
/// be served when the system fails: what its spec declares (`cache = { ttl, stale }`).
/// The connectors only carry it; `upstream` hands it to the cache as its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub ttl: std::time::Duration,
    pub stale: std::time::Duration,
}

impl Freshness {
    /// Not cached at all.
    pub const NONE: Freshness = Freshness {
        ttl: std::time::Duration::ZERO,
        stale: std::time::Duration::ZERO,
    };
}

#[async_trait]
pub trait Connector: Send + Sync {
    fn system(&self) -> System;

    /// The circuit breaker's state toward the system.
    fn circuit(&self) -> guard::BreakerState {
        guard::BreakerState::Closed
    }

    /// How long the hub may cache what `endpoint` answers.
    fn freshness(&self, endpoint: &str) -> Freshness;

    /// Items of `endpoint` for each key, grouped by key. Keys the upstream does not know
    /// are absent from the map; a key whose items the hub cannot read has its own
    /// error, so one malformed record does not fail its neighbours in the batch. Large
    /// key sets are split into the system's batch size and called concurrently.
    async fn batch(&self, endpoint: &str, keys: &[String]) -> Result<BatchResult, ConnectorError>;

    /// One page of `endpoint` with `params`.
    async fn list(
        &self,
        endpoint: &str,
        params: &Params,
        page: PageRequest,
    ) -> Result<Page<Record>, ConnectorError>;
}

tokio::task_local! {
    /// The trace an upstream call is made for: calls go through the cache's single
    /// flight and the request's loaders, so it travels with the call's future rather
    /// than through every signature.
    static TRACE: TraceContext;
}

/// Runs `call` within `trace`: inside `trace.span` (the call may run on another task
/// than the request, e.g. a loader's), its upstream calls as spans under it, carrying
/// the trace id to the upstreams.
pub async fn with_trace<F: std::future::Future>(trace: Option<TraceContext>, call: F) -> F::Output {
    match trace {
        Some(trace) => {
            let span = trace.span.clone();
            TRACE.scope(trace, call.instrument(span)).await
        }
        None => call.await,
    }
}

/// The trace of the call being made, if it was made [`with_trace`].
fn current_trace() -> Option<TraceContext> {
    TRACE.try_with(Clone::clone).ok()
}

/// The four connectors, one per system.
#[derive(Clone)]
pub struct Connectors {
    by_system: HashMap<System, Arc<dyn Connector>>,
}

impl Connectors {
    pub fn new(connectors: impl IntoIterator<Item = Arc<dyn Connector>>) -> Connectors {
        Connectors {
            by_system: connectors.into_iter().map(|c| (c.system(), c)).collect(),
        }
    }

    /// Builds REST connectors from compiled specs, counting into `metrics`.
    pub fn from_specs(
        specs: Vec<CompiledSpec>,
        metrics: &Arc<Metrics>,
    ) -> Result<Connectors, ConnectorError> {
        let proxies = hyper_util::client::proxy::matcher::Matcher::from_env();
        let connectors = specs
            .into_iter()
            .map(|spec| {
                RestConnector::with_proxies(spec, metrics.clone(), &proxies)
                    .map(|c| Arc::new(c) as Arc<dyn Connector>)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Connectors::new(connectors))
    }

    pub fn get(&self, system: System) -> &Arc<dyn Connector> {
        self.by_system
            .get(&system)
            .expect("load() guarantees a connector for every system")
    }
}
