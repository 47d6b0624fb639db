//! The synthetic bank: a generator whose every value is a pure function of
//! `(seed, customer index)` and, for dates, of the business date `as_of`.
//!
//! [`Bank`] holds only its parameters and a few precomputed bijections, so a
//! 1,000,000-customer bank costs no more memory than a 10-customer one. Identifiers
//! (CIF, ID numbers, mobiles, account and card numbers, user ids) encode the customer
//! through invertible arithmetic, so every lookup is a computation, then a check that
//! regenerating the customer yields the identifier that was asked for.

mod activity;
mod customers;
mod deposits;
mod loans;
mod model;
mod names;
mod numbers;
mod online;
mod party;
mod payment_cards;
mod prng;
mod timeline;

use chrono::{Datelike, NaiveDate};

pub use customers::NameSearchPage;
pub use model::*;
pub use numbers::{luhn_valid, resident_id_valid, uscc_valid};

use numbers::Affine;

/// CIF numbers are `CIF_BASE + index`: ten digits, the first customer is `1000000001`.
pub const CIF_BASE: u64 = 1_000_000_000;

/// Each value family draws from its own hash stream (see `prng`); these are the topics.
mod topic {
    pub(crate) const KIND: u64 = 1;
    pub(crate) const NAME: u64 = 2;
    pub(crate) const CONTACT: u64 = 3;
    pub(crate) const WEALTH: u64 = 4;
    pub(crate) const STATUS: u64 = 5;
    pub(crate) const ACCOUNTS: u64 = 6;
    pub(crate) const TRANSACTION_TIME: u64 = 7;
    pub(crate) const TRANSACTION: u64 = 8;
    pub(crate) const CARDS: u64 = 9;
    pub(crate) const LOANS: u64 = 10;
    pub(crate) const ONLINE: u64 = 11;
    pub(crate) const LOGIN_TIME: u64 = 12;
    pub(crate) const LOGIN: u64 = 13;
    pub(crate) const DUPLICATE: u64 = 14;
    pub(crate) const ID_CHECK: u64 = 15;
    pub(crate) const RELATIONS: u64 = 16;
    pub(crate) const ACTIVITY: u64 = 17;
    pub(crate) const PAYROLL: u64 = 18;
    pub(crate) const RESIDENT_ID_MAP: u64 = 101;
    pub(crate) const MOBILE_MAP: u64 = 102;
    pub(crate) const USCC_MAP: u64 = 103;
    pub(crate) const ACCOUNT_MAP: u64 = 104;
    pub(crate) const CARD_MAP: u64 = 105;
    pub(crate) const UID_MAP: u64 = 106;
}

/// The deterministic synthetic bank.
#[derive(Debug, Clone)]
pub struct Bank {
    seed: u64,
    customers: u64,
    as_of: NaiveDate,
    /// Birth dates run from this day for `birth_days` days (ages 18–80 at `as_of`).
    birth_first: NaiveDate,
    birth_days: u64,
    resident_ids: Affine,
    mobiles: Affine,
    usccs: Affine,
    account_numbers: Affine,
    card_numbers: Affine,
    uids: Affine,
}

/// Digits of the scrambled part of an account number (after the 4-digit prefix).
const ACCOUNT_BODY_MODULUS: u64 = 100_000_000_000_000;
/// Digits of the scrambled part of a card number (after the 6-digit BIN).
const CARD_BODY_MODULUS: u64 = 1_000_000_000;
/// Digits of a channel user id.
const UID_MODULUS: u64 = 10_000_000_000;
/// The subscriber part of a mobile number (after the 3-digit prefix).
const MOBILE_SUBSCRIBERS: u64 = 100_000_000;
/// The organisation-code body of a USCC.
const ORG_CODE_BODIES: u64 = 100_000_000;
/// Sequence numbers (with gender parity) per region and birth day in a resident ID.
const ID_SEQUENCES: u64 = 1000;

impl Bank {
    /// A bank of `customers` customers (1-based indices) generated from `seed`, with
    /// business date `as_of`. The caller (`Sandbox::new`) validates the ranges.
    pub fn new(customers: u64, seed: u64, as_of: NaiveDate) -> Bank {
        // Birth dates are fixed per calendar year of `as_of`, so identifiers stay
        // stable from day to day: 1 January of (year − 80) to 31 December of
        // (year − 19) keeps every customer aged 18–80 all year round.
        let year = as_of.year();
        let birth_first = NaiveDate::from_ymd_opt(year - 80, 1, 1).unwrap_or(as_of);
        let birth_last = NaiveDate::from_ymd_opt(year - 19, 12, 31).unwrap_or(as_of);
        let birth_days = (birth_last - birth_first).num_days().max(1) as u64 + 1;
        let regions = names::REGIONS.len() as u64;
        Bank {
            seed,
            customers,
            as_of,
            birth_first,
            birth_days,
            resident_ids: Affine::new(
                regions * birth_days * ID_SEQUENCES,
                seed,
                topic::RESIDENT_ID_MAP,
            ),
            mobiles: Affine::new(
                names::MOBILE_PREFIXES.len() as u64 * MOBILE_SUBSCRIBERS,
                seed,
                topic::MOBILE_MAP,
            ),
            usccs: Affine::new(regions * ORG_CODE_BODIES, seed, topic::USCC_MAP),
            account_numbers: Affine::new(ACCOUNT_BODY_MODULUS, seed, topic::ACCOUNT_MAP),
            card_numbers: Affine::new(CARD_BODY_MODULUS, seed, topic::CARD_MAP),
            uids: Affine::new(UID_MODULUS, seed, topic::UID_MAP),
        }
    }

    /// Number of customers; valid indices are `1..=customers()`.
    pub fn customers(&self) -> u64 {
        self.customers
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The business date all dates are relative to.
    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    /// The CIF number of customer `index`.
    pub fn cif(&self, index: u64) -> u64 {
        CIF_BASE + index
    }

    /// The customer index of a CIF given as text (exactly ten digits), if it exists.
    pub fn index_of_cif(&self, cif: &str) -> Option<u64> {
        if cif.len() != 10 || !cif.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index = cif.parse::<u64>().ok()?.checked_sub(CIF_BASE)?;
        self.contains(index).then_some(index)
    }

    fn contains(&self, index: u64) -> bool {
        (1..=self.customers).contains(&index)
    }

    /// Customer 1 (CIF 1000000001) is the showcase: an individual with accounts, a
    /// debit and a credit card, a loan and online banking, so that the first query a
    /// newcomer types shows all four systems. Every random draw still happens, so
    /// the rest of the customer (and every other customer) is as the seed makes it.
    pub(crate) fn is_showcase(&self, index: u64) -> bool {
        index == SHOWCASE_INDEX
    }
}

/// See [`Bank::is_showcase`].
const SHOWCASE_INDEX: u64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_showcase_customer_holds_something_in_every_system_for_any_seed() {
        for seed in [1, 42, 4242] {
            let bank = Bank::new(
                100,
                seed,
                NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date"),
            );
            assert_eq!(bank.kind(1), CustomerKind::Individual, "seed {seed}");
            assert!(!bank.accounts(1).is_empty(), "seed {seed}");
            let cards = bank.cards(1);
            assert!(
                cards.iter().any(|c| c.credit.is_some()),
                "credit card, seed {seed}"
            );
            assert!(cards.len() >= 2, "debit and credit, seed {seed}");
            assert!(!bank.loans(1).is_empty(), "seed {seed}");
            assert!(bank.online_user(1).is_some(), "seed {seed}");
        }
    }
}
