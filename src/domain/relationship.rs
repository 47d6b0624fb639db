//! Relationships between customers, from core banking: family, joint holding,
//! guarantees and corporate control. Households are built from them.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Cif;

/// How the related customer stands to this one, seen from this customer: `Parent`
/// means the related customer is this customer's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RelationshipKind {
    Spouse,
    Parent,
    Child,
    /// Holds an account jointly with this customer.
    JointHolder,
    /// Guarantees a loan of this customer.
    Guarantor,
    /// This customer guarantees a loan of the related customer.
    Guaranteed,
    /// The related person is this (corporate) customer's legal representative.
    LegalRepresentative,
    /// This person is the legal representative of the related corporate customer.
    Represents,
    /// The related customer holds shares in this (corporate) customer.
    Shareholder,
    /// This customer holds shares in the related corporate customer.
    Holding,
}

impl RelationshipKind {
    /// Members of one household: family and joint holders (docs/domain.md#households).
    pub fn is_household(self) -> bool {
        matches!(
            self,
            RelationshipKind::Spouse
                | RelationshipKind::Parent
                | RelationshipKind::Child
                | RelationshipKind::JointHolder
        )
    }
}

/// One relationship of a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    pub customer_id: Cif,
    pub related_id: Cif,
    pub kind: RelationshipKind,
    /// The loan guaranteed or the account held jointly, when the kind has one.
    pub reference: Option<String>,
    /// A shareholder's share, in percent.
    pub share: Option<Decimal>,
    #[serde(default, with = "super::dates::optional_date")]
    pub since: Option<NaiveDate>,
}

/// The customer records core banking holds for one person: every CIF sharing this
/// customer's verified ID number, this one included. A customer whose ID number core
/// has not verified is its own only member, so the hub never merges on an unchecked
/// number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyMembers {
    pub customer_id: Cif,
    pub members: Vec<Cif>,
}
