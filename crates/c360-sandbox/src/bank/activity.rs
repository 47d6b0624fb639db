//! Core banking's management-information view of a customer's year: the aggregates
//! a CRM reads for a whole book at once (balance trend, activity, payroll, inflow,
//! transfers out, idle money, card use).
//!
//! Transaction counts and the last transaction date come from the same generator as
//! the account histories, so they agree with what `transactions` pages through. The
//! history keeps no balances, so balance trends, inflow and transfer totals follow a
//! per-customer scenario drawn on top of today's balances; payroll follows the bank's
//! payroll (代发) register, a monthly payday that stops for some customers, and the
//! history shows no salary credit after that stop.

use chrono::{Datelike, Duration, Months, NaiveDate};
use rust_decimal::Decimal;

use super::customers::Profile;
use super::model::{
    AccountType, ActivitySummary, CardStatus, CardType, CustomerKind, CustomerStatus,
};
use super::prng::Draw;
use super::{topic, Bank};

/// Months of monthly average balances in the view.
const MONTHS: u32 = 6;
/// CNY per USD (7.10) as a percentage, for deposit totals in CNY.
const USD_CNY_PERCENT: i64 = 710;
/// Share of payroll customers whose payroll stopped three to six months ago, per mille.
const PAYROLL_STOPPED_PER_MILLE: u64 = 150;
/// Monthly salary range in yuan per wealth band.
const SALARY_BY_BAND: [(i64, i64); 8] = [
    (3_000, 6_000),
    (4_000, 9_000),
    (6_000, 15_000),
    (9_000, 25_000),
    (15_000, 40_000),
    (25_000, 60_000),
    (40_000, 100_000),
    (60_000, 200_000),
];
/// Idle money: rule 2 of docs/domain.md#next-best-offers looks for 5万 in the current account.
const IDLE_CENTS: i64 = 5_000_000;

/// How a customer's last months went; each scenario makes one CRM signal occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Steady,
    Growing,
    /// Balances down by a third or more over three months.
    Falling,
    /// Most of the money sent to other banks in the last 30 days.
    Outflow,
    /// Large inflows that stay with only one or two products.
    HighInflow,
    /// Dormant or closed: nothing moves.
    Quiet,
}

/// The customer's payroll: paid on `payday` each month, until `until` if it stopped.
struct Payroll {
    payday: u32,
    until: Option<NaiveDate>,
    monthly_cents: i64,
}

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

/// `value` × `percent` / 100, in whole fen.
fn percent(value: i64, percent: i64) -> i64 {
    value / 100 * percent + value % 100 * percent / 100
}

/// The day `day` of the month `back` months before `date`'s month (clamped to 28).
fn day_of_month_before(date: NaiveDate, back: u32, day: u32) -> Option<NaiveDate> {
    let first = date.with_day(1)?.checked_sub_months(Months::new(back))?;
    first.with_day(day.min(28))
}

impl Bank {
    fn payroll(&self, profile: &Profile) -> Option<Payroll> {
        if !profile.payroll || profile.status != CustomerStatus::Active {
            return None;
        }
        let mut draw = Draw::new(self.seed, topic::PAYROLL, &[profile.index]);
        let payday = draw.range(5, 25) as u32;
        let (lo, hi) = SALARY_BY_BAND[profile.band];
        let monthly_cents = draw.range_i64(lo * 100, hi * 100);
        let until = if draw.chance(PAYROLL_STOPPED_PER_MILLE) {
            day_of_month_before(self.as_of, draw.range(3, 6) as u32, payday)
        } else {
            None
        };
        Some(Payroll {
            payday,
            until,
            monthly_cents,
        })
    }

    /// The last payday before a customer's payroll stopped, if it did.
    pub(crate) fn payroll_stopped_on(&self, profile: &Profile) -> Option<NaiveDate> {
        self.payroll(profile)?.until
    }

    /// Paydays in the last twelve months, oldest first.
    fn paydays(&self, profile: &Profile, payroll: &Payroll) -> Vec<NaiveDate> {
        let window_start = self.as_of - Duration::days(365);
        (0..=12)
            .rev()
            .filter_map(|back| day_of_month_before(self.as_of, back, payroll.payday))
            .filter(|day| {
                *day < self.as_of
                    && *day > window_start
                    && *day >= profile.onboarded_on
                    && payroll.until.is_none_or(|until| *day <= until)
            })
            .collect()
    }

    /// The activity view of customer `index`, or `None` for an unknown index.
    pub fn activity(&self, index: u64) -> Option<ActivitySummary> {
        if !self.contains(index) {
            return None;
        }
        let profile = self.profile(index);
        let accounts = self.accounts(index);
        let cards = self.cards(index);
        let mut draw = Draw::new(self.seed, topic::ACTIVITY, &[index]);

        let deposits: i64 = accounts
            .iter()
            .map(|a| {
                let fen = (a.balance * Decimal::ONE_HUNDRED)
                    .try_into()
                    .unwrap_or(0_i64);
                if a.currency == "USD" {
                    percent(fen, USD_CNY_PERCENT)
                } else {
                    fen
                }
            })
            .sum();
        let current: i64 = accounts
            .iter()
            .find(|a| a.kind == AccountType::Current)
            .and_then(|a| (a.balance * Decimal::ONE_HUNDRED).try_into().ok())
            .unwrap_or(0);
        let products = accounts.len() + cards.len() + self.loan_count(index) as usize;

        let scenario = match profile.status {
            CustomerStatus::Active if deposits >= 1_000_000 => {
                let high_inflow = if products <= 2 && deposits >= 5_000_000 {
                    60
                } else {
                    0
                };
                [
                    Scenario::Steady,
                    Scenario::Growing,
                    Scenario::Falling,
                    Scenario::Outflow,
                    Scenario::HighInflow,
                ][draw.weighted(&[760, 100, 70, 35, high_inflow])]
            }
            CustomerStatus::Active => Scenario::Steady,
            _ => Scenario::Quiet,
        };

        // Monthly averages as percentages of today's deposits, oldest first.
        let outflow_percent = draw.range_i64(120, 250);
        let factors: Vec<i64> = match scenario {
            Scenario::Steady => (0..MONTHS)
                .map(|k| {
                    if k + 1 == MONTHS {
                        100 + draw.range_i64(-2, 2)
                    } else {
                        100 + draw.range_i64(-8, 8)
                    }
                })
                .collect(),
            Scenario::Growing => [(70, 80), (78, 86), (84, 90), (88, 94), (94, 98), (100, 100)]
                .iter()
                .map(|&(lo, hi)| draw.range_i64(lo, hi))
                .collect(),
            Scenario::Falling => [
                (170, 190),
                (165, 180),
                (150, 165),
                (135, 145),
                (115, 125),
                (100, 100),
            ]
            .iter()
            .map(|&(lo, hi)| draw.range_i64(lo, hi))
            .collect(),
            Scenario::Outflow => (0..MONTHS)
                .map(|k| {
                    if k + 1 == MONTHS {
                        100 + outflow_percent / 4
                    } else {
                        100 + outflow_percent + draw.range_i64(-3, 3)
                    }
                })
                .collect(),
            Scenario::HighInflow => [(30, 45), (45, 55), (55, 65), (65, 75), (80, 90), (100, 100)]
                .iter()
                .map(|&(lo, hi)| draw.range_i64(lo, hi))
                .collect(),
            Scenario::Quiet => vec![100; MONTHS as usize],
        };
        let monthly_average_balances = factors
            .iter()
            .enumerate()
            .map(|(k, &factor)| {
                let back = MONTHS - 1 - k as u32;
                let month = day_of_month_before(self.as_of, back, 1).unwrap_or(self.as_of);
                (month, cents(percent(deposits, factor)))
            })
            .collect();

        let dates = self.initiated_dates(&profile, &accounts);
        let recent = self.as_of - Duration::days(90);
        let prior = self.as_of - Duration::days(180);
        let count =
            |keep: &dyn Fn(NaiveDate) -> bool| dates.iter().filter(|d| keep(**d)).count() as u32;
        let transactions_90d = count(&|d| d >= recent);
        let transactions_prior_90d = count(&|d| d >= prior && d < recent);

        let payroll = self.payroll(&profile);
        let paydays = payroll
            .as_ref()
            .map(|p| self.paydays(&profile, p))
            .unwrap_or_default();
        let salary_90d = payroll.as_ref().map_or(0, |p| {
            paydays.iter().filter(|d| **d >= recent).count() as i64 * p.monthly_cents
        });

        let other_inflow = match (scenario, profile.kind) {
            // Only the quarterly interest posting.
            (Scenario::Quiet, _) => deposits / 1_000,
            (Scenario::HighInflow, _) => percent(deposits, draw.range_i64(120, 300))
                .max(10_000_000 + draw.range_i64(0, 5_000_000)),
            (_, CustomerKind::Corporate) => percent(deposits, draw.range_i64(60, 250)),
            (Scenario::Growing, _) => percent(deposits, draw.range_i64(25, 45)),
            _ => percent(deposits, draw.range_i64(3, 25)),
        };
        let outbound = match (scenario, profile.kind) {
            (Scenario::Quiet, _) => 0,
            (Scenario::Outflow, _) => percent(deposits, outflow_percent),
            _ if draw.chance(500) => 0,
            (_, CustomerKind::Corporate) => percent(deposits, draw.range_i64(5, 40)),
            _ => percent(deposits, draw.range_i64(1, 12)),
        };
        let current_min = match scenario {
            Scenario::Steady if current >= IDLE_CENTS && draw.chance(600) => {
                percent(current, draw.range_i64(95, 100))
            }
            Scenario::Steady => percent(current, draw.range_i64(40, 95)),
            Scenario::Growing => percent(current, draw.range_i64(60, 85)),
            Scenario::HighInflow => percent(current, draw.range_i64(20, 60)),
            Scenario::Falling | Scenario::Outflow | Scenario::Quiet => current,
        };

        let card_last_used_on =
            cards
                .iter()
                .find(|c| c.kind == CardType::Credit)
                .and_then(|card| {
                    let days_ago = match card.status {
                        CardStatus::Closed | CardStatus::Inactive => return None,
                        _ if profile.status != CustomerStatus::Active => return None,
                        // Unused for three statement cycles and more.
                        _ if draw.chance(150) => draw.range(95, 330),
                        CardStatus::Active => draw.range(1, 25),
                        _ => draw.range(30, 200),
                    };
                    let day = self.as_of - Duration::days(days_ago as i64);
                    (day >= card.issued_on).then_some(day)
                });

        Some(ActivitySummary {
            cif: self.cif(index),
            as_of: self.as_of,
            monthly_average_balances,
            transactions_12m: dates.len() as u32,
            transactions_90d,
            transactions_prior_90d,
            last_transaction_on: dates.iter().max().copied(),
            payroll_months_12m: paydays.len() as u32,
            last_payroll_on: paydays.last().copied(),
            inflow_90d: cents(salary_90d + other_inflow),
            outbound_transfers_30d: cents(outbound),
            current_min_balance_90d: cents(current_min),
            card_last_used_on,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::TransactionQuery;
    use super::*;

    fn bank() -> Bank {
        Bank::new(
            3_000,
            42,
            NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date"),
        )
    }

    fn yuan(value: i64) -> Decimal {
        Decimal::from(value)
    }

    #[test]
    fn every_crm_signal_occurs_in_a_small_bank() {
        let bank = bank();
        let as_of = bank.as_of();
        let days_ago = |days: i64| as_of - Duration::days(days);
        let mut seen = std::collections::BTreeMap::<&str, usize>::new();
        for index in 1..=bank.customers() {
            let a = bank.activity(index).expect("exists");
            assert_eq!(a.monthly_average_balances.len(), 6);
            assert!(a.transactions_90d + a.transactions_prior_90d <= a.transactions_12m);
            let balances: Vec<Decimal> =
                a.monthly_average_balances.iter().map(|(_, b)| *b).collect();
            let latest = balances[5];
            let products =
                bank.accounts(index).len() + bank.cards(index).len() + bank.loans(index).len();
            let mut signal = |name, on: bool| {
                if on {
                    *seen.entry(name).or_default() += 1;
                }
            };
            signal(
                "falling balance",
                balances[2] > Decimal::ZERO && latest * yuan(10) <= balances[2] * yuan(7),
            );
            signal(
                "dormant",
                a.last_transaction_on.is_none_or(|d| d <= days_ago(180)) && latest < yuan(100),
            );
            signal(
                "payroll",
                a.payroll_months_12m >= 3 && a.last_payroll_on.is_some_and(|d| d > days_ago(40)),
            );
            signal(
                "payroll stopped",
                a.payroll_months_12m >= 3 && a.last_payroll_on.is_some_and(|d| d <= days_ago(60)),
            );
            signal(
                "transfers out",
                a.outbound_transfers_30d > Decimal::ZERO
                    && a.outbound_transfers_30d * yuan(2) >= latest,
            );
            signal("idle money", a.current_min_balance_90d >= yuan(50_000));
            signal(
                "high inflow, low depth",
                a.inflow_90d >= yuan(100_000) && products <= 2,
            );
            let credit = bank
                .cards(index)
                .into_iter()
                .find(|c| c.kind == CardType::Credit && c.status == CardStatus::Active);
            signal(
                "unused credit card",
                credit.is_some() && a.card_last_used_on.is_none_or(|d| d <= days_ago(90)),
            );
        }
        for signal in [
            "falling balance",
            "dormant",
            "payroll",
            "payroll stopped",
            "transfers out",
            "idle money",
            "high inflow, low depth",
            "unused credit card",
        ] {
            assert!(
                seen.get(signal).copied().unwrap_or(0) >= 5,
                "{signal}: {seen:?}"
            );
        }
    }

    #[test]
    fn counts_and_payroll_agree_with_the_transaction_history() {
        let bank = bank();
        let initiated = [
            "消费",
            "转账汇出",
            "ATM取款",
            "理财购买",
            "现金存入",
            "生活缴费",
            "支付货款",
            "批量代发工资",
        ];
        let mut stopped_checked = 0;
        for index in 1..=150 {
            let a = bank.activity(index).expect("exists");
            let mut count = 0;
            let mut last = None;
            let mut last_salary = None;
            for account in bank.accounts(index) {
                let all = bank.transactions(
                    &account,
                    &TransactionQuery {
                        limit: u64::MAX,
                        ..Default::default()
                    },
                );
                for t in all.items {
                    let day = t.booked_at.date();
                    if account.kind != AccountType::TimeDeposit
                        && initiated.contains(&t.description)
                    {
                        count += 1;
                        last = last.max(Some(day));
                    }
                    if t.description == "代发工资" {
                        last_salary = last_salary.max(Some(day));
                    }
                }
            }
            assert_eq!(a.transactions_12m, count, "customer {index}");
            assert_eq!(a.last_transaction_on, last, "customer {index}");
            if let Some(until) = bank.payroll_stopped_on(&bank.profile(index)) {
                stopped_checked += 1;
                assert!(last_salary.is_none_or(|d| d <= until), "customer {index}");
            }
        }
        assert!(stopped_checked > 0);
    }
}
