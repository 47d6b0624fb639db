//! A customer's activity over the last twelve months, as core banking's management
//! information (or the bank's data warehouse) computes it from the transactions it
//! holds. CRM rules need these aggregates for every customer of a book; paging through
//! a year of transactions per customer would cost hundreds of upstream calls each.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Cif;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub customer_id: Cif,
    /// The business date the figures are as of.
    #[serde(with = "super::dates::date")]
    pub as_of: NaiveDate,
    /// Monthly average daily deposit balance (月日均) in CNY, one per month for the
    /// last six months, oldest first; the last entry is the latest month.
    pub monthly_average_balances: Vec<Decimal>,
    /// Customer-initiated transactions (not interest, fees or payroll) in 12 months.
    pub transactions_12m: u32,
    /// The same in the last 90 days, and in the 90 days before those.
    pub transactions_90d: u32,
    pub transactions_prior_90d: u32,
    #[serde(default, with = "super::dates::optional_date")]
    pub last_transaction_on: Option<NaiveDate>,
    /// Months of the last twelve with a payroll (代发) credit.
    pub payroll_months_12m: u32,
    #[serde(default, with = "super::dates::optional_date")]
    pub last_payroll_on: Option<NaiveDate>,
    /// Credits in the last 90 days (payroll and transfers in), CNY.
    pub inflow_90d: Decimal,
    /// Sent to accounts at other banks in the last 30 days, CNY.
    pub outbound_transfers_30d: Decimal,
    /// Lowest current-account balance over the last 90 days, CNY (idle money).
    pub current_min_balance_90d: Decimal,
    /// Last purchase with a credit card, if the customer has one.
    #[serde(default, with = "super::dates::optional_date")]
    pub card_last_used_on: Option<NaiveDate>,
}
