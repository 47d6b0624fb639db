//! Per-request DataLoaders, one per (system, entity), keyed by CIF.
//!
//! Loads from every resolver of one request that fall in the same tick become one
//! batch call per system. Root resolvers, which hold all their keys at once, skip the
//! tick ([`many_now`]). Loaders live in the request's data, never across requests,
//! so nothing fetched for one caller is served to another. Failures are values here
//! (an [`Outcome`]), so a failed system is called once per request however many
//! fields ask for it, and `sources` can report it.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::cache::RequestScope;
use crate::connectors::ConnectorError;
use crate::domain::{
    Account, Activity, Card, Cif, Customer, Loan, OnlineUser, PartyMembers, Relationship, System,
};
use crate::upstream::{PerKey, Upstreams};

/// What one system answered for one customer.
#[derive(Clone)]
pub struct Outcome<T> {
    pub items: Result<Arc<Vec<T>>, Arc<ConnectorError>>,
    pub fetched_at: DateTime<Utc>,
    pub from_cache: bool,
    pub stale: bool,
}

impl<T> Outcome<T> {
    /// Nothing found, fetched now: what a system that knows no items for the customer
    /// answered.
    pub fn nothing() -> Outcome<T> {
        Outcome {
            items: Ok(Arc::new(Vec::new())),
            fetched_at: Utc::now(),
            from_cache: false,
            stale: false,
        }
    }
}

/// An entity that is read per customer, in batches, from one system.
pub trait PerCustomer: Clone + serde::de::DeserializeOwned + Send + Sync + 'static {
    const SYSTEM: System;
    /// The endpoint the entity is cached under.
    const ENDPOINT: &'static str;
    fn fetch<'a>(
        upstreams: &'a Upstreams,
        cifs: &'a [Cif],
        scope: &'a RequestScope,
    ) -> BoxFuture<'a, PerKey<Self>>;
}

macro_rules! per_customer {
    ($type:ty, $system:expr, $method:ident, $endpoint:literal) => {
        impl PerCustomer for $type {
            const SYSTEM: System = $system;
            const ENDPOINT: &'static str = $endpoint;
            fn fetch<'a>(
                upstreams: &'a Upstreams,
                cifs: &'a [Cif],
                scope: &'a RequestScope,
            ) -> BoxFuture<'a, PerKey<Self>> {
                Box::pin(upstreams.$method(cifs, scope))
            }
        }
    };
}

per_customer!(Customer, System::Core, customers, "customers");
per_customer!(Account, System::Core, accounts, "accounts");
per_customer!(Card, System::Cards, cards, "cards");
per_customer!(Loan, System::Loans, loans, "loans");
per_customer!(OnlineUser, System::Channels, online_users, "online_users");
per_customer!(Relationship, System::Core, relationships, "relationships");
per_customer!(PartyMembers, System::Core, party_members, "party");
per_customer!(Activity, System::Core, activity, "activity");

pub struct SystemLoader<T> {
    upstreams: Upstreams,
    scope: Arc<RequestScope>,
    /// CIFs this loader has loaded for its request. Their outcomes are in the
    /// loader's own cache, as this request got them (`fromCache: false` when it
    /// fetched them); the in-process tier would report its copy as a cache hit.
    loaded: Mutex<foldhash::HashSet<Cif>>,
    _entity: std::marker::PhantomData<fn() -> T>,
}

impl<T: PerCustomer> Loader<Cif> for SystemLoader<T> {
    type Value = Outcome<T>;
    type Error = Infallible;

    async fn load(&self, keys: &[Cif]) -> Result<HashMap<Cif, Outcome<T>>, Infallible> {
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.extend(keys.iter().cloned());
        }
        let mut per_key = T::fetch(&self.upstreams, keys, &self.scope).await;
        Ok(keys
            .iter()
            .map(|cif| {
                let outcome = match per_key.remove(cif) {
                    Some(Ok(fetched)) => Outcome {
                        items: Ok(fetched.value),
                        fetched_at: fetched.fetched_at,
                        from_cache: fetched.from_cache,
                        stale: fetched.stale,
                    },
                    Some(Err(error)) => Outcome {
                        items: Err(Arc::new(error)),
                        fetched_at: Utc::now(),
                        from_cache: false,
                        stale: false,
                    },
                    None => Outcome::nothing(),
                };
                (cif.clone(), outcome)
            })
            .collect())
    }
}

pub type Load<T> = DataLoader<SystemLoader<T>, HashMapCache<foldhash::fast::RandomState>>;

/// The loaders of one request.
pub struct Loaders {
    pub customers: Load<Customer>,
    pub accounts: Load<Account>,
    pub cards: Load<Card>,
    pub loans: Load<Loan>,
    pub online_users: Load<OnlineUser>,
    pub relationships: Load<Relationship>,
    pub party: Load<PartyMembers>,
    pub activity: Load<Activity>,
}

fn loader<T: PerCustomer>(upstreams: &Upstreams, scope: &Arc<RequestScope>) -> Load<T> {
    DataLoader::with_cache(
        SystemLoader {
            upstreams: upstreams.clone(),
            scope: scope.clone(),
            loaded: Mutex::default(),
            _entity: std::marker::PhantomData,
        },
        tokio::spawn,
        HashMapCache::new(),
    )
    // No added window: the batch is sent on the runtime's next timer tick, after the
    // resolvers polled in the same pass have added their keys (async-graphql resolves
    // a selection's fields and a list's items in one pass). The default 1 ms window
    // rounds up to two ticks: 1.25 ms more per cold request at idle, measured
    // (`c360 bench --scenario profile360 --mode cold --concurrency 1`: p50 2.29 ms
    // against 3.54 ms), for no larger batches.
    .delay(std::time::Duration::ZERO)
}

impl Loaders {
    pub fn new(upstreams: &Upstreams, scope: &Arc<RequestScope>) -> Loaders {
        Loaders {
            customers: loader(upstreams, scope),
            accounts: loader(upstreams, scope),
            cards: loader(upstreams, scope),
            loans: loader(upstreams, scope),
            online_users: loader(upstreams, scope),
            relationships: loader(upstreams, scope),
            party: loader(upstreams, scope),
            activity: loader(upstreams, scope),
        }
    }
}

impl<T: PerCustomer> SystemLoader<T> {
    /// Whether this request has loaded (or is loading) the customer through this loader.
    fn has_loaded(&self, cif: &Cif) -> bool {
        self.loaded
            .lock()
            .map_or(true, |loaded| loaded.contains(cif))
    }

    /// The customer's outcome when the in-process tier holds it fresh and this
    /// request has not loaded it yet: answered at once, without the loader's batch
    /// window (a timer tick per round of loads) or its task, which only upstream calls
    /// need.
    fn in_memory(&self, cif: &Cif) -> Option<Outcome<T>> {
        if self.has_loaded(cif) {
            return None;
        }
        self.held(cif)
    }

    /// The customer's outcome when the in-process tier holds it fresh.
    fn held(&self, cif: &Cif) -> Option<Outcome<T>> {
        let fetched = self
            .upstreams
            .cached::<T>(T::SYSTEM, T::ENDPOINT, cif, &self.scope)?;
        Some(Outcome {
            items: Ok(fetched.value),
            fetched_at: fetched.fetched_at,
            from_cache: true,
            stale: false,
        })
    }
}

/// Loads the outcomes of customers whose keys a root resolver holds all at once,
/// without the loader's batch window.
///
/// The window is a timer tick (the next whole millisecond, and under load a wave of
/// requests released on the same tick); it only pays off when keys come from several
/// resolvers. A root has them all, so its load goes straight to the systems and the
/// outcomes are fed to the loader, where the request's child resolvers find them.
/// Keys this request already loaded still come from the loader. Two aliased roots
/// therefore make a call each; `customers(ids:)` is the batched way to read several.
pub async fn many_now<T: PerCustomer>(loader: &Load<T>, cifs: &[Cif]) -> HashMap<Cif, Outcome<T>> {
    let this = loader.loader();
    let mut found = HashMap::with_capacity(cifs.len());
    let mut again = Vec::new();
    let mut fresh = Vec::new();
    let mut seen = HashSet::with_capacity(cifs.len());
    for cif in cifs {
        if !seen.insert(cif) {
            continue;
        }
        if this.has_loaded(cif) {
            again.push(cif.clone());
        } else if let Some(outcome) = this.held(cif) {
            found.insert(cif.clone(), outcome);
        } else {
            fresh.push(cif.clone());
        }
    }
    let from_request = async {
        if again.is_empty() {
            return HashMap::new();
        }
        match loader.load_many(again).await {
            Ok(loaded) => loaded,
            Err(never) => match never {},
        }
    };
    let fetched = async {
        if fresh.is_empty() {
            return HashMap::new();
        }
        let loaded = match Loader::load(this, &fresh).await {
            Ok(loaded) => loaded,
            Err(never) => match never {},
        };
        loader
            .feed_many(
                loaded
                    .iter()
                    .map(|(cif, outcome)| (cif.clone(), outcome.clone())),
            )
            .await;
        loaded
    };
    let (from_request, fetched) = tokio::join!(from_request, fetched);
    found.extend(from_request);
    found.extend(fetched);
    found
}

/// [`many_now`] for one customer.
pub async fn one_now<T: PerCustomer>(loader: &Load<T>, cif: &Cif) -> Outcome<T> {
    let mut found = many_now(loader, std::slice::from_ref(cif)).await;
    found.remove(cif).unwrap_or_else(Outcome::nothing)
}

/// Loads one customer's outcome; a loader never fails as a whole.
pub async fn one<T: PerCustomer>(loader: &Load<T>, cif: &Cif) -> Outcome<T> {
    if let Some(outcome) = loader.loader().in_memory(cif) {
        return outcome;
    }
    match loader.load_one(cif.clone()).await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => Outcome::nothing(),
        Err(never) => match never {},
    }
}

/// Loads many customers' outcomes in one batch.
pub async fn many<T: PerCustomer>(loader: &Load<T>, cifs: &[Cif]) -> HashMap<Cif, Outcome<T>> {
    let mut found = HashMap::with_capacity(cifs.len());
    let mut wanted = Vec::new();
    for cif in cifs {
        match loader.loader().in_memory(cif) {
            Some(outcome) => {
                found.insert(cif.clone(), outcome);
            }
            None => wanted.push(cif.clone()),
        }
    }
    if wanted.is_empty() {
        return found;
    }
    match loader.load_many(wanted).await {
        Ok(loaded) => {
            found.extend(loaded);
            found
        }
        Err(never) => match never {},
    }
}
