//! `Money` as the graph shows it: the exact amount, or for a pseudonymous role only
//! the band it falls in (docs/bi.md#amounts-in-bands).
//!
//! The type is also served by schemas that run without a caller (the demo's
//! reference schema, unit tests); with no viewer there is no one to de-identify for,
//! and amounts are shown. The hub attaches a viewer to every request it executes.

use async_graphql::{Context, Object, Result};
use rust_decimal::Decimal;

use super::errors;
use crate::auth::{AmountBands, Viewer};
use crate::domain::Money;

/// An amount of money. On the wire the amount is a decimal string (`"1234.50"`), so no
/// client or intermediary ever rounds it through a binary float.
#[Object(name = "Money")]
impl Money {
    /// The exact amount. Null with `FORBIDDEN` for a role that sees amounts in bands
    /// (read `band`), except a total over at least `k` customers.
    async fn amount(&self, ctx: &Context<'_>) -> Result<Option<Decimal>> {
        match ctx.data_opt::<Viewer>().and_then(Viewer::min_group_size) {
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
        match ctx.data_opt::<Viewer>() {
            Some(viewer) => viewer.amount_band(self.amount),
            None => AmountBands::default().band(self.amount),
        }
    }
}
