//! Debit and credit cards, from the card system.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Cif, Money};

/// A card. `number` is the full PAN as the card system holds it; the GraphQL edge
/// masks it by role. Expiry and CVN are never ingested (C3 data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub id: String,
    pub number: String,
    pub customer_id: Cif,
    pub kind: CardKind,
    pub product: Option<String>,
    pub level: Option<CardLevel>,
    pub status: CardStatus,
    #[serde(default, with = "super::dates::optional_date")]
    pub issued_at: Option<NaiveDate>,
    pub linked_account: Option<String>,
    pub credit_limit: Option<Money>,
    pub available_credit: Option<Money>,
    pub outstanding: Option<Money>,
    pub days_past_due: Option<i32>,
    pub statement: Option<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(default, with = "super::dates::optional_date")]
    pub closing_date: Option<NaiveDate>,
    #[serde(default, with = "super::dates::optional_date")]
    pub due_date: Option<NaiveDate>,
    pub minimum_due: Option<Money>,
    pub balance: Option<Money>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardKind {
    Debit,
    Credit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardLevel {
    Standard,
    Gold,
    Platinum,
    Diamond,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardStatus {
    /// 未激活.
    Inactive,
    Active,
    Frozen,
    /// 挂失.
    Lost,
    Expired,
    /// 销卡.
    Closed,
}
