//! Debit and credit cards. Most individuals hold a debit card on their current
//! account; about 40% hold a credit card with a limit, an outstanding balance, the last
//! statement and, for a few, days past due across every band of
//! docs/domain.md#loan-classification.

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use super::model::{
    Card, CardLevel, CardStatement, CardStatus, CardType, CreditLine, CustomerKind, CustomerStatus,
};
use super::numbers::luhn_check_digit;
use super::prng::Draw;
use super::{topic, Bank};

/// UnionPay-range BINs of the fictitious bank's debit and credit products.
const DEBIT_BIN: &str = "623061";
const CREDIT_BIN: &str = "625309";
/// Card slots per customer; part of the card number and the card id.
const SLOTS: u64 = 4;
const SLOT_DEBIT: u64 = 0;
const SLOT_CREDIT: u64 = 1;
/// Share of individuals with a debit card / a credit card, per mille.
const DEBIT_PER_MILLE: u64 = 850;
const CREDIT_PER_MILLE: u64 = 400;
/// Share of credit cards past due, per mille.
const PAST_DUE_PER_MILLE: u64 = 70;
/// Card ids are `CARD_ID_PREFIX` + CIF + slot.
const CARD_ID_PREFIX: &str = "CRD";

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

fn level(band: usize) -> CardLevel {
    match band {
        0..=2 => CardLevel::Standard,
        3..=4 => CardLevel::Gold,
        5 => CardLevel::Platinum,
        _ => CardLevel::Diamond,
    }
}

impl Bank {
    fn card_number(&self, index: u64, slot: u64, bin: &str) -> String {
        let body = self.card_numbers.forward((index - 1) * SLOTS + slot);
        let partial = format!("{bin}{body:09}");
        let check = luhn_check_digit(&partial).unwrap_or('0');
        format!("{partial}{check}")
    }

    /// The cards of customer `index`; empty for corporates and unknown indices.
    pub fn cards(&self, index: u64) -> Vec<Card> {
        if !self.contains(index) {
            return Vec::new();
        }
        let profile = self.profile(index);
        if profile.kind == CustomerKind::Corporate {
            return Vec::new();
        }
        let mut draw = Draw::new(self.seed, topic::CARDS, &[index]);
        let closed = profile.status == CustomerStatus::Closed;
        let tenure = (self.as_of - profile.onboarded_on).num_days().max(1) as u64;
        let mut cards = Vec::new();
        let level = level(profile.band);
        let cif = self.cif(index);

        if draw.chance(DEBIT_PER_MILLE) || self.is_showcase(index) {
            let status = if closed {
                CardStatus::Closed
            } else {
                [
                    CardStatus::Active,
                    CardStatus::Inactive,
                    CardStatus::Frozen,
                    CardStatus::Lost,
                    CardStatus::Expired,
                ][draw.weighted(&[900, 25, 20, 20, 35])]
            };
            let product_name = match level {
                CardLevel::Standard => "如意借记卡",
                CardLevel::Gold => "金卡借记卡",
                CardLevel::Platinum => "白金借记卡",
                CardLevel::Diamond => "钻石借记卡",
            };
            cards.push(Card {
                id: format!("{CARD_ID_PREFIX}{cif}{SLOT_DEBIT}"),
                number: self.card_number(index, SLOT_DEBIT, DEBIT_BIN),
                cif,
                kind: CardType::Debit,
                product_name,
                level,
                status,
                issued_on: profile.onboarded_on + Duration::days(draw.below(tenure.min(30)) as i64),
                linked_account: self.accounts(index).first().map(|a| a.number.clone()),
                credit: None,
                currency: "CNY",
            });
        }

        if draw.chance(CREDIT_PER_MILLE) || self.is_showcase(index) {
            let (lo, hi) = match level {
                CardLevel::Standard => (5, 20),
                CardLevel::Gold => (20, 50),
                CardLevel::Platinum => (50, 150),
                CardLevel::Diamond => (150, 500),
            };
            let limit = draw.range_i64(lo, hi) * 100_000;
            let past_due = !closed && draw.chance(PAST_DUE_PER_MILLE);
            let days_past_due = if past_due {
                // Spread over every credit-card class band (docs/domain.md#loan-classification).
                let bands = [(1, 30), (31, 90), (91, 120), (121, 180), (181, 400)];
                let (a, b) = bands[draw.weighted(&[45, 25, 12, 9, 9])];
                draw.range(a, b) as u32
            } else {
                0
            };
            let inactive = !closed && !past_due && draw.chance(30);
            let outstanding = if closed || inactive {
                0
            } else if past_due {
                limit / 100 * draw.range_i64(60, 100)
            } else if draw.chance(250) {
                0
            } else {
                limit / 100 * draw.range_i64(1, 80)
            };
            let status = if closed {
                CardStatus::Closed
            } else if inactive {
                CardStatus::Inactive
            } else if days_past_due > 90 {
                CardStatus::Frozen
            } else {
                [CardStatus::Active, CardStatus::Lost, CardStatus::Expired]
                    [draw.weighted(&[960, 15, 25])]
            };
            let product_name = match level {
                CardLevel::Standard => "青春信用卡",
                CardLevel::Gold => "金卡信用卡",
                CardLevel::Platinum => "白金信用卡",
                CardLevel::Diamond => "无限信用卡",
            };
            let statement = self.statement(&mut draw, outstanding);
            cards.push(Card {
                id: format!("{CARD_ID_PREFIX}{cif}{SLOT_CREDIT}"),
                number: self.card_number(index, SLOT_CREDIT, CREDIT_BIN),
                cif,
                kind: CardType::Credit,
                product_name,
                level,
                status,
                issued_on: profile.onboarded_on + Duration::days(draw.below(tenure) as i64),
                linked_account: None,
                credit: Some(CreditLine {
                    limit: cents(limit),
                    available: cents((limit - outstanding).max(0)),
                    outstanding: cents(outstanding),
                    days_past_due,
                    statement,
                }),
                currency: "CNY",
            });
        }
        cards
    }

    /// The last statement: closed on the card's billing day, due twenty days later.
    fn statement(&self, draw: &mut Draw, outstanding: i64) -> CardStatement {
        let billing_day = draw.range(1, 28) as u32;
        let yesterday = self.as_of - Duration::days(1);
        let this_month = NaiveDate::from_ymd_opt(yesterday.year(), yesterday.month(), billing_day)
            .unwrap_or(yesterday);
        let closing_date = if this_month <= yesterday {
            this_month
        } else {
            this_month
                .checked_sub_months(chrono::Months::new(1))
                .unwrap_or(this_month)
        };
        let balance = outstanding / 100 * draw.range_i64(60, 100);
        // The usual rule: 10% of the statement balance, at least 100 yuan (or all of it).
        let minimum = (balance / 10).max(balance.min(10_000));
        CardStatement {
            closing_date,
            due_date: closing_date + Duration::days(20),
            minimum_payment: cents(minimum),
            balance: cents(balance),
        }
    }

    /// The card with this id (`CRD` + CIF + slot), if it exists.
    pub fn card(&self, id: &str) -> Option<Card> {
        let rest = id.strip_prefix(CARD_ID_PREFIX)?;
        let index = self.index_of_cif(rest.get(..10)?)?;
        self.cards(index).into_iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::numbers::luhn_valid;
    use super::*;

    #[test]
    fn cards_are_luhn_valid_unique_and_cover_all_kinds() {
        let bank = Bank::new(
            10_000,
            42,
            NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date"),
        );
        let mut numbers = HashSet::new();
        let mut statuses = HashSet::new();
        let mut levels = HashSet::new();
        let (mut credit, mut individuals, mut past_due) = (0, 0, 0);
        for index in 1..=bank.customers() {
            if bank.kind(index) == CustomerKind::Individual {
                individuals += 1;
            }
            for card in bank.cards(index) {
                assert!(luhn_valid(&card.number), "{}", card.number);
                assert!(numbers.insert(card.number.clone()));
                statuses.insert(card.status);
                levels.insert(card.level);
                if let Some(line) = &card.credit {
                    credit += 1;
                    assert!(
                        line.available + line.outstanding == line.limit || line.available.is_zero()
                    );
                    if line.days_past_due > 0 {
                        past_due += 1;
                    }
                } else {
                    assert!(card.linked_account.is_some());
                }
                assert_eq!(bank.card(&card.id).as_ref(), Some(&card));
            }
        }
        assert_eq!(statuses.len(), 6, "{statuses:?}");
        assert_eq!(levels.len(), 4);
        assert!(credit * 100 / individuals > 35, "{credit} of {individuals}");
        assert!(past_due > 100);
        assert!(bank.card("CRD").is_none());
        assert!(bank.card("CRD10000000019").is_none());
        assert!(bank.card("CRD１０").is_none());
    }
}
