//! One person across several CIFs (`Customer.party`), relationships between
//! customers (`Customer.relationships`) and households (`Customer.household`).
//!
//! A related customer, a household member or another CIF of the same person is shown
//! only if the caller may read that customer too (`FORBIDDEN` otherwise), and roll-ups
//! count only the members the caller may read, saying how many were left out.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::insights::Gathered;
use super::loaders::{self, Loaders};
use super::node::{CustomerNode, Selection};
use super::{access, errors};
use crate::auth::Personal;
use crate::domain::{Cif, Customer, Relationship, RelationshipKind};
use crate::insights::{Holdings, InsightConfig, Insights};

/// The customers among `cifs` the caller may read, in order; and how many it may not.
async fn readable(ctx: &Context<'_>, cifs: &[Cif]) -> Result<(Vec<Arc<Customer>>, i32)> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let viewer = access::viewer(ctx);
    let outcomes = loaders::many(&loaders.customers, cifs).await;
    let mut customers = Vec::new();
    let mut withheld = 0;
    for cif in cifs {
        let Some(outcome) = outcomes.get(cif) else {
            continue;
        };
        let items = outcome.items.as_ref().map_err(|e| errors::upstream(e))?;
        let Some(customer) = items.first() else {
            continue;
        };
        if access::admit(viewer, customer).is_ok() {
            customers.push(Arc::new(customer.clone()));
        } else {
            withheld += 1;
        }
    }
    Ok((customers, withheld))
}

/// A customer node for a related record, or a `FORBIDDEN` error when the caller may
/// not read it.
async fn related_node(ctx: &Context<'_>, cif: &Cif) -> Result<Option<CustomerNode>> {
    let viewer = access::viewer(ctx);
    access::precheck(viewer, cif)?;
    let loaders = ctx.data_unchecked::<Loaders>();
    let outcome = loaders::one(&loaders.customers, cif).await;
    let items = outcome.items.as_ref().map_err(|e| errors::upstream(e))?;
    match items.first() {
        Some(customer) => {
            access::admit(viewer, customer)?;
            Ok(Some(CustomerNode::new(
                Arc::new(customer.clone()),
                &outcome,
                Selection::default(),
            )))
        }
        None => Ok(None),
    }
}

/// One relationship of a customer, seen from that customer.
pub struct RelationshipNode(pub Relationship);

#[Object(name = "Relationship")]
impl RelationshipNode {
    /// What the related customer is to this one (`PARENT`: the related customer is
    /// this customer's parent).
    async fn kind(&self) -> RelationshipKind {
        self.0.kind
    }

    /// The related customer's CIF; for a pseudonymous role, its pseudonym.
    async fn related_id(&self, ctx: &Context<'_>) -> ID {
        ID(access::viewer(ctx).customer_id(&self.0.related_id))
    }

    /// The related customer; null with `FORBIDDEN` when outside the caller's scope.
    async fn related(&self, ctx: &Context<'_>) -> Option<CustomerNode> {
        errors::degrade(ctx, related_node(ctx, &self.0.related_id).await).flatten()
    }

    /// The loan guaranteed or the account held jointly: masked like an account
    /// number (BIN and last 4) unless the caller may see account numbers, and
    /// audited when shown.
    async fn reference(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = access::viewer(ctx);
        self.0
            .reference
            .as_deref()
            .map(|r| viewer.show(&self.0.customer_id, Personal::AccountNumber, r))
    }

    /// A shareholder's share, in percent.
    async fn share(&self) -> Option<Decimal> {
        self.0.share
    }

    async fn since(&self) -> Option<NaiveDate> {
        self.0.since
    }
}

/// `Customer.relationships`.
pub(super) async fn relationships(
    ctx: &Context<'_>,
    customer: &Customer,
) -> Result<Vec<RelationshipNode>> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let outcome = loaders::one(&loaders.relationships, &customer.id).await;
    let items = outcome.items.map_err(|e| errors::upstream(&e))?;
    Ok(items.iter().cloned().map(RelationshipNode).collect())
}

/// A customer's household: family members and joint holders, with holdings rolled up.
pub struct HouseholdNode {
    head: Arc<Customer>,
    members: Vec<(RelationshipKind, Cif)>,
}

#[derive(SimpleObject)]
pub struct HouseholdMember {
    /// What the member is to the customer the household was asked for.
    relation: RelationshipKind,
    customer: Option<CustomerNode>,
}

#[Object(name = "Household")]
impl HouseholdNode {
    /// The other members (each null with `FORBIDDEN` when outside the caller's scope).
    async fn members(&self, ctx: &Context<'_>) -> Vec<HouseholdMember> {
        let mut members = Vec::with_capacity(self.members.len());
        for (relation, cif) in &self.members {
            members.push(HouseholdMember {
                relation: *relation,
                customer: errors::degrade(ctx, related_node(ctx, cif).await).flatten(),
            });
        }
        members
    }

    /// Holdings of the customer and the members the caller may read, added up.
    async fn holdings(&self, ctx: &Context<'_>) -> Option<Holdings> {
        errors::degrade(ctx, roll_up(ctx, &self.head, &self.cifs()).await)
    }

    /// Members left out of `holdings` because the caller may not read them.
    async fn members_withheld(&self, ctx: &Context<'_>) -> Option<i32> {
        errors::degrade(ctx, readable(ctx, &self.cifs()).await.map(|(_, w)| w))
    }
}

impl HouseholdNode {
    fn cifs(&self) -> Vec<Cif> {
        std::iter::once(self.head.id.clone())
            .chain(self.members.iter().map(|(_, c)| c.clone()))
            .collect()
    }
}

/// Holdings added up over the customers among `cifs` the caller may read.
async fn roll_up(ctx: &Context<'_>, head: &Arc<Customer>, cifs: &[Cif]) -> Result<Holdings> {
    let (customers, _) = readable(ctx, cifs).await?;
    let gathered = Gathered::merged(ctx, head, &customers, false).await?;
    let config = ctx.data_unchecked::<Arc<InsightConfig>>();
    Ok(crate::insights::holdings(config, &gathered.inputs()).0)
}

/// `Customer.household`: null when the customer has no household relationships.
pub(super) async fn household(
    ctx: &Context<'_>,
    customer: &Arc<Customer>,
) -> Result<Option<HouseholdNode>> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let outcome = loaders::one(&loaders.relationships, &customer.id).await;
    let items = outcome.items.map_err(|e| errors::upstream(&e))?;
    let members: Vec<(RelationshipKind, Cif)> = items
        .iter()
        .filter(|r| r.kind.is_household())
        .map(|r| (r.kind, r.related_id.clone()))
        .collect();
    Ok((!members.is_empty()).then(|| HouseholdNode {
        head: customer.clone(),
        members,
    }))
}

/// The person behind a CIF: every CIF that shares its verified ID number.
pub struct PartyNode {
    head: Arc<Customer>,
    members: Vec<Cif>,
}

#[Object(name = "Party")]
impl PartyNode {
    /// A stable key for the person: `P` and the lowest CIF among the records. It
    /// carries no personal data. For a pseudonymous role, `P` and the pseudonym of
    /// that record, so that it reveals no CIF either.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        let lowest = self.members.iter().min().unwrap_or(&self.head.id);
        ID(format!("P{}", access::viewer(ctx).customer_id(lowest)))
    }

    /// The person's customer records (each null with `FORBIDDEN` when outside the
    /// caller's scope).
    async fn customers(&self, ctx: &Context<'_>) -> Vec<Option<CustomerNode>> {
        let mut nodes = Vec::with_capacity(self.members.len());
        for cif in &self.members {
            nodes.push(errors::degrade(ctx, related_node(ctx, cif).await).flatten());
        }
        nodes
    }

    /// Holdings across the records the caller may read.
    async fn holdings(&self, ctx: &Context<'_>) -> Option<Holdings> {
        errors::degrade(ctx, roll_up(ctx, &self.head, &self.members).await)
    }

    /// Records left out of `holdings` and `insights` because the caller may not read
    /// them.
    async fn customers_withheld(&self, ctx: &Context<'_>) -> Option<i32> {
        errors::degrade(ctx, readable(ctx, &self.members).await.map(|(_, w)| w))
    }

    /// Insights for the person as a whole, over the records the caller may read.
    async fn insights(&self, ctx: &Context<'_>) -> Option<Insights> {
        let result = async {
            let (customers, _) = readable(ctx, &self.members).await?;
            let gathered = Gathered::merged(ctx, &self.head, &customers, true).await?;
            let config = ctx.data_unchecked::<Arc<InsightConfig>>();
            Ok(crate::insights::insights(config, &gathered.inputs()))
        };
        errors::degrade(ctx, result.await)
    }
}

/// `Customer.party`.
pub(super) async fn party(ctx: &Context<'_>, customer: &Arc<Customer>) -> Result<PartyNode> {
    let loaders = ctx.data_unchecked::<Loaders>();
    let outcome = loaders::one(&loaders.party, &customer.id).await;
    let items = outcome.items.map_err(|e| errors::upstream(&e))?;
    let mut members: Vec<Cif> = items.first().map(|p| p.members.clone()).unwrap_or_default();
    if !members.contains(&customer.id) {
        members.push(customer.id.clone());
    }
    members.sort();
    Ok(PartyNode {
        head: customer.clone(),
        members,
    })
}
