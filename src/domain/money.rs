//! Money: an exact decimal amount and its currency.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
