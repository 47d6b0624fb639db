//! Satisfaction and complaints from the hub's contact log (docs/domain.md#satisfaction).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::{days_since, dec, local_date, Inputs, InsightConfig, Reason};
use crate::domain::{Interaction, InteractionType};

#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct Satisfaction {
    /// Mean of the 1-5 scores given, to 2 places; none without responses.
    pub average_score: Option<Decimal>,
    pub responses: i32,
    /// Percent of responses scoring 4 or 5, to 2 places.
    pub csat: Option<Decimal>,
    #[graphql(name = "complaints12m")]
    pub complaints_12m: i32,
    /// Complaints without a final outcome.
    pub open_complaints: i32,
    /// Open complaints past the regulatory decision deadline.
    pub overdue_complaints: i32,
    pub reasons: Vec<Reason>,
}

pub(crate) fn is_complaint(i: &Interaction) -> bool {
    i.kind == InteractionType::Complaint
}

fn is_open(i: &Interaction) -> bool {
    i.outcome.is_none_or(|o| o.is_open())
}

/// An open complaint older than `satisfaction.complaint_sla_days`. The log does not
/// record when a complaint was decided, so one closed late cannot be told from one
/// closed on time; only complaints still open are counted as breaches.
pub(crate) fn complaint_is_overdue(
    config: &InsightConfig,
    as_of: NaiveDate,
    i: &Interaction,
) -> bool {
    is_complaint(i)
        && is_open(i)
        && days_since(as_of, local_date(i.occurred_at)) > config.satisfaction.complaint_sla_days
}

pub fn satisfaction(config: &InsightConfig, inputs: &Inputs) -> Satisfaction {
    let window = config.satisfaction.window_days;
    let recent: Vec<&Interaction> = inputs
        .interactions
        .iter()
        .filter(|i| {
            let age = days_since(inputs.as_of, local_date(i.occurred_at));
            (0..window).contains(&age)
        })
        .collect();
    let scores: Vec<u8> = recent.iter().filter_map(|i| i.satisfaction).collect();
    let responses = scores.len();
    let (average_score, csat) = if responses == 0 {
        (None, None)
    } else {
        let n = Decimal::from(responses);
        let sum: Decimal = scores.iter().map(|s| Decimal::from(*s)).sum();
        let satisfied = scores.iter().filter(|s| **s >= 4).count();
        (
            Some((sum / n).round_dp(2)),
            Some((Decimal::from(satisfied) * Decimal::ONE_HUNDRED / n).round_dp(2)),
        )
    };
    let complaints: Vec<&&Interaction> = recent.iter().filter(|i| is_complaint(i)).collect();
    let open = complaints.iter().filter(|i| is_open(i)).count();
    let overdue: Vec<&&&Interaction> = complaints
        .iter()
        .filter(|i| complaint_is_overdue(config, inputs.as_of, i))
        .collect();

    let mut reasons = vec![Reason::new(
        "SATISFACTION_SCORES",
        match (average_score, csat) {
            (Some(avg), Some(csat)) => format!(
                "{responses} rated contact(s) in {window} days: average {}, CSAT {}% (share scoring 4-5).",
                avg.normalize(),
                csat.normalize()
            ),
            _ => format!("No rated contact in {window} days."),
        },
        json!({
            "responses": responses,
            "averageScore": average_score.map(dec),
            "csatPct": csat.map(dec),
            "windowDays": window,
        }),
    )];
    if !complaints.is_empty() {
        reasons.push(Reason::new(
            "SATISFACTION_COMPLAINTS",
            format!(
                "{} complaint(s) in {window} days, {open} open.",
                complaints.len()
            ),
            json!({ "complaints": complaints.len(), "open": open }),
        ));
    }
    if !overdue.is_empty() {
        reasons.push(Reason::new(
            "COMPLAINT_SLA_BREACH",
            format!(
                "{} open complaint(s) past the {}-day decision deadline of the 2020 complaint-handling measures.",
                overdue.len(),
                config.satisfaction.complaint_sla_days
            ),
            json!({
                "slaDays": config.satisfaction.complaint_sla_days,
                "received": overdue.iter().map(|i| local_date(i.occurred_at).to_string()).collect::<Vec<_>>(),
                "interactions": overdue.iter().map(|i| i.id.to_string()).collect::<Vec<_>>(),
            }),
        ));
    }
    Satisfaction {
        average_score,
        responses: responses as i32,
        csat,
        complaints_12m: complaints.len() as i32,
        open_complaints: open as i32,
        overdue_complaints: overdue.len() as i32,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::domain::{InteractionChannel, InteractionOutcome};

    fn rated(score: u8, on: NaiveDate) -> Interaction {
        let mut i = interaction(InteractionType::Service, InteractionChannel::Branch, on);
        i.satisfaction = Some(score);
        i
    }

    fn complaint(on: NaiveDate, outcome: Option<InteractionOutcome>) -> Interaction {
        let mut i = interaction(
            InteractionType::Complaint,
            InteractionChannel::CallCenter,
            on,
        );
        i.outcome = outcome;
        i
    }

    #[test]
    fn csat_is_the_share_of_fours_and_fives() {
        let c = InsightConfig::embedded();
        let mut w = world();
        w.interactions = vec![
            rated(5, day(2026, 3, 1)),
            rated(4, day(2026, 2, 1)),
            rated(2, day(2026, 1, 1)),
            rated(1, day(2025, 3, 30)), // 366 days ago: outside
        ];
        let s = satisfaction(&c, &w.inputs());
        assert_eq!(s.responses, 3);
        // (5 + 4 + 2) / 3 = 3.666… → 3.67; 2 of 3 → 66.67%
        assert_eq!(s.average_score, Some(d("3.67")));
        assert_eq!(s.csat, Some(d("66.67")));
    }

    #[test]
    fn no_responses_means_no_average() {
        let c = InsightConfig::embedded();
        let s = satisfaction(&c, &world().inputs());
        assert_eq!((s.average_score, s.csat, s.responses), (None, None, 0));
    }

    #[test]
    fn complaints_past_fifteen_days_and_still_open_breach_the_sla() {
        let c = InsightConfig::embedded();
        let mut w = world();
        w.interactions = vec![
            complaint(day(2026, 3, 16), Some(InteractionOutcome::Pending)), // 15 days: due today
            complaint(day(2026, 3, 15), None),                              // 16 days: overdue
            complaint(day(2026, 3, 1), Some(InteractionOutcome::Escalated)), // overdue
            complaint(day(2026, 1, 1), Some(InteractionOutcome::Resolved)), // closed
            complaint(day(2025, 1, 1), None),                               // outside 12 months
        ];
        let s = satisfaction(&c, &w.inputs());
        assert_eq!(
            (s.complaints_12m, s.open_complaints, s.overdue_complaints),
            (4, 3, 2)
        );
        assert_eq!(s.reasons.last().unwrap().rule, "COMPLAINT_SLA_BREACH");
    }
}
