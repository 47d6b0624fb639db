//! The GraphQL schema: thin resolvers over [`crate::upstream`] and [`crate::store`],
//! per-request loaders, and the one mapping from failures to GraphQL errors.
//!
//! The schema does not know about HTTP; [`crate::http`] carries requests to it and
//! attaches each request's [`RequestData`].

mod consents;
mod customer;
mod errors;
mod interactions;
mod loaders;
mod paging;
mod products;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::auth::Viewer;
use crate::bus::Bus;
use crate::config::GraphqlConfig;
use crate::store::Store;
use crate::upstream::Upstreams;

pub use interactions::INTERACTIONS_CHANNEL;
pub use loaders::Loaders;

#[derive(MergedObject, Default)]
pub struct Query(customer::CustomerQuery, interactions::InteractionQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(interactions::InteractionMutation, consents::ConsentMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(interactions::InteractionSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with what every request shares.
pub fn build_schema(
    upstreams: Upstreams,
    config: GraphqlConfig,
    store: Store,
    bus: Bus,
) -> AppSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(upstreams)
    .data(config)
    .data(store)
    .data(bus)
    .finish()
}

/// The SDL, as `c360 schema` prints it and `schema/customer360.graphql` stores it.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}

/// What one request carries into the schema: its loaders and its viewer.
pub struct RequestData {
    pub loaders: Loaders,
    pub viewer: Viewer,
}

impl RequestData {
    pub fn new(upstreams: &Upstreams, viewer: Viewer) -> RequestData {
        RequestData {
            loaders: Loaders::new(upstreams),
            viewer,
        }
    }

    /// Attaches this data to a request.
    pub fn attach(self, request: async_graphql::Request) -> async_graphql::Request {
        request.data(self.loaders).data(self.viewer)
    }
}
