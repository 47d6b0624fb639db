//! `Customer.holdings` and `Customer.insights`: the CRM rules of [`crate::insights`]
//! over what the four systems and the hub's own records hold for one customer.
//!
//! The reads go through the request's loaders, so a profile that also shows accounts
//! or cards costs no extra upstream call, and a list of customers costs one batched
//! call per system however many ask for insights.

use std::sync::Arc;

use async_graphql::{Context, Json, Result};
use chrono::{Duration, Utc};

use super::errors;
use super::loaders::{self, Loaders, Outcome, PerCustomer};
use std::collections::HashMap;

use crate::auth::{Personal, Viewer};
use crate::domain::{
    bank_time_zone, Account, Activity, Card, Cif, Consent, ContactPreferences, Customer,
    Interaction, Loan, OnlineUser,
};
use crate::insights::{Holdings, Inputs, InsightConfig, Insights, Reason, Tier};
use crate::store::InteractionFilter;
use rust_decimal::Decimal;

/// Contacts read for satisfaction, complaints and offer gates: a year of them, and
/// never more than a long year's worth for one customer.
const MAX_INTERACTIONS: usize = 1_000;

/// One customer's records, owned, for [`Inputs`] to borrow.
pub(super) struct Gathered {
    customer: Arc<Customer>,
    accounts: Arc<Vec<Account>>,
    cards: Arc<Vec<Card>>,
    loans: Arc<Vec<Loan>>,
    online: Option<OnlineUser>,
    activity: Option<Activity>,
    interactions: Vec<Interaction>,
    consents: Vec<Consent>,
    preferences: Option<ContactPreferences>,
    household_best_tier: Option<Tier>,
}

impl Gathered {
    /// Several customers' records as one (a person's CIFs, a household), read through
    /// the loaders in one batch per system; `head` is the record the rules describe.
    /// With `own_records`, the contact log and consents of every one are included.
    pub(super) async fn merged(
        ctx: &Context<'_>,
        head: &Arc<Customer>,
        customers: &[Arc<Customer>],
        own_records: bool,
    ) -> Result<Gathered> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let cifs: Vec<Cif> = customers.iter().map(|c| c.id.clone()).collect();
        // The household's reads start with the others (see `gather`).
        let household = async {
            if own_records {
                household_best_tier(ctx, head).await
            } else {
                Ok(None)
            }
        };
        let (accounts, cards, loans, online, activity, household_best_tier) = tokio::join!(
            loaders::many(&loaders.accounts, &cifs),
            loaders::many(&loaders.cards, &cifs),
            loaders::many(&loaders.loans, &cifs),
            loaders::many(&loaders.online_users, &cifs),
            loaders::many(&loaders.activity, &cifs),
            household,
        );
        fn all<T: Clone>(outcomes: HashMap<Cif, Outcome<T>>, cifs: &[Cif]) -> Result<Vec<T>> {
            let mut items = Vec::new();
            for cif in cifs {
                if let Some(outcome) = outcomes.get(cif) {
                    let found = outcome.items.as_ref().map_err(|e| errors::upstream(e))?;
                    items.extend(found.iter().cloned());
                }
            }
            Ok(items)
        }
        let activity = all(activity, &cifs)?;
        let mut gathered = Gathered {
            customer: head.clone(),
            accounts: Arc::new(all(accounts, &cifs)?),
            cards: Arc::new(all(cards, &cifs)?),
            loans: Arc::new(all(loans, &cifs)?),
            online: all(online, &cifs)?.into_iter().next(),
            activity: crate::insights::merge_activity(&activity),
            interactions: Vec::new(),
            consents: Vec::new(),
            preferences: None,
            household_best_tier: None,
        };
        if own_records {
            let store = super::own_records(ctx);
            for cif in &cifs {
                let filter = InteractionFilter {
                    customer_id: Some(cif.clone()),
                    from: Some(Utc::now() - Duration::days(366)),
                    ..InteractionFilter::default()
                };
                let (interactions, consents) = tokio::try_join!(
                    store.interactions(&filter, None, MAX_INTERACTIONS),
                    store.consents(cif),
                )
                .map_err(|e| errors::store(&e))?;
                gathered.interactions.extend(interactions);
                gathered.consents.extend(consents);
            }
            gathered
                .interactions
                .sort_by_key(|i| std::cmp::Reverse(i.occurred_at));
            gathered.preferences = store
                .contact_preferences(&head.id)
                .await
                .map_err(|e| errors::store(&e))?;
            gathered.household_best_tier = household_best_tier?;
        }
        Ok(gathered)
    }

    pub(super) fn inputs(&self) -> Inputs<'_> {
        let as_of = self
            .activity
            .as_ref()
            .map(|a| a.as_of)
            .unwrap_or_else(|| Utc::now().with_timezone(&bank_time_zone()).date_naive());
        Inputs {
            as_of,
            customer: &self.customer,
            accounts: &self.accounts,
            cards: &self.cards,
            loans: &self.loans,
            online: self.online.as_ref(),
            activity: self.activity.as_ref(),
            interactions: &self.interactions,
            consents: &self.consents,
            preferences: self.preferences.as_ref(),
            household_best_tier: self.household_best_tier,
        }
    }
}

/// The best tier among the customer's household (spouse, parents, children, joint
/// holders), by each member's 3-month average balance: the "household proposition"
/// offer looks for a mass customer in a wealthy family.
async fn household_best_tier(ctx: &Context<'_>, customer: &Customer) -> Result<Option<Tier>> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let relationships = load(&loaders.relationships, customer).await?;
    let members: Vec<_> = relationships
        .iter()
        .filter(|r| r.kind.is_household())
        .map(|r| r.related_id.clone())
        .collect();
    if members.is_empty() {
        return Ok(None);
    }
    let config = ctx.data_unchecked::<Arc<InsightConfig>>();
    let activity = loaders::many(&loaders.activity, &members).await;
    Ok(members
        .iter()
        .filter_map(|m| activity.get(m)?.items.as_ref().ok()?.first().cloned())
        .map(|a| crate::insights::tier_for(config, three_month_average(&a)))
        .max())
}

fn three_month_average(activity: &Activity) -> Decimal {
    let months = &activity.monthly_average_balances;
    let last: Vec<&Decimal> = months.iter().rev().take(3).collect();
    if last.is_empty() {
        return Decimal::ZERO;
    }
    last.iter().copied().sum::<Decimal>() / Decimal::from(last.len())
}

fn items<T: Clone>(outcome: Outcome<T>) -> Result<Arc<Vec<T>>> {
    outcome.items.map_err(|e| errors::upstream(&e))
}

async fn load<T: PerCustomer>(
    loader: &loaders::Load<T>,
    customer: &Customer,
) -> Result<Arc<Vec<T>>> {
    items(loaders::one(loader, &customer.id).await)
}

/// The products of a customer, from the three systems that hold them. A system that
/// fails fails the figure: a total without the loan system would be a wrong total.
async fn products(
    ctx: &Context<'_>,
    customer: &Arc<Customer>,
) -> Result<(Arc<Vec<Account>>, Arc<Vec<Card>>, Arc<Vec<Loan>>)> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let (accounts, cards, loans) = tokio::join!(
        load(&loaders.accounts, customer),
        load(&loaders.cards, customer),
        load(&loaders.loans, customer),
    );
    Ok((accounts?, cards?, loans?))
}

async fn gather(ctx: &Context<'_>, customer: &Arc<Customer>) -> Result<Gathered> {
    let loaders = ctx.data_unchecked::<Loaders>();
    // The household's reads start with the others: started after the store reads
    // below, which end at different times for each customer of a book page, they
    // fell into different batch windows and cost extra upstream calls when the
    // database was slow.
    let ((accounts, cards, loans), online, activity, household_best_tier) = tokio::try_join!(
        products(ctx, customer),
        load(&loaders.online_users, customer),
        load(&loaders.activity, customer),
        household_best_tier(ctx, customer),
    )?;
    let store = super::own_records(ctx);
    let filter = InteractionFilter {
        customer_id: Some(customer.id.clone()),
        from: Some(Utc::now() - Duration::days(366)),
        ..InteractionFilter::default()
    };
    let (interactions, consents, preferences) = tokio::try_join!(
        store.interactions(&filter, None, MAX_INTERACTIONS),
        store.consents(&customer.id),
        store.contact_preferences(&customer.id),
    )
    .map_err(|e| errors::store(&e))?;
    Ok(Gathered {
        customer: customer.clone(),
        accounts,
        cards,
        loans,
        online: online.first().cloned(),
        activity: activity.first().cloned(),
        interactions,
        consents,
        preferences,
        household_best_tier,
    })
}

/// `Customer.holdings`.
pub(super) async fn holdings(ctx: &Context<'_>, customer: &Arc<Customer>) -> Result<Holdings> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let ((accounts, cards, loans), activity) =
        tokio::try_join!(products(ctx, customer), load(&loaders.activity, customer))?;
    let gathered = Gathered {
        customer: customer.clone(),
        accounts,
        cards,
        loans,
        online: None,
        activity: activity.first().cloned(),
        interactions: Vec::new(),
        consents: Vec::new(),
        preferences: None,
        household_best_tier: None,
    };
    let config = ctx.data_unchecked::<Arc<InsightConfig>>();
    Ok(crate::insights::holdings(config, &gathered.inputs()).0)
}

/// `Customer.insights`.
pub(super) async fn insights(ctx: &Context<'_>, customer: &Arc<Customer>) -> Result<Insights> {
    let gathered = gather(ctx, customer).await?;
    let config = ctx.data_unchecked::<Arc<InsightConfig>>();
    Ok(crate::insights::insights(config, &gathered.inputs()))
}

/// A reason's `detail` and `inputs` as the viewer may see them: refused when they
/// carry a class the role is denied, and every account number they name shown
/// through [`Viewer::show`] (masked unless the role sees account numbers, audited
/// when shown in clear). Resolved per field, so only what the query selects is
/// revealed and recorded.
#[async_graphql::ComplexObject]
impl Reason {
    /// A sentence with the numbers.
    async fn detail(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let viewer = refuse_denied(ctx, self, "detail")?;
        let mut detail = self.detail.clone();
        for (owner, number) in &self.accounts {
            if detail.contains(number.as_str()) {
                detail = detail.replace(
                    number.as_str(),
                    &viewer.show(owner, Personal::AccountNumber, number),
                );
            }
        }
        Ok(Some(detail))
    }

    /// The values the rule saw.
    async fn inputs(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let viewer = refuse_denied(ctx, self, "inputs")?;
        let mut inputs = self.inputs.0.clone();
        if !self.accounts.is_empty() {
            shown_accounts(viewer, &self.accounts, &mut inputs);
        }
        Ok(Some(Json(inputs)))
    }
}

fn refuse_denied<'a>(ctx: &Context<'a>, reason: &Reason, field: &str) -> Result<&'a Viewer> {
    let viewer = super::access::viewer(ctx);
    let denied = viewer.policy().deny_classes;
    if reason.carries.intersects(denied) {
        let classes: Vec<&str> = reason
            .carries
            .iter()
            .filter(|c| denied.contains(*c))
            .map(|c| c.as_str())
            .collect();
        return Err(errors::forbidden(format!(
            "InsightReason.{field} of {} (carries {})",
            reason.rule,
            classes.join(", ")
        )));
    }
    Ok(viewer)
}

fn shown_accounts(viewer: &Viewer, accounts: &[(Cif, String)], value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            for (owner, number) in accounts {
                if text.contains(number.as_str()) {
                    *text = text.replace(
                        number.as_str(),
                        &viewer.show(owner, Personal::AccountNumber, number),
                    );
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| shown_accounts(viewer, accounts, v)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| shown_accounts(viewer, accounts, v)),
        _ => {}
    }
}
