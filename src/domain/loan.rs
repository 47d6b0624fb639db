//! Loans, from the loan system.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Cif, Money};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct Loan {
    pub id: String,
    #[graphql(skip)]
    pub customer_id: Cif,
    pub product: LoanProduct,
    pub principal: Money,
    pub outstanding: Money,
    /// Percent per year.
    pub rate: Option<Decimal>,
    pub term_months: Option<i32>,
    #[serde(default, with = "super::dates::optional_date")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, with = "super::dates::optional_date")]
    pub maturity_date: Option<NaiveDate>,
    pub next_payment: Option<NextPayment>,
    pub overdue_days: i32,
    /// The upstream's five-level classification (五级分类), as the loan system reports it.
    pub classification: LoanClass,
    pub status: LoanStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct NextPayment {
    #[serde(default, with = "super::dates::optional_date")]
    pub date: Option<NaiveDate>,
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoanProduct {
    Mortgage,
    Consumer,
    /// 经营贷.
    Business,
    Auto,
    CreditLine,
}

/// The five-level loan classification of the 商业银行金融资产风险分类办法.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoanClass {
    /// 正常.
    Normal,
    /// 关注.
    SpecialMention,
    /// 次级.
    Substandard,
    /// 可疑.
    Doubtful,
    /// 损失.
    Loss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoanStatus {
    Active,
    PaidOff,
    Restructured,
    WrittenOff,
}
