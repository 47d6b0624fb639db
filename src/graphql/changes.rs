//! `Subscription.customerChanged`: a front-office screen open on a customer learns
//! that an upstream record of that customer changed (from `POST /events`, on any hub
//! instance), so it can query again.

use async_graphql::{Context, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::errors;
use crate::bus::Bus;
use crate::domain::Cif;

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
    /// they invalidate, so a query made on receipt sees the new data.
    async fn customer_changed(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = CustomerChange>> {
        super::access::no_lookup_by_cif(super::access::viewer(ctx), "id")?;
        let cif = Cif::parse(&id).map_err(|e| errors::bad_input("id", e))?;
        super::access::authorize(ctx, &cif, "id").await?;
        let bus = ctx.data_unchecked::<Bus>();
        Ok(bus
            .subscribe(CUSTOMER_CHANGED_CHANNEL)
            .filter_map(move |payload| {
                let change = serde_json::from_value::<CustomerChange>(payload)
                    .ok()
                    .filter(|c| c.id.as_str() == cif.as_str());
                async move { change }
            }))
    }
}
