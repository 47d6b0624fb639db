//! The BI snapshot's rows, computed from the upstream systems and the hub's own
//! records by the same rules as the live `insights` (docs/bi.md).
//!
//! [`SnapshotBuilder::rows`] reads a batch of customers with one call per system and
//! endpoint (the connectors' rate limits, bulkheads and breakers apply as to any
//! read), so a page of 100 customers costs the same six upstream calls as a page of
//! the live book. A batch fails whole when a system fails: a row without the loan
//! system would carry a wrong AUM, and the sweep records the batch instead.

mod schedule;
mod sweep;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::cache::RequestScope;
use crate::connectors::ConnectorError;
use crate::domain::{bank_time_zone, Cif, Customer};
use crate::insights::{InsightConfig, Records};
use crate::store::{InteractionFilter, SnapshotRow, Store, StoreError};
use crate::upstream::{PerKey, Upstreams};

pub use schedule::schedule;
pub use sweep::{sweep, Progress, SweepReport, SweepSettings};

/// Most contacts read per customer for the rules (the last twelve months).
const MAX_INTERACTIONS: usize = 1_000;

/// Why a batch of rows could not be computed or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Upstream(ConnectorError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Another sweep took the lease over (this one stalled past it).
    #[error("the sweep's lease was taken over by another owner; stopping")]
    LeaseLost,
    /// A batch's task ended without an answer (it panicked).
    #[error("a snapshot batch was abandoned")]
    Abandoned,
    /// An amount too large to hold in fen as a 64-bit integer.
    #[error("customer {cif}: {what} does not fit the snapshot's amounts")]
    Amount { cif: String, what: &'static str },
}

impl SnapshotError {
    /// Short enough for a failure row and a log line; names no customer data.
    pub fn summary(&self) -> String {
        match self {
            SnapshotError::Upstream(e) => {
                format!("{} {}: {}", e.system, e.kind.code().as_str(), e.endpoint)
            }
            other => other.to_string(),
        }
    }
}

/// Computes and writes snapshot rows.
#[derive(Clone)]
pub struct SnapshotBuilder {
    upstreams: Upstreams,
    store: Store,
    config: Arc<InsightConfig>,
}

/// An amount in CNY as whole fen, rounded half away from zero.
fn fen(cif: &Cif, what: &'static str, amount: Decimal) -> Result<i64, SnapshotError> {
    let fen = crate::domain::to_fen(amount) * Decimal::ONE_HUNDRED;
    i64::try_from(fen).map_err(|_| SnapshotError::Amount {
        cif: cif.as_str().to_owned(),
        what,
    })
}

/// Each customer's items, with when the system answered.
type Items<T> = HashMap<Cif, (Vec<T>, DateTime<Utc>)>;

/// Every customer's items, or the first system failure among them.
fn all<T: Clone>(per_key: PerKey<T>) -> Result<Items<T>, SnapshotError> {
    per_key
        .into_iter()
        .map(|(cif, result)| match result {
            Ok(fetched) => Ok((cif, ((*fetched.value).clone(), fetched.fetched_at))),
            Err(e) => Err(SnapshotError::Upstream(e)),
        })
        .collect()
}

/// One customer's items and when they were fetched (none: nothing held, as of now).
fn of<T: Clone>(
    map: &HashMap<Cif, (Vec<T>, DateTime<Utc>)>,
    cif: &Cif,
    now: DateTime<Utc>,
) -> (Vec<T>, DateTime<Utc>) {
    map.get(cif).cloned().unwrap_or((Vec::new(), now))
}

impl SnapshotBuilder {
    pub fn new(upstreams: Upstreams, store: Store, config: Arc<InsightConfig>) -> SnapshotBuilder {
        SnapshotBuilder {
            upstreams,
            store,
            config,
        }
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The rows of `customers`, computed now; `computed_by` says by what
    /// (`sweep:<run>`, `event`).
    pub async fn rows(
        &self,
        customers: &[Customer],
        computed_by: &str,
    ) -> Result<Vec<SnapshotRow>, SnapshotError> {
        let started = crate::domain::to_micros(Utc::now());
        let scope = RequestScope::new();
        let cifs: Vec<Cif> = customers.iter().map(|c| c.id.clone()).collect();
        let u = &self.upstreams;
        let (accounts, cards, loans, online, activity, parties) = tokio::join!(
            u.accounts(&cifs, &scope),
            u.cards(&cifs, &scope),
            u.loans(&cifs, &scope),
            u.online_users(&cifs, &scope),
            u.activity(&cifs, &scope),
            u.party_members(&cifs, &scope),
        );
        let (accounts, cards, loans, online, activity, parties) = (
            all(accounts)?,
            all(cards)?,
            all(loans)?,
            all(online)?,
            all(activity)?,
            all(parties)?,
        );
        let refused: HashSet<Cif> = self.store.marketing_refused_among(&cifs).await?;
        let own =
            futures::future::try_join_all(cifs.iter().map(|cif| self.own_records(cif))).await?;
        let consents_at = crate::domain::to_micros(Utc::now());
        let today = Utc::now().with_timezone(&bank_time_zone()).date_naive();

        let mut rows = Vec::with_capacity(customers.len());
        for (customer, (interactions, consents, preferences)) in customers.iter().zip(own) {
            let cif = &customer.id;
            let (accounts, accounts_at) = of(&accounts, cif, started);
            let (cards, cards_at) = of(&cards, cif, started);
            let (loans, loans_at) = of(&loans, cif, started);
            let (online, online_at) = of(&online, cif, started);
            let (activity, activity_at) = of(&activity, cif, started);
            let party = parties
                .get(cif)
                .and_then(|(p, _)| p.iter().flat_map(|p| p.members.iter()).min().cloned())
                .unwrap_or_else(|| cif.clone());
            let activity = crate::insights::merge_activity(&activity);
            let records = Records {
                as_of: activity.as_ref().map(|a| a.as_of).unwrap_or(today),
                customer: customer.clone(),
                accounts,
                cards,
                loans,
                online: online.into_iter().next(),
                activity,
                interactions,
                consents,
                preferences,
                household_best_tier: None,
            };
            let inputs = records.inputs();
            let insights = crate::insights::insights(&self.config, &inputs);
            let (held, _) = crate::insights::holdings(&self.config, &inputs);
            let insights_at = crate::domain::to_micros(Utc::now());
            let mut lines: BTreeMap<&str, i32> = BTreeMap::new();
            for line in &held.products_by_line {
                lines.insert(line.line.as_str(), line.count);
            }
            let count = |names: &[&str]| names.iter().filter_map(|n| lines.get(n)).sum::<i32>();
            let versions = serde_json::json!({
                "core": accounts_at.min(activity_at),
                "cards": cards_at,
                "loans": loans_at,
                "channels": online_at,
            });
            rows.push(SnapshotRow {
                cif: cif.as_str().to_owned(),
                party_id: Some(party.as_str().to_owned()),
                branch: customer.branch.clone(),
                relationship_manager: customer.relationship_manager.clone(),
                tier: insights.tier.as_str().to_owned(),
                lifecycle_stage: insights.lifecycle_stage.as_str().to_owned(),
                churn_level: insights.churn_risk.level.as_str().to_owned(),
                churn_score: insights.churn_risk.score,
                aum_fen: fen(cif, "AUM", held.aum.amount)?,
                deposits_fen: fen(cif, "deposits", held.deposits.amount)?,
                loans_fen: fen(cif, "loans outstanding", held.loans_outstanding.amount)?,
                credit_limit_fen: fen(cif, "credit limit", held.credit_limit.amount)?,
                credit_used_fen: fen(cif, "credit used", held.credit_used.amount)?,
                deposit_products: count(&["DEPOSIT_CURRENT", "DEPOSIT_SAVINGS", "DEPOSIT_TIME"]),
                card_products: count(&["DEBIT_CARD", "CREDIT_CARD"]),
                loan_products: count(&[
                    "MORTGAGE",
                    "CONSUMER_LOAN",
                    "BUSINESS_LOAN",
                    "AUTO_LOAN",
                    "CREDIT_LINE",
                ]),
                e_banking: lines.contains_key("E_BANKING"),
                payroll: lines.contains_key("PAYROLL"),
                rfm_recency: insights.value.recency,
                rfm_frequency: insights.value.frequency,
                rfm_monetary: insights.value.monetary,
                rfm_segment: insights.value.segment.clone(),
                marketing_refused: refused.contains(cif),
                do_not_contact: records
                    .preferences
                    .as_ref()
                    .is_some_and(|p| p.do_not_contact),
                products_at: accounts_at.min(cards_at).min(loans_at),
                insights_at,
                consents_at,
                source_versions: versions.to_string(),
                computed_at: started,
                computed_by: computed_by.to_owned(),
            });
        }
        Ok(rows)
    }

    /// One customer's contact log of the last twelve months, consents and contact
    /// preferences.
    async fn own_records(
        &self,
        cif: &Cif,
    ) -> Result<
        (
            Vec<crate::domain::Interaction>,
            Vec<crate::domain::Consent>,
            Option<crate::domain::ContactPreferences>,
        ),
        SnapshotError,
    > {
        let filter = InteractionFilter {
            customer_id: Some(cif.clone()),
            from: Some(Utc::now() - Duration::days(366)),
            ..InteractionFilter::default()
        };
        let (interactions, consents, preferences) = tokio::try_join!(
            self.store.interactions(&filter, None, MAX_INTERACTIONS),
            self.store.consents(cif),
            self.store.contact_preferences(cif),
        )?;
        Ok((interactions, consents, preferences))
    }

    /// Recomputes the rows of `cifs` now (a change event): reads the customers, then
    /// their rows, and writes them. Customers core no longer knows are left as they
    /// are. Returns how many rows were written.
    pub async fn refresh(&self, cifs: &[Cif]) -> Result<u64, SnapshotError> {
        let mut written = 0;
        for chunk in cifs.chunks(100) {
            let scope = RequestScope::new();
            let customers: Vec<Customer> = all(self.upstreams.customers(chunk, &scope).await)?
                .into_values()
                .flat_map(|(items, _)| items)
                .collect();
            if customers.is_empty() {
                continue;
            }
            let rows = self.rows(&customers, "event").await?;
            written += self.store.put_snapshot_rows(&rows).await?;
        }
        Ok(written)
    }
}
