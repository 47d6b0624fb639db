//! `Money` as the graph shows it: the exact amount, or for a pseudonymous role only
//! the band it falls in (docs/bi.md#amounts).

use async_graphql::{Context, Object, Result};
use rust_decimal::Decimal;

use super::{access, errors};
use crate::domain::Money;

/// An amount of money. On the wire the amount is a decimal string (`"1234.50"`), so no
/// client or intermediary ever rounds it through a binary float.
#[Object(name = "Money")]
impl Money {
    /// The exact amount. Null with `FORBIDDEN` for a role that sees amounts in bands
    /// (read `band`), except a total over at least `k` customers.
    async fn amount(&self, ctx: &Context<'_>) -> Result<Option<Decimal>> {
        let viewer = access::viewer(ctx);
        match viewer.min_group_size() {
            None => Ok(Some(self.amount)),
            Some(k) if self.group_size.is_some_and(|n| n as usize >= k) => Ok(Some(self.amount)),
            Some(_) => Err(errors::deidentified(
                "amount",
                "this role is shown amounts as bands; read `band`",
            )),
        }
    }

    /// ISO 4217 code, e.g. `CNY`.
    async fn currency(&self) -> &str {
        &self.currency
    }

    /// The range the amount falls in, in its own currency: `0-10k`, `10k-50k`,
    /// `50k-100k`, `100k-500k`, `500k-1m`, `1m+` by default (`bi.amount_bands`), `<0`
    /// for a debit. What a pseudonymous role reads instead of `amount`.
    async fn band(&self, ctx: &Context<'_>) -> String {
        access::viewer(ctx).amount_band(self.amount)
    }
}
