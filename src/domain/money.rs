//! Money: an exact decimal amount and its currency.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// `amount` to the fen as the bank prints it: half away from zero (四舍五入), so
/// 0.125 is 0.13 and -0.125 is -0.13. `Decimal::round_dp` rounds half to even, which
/// would print 0.12 and disagree with the bank's own statements.
pub fn to_fen(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount of money. On the wire the amount is a decimal string (`"1234.50"`), so no
/// client or intermediary ever rounds it through a binary float. The GraphQL type is
/// defined by the schema, which decides per caller whether the amount or only its
/// band is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: Decimal,
    /// ISO 4217 code, e.g. `CNY`.
    pub currency: String,
    /// For a total over a group of customers (a segment of the book), how many: a
    /// de-identified view may show such a total exactly once the group is large
    /// enough, and bands every other amount. `None`: one customer's (or household's)
    /// figure. Never stored or read from an upstream.
    #[serde(skip)]
    pub group_size: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_round_half_away_from_zero() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(to_fen(d("0.125")), d("0.13"));
        assert_eq!(to_fen(d("-0.125")), d("-0.13"));
        assert_eq!(to_fen(d("2.675")), d("2.68"));
        assert_eq!(to_fen(d("1.004")), d("1.00"));
    }
}
