//! A customer's value: RFM scores and segment (docs/domain.md#rfm), the annual
//! contribution and the lifetime value it implies (docs/domain.md#contribution-and-clv).

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::holdings::{card_is_open, loan_is_open, to_cny};
use super::{cny, days_since, dec, show, Holdings, Inputs, InsightConfig, Reason, Tier};
use crate::domain::{CardKind, Money};

#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[graphql(name = "CustomerValue")]
#[serde(rename_all = "camelCase")]
pub struct Value {
    /// 1-5, from days since the last customer-initiated transaction.
    pub recency: i32,
    /// 1-5, from customer-initiated transactions in 12 months.
    pub frequency: i32,
    /// 1-5, from tier and AUM.
    pub monetary: i32,
    /// HIGH_VALUE_LOYAL, HIGH_VALUE_AT_RISK, NEW_TO_ACTIVATE, POTENTIAL or DORMANT;
    /// none for the middle of the book, which no segment describes.
    pub segment: Option<String>,
    /// m: what the customer earns the bank in a year, in CNY.
    pub annual_contribution: Money,
    /// m·r / (1 + d − r), in CNY.
    pub clv: Money,
    pub reasons: Vec<Reason>,
}

/// Customer lifetime value of a yearly contribution `m` kept with probability
/// `retention_pct` a year and discounted at `discount_pct`
/// (docs/domain.md#contribution-and-clv).
pub fn clv(m: Decimal, retention_pct: Decimal, discount_pct: Decimal) -> Decimal {
    let r = retention_pct / Decimal::ONE_HUNDRED;
    let d = discount_pct / Decimal::ONE_HUNDRED;
    m * r / (Decimal::ONE + d - r)
}

fn recency_score(config: &InsightConfig, days: Option<i64>) -> i32 {
    let Some(days) = days else { return 1 };
    config
        .rfm
        .recency_days
        .iter()
        .position(|limit| days <= *limit)
        .map_or(1, |i| 5 - i as i32)
}

fn frequency_score(config: &InsightConfig, count: u32) -> i32 {
    config
        .rfm
        .frequency
        .iter()
        .position(|floor| count >= *floor)
        .map_or(1, |i| 5 - i as i32)
}

fn monetary_score(config: &InsightConfig, tier: Tier, aum: Decimal) -> i32 {
    match tier {
        Tier::Private | Tier::Diamond => 5,
        Tier::Platinum => 4,
        Tier::Gold => 3,
        Tier::Mass if aum >= config.rfm.monetary_min_aum => 2,
        Tier::Mass => 1,
    }
}

/// The segments of docs/domain.md#rfm; their conditions do not overlap.
fn segment(r: i32, f: i32, m: i32) -> Option<(&'static str, &'static str)> {
    if r >= 4 && f >= 4 && m >= 4 {
        Some(("HIGH_VALUE_LOYAL", "高价值忠诚"))
    } else if r <= 2 && m >= 4 {
        Some(("HIGH_VALUE_AT_RISK", "高价值流失预警"))
    } else if r >= 4 && f <= 2 {
        Some(("NEW_TO_ACTIVATE", "新户待激活"))
    } else if f >= 4 && m <= 2 {
        Some(("POTENTIAL", "潜力提升"))
    } else if r <= 2 && f <= 2 && m <= 2 {
        Some(("DORMANT", "沉睡"))
    } else {
        None
    }
}

/// Wealth, fund and insurance fees are part of m (docs/domain.md#contribution-and-clv),
/// but no upstream reports those holdings yet, so m counts deposits, loans and cards only.
pub fn value(config: &InsightConfig, inputs: &Inputs, held: &Holdings, tier: Tier) -> Value {
    let mut reasons = Vec::new();
    let aum = held.aum.amount;

    let (days, count) = match inputs.activity {
        Some(a) => (
            a.last_transaction_on.map(|d| days_since(inputs.as_of, d)),
            a.transactions_12m,
        ),
        None => {
            reasons.push(Reason::new(
                "RFM_NO_ACTIVITY",
                "No 12-month activity figures are available; recency and frequency score 1.",
                json!({}),
            ));
            (None, 0)
        }
    };
    let recency = recency_score(config, days);
    let frequency = frequency_score(config, count);
    let monetary = monetary_score(config, tier, aum);
    reasons.push(Reason::new(
        "RFM_SCORES",
        format!(
            "R {recency} ({}), F {frequency} ({count} customer-initiated transactions in 12 months), M {monetary} ({} with AUM {} CNY).",
            days.map_or("no transaction in the record".to_owned(), |d| format!("{d} days since the last transaction")),
            tier.as_str(),
            show(aum)
        ),
        json!({
            "daysSinceLastTransaction": days,
            "transactions12m": count,
            "tier": tier.as_str(),
            "aum": dec(aum),
            "recencyDays": config.rfm.recency_days,
            "frequency": config.rfm.frequency,
        }),
    ));
    let segment = segment(recency, frequency, monetary);
    if let Some((code, name)) = segment {
        reasons.push(Reason::new(
            "RFM_SEGMENT",
            format!("Segment {code} ({name}) from R {recency}, F {frequency}, M {monetary}."),
            json!({ "recency": recency, "frequency": frequency, "monetary": monetary }),
        ));
    }

    let c = &config.contribution;
    let pct = |v: Decimal| v / Decimal::ONE_HUNDRED;
    let deposit_income = aum * pct(c.deposit_ftp_spread_pct);
    let mut loan_income = Decimal::ZERO;
    let mut unpriced = Vec::new();
    for loan in inputs.loans.iter().filter(|l| loan_is_open(l)) {
        match (loan.rate, to_cny(config, &loan.outstanding)) {
            (Some(rate), Some(outstanding)) => {
                loan_income +=
                    outstanding * pct(rate - c.loan_ftp_rate_pct - c.loan_expected_loss_pct);
            }
            _ => unpriced.push(loan.id.clone()),
        }
    }
    let open_credit_cards = inputs
        .cards
        .iter()
        .filter(|card| card.kind == CardKind::Credit && card_is_open(card))
        .count();
    let card_income = held.credit_used.amount * pct(c.card_fee_rate_pct)
        + c.card_annual_fee * Decimal::from(open_credit_cards);
    let m = deposit_income + loan_income + card_income - c.servicing_cost;
    reasons.push(Reason::new(
        "CONTRIBUTION",
        format!(
            "Annual contribution {} CNY = deposits {} × {}% + loan margin {} + card income {} − servicing {}.",
            show(m),
            show(aum),
            c.deposit_ftp_spread_pct.normalize(),
            show(loan_income),
            show(card_income),
            show(c.servicing_cost)
        ),
        json!({
            "aum": dec(aum),
            "depositFtpSpreadPct": dec(c.deposit_ftp_spread_pct),
            "depositIncome": dec(deposit_income),
            "loanFtpRatePct": dec(c.loan_ftp_rate_pct),
            "loanExpectedLossPct": dec(c.loan_expected_loss_pct),
            "loanIncome": dec(loan_income),
            "loansWithoutRate": unpriced,
            "creditUsed": dec(held.credit_used.amount),
            "cardFeeRatePct": dec(c.card_fee_rate_pct),
            "openCreditCards": open_credit_cards,
            "cardAnnualFee": dec(c.card_annual_fee),
            "cardIncome": dec(card_income),
            "servicingCost": dec(c.servicing_cost),
            "annualContribution": dec(m),
        }),
    ));

    let retention = segment
        .and_then(|(code, _)| c.retention_by_segment.get(code))
        .copied()
        .unwrap_or(c.retention_pct);
    let lifetime = clv(m, retention, c.discount_rate_pct);
    reasons.push(Reason::new(
        "CLV",
        format!(
            "CLV {} CNY = m {} × r {}% / (1 + d {}% − r).",
            show(lifetime),
            show(m),
            retention.normalize(),
            c.discount_rate_pct.normalize()
        ),
        json!({
            "annualContribution": dec(m),
            "retentionPct": dec(retention),
            "discountRatePct": dec(c.discount_rate_pct),
            "segment": segment.map(|(code, _)| code),
            "clv": dec(lifetime),
        }),
    ));

    Value {
        recency,
        frequency,
        monetary,
        segment: segment.map(|(code, _)| code.to_owned()),
        annual_contribution: cny(m),
        clv: cny(lifetime),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::{holdings, tier_for};
    use super::*;
    use crate::domain::LoanProduct;

    fn value_of(w: &World) -> Value {
        let c = InsightConfig::embedded();
        let (h, _) = holdings(&c, &w.inputs());
        let t = tier_for(&c, h.aum.amount);
        value(&c, &w.inputs(), &h, t)
    }

    #[test]
    fn the_domain_example_gives_7391() {
        let v = clv(d("2000"), d("85"), d("8"));
        assert_eq!(v.round_dp(2), d("7391.30"));
    }

    #[test]
    fn recency_breakpoints() {
        let c = InsightConfig::embedded();
        for (days, score) in [
            (Some(0), 5),
            (Some(30), 5),
            (Some(31), 4),
            (Some(90), 4),
            (Some(91), 3),
            (Some(180), 3),
            (Some(181), 2),
            (Some(365), 2),
            (Some(366), 1),
            (None, 1),
        ] {
            assert_eq!(recency_score(&c, days), score, "{days:?}");
        }
    }

    #[test]
    fn frequency_breakpoints() {
        let c = InsightConfig::embedded();
        for (count, score) in [
            (120, 5),
            (119, 4),
            (48, 4),
            (47, 3),
            (24, 3),
            (23, 2),
            (6, 2),
            (5, 1),
            (0, 1),
        ] {
            assert_eq!(frequency_score(&c, count), score, "{count}");
        }
    }

    #[test]
    fn monetary_follows_tier_then_aum() {
        let c = InsightConfig::embedded();
        assert_eq!(monetary_score(&c, Tier::Private, d("6000000")), 5);
        assert_eq!(monetary_score(&c, Tier::Diamond, d("2000000")), 5);
        assert_eq!(monetary_score(&c, Tier::Platinum, d("500000")), 4);
        assert_eq!(monetary_score(&c, Tier::Gold, d("50000")), 3);
        assert_eq!(monetary_score(&c, Tier::Mass, d("10000")), 2);
        assert_eq!(monetary_score(&c, Tier::Mass, d("9999.99")), 1);
    }

    #[test]
    fn segments() {
        assert_eq!(segment(4, 4, 4).unwrap().0, "HIGH_VALUE_LOYAL");
        assert_eq!(segment(2, 5, 4).unwrap().0, "HIGH_VALUE_AT_RISK");
        assert_eq!(segment(5, 2, 3).unwrap().0, "NEW_TO_ACTIVATE");
        assert_eq!(segment(3, 4, 2).unwrap().0, "POTENTIAL");
        assert_eq!(segment(2, 2, 2).unwrap().0, "DORMANT");
        assert_eq!(segment(3, 3, 3), None);
    }

    #[test]
    fn contribution_adds_spread_margin_and_fees_less_servicing() {
        let mut w = world();
        w.activity = Some(activity(&[100_000; 6]));
        w.cards = vec![credit_card("50000", "10000")];
        w.loans = vec![
            loan(LoanProduct::Mortgage, "500000", Some("3.9")),
            loan(LoanProduct::Consumer, "20000", None),
        ];
        let v = value_of(&w);
        // deposits 100,000 × 1.5% = 1,500
        // mortgage 500,000 × (3.9 − 2.8 − 0.6)% = 2,500; the consumer loan has no rate
        // cards 10,000 × 6% + 1 × 100 = 700
        // m = 1,500 + 2,500 + 700 − 120 = 4,580
        assert_eq!(v.annual_contribution, money("4580", "CNY"));
        let reason = v.reasons.iter().find(|r| r.rule == "CONTRIBUTION").unwrap();
        assert_eq!(reason.inputs.0["loanIncome"], "2500");
        assert_eq!(
            reason.inputs.0["loansWithoutRate"][0],
            w.loans[1].id.as_str()
        );
        // R 5 (11 days), F 4 (60), M 3 (GOLD): no segment, r = 85%.
        // CLV = 4,580 × 0.85 / 0.23 = 16,926.0869…
        assert_eq!((v.recency, v.frequency, v.monetary), (5, 4, 3));
        assert_eq!(v.segment, None);
        assert_eq!(v.clv, money("16926.09", "CNY"));
    }

    #[test]
    fn a_segment_s_retention_replaces_the_default() {
        let mut w = world();
        w.activity = Some(activity(&[1_000_000; 6]));
        w.activity_mut().transactions_12m = 200;
        let v = value_of(&w);
        assert_eq!(v.segment.as_deref(), Some("HIGH_VALUE_LOYAL"));
        // m = 1,000,000 × 1.5% − 120 = 14,880; r = 95%: 14,880 × 0.95 / 0.13
        assert_eq!(v.annual_contribution, money("14880", "CNY"));
        assert_eq!(v.clv, money("108738.46", "CNY"));
    }

    #[test]
    fn without_activity_recency_and_frequency_score_one() {
        let mut w = world();
        w.activity = None;
        let v = value_of(&w);
        assert_eq!((v.recency, v.frequency), (1, 1));
        assert_eq!(v.reasons[0].rule, "RFM_NO_ACTIVITY");
    }
}
