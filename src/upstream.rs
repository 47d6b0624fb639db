//! Typed reads of the four systems: the connectors' canonical JSON becomes domain
//! values here, with when it was fetched.
//!
//! Resolvers and loaders call this, never a connector directly, so that the cache
//! tiers can sit in one place between the two.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connectors::{ConnectorError, Connectors, ErrorKind, PageRequest, Params};
use crate::domain::{
    Account, Card, Cif, Customer, Loan, LoginEvent, OnlineUser, Page, System, Transaction,
};

/// A value read from an upstream, and when. `from_cache` and `stale` say whether it was
/// served from the hub's cache, and whether past its time to live.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub value: T,
    pub fetched_at: DateTime<Utc>,
    pub from_cache: bool,
    pub stale: bool,
}

impl<T> Fetched<T> {
    pub fn fresh(value: T) -> Fetched<T> {
        Fetched {
            value,
            fetched_at: Utc::now(),
            from_cache: false,
            stale: false,
        }
    }
}

/// Per key: the items, or why that key's items could not be read.
pub type PerKey<T> = HashMap<Cif, Result<Vec<T>, ConnectorError>>;

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
    connectors: Arc<Connectors>,
}

impl Upstreams {
    pub fn new(connectors: Connectors) -> Upstreams {
        Upstreams {
            connectors: Arc::new(connectors),
        }
    }

    pub async fn customers(&self, cifs: &[Cif]) -> Result<PerKey<Customer>, ConnectorError> {
        self.batch(System::Core, "customers", cifs).await
    }

    pub async fn accounts(&self, cifs: &[Cif]) -> Result<PerKey<Account>, ConnectorError> {
        self.batch(System::Core, "accounts", cifs).await
    }

    pub async fn cards(&self, cifs: &[Cif]) -> Result<PerKey<Card>, ConnectorError> {
        self.batch(System::Cards, "cards", cifs).await
    }

    pub async fn loans(&self, cifs: &[Cif]) -> Result<PerKey<Loan>, ConnectorError> {
        self.batch(System::Loans, "loans", cifs).await
    }

    pub async fn online_users(&self, cifs: &[Cif]) -> Result<PerKey<OnlineUser>, ConnectorError> {
        self.batch(System::Channels, "online_users", cifs).await
    }

    pub async fn search_customers(
        &self,
        search: &CustomerSearch,
        page: PageRequest,
    ) -> Result<Page<Customer>, ConnectorError> {
        let found: Page<Customer> = self
            .list(
                System::Core,
                "customer_search",
                &search.upstream_params(),
                page,
            )
            .await?;
        let mut found = found;
        found.items.retain(|c| search.matches(c));
        Ok(found)
    }

    pub async fn transactions(
        &self,
        account: &str,
        period: Period,
        page: PageRequest,
    ) -> Result<Page<Transaction>, ConnectorError> {
        let mut params = Params::new();
        params.insert("account".into(), account.to_owned());
        // Core banking reads local (Beijing) wall-clock times; RFC 3339 is accepted too.
        let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(from) = period.from {
            params.insert("from".into(), format(from));
        }
        if let Some(to) = period.to {
            params.insert("to".into(), format(to));
        }
        self.list(System::Core, "transactions", &params, page).await
    }

    pub async fn login_events(
        &self,
        user_id: &str,
        page: PageRequest,
    ) -> Result<Page<LoginEvent>, ConnectorError> {
        let mut params = Params::new();
        params.insert("user_id".into(), user_id.to_owned());
        self.list(System::Channels, "login_events", &params, page)
            .await
    }

    async fn batch<T: DeserializeOwned>(
        &self,
        system: System,
        endpoint: &str,
        cifs: &[Cif],
    ) -> Result<PerKey<T>, ConnectorError> {
        let keys: Vec<String> = cifs.iter().map(|c| c.as_str().to_owned()).collect();
        let answer = self.connectors.get(system).batch(endpoint, &keys).await?;
        let mut out = HashMap::with_capacity(answer.len());
        for (key, items) in answer {
            let Ok(cif) = Cif::parse(&key) else {
                continue;
            };
            let typed = items.and_then(|items| {
                items
                    .into_iter()
                    .map(|item| typed(system, endpoint, item))
                    .collect::<Result<Vec<T>, _>>()
            });
            out.insert(cif, typed);
        }
        Ok(out)
    }

    async fn list<T: DeserializeOwned>(
        &self,
        system: System,
        endpoint: &str,
        params: &Params,
        page: PageRequest,
    ) -> Result<Page<T>, ConnectorError> {
        let page = self
            .connectors
            .get(system)
            .list(endpoint, params, page)
            .await?;
        let items = page
            .items
            .into_iter()
            .map(|item| typed(system, endpoint, item))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page {
            items,
            next_page_key: page.next_page_key,
            total: page.total,
        })
    }
}

/// Canonical JSON into a domain type. The mapping already checked every field, so a
/// failure here is a mapping the registry allowed but the type refuses (a CIF that is
/// not ten digits, say): reported as a bad response from that system.
fn typed<T: DeserializeOwned>(
    system: System,
    endpoint: &str,
    item: Value,
) -> Result<T, ConnectorError> {
    serde_json::from_value(item).map_err(|e| {
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
