//! Churn risk: additive points per warning signal (docs/domain.md#churn), so that the score
//! is the sum of the reasons a relationship manager sees.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::lifecycle::{days_without_login, payroll_stopped};
use super::satisfaction::{complaint_is_overdue, is_complaint};
use super::{
    days_since, dec, fall_pct, local_date, payroll_active, show, Inputs, InsightConfig, Reason,
    Tier,
};
use crate::domain::{AccountStatus, AccountType, CardKind, CardStatus, LoanStatus};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChurnLevel {
    Low,
    Medium,
    High,
}

impl ChurnLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnLevel::Low => "LOW",
            ChurnLevel::Medium => "MEDIUM",
            ChurnLevel::High => "HIGH",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct ChurnRisk {
    /// 0-100: the points of the signals that fired, capped.
    pub score: i32,
    pub level: ChurnLevel,
    pub reasons: Vec<Reason>,
}

pub fn churn_level(config: &InsightConfig, score: i32) -> ChurnLevel {
    if score >= config.churn.high {
        ChurnLevel::High
    } else if score >= config.churn.medium {
        ChurnLevel::Medium
    } else {
        ChurnLevel::Low
    }
}

/// A reason that carries its points in `inputs.points`.
fn signal(rule: &str, points: i32, detail: String, mut inputs: serde_json::Value) -> (i32, Reason) {
    inputs["points"] = json!(points);
    (
        points,
        Reason::new(rule, format!("+{points}: {detail}"), inputs),
    )
}

/// The matured-deposit signal wants "funds out within 7 days"; activity aggregates
/// outbound transfers over 30 days only, so a maturity within
/// `churn.matured_deposit_days` followed by any money sent to other banks stands in.
pub fn churn_risk(config: &InsightConfig, inputs: &Inputs, aum: Decimal, tier: Tier) -> ChurnRisk {
    let c = &config.churn;
    let as_of = inputs.as_of;
    let mut fired: Vec<(i32, Reason)> = Vec::new();

    if let Some(a) = inputs.activity {
        let m = &a.monthly_average_balances;
        if m.len() >= 4 {
            let (before, now) = (m[m.len() - 4], m[m.len() - 1]);
            if let Some(fall) = fall_pct(before, now).filter(|f| *f >= c.aum_drop_3m_pct) {
                fired.push(signal(
                    "CHURN_AUM_DROP_3M",
                    c.aum_drop_3m_points,
                    format!(
                        "Monthly AUM fell {}% in 3 months, from {} to {} CNY (threshold {}%).",
                        show(fall),
                        show(before),
                        show(now),
                        c.aum_drop_3m_pct.normalize()
                    ),
                    json!({ "before": dec(before), "now": dec(now), "fallPct": dec(fall), "thresholdPct": dec(c.aum_drop_3m_pct) }),
                ));
            }
        }
        let out = a.outbound_transfers_30d;
        if aum > Decimal::ZERO
            && out > Decimal::ZERO
            && out * Decimal::ONE_HUNDRED >= aum * c.outbound_transfers_share_pct
        {
            fired.push(signal(
                "CHURN_OUTBOUND_TRANSFERS",
                c.outbound_transfers_points,
                format!(
                    "{} CNY sent to other banks in 30 days, {}% of AUM {} CNY (threshold {}%).",
                    show(out),
                    show(out / aum * Decimal::ONE_HUNDRED),
                    show(aum),
                    c.outbound_transfers_share_pct.normalize()
                ),
                json!({ "outboundTransfers30d": dec(out), "aum": dec(aum), "thresholdPct": dec(c.outbound_transfers_share_pct) }),
            ));
        }
        if a.payroll_months_12m >= config.payroll.min_months && !payroll_active(config, as_of, a) {
            let stopped = payroll_stopped(config, inputs, "CHURN_PAYROLL_STOPPED");
            fired.push(signal(
                "CHURN_PAYROLL_STOPPED",
                c.payroll_stopped_points,
                stopped.detail,
                stopped.inputs.0,
            ));
        }
        let matured: Vec<_> = inputs
            .accounts
            .iter()
            .filter(|acc| {
                acc.account_type == AccountType::TimeDeposit
                    && acc.status == AccountStatus::Closed
                    && acc.maturity_date.is_some_and(|m| {
                        m <= as_of && days_since(as_of, m) <= c.matured_deposit_days
                    })
            })
            .collect();
        if !matured.is_empty() && out > Decimal::ZERO {
            let (points, reason) = signal(
                "CHURN_MATURED_DEPOSIT_OUT",
                c.matured_deposit_points,
                format!(
                    "{} time deposit(s) matured in the last {} days and were not renewed; {} CNY went to other banks.",
                    matured.len(),
                    c.matured_deposit_days,
                    show(out)
                ),
                json!({
                    "accounts": matured.iter().map(|a| a.number.as_str()).collect::<Vec<_>>(),
                    "maturityDates": matured.iter().map(|a| a.maturity_date.map(|d| d.to_string())).collect::<Vec<_>>(),
                    "outboundTransfers30d": dec(out),
                }),
            );
            fired.push((points, reason.naming(matured.iter().copied())));
        }
        let idle_cards: Vec<_> = inputs
            .cards
            .iter()
            .filter(|card| {
                card.kind == CardKind::Credit
                    && card.status == CardStatus::Active
                    && card
                        .issued_at
                        .is_none_or(|d| days_since(as_of, d) >= c.card_idle_days)
            })
            .collect();
        let unused = a
            .card_last_used_on
            .map(|d| days_since(as_of, d))
            .is_none_or(|d| d >= c.card_idle_days);
        if !idle_cards.is_empty() && unused {
            fired.push(signal(
                "CHURN_CARD_IDLE",
                c.card_idle_points,
                format!(
                    "Credit card unused for {} (3 statement cycles are {} days).",
                    a.card_last_used_on.map_or("ever".to_owned(), |d| format!("{} days", days_since(as_of, d))),
                    c.card_idle_days
                ),
                json!({ "cardLastUsedOn": a.card_last_used_on.map(|d| d.to_string()), "idleDays": c.card_idle_days }),
            ));
        }
    }

    if let Some(days) = days_without_login(inputs).filter(|d| *d >= c.no_login_days) {
        fired.push(signal(
            "CHURN_NO_LOGIN",
            c.no_login_points,
            format!(
                "No online-banking login for {days} days (threshold {}).",
                c.no_login_days
            ),
            json!({ "daysSinceLogin": days }),
        ));
    }

    let recent: Vec<_> = inputs
        .interactions
        .iter()
        .filter(|i| {
            is_complaint(i) && days_since(as_of, local_date(i.occurred_at)) <= c.complaint_days
        })
        .collect();
    if !recent.is_empty() {
        let overdue = recent
            .iter()
            .filter(|i| complaint_is_overdue(config, as_of, i))
            .count();
        let (rule, points) = if overdue > 0 {
            ("CHURN_COMPLAINT_OVERDUE", c.complaint_overdue_points)
        } else {
            ("CHURN_COMPLAINT", c.complaint_points)
        };
        fired.push(signal(
            rule,
            points,
            format!(
                "{} complaint(s) in the last {} days, {overdue} past the {}-day SLA.",
                recent.len(),
                c.complaint_days,
                config.satisfaction.complaint_sla_days
            ),
            json!({
                "complaints": recent.len(),
                "overdue": overdue,
                "latest": recent.iter().map(|i| local_date(i.occurred_at)).max().map(|d| d.to_string()),
            }),
        ));
    }

    let prepaid: Vec<_> = inputs
        .loans
        .iter()
        .filter(|l| l.status == LoanStatus::PaidOff && l.maturity_date.is_some_and(|m| m > as_of))
        .collect();
    if !prepaid.is_empty() {
        fired.push(signal(
            "CHURN_LOAN_PREPAID",
            c.loan_prepaid_points,
            format!(
                "{} loan(s) paid off in full before maturity.",
                prepaid.len()
            ),
            json!({ "loans": prepaid.iter().map(|l| l.id.as_str()).collect::<Vec<_>>() }),
        ));
    }

    let total: i32 = fired.iter().map(|(p, _)| p).sum();
    let score = total.min(100);
    let level = churn_level(config, score);
    let mut reasons: Vec<Reason> = fired.into_iter().map(|(_, r)| r).collect();
    if total > 100 {
        reasons.push(Reason::new(
            "CHURN_SCORE_CAPPED",
            format!("The signals add up to {total}; the score is capped at 100."),
            json!({ "total": total }),
        ));
    }
    if level == ChurnLevel::High && tier >= c.rm_task_min_tier {
        reasons.push(Reason::new(
            "CHURN_RM_TASK",
            format!(
                "HIGH churn risk for a {} customer: open a relationship-manager task.",
                tier.as_str()
            ),
            json!({ "tier": tier.as_str(), "score": score, "minTier": c.rm_task_min_tier.as_str() }),
        ));
    }
    ChurnRisk {
        score,
        level,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::domain::{InteractionChannel, InteractionOutcome, InteractionType, LoanProduct};

    fn risk(w: &World, tier: Tier) -> ChurnRisk {
        let c = InsightConfig::embedded();
        churn_risk(&c, &w.inputs(), d("80000"), tier)
    }

    fn rules(r: &ChurnRisk) -> Vec<&str> {
        r.reasons.iter().map(|r| r.rule.as_str()).collect()
    }

    #[test]
    fn a_quiet_customer_scores_zero() {
        let r = risk(&world(), Tier::Gold);
        assert_eq!((r.score, r.level), (0, ChurnLevel::Low));
        assert!(r.reasons.is_empty());
    }

    #[test]
    fn aum_drop_over_three_months() {
        let mut w = world();
        // 100,000 three months ago, 70,000 now: −30%.
        w.activity = Some(activity(&[
            100_000, 100_000, 100_000, 90_000, 80_000, 70_000,
        ]));
        let r = risk(&w, Tier::Gold);
        assert_eq!((r.score, rules(&r)), (30, vec!["CHURN_AUM_DROP_3M"]));
        assert_eq!(r.reasons[0].inputs.0["points"], "30");
        w.activity = Some(activity(&[
            100_000, 100_000, 100_000, 90_000, 80_000, 70_001,
        ]));
        assert_eq!(risk(&w, Tier::Gold).score, 0);
    }

    #[test]
    fn transfers_out_of_half_the_aum() {
        let mut w = world();
        w.activity_mut().outbound_transfers_30d = d("40000");
        assert_eq!(rules(&risk(&w, Tier::Gold)), ["CHURN_OUTBOUND_TRANSFERS"]);
        w.activity_mut().outbound_transfers_30d = d("39999.99");
        assert_eq!(risk(&w, Tier::Gold).score, 0);
    }

    #[test]
    fn payroll_that_stopped() {
        let mut w = world();
        w.activity_mut().payroll_months_12m = 3;
        w.activity_mut().last_payroll_on = Some(day(2026, 1, 30)); // 60 days: still running
        assert_eq!(risk(&w, Tier::Gold).score, 0);
        w.activity_mut().last_payroll_on = Some(day(2026, 1, 29)); // 61 days
        let r = risk(&w, Tier::Gold);
        assert_eq!((r.score, rules(&r)), (25, vec!["CHURN_PAYROLL_STOPPED"]));
        assert!(
            r.reasons[0].detail.starts_with("+25: Payroll came in 3"),
            "{}",
            r.reasons[0].detail
        );
        w.activity_mut().payroll_months_12m = 2;
        assert_eq!(risk(&w, Tier::Gold).score, 0, "never a payroll customer");
    }

    #[test]
    fn matured_deposit_not_renewed_and_sent_away() {
        let mut w = world();
        let mut td = account(AccountType::TimeDeposit, "0", "CNY");
        td.status = AccountStatus::Closed;
        td.maturity_date = Some(day(2026, 3, 20));
        w.accounts.push(td);
        assert_eq!(risk(&w, Tier::Gold).score, 0, "the money stayed");
        w.activity_mut().outbound_transfers_30d = d("1000");
        assert_eq!(rules(&risk(&w, Tier::Gold)), ["CHURN_MATURED_DEPOSIT_OUT"]);
        w.accounts[1].maturity_date = Some(day(2026, 2, 28)); // 31 days ago
        assert_eq!(risk(&w, Tier::Gold).score, 0);
    }

    #[test]
    fn no_login_for_ninety_days() {
        let mut w = world();
        w.online.as_mut().unwrap().last_login_at = Some(noon(day(2025, 12, 31)));
        assert_eq!(risk(&w, Tier::Gold).score, 10);
        w.online.as_mut().unwrap().last_login_at = Some(noon(day(2026, 1, 1)));
        assert_eq!(risk(&w, Tier::Gold).score, 0);
    }

    #[test]
    fn recent_complaints_and_overdue_ones() {
        let mut w = world();
        let mut c = interaction(
            InteractionType::Complaint,
            InteractionChannel::CallCenter,
            day(2026, 3, 25),
        );
        c.outcome = Some(InteractionOutcome::Pending);
        w.interactions.push(c);
        let r = risk(&w, Tier::Gold);
        assert_eq!((r.score, rules(&r)), (10, vec!["CHURN_COMPLAINT"]));
        w.interactions[0].occurred_at = noon(day(2026, 3, 1)); // open for 30 days
        let r = risk(&w, Tier::Gold);
        assert_eq!((r.score, rules(&r)), (15, vec!["CHURN_COMPLAINT_OVERDUE"]));
        w.interactions[0].occurred_at = noon(day(2025, 12, 30)); // 91 days ago
        assert_eq!(risk(&w, Tier::Gold).score, 0);
    }

    #[test]
    fn idle_credit_card() {
        let mut w = world();
        w.cards.push(credit_card("20000", "0"));
        w.activity_mut().card_last_used_on = Some(day(2026, 1, 1)); // 89 days
        assert_eq!(risk(&w, Tier::Gold).score, 0);
        w.activity_mut().card_last_used_on = Some(day(2025, 12, 31)); // 90 days
        assert_eq!(rules(&risk(&w, Tier::Gold)), ["CHURN_CARD_IDLE"]);
    }

    #[test]
    fn loan_prepaid_in_full() {
        let mut w = world();
        let mut l = loan(LoanProduct::Consumer, "0", Some("5"));
        l.status = LoanStatus::PaidOff;
        w.loans.push(l);
        assert_eq!(rules(&risk(&w, Tier::Gold)), ["CHURN_LOAN_PREPAID"]);
        w.loans[0].maturity_date = Some(day(2026, 3, 1));
        assert_eq!(risk(&w, Tier::Gold).score, 0, "paid off at maturity");
    }

    #[test]
    fn levels_and_the_cap() {
        let c = InsightConfig::embedded();
        assert_eq!(churn_level(&c, 24), ChurnLevel::Low);
        assert_eq!(churn_level(&c, 25), ChurnLevel::Medium);
        assert_eq!(churn_level(&c, 49), ChurnLevel::Medium);
        assert_eq!(churn_level(&c, 50), ChurnLevel::High);

        let mut w = world();
        w.activity = Some(activity(&[
            100_000, 100_000, 100_000, 90_000, 80_000, 10_000,
        ]));
        w.activity_mut().outbound_transfers_30d = d("80000");
        w.activity_mut().payroll_months_12m = 12;
        w.activity_mut().last_payroll_on = Some(day(2025, 12, 1));
        w.online.as_mut().unwrap().last_login_at = Some(noon(day(2025, 6, 1)));
        // 30 + 25 + 25 + 10 = 90
        assert_eq!(risk(&w, Tier::Gold).score, 90);
        let mut l = loan(LoanProduct::Consumer, "0", Some("5"));
        l.status = LoanStatus::PaidOff;
        w.loans.push(l);
        w.cards.push(credit_card("1000", "0"));
        // + 10 + 10 = 110, capped
        let r = risk(&w, Tier::Gold);
        assert_eq!((r.score, r.level), (100, ChurnLevel::High));
        assert!(rules(&r).contains(&"CHURN_SCORE_CAPPED"));
        assert!(
            !rules(&r).contains(&"CHURN_RM_TASK"),
            "GOLD is below PLATINUM"
        );
        assert!(rules(&risk(&w, Tier::Platinum)).contains(&"CHURN_RM_TASK"));
    }
}
