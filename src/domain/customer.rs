//! The customer master record, as core banking keeps it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Cif;

/// A customer of the bank, keyed by CIF. Personal fields are optional because
/// corporate customers and incomplete legacy records lack some of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub id: Cif,
    pub kind: CustomerKind,
    pub name: String,
    pub id_document: IdDocument,
    pub mobile: Option<String>,
    pub email: Option<String>,
    #[serde(default, with = "super::dates::optional_date")]
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub address: Option<String>,
    pub occupation: Option<String>,
    pub branch: Option<String>,
    pub relationship_manager: Option<String>,
    #[serde(default, with = "super::dates::optional_date")]
    pub onboarded_at: Option<NaiveDate>,
    pub status: CustomerStatus,
}

/// The document that identifies the customer (resident ID card, passport, or for
/// companies the unified social credit code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct IdDocument {
    #[serde(rename = "type")]
    #[graphql(name = "type")]
    pub id_type: IdType,
    pub number: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerKind {
    Individual,
    Corporate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdType {
    /// 居民身份证, 18 digits.
    ResidentId,
    Passport,
    /// 港澳台居民往来通行证.
    HkMoTwPermit,
    /// 统一社会信用代码, for corporate customers.
    Uscc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerStatus {
    Active,
    Dormant,
    Closed,
}
