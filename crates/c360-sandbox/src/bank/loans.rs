//! Loans of every product. About 30% of customers borrow; some loans are overdue and
//! the five-level class mostly follows the regulatory floors
//! (docs/domain.md#loan-classification), with a few deliberately classified better than
//! the floor (which the hub must flag).

use chrono::{Datelike, Duration, Months, NaiveDate};
use rust_decimal::Decimal;

use super::model::{CustomerKind, CustomerStatus, FiveLevelClass, Loan, LoanProduct, LoanStatus};
use super::prng::Draw;
use super::{topic, Bank};

/// Share of customers with loans, per mille (docs/sandbox.md: about 30%).
const BORROWER_PER_MILLE: u64 = 300;
/// Share of borrowers with a second loan, per mille.
const SECOND_LOAN_PER_MILLE: u64 = 300;
/// Share of running loans that are overdue, per mille.
const OVERDUE_PER_MILLE: u64 = 80;
/// Share of overdue loans classified one level better than the floor, per mille.
const BETTER_THAN_FLOOR_PER_MILLE: u64 = 100;
/// Loan ids are `LOAN_ID_PREFIX` + CIF + two-digit slot.
const LOAN_ID_PREFIX: &str = "LN";

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

/// The least severe class allowed for a loan this many days overdue
/// (docs/domain.md#loan-classification).
pub(crate) fn class_floor(overdue_days: u32) -> FiveLevelClass {
    match overdue_days {
        0 => FiveLevelClass::Normal,
        1..=90 => FiveLevelClass::SpecialMention,
        91..=270 => FiveLevelClass::Substandard,
        271..=360 => FiveLevelClass::Doubtful,
        _ => FiveLevelClass::Loss,
    }
}

fn one_better(class: FiveLevelClass) -> FiveLevelClass {
    match class {
        FiveLevelClass::Normal | FiveLevelClass::SpecialMention => FiveLevelClass::Normal,
        FiveLevelClass::Substandard => FiveLevelClass::SpecialMention,
        FiveLevelClass::Doubtful => FiveLevelClass::Substandard,
        FiveLevelClass::Loss => FiveLevelClass::Doubtful,
    }
}

impl Bank {
    /// The loans of customer `index`; empty for most customers and unknown indices.
    pub fn loans(&self, index: u64) -> Vec<Loan> {
        if !self.contains(index) {
            return Vec::new();
        }
        (0..self.loan_count(index))
            .map(|slot| self.loan(index, slot))
            .collect()
    }

    /// How many loans customer `index` has, without generating them (relationships
    /// need to know who borrows for whole blocks of customers).
    pub(crate) fn loan_count(&self, index: u64) -> u64 {
        let mut draw = Draw::new(self.seed, topic::LOANS, &[index]);
        if !draw.chance(BORROWER_PER_MILLE) && !self.is_showcase(index) {
            return 0;
        }
        if draw.chance(SECOND_LOAN_PER_MILLE) {
            2
        } else {
            1
        }
    }

    pub(crate) fn loan(&self, index: u64, slot: u64) -> Loan {
        use LoanProduct::*;
        let profile = self.profile(index);
        let mut draw = Draw::new(self.seed, topic::LOANS, &[index, slot]);
        let product = if profile.kind == CustomerKind::Corporate {
            [Business, CreditLine][draw.weighted(&[70, 30])]
        } else {
            [Mortgage, Consumer, Auto, CreditLine, Business][draw.weighted(&[30, 25, 15, 15, 15])]
        };
        // Principal range in yuan, possible terms in months, rate range in basis points.
        let (lo, hi, terms, rate_lo, rate_hi): (i64, i64, &[u32], i64, i64) =
            match (product, profile.kind) {
                (Mortgage, _) => (300_000, 3_000_000, &[120, 180, 240, 300, 360], 310, 420),
                (Consumer, _) => (10_000, 300_000, &[12, 24, 36, 60], 350, 1_200),
                (Auto, _) => (50_000, 400_000, &[12, 24, 36, 60], 300, 700),
                (Business, CustomerKind::Corporate) => {
                    (500_000, 50_000_000, &[12, 24, 36, 60], 320, 650)
                }
                (Business, CustomerKind::Individual) => {
                    (100_000, 5_000_000, &[12, 24, 36, 60], 320, 650)
                }
                (CreditLine, CustomerKind::Corporate) => {
                    (1_000_000, 20_000_000, &[12, 36], 350, 600)
                }
                (CreditLine, CustomerKind::Individual) => (20_000, 500_000, &[12, 36], 400, 1_500),
            };
        let principal = draw.range_i64(lo, hi) / 1_000 * 100_000;
        let term_months = *draw.pick(terms);
        let rate_bps = draw.range_i64(rate_lo, rate_hi);

        let paid_off = profile.status == CustomerStatus::Closed || draw.chance(80);
        // Months since the loan started: paid-off loans may be past their maturity.
        let elapsed = if paid_off {
            draw.range(1, u64::from(term_months) + 24) as u32
        } else {
            draw.range(1, u64::from(term_months).saturating_sub(1).max(1)) as u32
        };
        let start_date = self
            .as_of
            .checked_sub_months(Months::new(elapsed))
            .and_then(|d| d.with_day(draw.range(1, 28) as u32))
            .unwrap_or(self.as_of);
        let maturity_date = start_date
            .checked_add_months(Months::new(term_months))
            .unwrap_or(start_date);

        let overdue_days = if !paid_off && draw.chance(OVERDUE_PER_MILLE) {
            let bands = [
                (1, 30),
                (31, 90),
                (91, 180),
                (181, 270),
                (271, 360),
                (361, 720),
            ];
            let (a, b) = bands[draw.weighted(&[35, 25, 15, 8, 8, 9])];
            draw.range(a, b) as u32
        } else {
            0
        };
        let floor = class_floor(overdue_days);
        let class = if paid_off {
            FiveLevelClass::Normal
        } else if overdue_days > 0 && draw.chance(BETTER_THAN_FLOOR_PER_MILLE) {
            one_better(floor)
        } else if overdue_days == 0 {
            // Performing loans may still be watched for other reasons (worse than floor is allowed).
            [
                FiveLevelClass::Normal,
                FiveLevelClass::SpecialMention,
                FiveLevelClass::Substandard,
            ][draw.weighted(&[960, 30, 10])]
        } else {
            floor
        };
        let status = if paid_off {
            LoanStatus::PaidOff
        } else if class == FiveLevelClass::Loss && draw.chance(400) {
            LoanStatus::WrittenOff
        } else if (class >= FiveLevelClass::Doubtful && draw.chance(300)) || draw.chance(20) {
            LoanStatus::Restructured
        } else {
            LoanStatus::Active
        };

        let remaining_months = i64::from(term_months.saturating_sub(elapsed).max(1));
        let outstanding = if paid_off {
            0
        } else {
            principal * remaining_months / i64::from(term_months)
        };
        let running = matches!(status, LoanStatus::Active | LoanStatus::Restructured);
        let (next_payment_date, next_payment_amount) = if running {
            let due = next_monthly_date(start_date, self.as_of);
            // Equal-principal instalment plus a month's interest on the balance.
            let amount = outstanding / remaining_months + outstanding * rate_bps / 120_000;
            (Some(due), Some(cents(amount)))
        } else {
            (None, None)
        };
        Loan {
            id: format!("{LOAN_ID_PREFIX}{}{slot:02}", self.cif(index)),
            cif: self.cif(index),
            product,
            original_principal: cents(principal),
            outstanding: cents(outstanding),
            interest_rate: cents(rate_bps),
            term_months,
            start_date,
            maturity_date,
            next_payment_date,
            next_payment_amount,
            overdue_days,
            class,
            status,
            currency: "CNY",
        }
    }

    /// The loan with this id (`LN` + CIF + two-digit slot), if it exists.
    pub fn loan_by_id(&self, id: &str) -> Option<Loan> {
        let rest = id.strip_prefix(LOAN_ID_PREFIX)?;
        let index = self.index_of_cif(rest.get(..10)?)?;
        self.loans(index).into_iter().find(|l| l.id == id)
    }
}

/// The first monthly anniversary of `start` after `as_of`.
fn next_monthly_date(start: NaiveDate, as_of: NaiveDate) -> NaiveDate {
    let candidate = as_of.with_day(start.day()).unwrap_or(as_of);
    if candidate > as_of {
        candidate
    } else {
        candidate
            .checked_add_months(Months::new(1))
            .unwrap_or(as_of + Duration::days(30))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_product_class_and_status_occurs_and_classes_mostly_respect_floors() {
        let bank = Bank::new(
            10_000,
            42,
            NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date"),
        );
        let mut products = HashSet::new();
        let mut classes = HashSet::new();
        let mut statuses = HashSet::new();
        let (mut borrowers, mut overdue, mut better) = (0, 0, 0);
        for index in 1..=bank.customers() {
            let loans = bank.loans(index);
            borrowers += u32::from(!loans.is_empty());
            for loan in loans {
                products.insert(loan.product);
                classes.insert(loan.class);
                statuses.insert(loan.status);
                assert!(loan.outstanding <= loan.original_principal);
                assert!(loan.start_date < loan.maturity_date);
                if loan.overdue_days > 0 {
                    overdue += 1;
                    if loan.class < class_floor(loan.overdue_days) {
                        better += 1;
                    }
                }
                assert_eq!(bank.loan_by_id(&loan.id).as_ref(), Some(&loan));
            }
        }
        assert_eq!(products.len(), 5);
        assert_eq!(classes.len(), 5);
        assert_eq!(statuses.len(), 4);
        assert!((2_500..3_500).contains(&borrowers), "{borrowers}");
        assert!(overdue > 100, "{overdue}");
        assert!(better > 0 && better * 5 < overdue, "{better} of {overdue}");
        assert!(bank.loan_by_id("LN").is_none());
        assert!(bank.loan_by_id("LN100000000199").is_none());
    }
}
