//! Prospects: customers who hold little with the bank but whose money says they
//! could hold more. The BI list `prospects(filter)` is built from these.

use serde::Serialize;
use serde_json::json;

use super::holdings::loan_is_open;
use super::{dec, holdings, payroll_active, show, Inputs, InsightConfig, Reason};
use crate::domain::{CardKind, CustomerStatus};

#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Prospect {
    /// The strongest signal: PROSPECT_HIGH_INFLOW or PROSPECT_IDLE_BALANCE.
    pub reason_rule: String,
    pub suggested_product: String,
    /// The depth seen and every signal that fired.
    pub reasons: Vec<Reason>,
}

/// Lines that are services rather than products the customer chose to hold.
const SERVICE_LINES: [&str; 2] = ["E_BANKING", "PAYROLL"];

/// A prospect is an open customer with at most `prospect.max_products` product lines
/// (online banking and payroll not counted, so an online-banking-only user has 0)
/// and high inflow or an idle balance. Customers with overdue loans are left out: no
/// one may market to them (docs/domain.md#next-best-offers).
pub fn prospect(config: &InsightConfig, inputs: &Inputs) -> Option<Prospect> {
    let p = &config.prospect;
    if inputs.customer.status == CustomerStatus::Closed
        || inputs
            .loans
            .iter()
            .any(|l| loan_is_open(l) && l.overdue_days > 0)
    {
        return None;
    }
    let activity = inputs.activity?;
    let (held, _) = holdings(config, inputs);
    let depth = held
        .products_by_line
        .iter()
        .filter(|l| !SERVICE_LINES.contains(&l.line.as_str()))
        .count() as i32;
    if depth > p.max_products {
        return None;
    }

    let mut signals: Vec<(&str, &str, Reason)> = Vec::new();
    if activity.inflow_90d >= p.min_inflow_90d {
        let has_credit_card = inputs.cards.iter().any(|c| c.kind == CardKind::Credit);
        let product = if payroll_active(config, inputs.as_of, activity) && !has_credit_card {
            "CREDIT_CARD"
        } else {
            "WEALTH_R1_R2"
        };
        signals.push((
            "PROSPECT_HIGH_INFLOW",
            product,
            Reason::new(
                "PROSPECT_HIGH_INFLOW",
                format!(
                    "{} CNY came in over 90 days (threshold {} CNY).",
                    show(activity.inflow_90d),
                    show(p.min_inflow_90d)
                ),
                json!({ "inflow90d": dec(activity.inflow_90d), "threshold": dec(p.min_inflow_90d), "payroll": product == "CREDIT_CARD" }),
            ),
        ));
    }
    if activity.current_min_balance_90d >= p.min_idle_balance {
        signals.push((
            "PROSPECT_IDLE_BALANCE",
            "WEALTH_R1_R2",
            Reason::new(
                "PROSPECT_IDLE_BALANCE",
                format!(
                    "At least {} CNY stayed idle in current accounts for 90 days (threshold {} CNY).",
                    show(activity.current_min_balance_90d),
                    show(p.min_idle_balance)
                ),
                json!({ "currentMinBalance90d": dec(activity.current_min_balance_90d), "threshold": dec(p.min_idle_balance) }),
            ),
        ));
    }
    let (rule, product, _) = signals.first()?;
    let (rule, product) = (rule.to_string(), product.to_string());
    let mut reasons = vec![Reason::new(
        "PROSPECT_LOW_DEPTH",
        format!(
            "{depth} product line(s) besides online banking and payroll (at most {}).",
            p.max_products
        ),
        json!({ "productLines": depth, "maxProducts": p.max_products, "onlineBanking": inputs.online.is_some() }),
    )];
    reasons.extend(signals.into_iter().map(|(_, _, r)| r));
    Some(Prospect {
        reason_rule: rule,
        suggested_product: product,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::domain::LoanProduct;

    fn check(w: &World) -> Option<Prospect> {
        prospect(&InsightConfig::embedded(), &w.inputs())
    }

    #[test]
    fn a_single_product_customer_with_high_inflow() {
        let mut w = world();
        w.activity_mut().inflow_90d = d("30000");
        let p = check(&w).unwrap();
        assert_eq!(
            (p.reason_rule.as_str(), p.suggested_product.as_str()),
            ("PROSPECT_HIGH_INFLOW", "WEALTH_R1_R2")
        );
        w.activity_mut().payroll_months_12m = 12;
        w.activity_mut().last_payroll_on = Some(day(2026, 3, 25));
        assert_eq!(check(&w).unwrap().suggested_product, "CREDIT_CARD");
        w.activity_mut().inflow_90d = d("29999.99");
        assert_eq!(check(&w), None);
    }

    #[test]
    fn an_idle_balance_suggests_wealth() {
        let mut w = world();
        w.activity_mut().current_min_balance_90d = d("20000");
        let p = check(&w).unwrap();
        assert_eq!(p.reason_rule, "PROSPECT_IDLE_BALANCE");
        assert_eq!(p.reasons[0].rule, "PROSPECT_LOW_DEPTH");
    }

    #[test]
    fn deeper_or_overdue_customers_are_not_prospects() {
        let mut w = world();
        w.activity_mut().current_min_balance_90d = d("20000");
        w.cards.push(debit_card());
        assert_eq!(check(&w), None, "two product lines");

        let mut w = world();
        w.activity_mut().current_min_balance_90d = d("20000");
        w.accounts.clear();
        let mut l = loan(LoanProduct::Consumer, "1000", Some("6"));
        l.overdue_days = 1;
        w.loans.push(l);
        assert_eq!(check(&w), None);
    }
}
