//! Per-request DataLoaders, one per (system, entity), keyed by CIF.
//!
//! Loads from every resolver of one request that fall in the same tick become one
//! batch call per system. Loaders live in the request's data, never across requests,
//! so nothing fetched for one caller is served to another. Failures are values here
//! (an [`Outcome`]), so a failed system is called once per request however many
//! fields ask for it, and `sources` can report it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::connectors::ConnectorError;
use crate::domain::{Account, Card, Cif, Customer, Loan, OnlineUser, System};
use crate::upstream::{PerKey, Upstreams};

/// What one system answered for one customer.
#[derive(Clone)]
pub struct Outcome<T> {
    pub items: Result<Arc<Vec<T>>, Arc<ConnectorError>>,
    pub fetched_at: DateTime<Utc>,
    pub from_cache: bool,
    pub stale: bool,
}

/// An entity that is read per customer, in batches, from one system.
pub trait PerCustomer: Clone + Send + Sync + 'static {
    const SYSTEM: System;
    fn fetch<'a>(
        upstreams: &'a Upstreams,
        cifs: &'a [Cif],
    ) -> BoxFuture<'a, Result<PerKey<Self>, ConnectorError>>;
}

macro_rules! per_customer {
    ($type:ty, $system:expr, $method:ident) => {
        impl PerCustomer for $type {
            const SYSTEM: System = $system;
            fn fetch<'a>(
                upstreams: &'a Upstreams,
                cifs: &'a [Cif],
            ) -> BoxFuture<'a, Result<PerKey<Self>, ConnectorError>> {
                Box::pin(upstreams.$method(cifs))
            }
        }
    };
}

per_customer!(Customer, System::Core, customers);
per_customer!(Account, System::Core, accounts);
per_customer!(Card, System::Cards, cards);
per_customer!(Loan, System::Loans, loans);
per_customer!(OnlineUser, System::Channels, online_users);

pub struct SystemLoader<T> {
    upstreams: Upstreams,
    _entity: std::marker::PhantomData<fn() -> T>,
}

impl<T: PerCustomer> Loader<Cif> for SystemLoader<T> {
    type Value = Outcome<T>;
    type Error = Infallible;

    async fn load(&self, keys: &[Cif]) -> Result<HashMap<Cif, Outcome<T>>, Infallible> {
        let fetched_at = Utc::now();
        let outcome = |items| Outcome {
            items,
            fetched_at,
            from_cache: false,
            stale: false,
        };
        Ok(match T::fetch(&self.upstreams, keys).await {
            Ok(mut per_key) => keys
                .iter()
                .map(|cif| {
                    let items = match per_key.remove(cif) {
                        Some(Ok(items)) => Ok(Arc::new(items)),
                        Some(Err(error)) => Err(Arc::new(error)),
                        None => Ok(Arc::new(Vec::new())),
                    };
                    (cif.clone(), outcome(items))
                })
                .collect(),
            Err(error) => {
                let error = Arc::new(error);
                keys.iter()
                    .map(|cif| (cif.clone(), outcome(Err(error.clone()))))
                    .collect()
            }
        })
    }
}

pub type Load<T> = DataLoader<SystemLoader<T>, HashMapCache>;

/// The loaders of one request.
pub struct Loaders {
    pub customers: Load<Customer>,
    pub accounts: Load<Account>,
    pub cards: Load<Card>,
    pub loans: Load<Loan>,
    pub online_users: Load<OnlineUser>,
}

fn loader<T: PerCustomer>(upstreams: &Upstreams) -> Load<T> {
    DataLoader::with_cache(
        SystemLoader {
            upstreams: upstreams.clone(),
            _entity: std::marker::PhantomData,
        },
        tokio::spawn,
        HashMapCache::default(),
    )
}

impl Loaders {
    pub fn new(upstreams: &Upstreams) -> Loaders {
        Loaders {
            customers: loader(upstreams),
            accounts: loader(upstreams),
            cards: loader(upstreams),
            loans: loader(upstreams),
            online_users: loader(upstreams),
        }
    }
}

/// Loads one customer's outcome; a loader never fails as a whole.
pub async fn one<T: PerCustomer>(loader: &Load<T>, cif: &Cif) -> Outcome<T> {
    match loader.load_one(cif.clone()).await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => Outcome {
            items: Ok(Arc::new(Vec::new())),
            fetched_at: Utc::now(),
            from_cache: false,
            stale: false,
        },
        Err(never) => match never {},
    }
}

/// Loads many customers' outcomes in one batch.
pub async fn many<T: PerCustomer>(loader: &Load<T>, cifs: &[Cif]) -> HashMap<Cif, Outcome<T>> {
    match loader.load_many(cifs.iter().cloned()).await {
        Ok(map) => map,
        Err(never) => match never {},
    }
}
