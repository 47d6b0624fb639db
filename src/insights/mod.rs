//! Explainable CRM rules: tier, lifecycle stage, value (RFM, contribution, CLV),
//! churn risk, satisfaction, next best offers and prospects, as plain functions over
//! the domain types (docs/domain.md, from #holdings to #satisfaction).
//!
//! Nothing here does I/O: the caller gathers one customer's (or one party's) records
//! into [`Inputs`] and gets answers that carry their own [`Reason`]s, because a
//! relationship manager acts on an insight only when they can see why it fired. The
//! thresholds live in `config/insights.toml` ([`InsightConfig`]).

mod churn;
mod config;
mod holdings;
mod lifecycle;
mod offers;
mod prospect;
mod satisfaction;
#[cfg(test)]
mod testkit;
mod tier;
mod value;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{
    bank_time_zone, Account, Activity, Card, Cif, ClassSet, Consent, ContactPreferences, Customer,
    DataClass, Interaction, Loan, Money, OnlineUser,
};

pub use churn::{churn_level, churn_risk, ChurnLevel, ChurnRisk};
pub use config::{
    ChurnConfig, ContributionConfig, FxConfig, InsightConfig, InsightConfigError, LifecycleConfig,
    NboConfig, NboScores, PayrollConfig, Problem, ProspectConfig, RfmConfig, SatisfactionConfig,
    TierConfig, SEGMENTS,
};
pub use holdings::{holdings, to_cny, CurrencyHoldings, Holdings, ProductLine};
pub use lifecycle::{lifecycle_stage, LifecycleStage};
pub use offers::{next_best_offers, Offer};
pub use prospect::{prospect, Prospect};
pub use satisfaction::{satisfaction, Satisfaction};
pub use tier::{tier, tier_for, Tier};
pub use value::{clv, value, Value};

/// Everything the rules look at for one customer, or for one party (several CIFs of
/// one person) with the slices merged and [`merge_activity`] applied.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The business date the insights are for; every "days since" counts from it.
    pub as_of: NaiveDate,
    pub customer: &'a Customer,
    pub accounts: &'a [Account],
    pub cards: &'a [Card],
    pub loans: &'a [Loan],
    pub online: Option<&'a OnlineUser>,
    pub activity: Option<&'a Activity>,
    /// The hub's contact log, newest first, covering at least the last 12 months.
    pub interactions: &'a [Interaction],
    pub consents: &'a [Consent],
    pub preferences: Option<&'a ContactPreferences>,
    /// The best tier among the customer's household members (rule 7 of
    /// docs/domain.md#next-best-offers).
    pub household_best_tier: Option<Tier>,
}

/// One customer's records, owned: what a caller outside a request (the rules' unit
/// tests, the benchmarks) builds and lends to the rules as [`Inputs`]. A request's
/// loaders share their records through `Arc`s instead and lend them the same way.
#[derive(Debug, Clone)]
pub struct Records {
    pub as_of: NaiveDate,
    pub customer: Customer,
    pub accounts: Vec<Account>,
    pub cards: Vec<Card>,
    pub loans: Vec<Loan>,
    pub online: Option<OnlineUser>,
    pub activity: Option<Activity>,
    pub interactions: Vec<Interaction>,
    pub consents: Vec<Consent>,
    pub preferences: Option<ContactPreferences>,
    pub household_best_tier: Option<Tier>,
}

impl Records {
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            as_of: self.as_of,
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

/// Why an insight says what it says: the rule that fired, a sentence with the numbers,
/// and the values the rule saw.
///
/// Every number in `inputs` is a string: no client then rounds an amount through a
/// binary float, and the hub's exact-decimal JSON numbers (serde_json's
/// `arbitrary_precision`) would otherwise reach GraphQL as opaque objects.
#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[graphql(name = "InsightReason", complex)]
pub struct Reason {
    /// A stable code such as `TIER_BY_AUM` or `CHURN_AUM_DROP_3M`.
    pub rule: String,
    /// Served by the GraphQL layer, which masks or refuses what `carries` says.
    #[graphql(skip)]
    pub detail: String,
    #[graphql(skip)]
    pub inputs: async_graphql::Json<serde_json::Value>,
    /// The personal data classes `detail` and `inputs` carry beyond what the rule's
    /// field is classed by (docs/data-classes.md): a reason naming account numbers is
    /// masked like one, a reason giving an age is refused where birth dates are.
    #[graphql(skip)]
    #[serde(skip)]
    pub carries: ClassSet,
    /// The account numbers `detail` and `inputs` name, with their owners.
    #[graphql(skip)]
    #[serde(skip)]
    pub accounts: Vec<(Cif, String)>,
}

impl Reason {
    pub fn new(rule: &str, detail: impl Into<String>, inputs: serde_json::Value) -> Reason {
        Reason {
            rule: rule.to_owned(),
            detail: detail.into(),
            inputs: async_graphql::Json(numbers_as_strings(inputs)),
            carries: ClassSet::EMPTY,
            accounts: Vec::new(),
        }
    }

    /// Notes that the reason names these accounts' numbers.
    pub fn naming<'a>(mut self, accounts: impl IntoIterator<Item = &'a Account>) -> Reason {
        for account in accounts {
            self.accounts
                .push((account.customer_id.clone(), account.number.clone()));
        }
        self.carries.insert(DataClass::AccountNumber);
        self
    }

    /// Notes that the reason carries a value of `class` (the age, from the birth date).
    pub fn carrying(mut self, class: DataClass) -> Reason {
        self.carries.insert(class);
        self
    }
}

/// Every insight on one customer (or party).
#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
pub struct Insights {
    pub tier: Tier,
    pub lifecycle_stage: LifecycleStage,
    pub value: Value,
    pub churn_risk: ChurnRisk,
    pub satisfaction: Satisfaction,
    pub next_best_offers: Vec<Offer>,
    /// How AUM was measured, why the tier and stage are what they are, and each
    /// offer gate that removed something.
    pub reasons: Vec<Reason>,
}

/// All the rules at once, sharing one holdings computation.
pub fn insights(config: &InsightConfig, inputs: &Inputs) -> Insights {
    let (held, mut reasons) = holdings(config, inputs);
    let aum = held.aum.amount;
    let (tier, tier_reasons) = tier(config, aum, inputs.activity);
    reasons.extend(tier_reasons);
    let (lifecycle_stage, stage_reasons) = lifecycle_stage(config, inputs, &held);
    reasons.extend(stage_reasons);
    let value = value(config, inputs, &held, tier);
    let churn_risk = churn_risk(config, inputs, aum, tier);
    let satisfaction = satisfaction(config, inputs);
    let (next_best_offers, gates) = next_best_offers(config, inputs, &held, tier);
    reasons.extend(gates);
    Insights {
        tier,
        lifecycle_stage,
        value,
        churn_risk,
        satisfaction,
        next_best_offers,
        reasons,
    }
}

/// One person's activity across their CIFs. Counts and amounts add up; dates take
/// the latest; monthly balances add month by month, aligned on the latest month.
/// Payroll months take the largest (the months of two records may be the same ones),
/// and the lowest idle balance adds the per-record minimums, which can only
/// understate the combined minimum, never invent idle money.
pub fn merge_activity(activities: &[Activity]) -> Option<Activity> {
    let first = activities.first()?;
    let len = activities
        .iter()
        .map(|a| a.monthly_average_balances.len())
        .max()
        .unwrap_or(0);
    let mut balances = vec![Decimal::ZERO; len];
    for a in activities {
        let offset = len - a.monthly_average_balances.len();
        for (i, b) in a.monthly_average_balances.iter().enumerate() {
            balances[offset + i] += b;
        }
    }
    Some(Activity {
        customer_id: first.customer_id.clone(),
        as_of: activities.iter().map(|a| a.as_of).max()?,
        monthly_average_balances: balances,
        transactions_12m: activities.iter().map(|a| a.transactions_12m).sum(),
        transactions_90d: activities.iter().map(|a| a.transactions_90d).sum(),
        transactions_prior_90d: activities.iter().map(|a| a.transactions_prior_90d).sum(),
        last_transaction_on: activities
            .iter()
            .filter_map(|a| a.last_transaction_on)
            .max(),
        payroll_months_12m: activities
            .iter()
            .map(|a| a.payroll_months_12m)
            .max()
            .unwrap_or(0),
        last_payroll_on: activities.iter().filter_map(|a| a.last_payroll_on).max(),
        inflow_90d: activities.iter().map(|a| a.inflow_90d).sum(),
        outbound_transfers_30d: activities.iter().map(|a| a.outbound_transfers_30d).sum(),
        current_min_balance_90d: activities.iter().map(|a| a.current_min_balance_90d).sum(),
        card_last_used_on: activities.iter().filter_map(|a| a.card_last_used_on).max(),
    })
}

fn numbers_as_strings(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_strings).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Money in CNY, to the fen, always with two decimals as the bank prints it.
pub(crate) fn cny(amount: Decimal) -> Money {
    let mut amount = crate::domain::to_fen(amount);
    amount.rescale(2);
    Money {
        amount,
        currency: "CNY".to_owned(),
        group_size: None,
    }
}

/// An amount for a sentence: to the fen, without trailing zeros.
pub(crate) fn show(amount: Decimal) -> String {
    crate::domain::to_fen(amount).normalize().to_string()
}

/// An amount for `Reason::inputs`: a string, to the fen.
pub(crate) fn dec(amount: Decimal) -> serde_json::Value {
    serde_json::Value::String(crate::domain::to_fen(amount).normalize().to_string())
}

/// The bank's calendar day of an instant: a contact at 01:00 Beijing time on the 2nd
/// belongs to the 2nd, not to the 1st as UTC would say.
pub(crate) fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&bank_time_zone()).date_naive()
}

pub(crate) fn days_since(as_of: NaiveDate, day: NaiveDate) -> i64 {
    (as_of - day).num_days()
}

/// Payroll customers: payroll in enough of the last 12 months and not stopped.
pub(crate) fn payroll_active(config: &InsightConfig, as_of: NaiveDate, a: &Activity) -> bool {
    a.payroll_months_12m >= config.payroll.min_months
        && a.last_payroll_on
            .is_some_and(|d| days_since(as_of, d) <= config.payroll.gap_days)
}

/// The percentage `new` fell below `old` (negative when it rose); none when there
/// was nothing to fall from.
pub(crate) fn fall_pct(old: Decimal, new: Decimal) -> Option<Decimal> {
    (old > Decimal::ZERO).then(|| (old - new) / old * Decimal::ONE_HUNDRED)
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    #[test]
    fn activity_of_several_records_merges_into_one_person() {
        let mut a = activity(&[100, 200, 300]);
        a.transactions_12m = 10;
        a.last_transaction_on = Some(day(2026, 1, 1));
        a.payroll_months_12m = 5;
        a.inflow_90d = Decimal::from(1_000);
        let mut b = activity(&[50, 60]);
        b.transactions_12m = 4;
        b.last_transaction_on = Some(day(2026, 2, 1));
        b.payroll_months_12m = 12;
        b.inflow_90d = Decimal::from(500);
        let merged = merge_activity(&[a, b]).unwrap();
        assert_eq!(
            merged.monthly_average_balances,
            [100, 250, 360].map(Decimal::from)
        );
        assert_eq!(merged.transactions_12m, 14);
        assert_eq!(merged.last_transaction_on, Some(day(2026, 2, 1)));
        assert_eq!(merged.payroll_months_12m, 12);
        assert_eq!(merged.inflow_90d, Decimal::from(1_500));
        assert_eq!(merge_activity(&[]), None);
    }

    #[test]
    fn contacts_belong_to_the_bank_s_calendar_day() {
        let at = "2026-03-01T17:30:00Z".parse().unwrap();
        assert_eq!(local_date(at), day(2026, 3, 2));
    }

    #[test]
    fn reasons_expose_their_inputs_as_graphql_json() {
        let reason = Reason::new(
            "TIER_BY_AUM",
            "x",
            serde_json::json!({ "aum": dec(Decimal::new(123_456, 2)), "months": [3, null] }),
        );
        let value = async_graphql::to_value(&reason.inputs).unwrap();
        assert_eq!(
            value.to_string(),
            r#"{aum: "1234.56", months: ["3", null]}"#
        );
    }

    #[test]
    fn insights_of_a_plain_customer_hold_together() {
        let config = InsightConfig::embedded();
        let world = world();
        let all = insights(&config, &world.inputs());
        assert_eq!(all.tier, Tier::Gold);
        assert!(all.reasons.iter().any(|r| r.rule == "TIER_BY_AUM"));
        let json = serde_json::to_value(&all).unwrap();
        assert!(json["value"]["annualContribution"]["amount"].is_string());
    }

    #[tokio::test]
    async fn the_issue_s_graphql_names_resolve() {
        struct Query;
        #[async_graphql::Object]
        impl Query {
            async fn insights(&self) -> Insights {
                let mut world = world();
                world.activity_mut().current_min_balance_90d = Decimal::from(60_000);
                insights(&InsightConfig::embedded(), &world.inputs())
            }
            async fn holdings(&self) -> Holdings {
                holdings(&InsightConfig::embedded(), &world().inputs()).0
            }
        }
        let schema = async_graphql::Schema::new(
            Query,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        );
        // A reason's detail and inputs are served as a viewer may see them.
        let policies =
            crate::auth::Policies::load(std::path::Path::new("config/policies.toml")).unwrap();
        let viewer = crate::auth::Viewer::new(
            crate::auth::Identity {
                subject: "rm".into(),
                role: "relationship_manager".into(),
                staff_id: Some("S0001".into()),
                branch: None,
                customer: None,
                client: None,
            },
            policies.role("relationship_manager").unwrap().clone(),
            None,
            None,
        );
        let response = schema
            .execute(
                async_graphql::Request::new(
                "{ holdings { aum { amount currency } deposits { amount } loansOutstanding { amount } \
                   creditLimit { amount } creditUsed { amount } productCount fxAsOf } \
                   insights { tier lifecycleStage \
                     value { recency frequency monetary segment annualContribution { amount } clv { amount } reasons { rule } } \
                     churnRisk { score level reasons { rule } } \
                     satisfaction { averageScore responses csat complaints12m openComplaints overdueComplaints } \
                     nextBestOffers { product channel score reasons { rule detail inputs } } \
                     reasons { rule detail inputs } } }",
                )
                .data(viewer),
            )
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        assert_eq!(data["holdings"]["aum"]["amount"], "80000.00");
        assert_eq!(data["insights"]["tier"], "GOLD");
        let offer = &data["insights"]["nextBestOffers"][0];
        assert_eq!(offer["product"], "WEALTH_R1_R2");
        assert_eq!(offer["channel"], "APP_PUSH");
        assert_eq!(offer["reasons"][0]["inputs"]["threshold"], "50000");
    }
}
