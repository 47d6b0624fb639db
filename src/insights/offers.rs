//! Next best offers (docs/domain.md#next-best-offers): rules over holdings gaps and
//! events, then hard gates that no score can outweigh.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::holdings::{card_is_open, loan_is_open};
use super::satisfaction::is_complaint;
use super::{
    days_since, dec, local_date, payroll_active, show, Holdings, Inputs, InsightConfig, Reason,
    Tier,
};
use crate::domain::{
    bank_time_zone, may_contact, AccountStatus, AccountType, CardKind, ConsentPurpose,
    ContactChannel, ContactReason, CustomerKind, InteractionChannel, InteractionDirection,
    InteractionType, LoanClass, OnlineUserStatus,
};

#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// TIME_DEPOSIT_RENEWAL, MOBILE_BANKING, WEALTH_R1_R2, CREDIT_CARD,
    /// TIER_UPGRADE_ADVICE or HOUSEHOLD_PROPOSITION.
    pub product: String,
    /// A channel the customer consented to marketing on.
    pub channel: ContactChannel,
    /// 0-100; offers come highest first.
    pub score: i32,
    pub reasons: Vec<Reason>,
}

struct Candidate {
    product: &'static str,
    score: i32,
    /// Lending: withheld from customers whose credit is in doubt.
    credit: bool,
    reason: Reason,
}

/// Candidates from rules 1, 2, 3, 4, 6 and 7 of docs/domain.md#next-best-offers.
///
/// Rule 5 (three views of one product in 14 days without a purchase) needs session
/// events per product, which the channel system does not deliver to the hub; it is
/// left out rather than guessed. The suitability gate (product risk R1-R5 within the
/// customer's appetite C1-C5) cannot be checked either, because no upstream reports
/// the risk assessment: the only wealth offer is therefore the lowest-risk R1/R2
/// shelf, and the relationship manager confirms suitability at the sale. Rule 2's
/// "no wealth holding" is likewise unknown and taken as true.
fn candidates(
    config: &InsightConfig,
    inputs: &Inputs,
    held: &Holdings,
    tier: Tier,
) -> Vec<Candidate> {
    let n = &config.nbo;
    let s = &n.scores;
    let as_of = inputs.as_of;
    let mut out = Vec::new();

    let maturing: Vec<_> = inputs
        .accounts
        .iter()
        .filter(|a| {
            a.account_type == AccountType::TimeDeposit
                && a.status != AccountStatus::Closed
                && a.maturity_date
                    .is_some_and(|m| m >= as_of && (m - as_of).num_days() <= n.maturity_window_days)
        })
        .collect();
    if !maturing.is_empty() {
        let first = maturing.iter().filter_map(|a| a.maturity_date).min();
        out.push(Candidate {
            product: "TIME_DEPOSIT_RENEWAL",
            score: s.time_deposit_renewal,
            credit: false,
            reason: Reason::new(
                "NBO_TIME_DEPOSIT_MATURING",
                format!(
                    "{} time deposit(s) mature within {} days (first on {}): offer renewal or a same-or-lower-risk wealth product.",
                    maturing.len(),
                    n.maturity_window_days,
                    first.map_or(String::new(), |d| d.to_string())
                ),
                json!({
                    "accounts": maturing.iter().map(|a| a.number.as_str()).collect::<Vec<_>>(),
                    "maturityDates": maturing.iter().map(|a| a.maturity_date.map(|d| d.to_string())).collect::<Vec<_>>(),
                    "balances": maturing.iter().map(|a| json!({"amount": dec(a.balance.amount), "currency": a.balance.currency})).collect::<Vec<_>>(),
                    "windowDays": n.maturity_window_days,
                }),
            )
            .naming(maturing.iter().copied()),
        });
    }

    let online_enrolled = inputs
        .online
        .is_some_and(|u| u.status != OnlineUserStatus::Closed);
    let year_ago = as_of - Duration::days(365);
    let branch_visits = inputs
        .interactions
        .iter()
        .filter(|i| {
            i.channel == InteractionChannel::Branch
                && i.direction == InteractionDirection::Inbound
                && local_date(i.occurred_at) > year_ago
        })
        .count();
    if !online_enrolled && branch_visits >= n.branch_heavy_min_visits {
        out.push(Candidate {
            product: "MOBILE_BANKING",
            score: s.mobile_banking,
            credit: false,
            reason: Reason::new(
                "NBO_BRANCH_HEAVY",
                format!(
                    "{branch_visits} branch visits in 12 months and not enrolled in mobile banking."
                ),
                json!({ "branchVisits12m": branch_visits, "minVisits": n.branch_heavy_min_visits }),
            ),
        });
    }

    if let Some(idle) = inputs
        .activity
        .map(|a| a.current_min_balance_90d)
        .filter(|b| *b >= n.idle_balance)
    {
        out.push(Candidate {
            product: "WEALTH_R1_R2",
            score: s.idle_balance_wealth,
            credit: false,
            reason: Reason::new(
                "NBO_IDLE_BALANCE",
                format!(
                    "At least {} CNY stayed idle in current accounts for 90 days (threshold {} CNY).",
                    show(idle),
                    show(n.idle_balance)
                ),
                json!({ "currentMinBalance90d": dec(idle), "threshold": dec(n.idle_balance) }),
            ),
        });
    }

    let age = inputs
        .customer
        .birth_date
        .and_then(|b| as_of.years_since(b))
        .map(|y| y as i32);
    let has_credit_card = inputs
        .cards
        .iter()
        .any(|c| c.kind == CardKind::Credit && card_is_open(c));
    if let (Some(a), Some(age)) = (inputs.activity, age) {
        if inputs.customer.kind == CustomerKind::Individual
            && payroll_active(config, as_of, a)
            && (n.credit_card_min_age..=n.credit_card_max_age).contains(&age)
            && !has_credit_card
        {
            out.push(Candidate {
                product: "CREDIT_CARD",
                score: s.credit_card,
                credit: true,
                reason: Reason::new(
                    "NBO_PAYROLL_NO_CREDIT_CARD",
                    format!(
                        "Payroll customer aged {age} (payroll in {} of 12 months) without a credit card.",
                        a.payroll_months_12m
                    ),
                    json!({
                        "age": age,
                        "payrollMonths12m": a.payroll_months_12m,
                        "lastPayrollOn": a.last_payroll_on.map(|d| d.to_string()),
                    }),
                )
                .carrying(crate::domain::DataClass::BirthDate),
            });
        }
    }

    if let Some(next) = tier.next() {
        let aum = held.aum.amount;
        let threshold = next.threshold(config);
        let floor =
            threshold * (Decimal::ONE_HUNDRED - n.tier_upgrade_gap_pct) / Decimal::ONE_HUNDRED;
        if aum >= floor && aum < threshold {
            out.push(Candidate {
                product: "TIER_UPGRADE_ADVICE",
                score: s.tier_upgrade,
                credit: false,
                reason: Reason::new(
                    "NBO_NEAR_NEXT_TIER",
                    format!(
                        "AUM {} CNY is {} CNY short of {} at {} CNY (within {}%).",
                        show(aum),
                        show(threshold - aum),
                        next.as_str(),
                        show(threshold),
                        n.tier_upgrade_gap_pct.normalize()
                    ),
                    json!({ "aum": dec(aum), "nextTier": next.as_str(), "threshold": dec(threshold), "gapPct": dec(n.tier_upgrade_gap_pct) }),
                ),
            });
        }
    }

    if let Some(best) = inputs.household_best_tier {
        if best >= n.household_min_tier && tier == Tier::Mass {
            out.push(Candidate {
                product: "HOUSEHOLD_PROPOSITION",
                score: s.household,
                credit: false,
                reason: Reason::new(
                    "NBO_HOUSEHOLD",
                    format!(
                        "A household member is {} while this customer is MASS.",
                        best.as_str()
                    ),
                    json!({ "householdBestTier": best.as_str(), "tier": tier.as_str() }),
                ),
            });
        }
    }
    out
}

/// Noon in Beijing on the business date: offers are planned for the day, so quiet
/// hours (a question of when to send) do not remove them.
fn planning_time(inputs: &Inputs) -> DateTime<Utc> {
    let noon = inputs
        .as_of
        .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    bank_time_zone()
        .from_local_datetime(&noon)
        .single()
        .map_or_else(|| Utc.from_utc_datetime(&noon), |t| t.with_timezone(&Utc))
}

fn products(candidates: &[Candidate]) -> Vec<&'static str> {
    candidates.iter().map(|c| c.product).collect()
}

/// Offers ranked highest score first, and a reason for each gate that removed an
/// offer (or a channel): overdue loans and recent complaints remove everything,
/// doubtful credit removes lending, the contact-frequency cap and marketing consent
/// (through [`may_contact`]) decide whether and where the bank may reach out.
pub fn next_best_offers(
    config: &InsightConfig,
    inputs: &Inputs,
    held: &Holdings,
    tier: Tier,
) -> (Vec<Offer>, Vec<Reason>) {
    let n = &config.nbo;
    let as_of = inputs.as_of;
    let mut found = candidates(config, inputs, held, tier);
    let mut gates = Vec::new();
    if found.is_empty() {
        return (Vec::new(), gates);
    }

    let overdue: Vec<_> = inputs
        .loans
        .iter()
        .filter(|l| loan_is_open(l) && l.overdue_days > 0)
        .collect();
    if !overdue.is_empty() {
        gates.push(Reason::new(
            "NBO_GATE_OVERDUE",
            format!(
                "No offers: {} loan(s) overdue (up to {} days).",
                overdue.len(),
                overdue.iter().map(|l| l.overdue_days).max().unwrap_or(0)
            ),
            json!({
                "loans": overdue.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
                "overdueDays": overdue.iter().map(|l| l.overdue_days).collect::<Vec<_>>(),
                "removed": products(&found),
            }),
        ));
        return (Vec::new(), gates);
    }

    let complaint = inputs
        .interactions
        .iter()
        .filter(|i| is_complaint(i))
        .map(|i| local_date(i.occurred_at))
        .filter(|d| days_since(as_of, *d) <= n.complaint_quiet_days)
        .max();
    if let Some(on) = complaint {
        gates.push(Reason::new(
            "NBO_GATE_COMPLAINT",
            format!(
                "No offers: a complaint on {on}, within the {}-day quiet period.",
                n.complaint_quiet_days
            ),
            json!({ "complaintOn": on.to_string(), "quietDays": n.complaint_quiet_days, "removed": products(&found) }),
        ));
        return (Vec::new(), gates);
    }

    let weak_loans: Vec<_> = inputs
        .loans
        .iter()
        .filter(|l| loan_is_open(l) && l.classification >= LoanClass::SpecialMention)
        .collect();
    let late_cards: Vec<_> = inputs
        .cards
        .iter()
        .filter(|c| c.days_past_due.unwrap_or(0) > 0)
        .collect();
    if (!weak_loans.is_empty() || !late_cards.is_empty()) && found.iter().any(|c| c.credit) {
        let removed: Vec<_> = found
            .iter()
            .filter(|c| c.credit)
            .map(|c| c.product)
            .collect();
        found.retain(|c| !c.credit);
        gates.push(Reason::new(
            "NBO_GATE_CREDIT",
            format!(
                "No credit offers: {} loan(s) classified special mention or worse, {} card(s) past due.",
                weak_loans.len(),
                late_cards.len()
            ),
            json!({
                "loans": weak_loans.iter().map(|l| json!({"id": l.id, "class": l.classification})).collect::<Vec<_>>(),
                "cards": late_cards.iter().map(|c| json!({"id": c.id, "daysPastDue": c.days_past_due})).collect::<Vec<_>>(),
                "removed": removed,
            }),
        ));
    }
    if found.is_empty() {
        return (Vec::new(), gates);
    }

    let last_marketing = inputs
        .interactions
        .iter()
        .filter(|i| {
            i.kind == InteractionType::Marketing && i.direction == InteractionDirection::Outbound
        })
        .map(|i| local_date(i.occurred_at))
        .filter(|d| days_since(as_of, *d) < n.marketing_interval_days)
        .max();
    if let Some(on) = last_marketing {
        gates.push(Reason::new(
            "NBO_GATE_CONTACT_FREQUENCY",
            format!(
                "No offers: the last outbound marketing contact was on {on}; at most one per {} days.",
                n.marketing_interval_days
            ),
            json!({ "lastMarketingOn": on.to_string(), "intervalDays": n.marketing_interval_days, "removed": products(&found) }),
        ));
        return (Vec::new(), gates);
    }

    let mut order: Vec<ContactChannel> = inputs
        .preferences
        .and_then(|p| p.preferred_channel)
        .into_iter()
        .collect();
    for channel in &n.channels {
        if !order.contains(channel) {
            order.push(*channel);
        }
    }
    let at = planning_time(inputs);
    let mut withdrawn = Vec::new();
    let mut never_asked = Vec::new();
    let mut chosen = None;
    for channel in order {
        let decision = may_contact(
            inputs.consents,
            inputs.preferences,
            ConsentPurpose::Marketing,
            channel,
            at,
        );
        match decision.reason {
            ContactReason::Allowed | ContactReason::QuietHours => {
                chosen = Some(channel);
                break;
            }
            ContactReason::DoNotContact => {
                gates.push(Reason::new(
                    "NBO_GATE_DO_NOT_CONTACT",
                    "No offers: the customer asked not to be contacted for marketing.",
                    json!({ "removed": products(&found) }),
                ));
                return (Vec::new(), gates);
            }
            ContactReason::ConsentWithdrawn => withdrawn.push(channel),
            ContactReason::NoConsent => never_asked.push(channel),
        }
    }
    let removed = if chosen.is_some() {
        json!([])
    } else {
        json!(products(&found))
    };
    if !withdrawn.is_empty() {
        gates.push(Reason::new(
            "NBO_GATE_CONSENT",
            format!(
                "Marketing consent is withdrawn on {}; {}.",
                withdrawn
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                chosen.map_or(
                    "no other channel is consented, so no offers".to_owned(),
                    |c| { format!("offers go by {c}") }
                )
            ),
            json!({ "withdrawn": withdrawn, "channel": chosen, "removed": removed }),
        ));
    }
    let Some(channel) = chosen else {
        if !never_asked.is_empty() {
            gates.push(Reason::new(
                "NBO_GATE_NO_CONSENT",
                format!(
                    "No offers: marketing consent was never given on {} (PIPL needs an explicit one).",
                    never_asked.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                ),
                json!({ "neverAsked": never_asked, "removed": removed }),
            ));
        }
        return (Vec::new(), gates);
    };

    let mut offers: Vec<Offer> = found
        .into_iter()
        .map(|c| Offer {
            product: c.product.to_owned(),
            channel,
            score: c.score,
            reasons: vec![c.reason],
        })
        .collect();
    offers.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.product.cmp(&b.product))
    });
    (offers, gates)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::{holdings, tier_for};
    use super::*;
    use crate::domain::{LoanProduct, QuietHours};

    fn offers(w: &World) -> (Vec<Offer>, Vec<Reason>) {
        let c = InsightConfig::embedded();
        let (h, _) = holdings(&c, &w.inputs());
        let t = tier_for(&c, h.aum.amount);
        next_best_offers(&c, &w.inputs(), &h, t)
    }

    fn offered(w: &World) -> Vec<String> {
        offers(w).0.into_iter().map(|o| o.product).collect()
    }

    fn gates(w: &World) -> Vec<String> {
        offers(w).1.into_iter().map(|r| r.rule).collect()
    }

    /// A 30-year-old payroll customer with 60,000 idle and a deposit maturing in 30
    /// days: three offers.
    fn eligible() -> World {
        let mut w = world();
        let mut td = account(AccountType::TimeDeposit, "20000", "CNY");
        td.maturity_date = Some(day(2026, 4, 30));
        w.accounts.push(td);
        let a = w.activity_mut();
        a.payroll_months_12m = 12;
        a.last_payroll_on = Some(day(2026, 3, 25));
        a.current_min_balance_90d = d("60000");
        w
    }

    #[test]
    fn rules_one_two_and_three_rank_by_score() {
        let (o, g) = offers(&eligible());
        let ranked: Vec<(&str, i32)> = o.iter().map(|o| (o.product.as_str(), o.score)).collect();
        assert_eq!(
            ranked,
            [
                ("TIME_DEPOSIT_RENEWAL", 90),
                ("WEALTH_R1_R2", 60),
                ("CREDIT_CARD", 50)
            ]
        );
        assert!(o.iter().all(|o| o.channel == ContactChannel::AppPush));
        assert_eq!(o[0].reasons[0].rule, "NBO_TIME_DEPOSIT_MATURING");
        assert!(g.is_empty());
    }

    #[test]
    fn rule_one_window_and_rule_two_threshold() {
        let mut w = eligible();
        w.accounts[1].maturity_date = Some(day(2026, 5, 1)); // 31 days
        w.activity_mut().current_min_balance_90d = d("49999.99");
        assert_eq!(offered(&w), ["CREDIT_CARD"]);
    }

    #[test]
    fn rule_three_needs_payroll_age_and_no_card() {
        let mut w = eligible();
        w.customer.birth_date = Some(day(1970, 3, 31)); // 56 today
        assert!(!offered(&w).contains(&"CREDIT_CARD".to_owned()));
        w.customer.birth_date = Some(day(1970, 4, 1)); // 55
        assert!(offered(&w).contains(&"CREDIT_CARD".to_owned()));
        w.cards.push(credit_card("10000", "0"));
        assert!(!offered(&w).contains(&"CREDIT_CARD".to_owned()));
    }

    #[test]
    fn rule_four_near_the_next_tier() {
        let mut w = world();
        w.activity = Some(activity(&[450_000; 6])); // GOLD, 10% below PLATINUM
        let (o, _) = offers(&w);
        assert_eq!(o[0].product, "TIER_UPGRADE_ADVICE");
        assert_eq!(o[0].reasons[0].inputs.0["nextTier"], "PLATINUM");
        w.activity = Some(activity(&[449_999; 6]));
        assert!(offered(&w).is_empty());
    }

    #[test]
    fn rule_six_branch_heavy_without_mobile_banking() {
        let mut w = world();
        w.interactions = (1..=3)
            .map(|m| {
                interaction(
                    InteractionType::Service,
                    InteractionChannel::Branch,
                    day(2026, m, 5),
                )
            })
            .collect();
        assert!(offered(&w).is_empty(), "enrolled already");
        w.online = None;
        assert_eq!(offered(&w), ["MOBILE_BANKING"]);
        w.interactions.pop();
        assert!(offered(&w).is_empty(), "two visits are not branch-heavy");
    }

    #[test]
    fn rule_seven_household_proposition() {
        let mut w = world();
        w.activity = Some(activity(&[1_000; 6]));
        w.household_best_tier = Some(Tier::Platinum);
        assert!(offered(&w).is_empty());
        w.household_best_tier = Some(Tier::Diamond);
        assert_eq!(offered(&w), ["HOUSEHOLD_PROPOSITION"]);
    }

    #[test]
    fn an_overdue_loan_stops_every_offer() {
        let mut w = eligible();
        let mut l = loan(LoanProduct::Consumer, "5000", Some("6"));
        l.overdue_days = 3;
        w.loans.push(l);
        let (o, g) = offers(&w);
        assert!(o.is_empty());
        assert_eq!(g[0].rule, "NBO_GATE_OVERDUE");
        assert_eq!(g[0].inputs.0["removed"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn doubtful_credit_stops_credit_offers_only() {
        let mut w = eligible();
        let mut l = loan(LoanProduct::Consumer, "5000", Some("6"));
        l.classification = LoanClass::SpecialMention;
        w.loans.push(l);
        assert_eq!(offered(&w), ["TIME_DEPOSIT_RENEWAL", "WEALTH_R1_R2"]);
        assert_eq!(gates(&w), ["NBO_GATE_CREDIT"]);

        let mut w = eligible();
        let mut card = debit_card();
        card.days_past_due = Some(5);
        w.cards.push(card);
        assert_eq!(offered(&w), ["TIME_DEPOSIT_RENEWAL", "WEALTH_R1_R2"]);
        assert_eq!(gates(&w), ["NBO_GATE_CREDIT"]);
    }

    #[test]
    fn a_recent_complaint_stops_offers_for_thirty_days() {
        let mut w = eligible();
        w.interactions.push(interaction(
            InteractionType::Complaint,
            InteractionChannel::CallCenter,
            day(2026, 3, 1),
        ));
        assert!(offered(&w).is_empty());
        assert_eq!(gates(&w), ["NBO_GATE_COMPLAINT"]);
        w.interactions[0].occurred_at = noon(day(2026, 2, 28)); // 31 days ago
        assert_eq!(offered(&w).len(), 3);
    }

    #[test]
    fn at_most_one_marketing_contact_a_week() {
        let mut w = eligible();
        let mut m = interaction(
            InteractionType::Marketing,
            InteractionChannel::Sms,
            day(2026, 3, 25),
        );
        m.direction = InteractionDirection::Outbound;
        w.interactions.push(m);
        assert!(offered(&w).is_empty());
        assert_eq!(gates(&w), ["NBO_GATE_CONTACT_FREQUENCY"]);
        w.interactions[0].occurred_at = noon(day(2026, 3, 24)); // 7 days ago
        assert_eq!(offered(&w).len(), 3);
    }

    #[test]
    fn withdrawn_consent_moves_offers_to_another_channel_or_stops_them() {
        let mut w = eligible();
        w.consents.push(consent(ContactChannel::AppPush, false));
        assert!(offered(&w).is_empty());
        assert_eq!(gates(&w), ["NBO_GATE_CONSENT", "NBO_GATE_NO_CONSENT"]);

        w.consents.push(consent(ContactChannel::Email, true));
        let (o, g) = offers(&w);
        assert!(o.iter().all(|o| o.channel == ContactChannel::Email));
        assert_eq!(g[0].rule, "NBO_GATE_CONSENT");
        assert_eq!(g[0].inputs.0["channel"], "EMAIL");
    }

    #[test]
    fn do_not_contact_stops_every_offer() {
        let mut w = eligible();
        w.preferences = Some(preferences(true));
        assert!(offered(&w).is_empty());
        assert_eq!(gates(&w), ["NBO_GATE_DO_NOT_CONTACT"]);
    }

    #[test]
    fn the_preferred_channel_comes_first_and_quiet_hours_do_not_matter() {
        let mut w = eligible();
        w.consents.push(consent(ContactChannel::Sms, true));
        let mut p = preferences(false);
        p.preferred_channel = Some(ContactChannel::Sms);
        p.quiet_hours = Some(QuietHours {
            start: NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
        });
        w.preferences = Some(p);
        let (o, g) = offers(&w);
        assert!(o.iter().all(|o| o.channel == ContactChannel::Sms));
        assert!(g.is_empty());
    }

    #[test]
    fn gates_say_nothing_when_there_was_nothing_to_remove() {
        let mut w = world();
        w.preferences = Some(preferences(true));
        let (o, g) = offers(&w);
        assert!(o.is_empty() && g.is_empty());
    }
}
