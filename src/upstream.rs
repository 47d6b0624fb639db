//! Typed reads of the four systems, through the cache tiers.
//!
//! Resolvers and loaders call this, never a connector directly. Each read goes
//! through [`EntityCache`] (L1 → L2 → one upstream call per key across concurrent
//! requests), reads the connectors' canonical records into domain values, names the
//! records it contains (tags, for invalidation) and records them in the request's
//! [`RequestScope`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::cache::{
    joined, short_hash, CachePolicy, EntityCache, FetchError, Fetched, RequestScope, TagFn,
};
use crate::connectors::{
    Connector, ConnectorError, Connectors, ErrorKind, Freshness, PageRequest, Params, Record,
};
use crate::domain::{
    Account, Activity, Card, Cif, Customer, Loan, LoginEvent, OnlineUser, Page, PartyMembers,
    Relationship, System, Transaction,
};

/// The cache's policy for what a connector's spec declares fresh.
fn cache_policy(freshness: Freshness) -> CachePolicy {
    CachePolicy {
        ttl: freshness.ttl,
        stale: freshness.stale,
    }
}

/// The entity cache is generic over its fetch error; the connectors' is the one it
/// carries here.
impl FetchError for ConnectorError {
    fn abandoned(system: System, endpoint: &str) -> Self {
        ConnectorError::new(
            system,
            endpoint,
            ErrorKind::Unavailable,
            "the upstream call was abandoned",
        )
    }

    fn code(&self) -> &'static str {
        self.kind.code().as_str()
    }
}

/// Per customer: the items one system holds, or why they could not be read.
pub type PerKey<T> = HashMap<Cif, Result<Fetched<Vec<T>>, ConnectorError>>;

/// What the hub asks core banking when searching. The first given of `id_number`,
/// `mobile`, `name` is sent upstream; the others filter the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSearch {
    pub id_number: Option<String>,
    pub mobile: Option<String>,
    pub name: Option<String>,
}

impl CustomerSearch {
    pub fn matches(&self, customer: &Customer) -> bool {
        self.id_number
            .as_ref()
            .is_none_or(|n| customer.id_document.number.eq_ignore_ascii_case(n))
            && self
                .mobile
                .as_ref()
                .is_none_or(|m| customer.mobile.as_deref() == Some(m.as_str()))
            && self
                .name
                .as_ref()
                .is_none_or(|n| customer.name.starts_with(n.as_str()))
    }

    /// The criterion sent upstream: exact identifiers narrow best.
    fn upstream_params(&self) -> Params {
        let mut params = Params::new();
        if let Some(id_number) = &self.id_number {
            params.insert("id_number".into(), id_number.clone());
        } else if let Some(mobile) = &self.mobile {
            params.insert("mobile".into(), mobile.clone());
        } else if let Some(name) = &self.name {
            params.insert("name".into(), name.clone());
        }
        params
    }
}

/// A period of transactions; either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Upstreams {
    /// Swapped as a whole when the connector files are reloaded (SIGHUP); calls in
    /// flight finish on the connectors they started with.
    connectors: Arc<std::sync::RwLock<Arc<Connectors>>>,
    cache: Arc<EntityCache>,
}

/// Tags of the per-customer lists: the customer in that system, and each record.
fn per_customer<T: 'static>(
    system: System,
    record: &'static str,
    id: fn(&T) -> &str,
) -> TagFn<Vec<T>> {
    Arc::new(move |cif: &str, items: &Vec<T>| {
        let mut tags = Vec::with_capacity(items.len() + 1);
        tags.push(joined(&[system.as_str(), ":customer:", cif]));
        tags.extend(
            items
                .iter()
                .map(|item| joined(&[system.as_str(), ":", record, ":", id(item)])),
        );
        tags
    })
}

/// Tags of per-customer core data that has no record id of its own: the customer,
/// and `core:<entity>:<cif>` for change events about just that data.
fn of_customer<T: 'static>(entity: &'static str) -> TagFn<Vec<T>> {
    Arc::new(move |cif: &str, _: &Vec<T>| {
        vec![
            format!("core:customer:{cif}"),
            format!("core:{entity}:{cif}"),
        ]
    })
}

impl Upstreams {
    /// Each system's circuit breaker state, for `/readyz`.
    pub fn circuits(&self) -> Vec<(System, crate::connectors::guard::BreakerState)> {
        System::ALL
            .iter()
            .map(|s| (*s, self.connector(*s).circuit()))
            .collect()
    }

    pub fn new(connectors: Connectors, cache: Arc<EntityCache>) -> Upstreams {
        Upstreams {
            connectors: Arc::new(std::sync::RwLock::new(Arc::new(connectors))),
            cache,
        }
    }

    /// The same connectors (their rate limits, bulkheads and breakers, and later
    /// reloads) read through another cache: the snapshot's sweep reads the systems
    /// themselves rather than evict the front office's hot set.
    pub fn with_cache(&self, cache: Arc<EntityCache>) -> Upstreams {
        Upstreams {
            connectors: self.connectors.clone(),
            cache,
        }
    }

    /// Puts reloaded connectors in place for every call that starts from now on.
    pub fn replace_connectors(&self, connectors: Connectors) {
        *self.connectors.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(connectors);
    }

    fn connector(&self, system: System) -> Arc<dyn Connector> {
        self.connectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(system)
            .clone()
    }

    pub fn cache(&self) -> &Arc<EntityCache> {
        &self.cache
    }

    pub async fn customers(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Customer> {
        let tags: TagFn<Vec<Customer>> =
            Arc::new(|cif: &str, _: &Vec<Customer>| vec![format!("core:customer:{cif}")]);
        self.batch(System::Core, "customers", cifs, tags, scope)
            .await
    }

    pub async fn accounts(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Account> {
        let tags = per_customer(System::Core, "account", |a: &Account| a.number.as_str());
        self.batch(System::Core, "accounts", cifs, tags, scope)
            .await
    }

    /// Each customer's relationships, seen from that customer. Tagged with the
    /// customer, so a change event for either the customer or its relationships
    /// refreshes them.
    pub async fn relationships(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Relationship> {
        self.batch(
            System::Core,
            "relationships",
            cifs,
            of_customer("relationship"),
            scope,
        )
        .await
    }

    /// The CIFs core believes are the same person as each customer. Also tagged with
    /// every member: re-verifying one member's ID number changes the whole party.
    pub async fn party_members(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<PartyMembers> {
        let tags: TagFn<Vec<PartyMembers>> = Arc::new(|cif: &str, parties: &Vec<PartyMembers>| {
            let mut tags = vec![format!("core:customer:{cif}"), format!("core:party:{cif}")];
            tags.extend(
                parties
                    .iter()
                    .flat_map(|p| &p.members)
                    .filter(|member| member.as_str() != cif)
                    .map(|member| format!("core:customer:{member}")),
            );
            tags
        });
        self.batch(System::Core, "party", cifs, tags, scope).await
    }

    /// Each customer's twelve-month activity aggregates (at most one per customer).
    pub async fn activity(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Activity> {
        self.batch(
            System::Core,
            "activity",
            cifs,
            of_customer("activity"),
            scope,
        )
        .await
    }

    pub async fn cards(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Card> {
        let tags = per_customer(System::Cards, "card", |c: &Card| c.id.as_str());
        self.batch(System::Cards, "cards", cifs, tags, scope).await
    }

    pub async fn loans(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<Loan> {
        let tags = per_customer(System::Loans, "loan", |l: &Loan| l.id.as_str());
        self.batch(System::Loans, "loans", cifs, tags, scope).await
    }

    pub async fn online_users(&self, cifs: &[Cif], scope: &RequestScope) -> PerKey<OnlineUser> {
        let tags = per_customer(System::Channels, "online_user", |u: &OnlineUser| {
            u.user_id.as_str()
        });
        self.batch(System::Channels, "online_users", cifs, tags, scope)
            .await
    }

    pub async fn search_customers(
        &self,
        search: &CustomerSearch,
        page: PageRequest,
        scope: &RequestScope,
    ) -> Result<Page<Customer>, ConnectorError> {
        let tags: TagFn<Page<Customer>> = Arc::new(|_: &str, page: &Page<Customer>| {
            page.items
                .iter()
                .map(|c| format!("core:customer:{}", c.id))
                .collect()
        });
        let found = self
            .list(
                System::Core,
                "customer_search",
                search.upstream_params(),
                page,
                tags,
                scope,
            )
            .await?;
        let mut found = (*found).clone();
        found.items.retain(|c| search.matches(c));
        Ok(found)
    }

    /// One page of the whole book (one branch's with `branch`), in CIF order.
    pub async fn customer_book(
        &self,
        branch: Option<&str>,
        page: PageRequest,
        scope: &RequestScope,
    ) -> Result<Arc<Page<Customer>>, ConnectorError> {
        let tags: TagFn<Page<Customer>> = Arc::new(|_: &str, page: &Page<Customer>| {
            page.items
                .iter()
                .map(|c| format!("core:customer:{}", c.id))
                .collect()
        });
        let mut params = Params::new();
        if let Some(branch) = branch {
            params.insert("branch".into(), branch.to_owned());
        }
        self.list(System::Core, "customer_book", params, page, tags, scope)
            .await
    }

    pub async fn transactions(
        &self,
        account: &str,
        period: Period,
        page: PageRequest,
        scope: &RequestScope,
    ) -> Result<Arc<Page<Transaction>>, ConnectorError> {
        let mut params = Params::new();
        params.insert("account".into(), account.to_owned());
        let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(from) = period.from {
            params.insert("from".into(), format(from));
        }
        if let Some(to) = period.to {
            params.insert("to".into(), format(to));
        }
        let tag = format!("core:account:{account}");
        let tags: TagFn<Page<Transaction>> =
            Arc::new(move |_: &str, _: &Page<Transaction>| vec![tag.clone()]);
        self.list(System::Core, "transactions", params, page, tags, scope)
            .await
    }

    pub async fn login_events(
        &self,
        user_id: &str,
        page: PageRequest,
        scope: &RequestScope,
    ) -> Result<Arc<Page<LoginEvent>>, ConnectorError> {
        let mut params = Params::new();
        params.insert("user_id".into(), user_id.to_owned());
        let tag = format!("channels:online_user:{user_id}");
        let tags: TagFn<Page<LoginEvent>> =
            Arc::new(move |_: &str, _: &Page<LoginEvent>| vec![tag.clone()]);
        self.list(System::Channels, "login_events", params, page, tags, scope)
            .await
    }

    /// One customer's `endpoint` records when the in-process tier holds them fresh
    /// (see [`EntityCache::fresh_in_memory`]), recorded in `scope` as a read through
    /// [`Upstreams::batch`] would be.
    pub fn cached<T>(
        &self,
        system: System,
        endpoint: &'static str,
        cif: &Cif,
        scope: &RequestScope,
    ) -> Option<Fetched<Vec<T>>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let policy = cache_policy(self.connector(system).freshness(endpoint));
        let fetched =
            self.cache
                .fresh_in_memory::<Vec<T>>(system, endpoint, policy, cif.as_str())?;
        scope.read(&fetched, system);
        Some(fetched)
    }

    async fn batch<T>(
        &self,
        system: System,
        endpoint: &'static str,
        cifs: &[Cif],
        tags: TagFn<Vec<T>>,
        scope: &RequestScope,
    ) -> PerKey<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let connector: Arc<dyn Connector> = self.connector(system);
        let policy = cache_policy(connector.freshness(endpoint));
        let mut keys: Vec<String> = cifs.iter().map(|c| c.as_str().to_owned()).collect();
        keys.sort();
        keys.dedup();
        let (trace, group) = load_span(scope, system, endpoint, keys.len());
        let answer = self
            .cache
            .read(
                system,
                endpoint,
                policy,
                &keys,
                tags,
                move |keys: Vec<String>| async move {
                    let mut answer =
                        crate::connectors::with_trace(trace, connector.batch(endpoint, &keys))
                            .await?;
                    Ok(keys
                        .into_iter()
                        .map(|key| {
                            // A key the upstream does not know holds nothing (and is cached
                            // as such, so repeated lookups of it spare the upstream).
                            let items = match answer.remove(&key) {
                                Some(Ok(items)) => items
                                    .into_iter()
                                    .map(|item| typed::<T>(system, endpoint, item))
                                    .collect::<Result<Vec<T>, _>>(),
                                Some(Err(error)) => Err(error),
                                None => Ok(Vec::new()),
                            };
                            (key, items)
                        })
                        .collect())
                },
            )
            .instrument(group)
            .await;
        answer
            .into_iter()
            .filter_map(|(key, result)| {
                record(scope, system, &result);
                Some((Cif::parse(&key).ok()?, result))
            })
            .collect()
    }

    async fn list<T>(
        &self,
        system: System,
        endpoint: &'static str,
        params: Params,
        page: PageRequest,
        tags: TagFn<Page<T>>,
        scope: &RequestScope,
    ) -> Result<Arc<Page<T>>, ConnectorError>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let connector: Arc<dyn Connector> = self.connector(system);
        let policy = cache_policy(connector.freshness(endpoint));
        // Parameters may be personal (an ID number, an account): the key is a hash.
        let key = short_hash(&format!("{params:?}|{}|{:?}", page.limit, page.key));
        let (trace, group) = load_span(scope, system, endpoint, 1);
        let mut answer = self
            .cache
            .read(
                system,
                endpoint,
                policy,
                std::slice::from_ref(&key),
                tags,
                move |keys: Vec<String>| async move {
                    let found = crate::connectors::with_trace(
                        trace,
                        connector.list(endpoint, &params, page),
                    )
                    .await?;
                    let items = found
                        .items
                        .into_iter()
                        .map(|item| typed::<T>(system, endpoint, item))
                        .collect::<Result<Vec<T>, _>>()
                        .map(|items| Page {
                            items,
                            next_page_key: found.next_page_key,
                            total: found.total,
                        });
                    let mut answer = HashMap::new();
                    if let Some(key) = keys.into_iter().next() {
                        answer.insert(key, items);
                    }
                    Ok(answer)
                },
            )
            .instrument(group)
            .await;
        let result = answer.remove(&key).unwrap_or_else(|| {
            Err(ConnectorError::new(
                system,
                endpoint,
                ErrorKind::Unavailable,
                "no answer",
            ))
        });
        record(scope, system, &result);
        result.map(|fetched| fetched.value)
    }
}

/// A resolver group: one system's read of `keys` keys for a request (a loader's whole
/// batch, or one page), under the request's operation span. Cache hits show as groups
/// without `upstream.call` children. Returns the trace its upstream calls run in.
fn load_span(
    scope: &RequestScope,
    system: System,
    endpoint: &'static str,
    keys: usize,
) -> (Option<crate::telemetry::TraceContext>, tracing::Span) {
    let trace = scope.trace();
    let parent = trace
        .as_ref()
        .map_or_else(tracing::Span::current, |t| t.span.clone());
    let group = tracing::info_span!(
        parent: &parent,
        "upstream.load",
        upstream.system = system.as_str(),
        upstream.endpoint = endpoint,
        upstream.keys = keys,
    );
    let trace = trace.map(|t| crate::telemetry::TraceContext {
        span: group.clone(),
        ..t
    });
    (trace, group)
}

fn record<V>(scope: &RequestScope, system: System, result: &Result<Fetched<V>, ConnectorError>) {
    match result {
        Ok(fetched) => scope.read(fetched, system),
        Err(_) => scope.uncacheable(),
    }
}

/// A canonical record into a domain type. The mapping already checked every field, so a
/// failure here is a mapping the registry allowed but the type refuses (a CIF that is
/// not ten digits, say): reported as a bad response from that system.
fn typed<T: DeserializeOwned>(
    system: System,
    endpoint: &str,
    item: Record,
) -> Result<T, ConnectorError> {
    T::deserialize(item).map_err(|e| {
        let mut error = ConnectorError::new(
            system,
            endpoint,
            ErrorKind::BadResponse,
            format!("canonical record refused: {e}"),
        );
        error.path = Some(endpoint.to_owned());
        error
    })
}
