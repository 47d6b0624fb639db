//! `Subscription.customerChanged`: a front-office screen open on a customer learns
//! that an upstream record of that customer changed (from `POST /events`, on any hub
//! instance), so it can query again.

use async_graphql::{Context, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::errors;
use crate::bus::Bus;
use crate::domain::{Cif, DataClass};

/// The bus channel change notices travel on.
pub const CUSTOMER_CHANGED_CHANNEL: &str = "customer.changed";

/// Something about a customer changed upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct CustomerChange {
    /// The CIF.
    pub id: ID,
    /// The system that announced it: `core`, `cards`, `loans` or `channels`.
    pub system: String,
    /// What changed: `customer`, `account`, `card`, `loan` or `online_user`.
    pub entity: String,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct ChangeSubscription;

#[Subscription]
impl ChangeSubscription {
    /// Upstream changes to one customer's data. The cache has already dropped what
    /// they invalidate, so a query made on receipt sees the new data. A notice says
    /// which kind of record moved, which is itself data of that kind ("the deposits
    /// changed"): a role denied the class never gets the notice.
    async fn customer_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = CustomerChange>> {
        super::access::no_lookup_by_cif(super::access::viewer(ctx), "id")?;
        let cif = Cif::parse(&id).map_err(|e| errors::bad_input("id", e))?;
        super::access::authorize(ctx, &cif, "id").await?;
        let denied = super::access::viewer(ctx).policy().deny_classes;
        let bus = ctx.data_unchecked::<Bus>();
        Ok(bus
            .subscribe(CUSTOMER_CHANGED_CHANNEL)
            .filter_map(move |payload| {
                let change = serde_json::from_value::<CustomerChange>(payload)
                    .ok()
                    .filter(|c| c.id.as_str() == cif.as_str())
                    .filter(|c| match entity_class(&c.entity) {
                        Some(class) => !denied.contains(class),
                        // A kind of record this hub does not know: only a role
                        // denied nothing may be told of it.
                        None => denied.is_empty(),
                    });
                async move { change }
            }))
    }
}

/// The kinds of record a change notice may name, each with the data class it is
/// about: `POST /events` accepts these names, and a subscriber denied the class is
/// never told of the change.
pub const CHANGE_ENTITIES: [(&str, DataClass); 8] = [
    ("customer", DataClass::Profile),
    ("account", DataClass::Deposits),
    ("card", DataClass::Cards),
    ("loan", DataClass::Loans),
    ("online_user", DataClass::Channels),
    ("relationship", DataClass::Relationships),
    ("party", DataClass::Relationships),
    // Activity is computed from the transactions of deposit accounts.
    ("activity", DataClass::Deposits),
];

/// The data class of the records a change notice is about.
fn entity_class(entity: &str) -> Option<DataClass> {
    CHANGE_ENTITIES
        .iter()
        .find(|(name, _)| *name == entity)
        .map(|(_, class)| *class)
}
