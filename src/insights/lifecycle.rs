//! Where the customer is in the relationship's life (docs/domain.md#lifecycle): the
//! thesis's 考察期, 形成期, 稳定期 and 退化期, plus CHURNED.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::holdings::{card_is_open, loan_is_open};
use super::{
    days_since, dec, fall_pct, local_date, payroll_active, show, Holdings, Inputs, InsightConfig,
    Reason,
};
use crate::domain::{
    AccountStatus, CardKind, CardStatus, CustomerStatus, LoanProduct, LoanStatus, OnlineUserStatus,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleStage {
    /// 考察期: the customer is trying the bank out.
    Exploration,
    /// 形成期: the relationship is growing.
    Formation,
    /// 稳定期: a mature, anchored relationship.
    Stability,
    /// 退化期: the relationship is shrinking.
    Decline,
    Churned,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Exploration => "EXPLORATION",
            LifecycleStage::Formation => "FORMATION",
            LifecycleStage::Stability => "STABILITY",
            LifecycleStage::Decline => "DECLINE",
            LifecycleStage::Churned => "CHURNED",
        }
    }
}

/// The day the relationship began: onboarding, else the oldest product.
fn relationship_start(inputs: &Inputs) -> Option<NaiveDate> {
    inputs.customer.onboarded_at.or_else(|| {
        let accounts = inputs.accounts.iter().filter_map(|a| a.opened_at);
        let cards = inputs.cards.iter().filter_map(|c| c.issued_at);
        let loans = inputs.loans.iter().filter_map(|l| l.start_date);
        accounts.chain(cards).chain(loans).min()
    })
}

/// Signals that the relationship is shrinking; shared by DECLINE here. Each is a
/// reason; the stage needs any one.
fn decline_signals(config: &InsightConfig, inputs: &Inputs) -> Vec<Reason> {
    let l = &config.lifecycle;
    let mut fired = Vec::new();
    if let Some(a) = inputs.activity {
        let months = &a.monthly_average_balances;
        if let Some(latest) = months.last().copied() {
            let window: Vec<Decimal> = months.iter().rev().take(6).copied().collect();
            let average = window.iter().sum::<Decimal>() / Decimal::from(window.len());
            if let Some(fall) = fall_pct(average, latest).filter(|f| *f >= l.decline_aum_drop_pct) {
                fired.push(Reason::new(
                    "LIFECYCLE_DECLINE_AUM",
                    format!(
                        "Latest monthly AUM {} CNY is {}% below the {}-month average of {} CNY (threshold {}%).",
                        show(latest),
                        show(fall),
                        window.len(),
                        show(average),
                        l.decline_aum_drop_pct.normalize()
                    ),
                    json!({ "latest": dec(latest), "average": dec(average), "fallPct": dec(fall), "thresholdPct": dec(l.decline_aum_drop_pct) }),
                ));
            }
        }
        let (now, before) = (
            Decimal::from(a.transactions_90d),
            Decimal::from(a.transactions_prior_90d),
        );
        if let Some(fall) = fall_pct(before, now).filter(|f| *f >= l.decline_transactions_drop_pct)
        {
            fired.push(Reason::new(
                "LIFECYCLE_DECLINE_TRANSACTIONS",
                format!(
                    "{now} transactions in the last 90 days against {before} in the 90 days before: {}% fewer (threshold {}%).",
                    show(fall),
                    l.decline_transactions_drop_pct.normalize()
                ),
                json!({ "transactions90d": a.transactions_90d, "transactionsPrior90d": a.transactions_prior_90d, "fallPct": dec(fall) }),
            ));
        }
        if a.payroll_months_12m >= config.payroll.min_months
            && !payroll_active(config, inputs.as_of, a)
        {
            fired.push(payroll_stopped(config, inputs, "LIFECYCLE_DECLINE_PAYROLL"));
        }
    }
    if let Some(days) = days_without_login(inputs).filter(|d| *d >= l.decline_no_login_days) {
        fired.push(Reason::new(
            "LIFECYCLE_DECLINE_NO_LOGIN",
            format!(
                "No online-banking login for {days} days (threshold {}).",
                l.decline_no_login_days
            ),
            json!({ "daysSinceLogin": days }),
        ));
    }
    let year_ago = inputs.as_of - chrono::Duration::days(365);
    for loan in inputs.loans.iter().filter(|loan| {
        loan.product == LoanProduct::Mortgage
            && loan.status == LoanStatus::PaidOff
            && loan.maturity_date.is_some_and(|m| m > year_ago)
    }) {
        fired.push(Reason::new(
            "LIFECYCLE_DECLINE_MORTGAGE_CLOSED",
            format!(
                "Mortgage {} is paid off (due to mature {}).",
                loan.id,
                loan.maturity_date.map_or(String::new(), |d| d.to_string())
            ),
            json!({ "loan": loan.id, "maturityDate": loan.maturity_date.map(|d| d.to_string()) }),
        ));
    }
    let credit = inputs.cards.iter().filter(|c| c.kind == CardKind::Credit);
    if credit.clone().any(|c| c.status == CardStatus::Closed) && !credit.clone().any(card_is_open) {
        fired.push(Reason::new(
            "LIFECYCLE_DECLINE_CARD_CLOSED",
            "The customer closed their credit card and holds no other.",
            json!({ "closedCards": credit.filter(|c| c.status == CardStatus::Closed).map(|c| c.id.as_str()).collect::<Vec<_>>() }),
        ));
    }
    fired
}

/// Days since the last online-banking login of a customer who has logged in before
/// and not closed online banking. The channel system reports only the last login, so
/// "after monthly activity" (docs/domain.md#lifecycle, docs/domain.md#churn) reads as
/// "has used it at all".
pub(crate) fn days_without_login(inputs: &Inputs) -> Option<i64> {
    let user = inputs
        .online
        .filter(|u| u.status != OnlineUserStatus::Closed)?;
    user.last_login_at
        .map(|at| days_since(inputs.as_of, local_date(at)))
}

pub(crate) fn payroll_stopped(config: &InsightConfig, inputs: &Inputs, rule: &str) -> Reason {
    let a = inputs.activity;
    let last = a.and_then(|a| a.last_payroll_on);
    Reason::new(
        rule,
        format!(
            "Payroll came in {} of the last 12 months but not in the last {} days (last {}).",
            a.map_or(0, |a| a.payroll_months_12m),
            config.payroll.gap_days,
            last.map_or("unknown".to_owned(), |d| d.to_string())
        ),
        json!({
            "payrollMonths12m": a.map(|a| a.payroll_months_12m),
            "lastPayrollOn": last.map(|d| d.to_string()),
            "gapDays": config.payroll.gap_days,
        }),
    )
}

/// The first matching row of docs/domain.md#lifecycle wins: CHURNED, DECLINE, EXPLORATION,
/// STABILITY, else FORMATION.
pub fn lifecycle_stage(
    config: &InsightConfig,
    inputs: &Inputs,
    held: &Holdings,
) -> (LifecycleStage, Vec<Reason>) {
    let l = &config.lifecycle;
    let aum = held.aum.amount;

    if inputs.customer.status == CustomerStatus::Closed {
        return (
            LifecycleStage::Churned,
            vec![Reason::new(
                "LIFECYCLE_CHURNED_CLOSED",
                "The customer record is closed.",
                json!({ "status": "CLOSED" }),
            )],
        );
    }
    let records = inputs.accounts.len() + inputs.cards.len() + inputs.loans.len();
    let open = inputs
        .accounts
        .iter()
        .filter(|a| a.status != AccountStatus::Closed)
        .count()
        + inputs.cards.iter().filter(|c| card_is_open(c)).count()
        + inputs.loans.iter().filter(|l| loan_is_open(l)).count();
    if records > 0 && open == 0 {
        return (
            LifecycleStage::Churned,
            vec![Reason::new(
                "LIFECYCLE_CHURNED_ALL_CLOSED",
                format!("All {records} products are closed."),
                json!({ "products": records }),
            )],
        );
    }
    if let Some(a) = inputs.activity {
        let idle = a.last_transaction_on.map(|d| days_since(inputs.as_of, d));
        if idle.is_none_or(|d| d >= l.churned_idle_days) && aum < l.churned_max_aum {
            return (
                LifecycleStage::Churned,
                vec![Reason::new(
                    "LIFECYCLE_CHURNED_IDLE",
                    format!(
                        "No customer-initiated transaction for {} and AUM {} CNY is below {} CNY.",
                        idle.map_or("12 months".to_owned(), |d| format!("{d} days")),
                        show(aum),
                        show(l.churned_max_aum)
                    ),
                    json!({ "daysSinceLastTransaction": idle, "aum": dec(aum), "idleDays": l.churned_idle_days, "maxAum": dec(l.churned_max_aum) }),
                )],
            );
        }
    }

    let decline = decline_signals(config, inputs);
    if !decline.is_empty() {
        return (LifecycleStage::Decline, decline);
    }

    let tenure = relationship_start(inputs).map(|d| days_since(inputs.as_of, d));
    let products = held.product_count;
    let tenure_inputs = json!({
        "tenureDays": tenure,
        "productCount": products,
        "aum": dec(aum),
    });
    if let Some(t) = tenure {
        if t <= l.exploration_days {
            return (
                LifecycleStage::Exploration,
                vec![Reason::new(
                    "LIFECYCLE_EXPLORATION_NEW",
                    format!("A customer for {t} days (up to {}).", l.exploration_days),
                    tenure_inputs,
                )],
            );
        }
        if t <= l.exploration_extended_days
            && products <= l.exploration_max_products
            && aum < l.exploration_max_aum
        {
            return (
                LifecycleStage::Exploration,
                vec![Reason::new(
                    "LIFECYCLE_EXPLORATION_SHALLOW",
                    format!(
                        "A customer for {t} days with {products} product line(s) and AUM {} CNY below {} CNY.",
                        show(aum),
                        show(l.exploration_max_aum)
                    ),
                    tenure_inputs,
                )],
            );
        }
    }

    let anchor = inputs
        .activity
        .is_some_and(|a| payroll_active(config, inputs.as_of, a))
        || inputs
            .loans
            .iter()
            .any(|loan| loan.product == LoanProduct::Mortgage && loan_is_open(loan));
    let change = inputs.activity.and_then(|a| {
        let m = &a.monthly_average_balances;
        (m.len() >= 4).then(|| fall_pct(m[m.len() - 4], m[m.len() - 1]))?
    });
    let steady = change.is_none_or(|fall| fall < l.stability_max_aum_fall_pct);
    if tenure.is_some_and(|t| t > l.stability_min_tenure_days)
        && (products >= l.stability_min_products || anchor)
        && steady
    {
        return (
            LifecycleStage::Stability,
            vec![Reason::new(
                "LIFECYCLE_STABILITY",
                format!(
                    "A customer for {} days with {products} product line(s){}; 3-month AUM change {}.",
                    tenure.unwrap_or_default(),
                    if anchor { " and a payroll or mortgage anchor" } else { "" },
                    change.map_or("not measured".to_owned(), |f| format!("{}%", show(-f)))
                ),
                json!({
                    "tenureDays": tenure,
                    "productCount": products,
                    "anchor": anchor,
                    "aumChange3mPct": change.map(|f| dec(-f)),
                }),
            )],
        );
    }

    (
        LifecycleStage::Formation,
        vec![Reason::new(
            "LIFECYCLE_FORMATION",
            format!(
                "No other stage applies: tenure {}, {products} product line(s), AUM {} CNY.",
                tenure.map_or("unknown".to_owned(), |t| format!("{t} days")),
                show(aum)
            ),
            tenure_inputs,
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::super::holdings;
    use super::super::testkit::*;
    use super::*;
    use crate::domain::AccountType;

    fn stage(w: &World) -> (LifecycleStage, Vec<String>) {
        let c = InsightConfig::embedded();
        let (h, _) = holdings(&c, &w.inputs());
        let (s, reasons) = lifecycle_stage(&c, &w.inputs(), &h);
        (s, reasons.into_iter().map(|r| r.rule).collect())
    }

    /// Three years, three product lines (current account, debit card, e-banking),
    /// steady balances: STABILITY.
    fn stable() -> World {
        let mut w = world();
        w.cards.push(debit_card());
        w
    }

    #[test]
    fn stability_needs_tenure_depth_and_steady_balances() {
        assert_eq!(stage(&stable()).0, LifecycleStage::Stability);

        let mut w = world();
        assert_eq!(stage(&w).0, LifecycleStage::Formation, "two lines only");
        w.loans
            .push(loan(LoanProduct::Mortgage, "300000", Some("3.5")));
        assert_eq!(stage(&w).0, LifecycleStage::Stability, "a mortgage anchors");

        let mut w = stable();
        w.customer.onboarded_at = Some(day(2024, 10, 7));
        assert_eq!(
            stage(&w).0,
            LifecycleStage::Formation,
            "540 days is not more than 540"
        );
        w.customer.onboarded_at = Some(day(2024, 10, 6));
        assert_eq!(stage(&w).0, LifecycleStage::Stability);

        let mut w = stable();
        // 3-month change: 100,000 → 79,000 is −21%, yet above the 6-month decline line.
        w.activity = Some(activity(&[
            100_000, 100_000, 100_000, 100_000, 90_000, 79_000,
        ]));
        assert_eq!(stage(&w).0, LifecycleStage::Formation);
        w.activity = Some(activity(&[
            100_000, 100_000, 100_000, 100_000, 90_000, 81_000,
        ]));
        assert_eq!(stage(&w).0, LifecycleStage::Stability);
    }

    #[test]
    fn churned_when_everything_is_closed_or_idle_and_empty() {
        let mut w = stable();
        for a in &mut w.accounts {
            a.status = AccountStatus::Closed;
        }
        w.cards[0].status = CardStatus::Closed;
        assert_eq!(
            stage(&w),
            (
                LifecycleStage::Churned,
                vec!["LIFECYCLE_CHURNED_ALL_CLOSED".into()]
            )
        );

        let mut w = stable();
        w.activity = Some(activity(&[99; 6]));
        w.activity_mut().last_transaction_on = Some(day(2025, 10, 2)); // 180 days
        assert_eq!(stage(&w).1, ["LIFECYCLE_CHURNED_IDLE"]);
        w.activity_mut().last_transaction_on = Some(day(2025, 10, 3)); // 179 days
        assert_ne!(stage(&w).0, LifecycleStage::Churned);
        w.activity_mut().last_transaction_on = None;
        w.activity_mut().monthly_average_balances = vec![Decimal::from(100); 6];
        assert_ne!(
            stage(&w).0,
            LifecycleStage::Churned,
            "100 CNY is not below 100"
        );

        let mut w = stable();
        w.customer.status = CustomerStatus::Closed;
        assert_eq!(stage(&w).1, ["LIFECYCLE_CHURNED_CLOSED"]);
    }

    #[test]
    fn each_decline_signal_is_enough() {
        let mut w = stable();
        // Six-month average 85,000; the latest 60,000 is 29.4% below: not yet.
        w.activity = Some(activity(&[90_000, 90_000, 90_000, 90_000, 90_000, 60_000]));
        assert_ne!(stage(&w).0, LifecycleStage::Decline);
        // Six-month average 90,000; the latest 63,000 is exactly 30% below.
        w.activity = Some(activity(&[95_400, 95_400, 95_400, 95_400, 95_400, 63_000]));
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_AUM"]);

        let mut w = stable();
        w.activity_mut().transactions_prior_90d = 10;
        w.activity_mut().transactions_90d = 7;
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_TRANSACTIONS"]);
        w.activity_mut().transactions_90d = 8;
        assert_eq!(stage(&w).0, LifecycleStage::Stability);

        let mut w = stable();
        w.online.as_mut().unwrap().last_login_at = Some(noon(day(2025, 12, 31)));
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_NO_LOGIN"]);

        let mut w = stable();
        w.activity_mut().payroll_months_12m = 6;
        w.activity_mut().last_payroll_on = Some(day(2026, 1, 20));
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_PAYROLL"]);

        let mut w = stable();
        let mut paid = loan(LoanProduct::Mortgage, "0", Some("4"));
        paid.status = LoanStatus::PaidOff;
        w.loans.push(paid);
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_MORTGAGE_CLOSED"]);

        let mut w = stable();
        let mut card = credit_card("10000", "0");
        card.status = CardStatus::Closed;
        w.cards.push(card);
        assert_eq!(stage(&w).1, ["LIFECYCLE_DECLINE_CARD_CLOSED"]);
        w.cards.push(credit_card("10000", "0"));
        assert_eq!(
            stage(&w).0,
            LifecycleStage::Stability,
            "another card is still open"
        );
    }

    #[test]
    fn exploration_for_new_or_shallow_customers() {
        let mut w = world();
        w.customer.onboarded_at = Some(day(2026, 1, 1)); // 89 days
        assert_eq!(stage(&w).1, ["LIFECYCLE_EXPLORATION_NEW"]);

        w.customer.onboarded_at = Some(day(2025, 11, 1)); // 150 days
        w.online = None;
        w.activity = Some(activity(&[49_999; 6]));
        assert_eq!(stage(&w).1, ["LIFECYCLE_EXPLORATION_SHALLOW"]);
        w.activity = Some(activity(&[50_000; 6]));
        assert_eq!(stage(&w).0, LifecycleStage::Formation);
    }

    #[test]
    fn the_first_matching_row_wins() {
        // New (EXPLORATION) but already shrinking (DECLINE): DECLINE comes first.
        let mut w = world();
        w.customer.onboarded_at = Some(day(2026, 3, 1));
        w.activity = Some(activity(&[0, 0, 0, 0, 100_000, 10_000]));
        assert_eq!(stage(&w).0, LifecycleStage::Decline);
        // Idle and empty (CHURNED) and shrinking (DECLINE): CHURNED comes first.
        w.activity = Some(activity(&[10_000, 10_000, 10_000, 50, 50, 50]));
        w.activity_mut().last_transaction_on = None;
        assert_eq!(stage(&w).0, LifecycleStage::Churned);
    }

    #[test]
    fn tenure_falls_back_to_the_oldest_product() {
        let mut w = world();
        w.customer.onboarded_at = None;
        w.accounts = vec![account(AccountType::Current, "80000", "CNY")];
        w.accounts[0].opened_at = Some(day(2026, 2, 1));
        assert_eq!(stage(&w).0, LifecycleStage::Exploration);
    }
}
