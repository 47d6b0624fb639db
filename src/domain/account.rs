//! Deposit accounts and their transactions, from core banking.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Cif, Money};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub number: String,
    pub customer_id: Cif,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub currency: String,
    pub balance: Money,
    pub available_balance: Option<Money>,
    pub status: AccountStatus,
    #[serde(default, with = "super::dates::optional_date")]
    pub opened_at: Option<NaiveDate>,
    #[serde(default, with = "super::dates::optional_date")]
    pub maturity_date: Option<NaiveDate>,
    /// Percent per year, e.g. `1.45`.
    pub interest_rate: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountType {
    /// 活期.
    Current,
    Savings,
    /// 定期.
    TimeDeposit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    Active,
    Dormant,
    /// 冻结: held by a court order or the bank; no debits.
    Frozen,
    Closed,
}

/// A booked transaction. The amount is positive; `direction` says which way it went,
/// as Open Banking's CreditDebitIndicator does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    pub id: String,
    /// Known from the parent account; not repeated (and so not unmasked) per item.
    pub account_number: String,
    #[serde(with = "super::dates::instant")]
    pub posted_at: DateTime<Utc>,
    pub direction: CreditDebit,
    pub amount: Money,
    /// 摘要, the booking text.
    pub description: Option<String>,
    pub channel: Option<TransactionChannel>,
    pub counterparty: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreditDebit {
    Credit,
    Debit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionChannel {
    Counter,
    Atm,
    Pos,
    Mobile,
    Web,
    Wechat,
    Batch,
}
