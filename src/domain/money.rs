//! Money: an exact decimal amount and its currency.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An amount of money. On the wire the amount is a decimal string (`"1234.50"`), so no
/// client or intermediary ever rounds it through a binary float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: Decimal,
    /// ISO 4217 code, e.g. `CNY`.
    pub currency: String,
}
