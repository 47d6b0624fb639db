//! The GraphQL schema: thin resolvers over [`crate::upstream`] and [`crate::store`],
//! per-request loaders, and the one mapping from failures to GraphQL errors.
//!
//! The schema does not know about HTTP; [`crate::http`] carries requests to it and
//! attaches each request's [`RequestData`].

mod access;
mod audit;
mod book;
mod changes;
mod consents;
mod customer;
mod errors;
mod insights;
mod interactions;
mod loaders;
mod paging;
mod party;
mod products;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::auth::Viewer;
use crate::bus::Bus;
use crate::cache::RequestScope;
use crate::config::GraphqlConfig;
use crate::store::Store;
use crate::upstream::Upstreams;

pub use changes::{CustomerChange, CUSTOMER_CHANGED_CHANNEL};
pub(crate) use errors::forbidden;
pub use interactions::INTERACTIONS_CHANNEL;
pub use loaders::Loaders;

#[derive(MergedObject, Default)]
pub struct Query(
    customer::CustomerQuery,
    interactions::InteractionQuery,
    audit::AuditQuery,
    book::BookQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(interactions::InteractionMutation, consents::ConsentMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    interactions::InteractionSubscription,
    changes::ChangeSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with what every request shares.
pub fn build_schema(
    upstreams: Upstreams,
    config: GraphqlConfig,
    store: Store,
    bus: Bus,
    insights: Arc<crate::insights::InsightConfig>,
) -> AppSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(config.max_depth)
    .limit_complexity(config.max_complexity)
    .extension(access::FieldPolicy)
    .data(upstreams)
    .data(config)
    .data(store)
    .data(bus)
    .data(insights)
    .finish()
}

/// Every field of the schema with its nullability, read by introspection, so the
/// policies can be checked against what the schema really has.
pub async fn schema_fields(schema: &AppSchema) -> Vec<crate::auth::policy::SchemaField> {
    let response = schema
        .execute("{ __schema { types { name fields { name type { kind } } } } }")
        .await;
    let data = response.data.into_json().unwrap_or_default();
    let mut fields = Vec::new();
    for ty in data["__schema"]["types"].as_array().into_iter().flatten() {
        let type_name = ty["name"].as_str().unwrap_or_default();
        for field in ty["fields"].as_array().into_iter().flatten() {
            fields.push(crate::auth::policy::SchemaField {
                type_name: type_name.to_owned(),
                field: field["name"].as_str().unwrap_or_default().to_owned(),
                nullable: field["type"]["kind"] != "NON_NULL",
            });
        }
    }
    fields
}

/// The schema's types without any data behind them: for the SDL and for checks.
pub fn bare_schema() -> AppSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
}

/// The SDL, as `c360 schema` prints it and `schema/customer360.graphql` stores it.
pub fn sdl() -> String {
    bare_schema().sdl()
}

/// The hub's own database, for a resolver about to read or write it. Such reads are
/// not tagged like upstream entities, so a response containing them is never cached:
/// a contact logged or a consent withdrawn shows at once.
pub(crate) fn own_records<'a>(ctx: &async_graphql::Context<'a>) -> &'a Store {
    if let Some(scope) = ctx.data_opt::<Arc<RequestScope>>() {
        scope.uncacheable();
    }
    ctx.data_unchecked::<Store>()
}

/// What one request carries into the schema: its loaders, its viewer, and the scope
/// that collects what it read.
pub struct RequestData {
    pub loaders: Loaders,
    pub viewer: Viewer,
    pub scope: Arc<RequestScope>,
}

impl RequestData {
    pub fn new(upstreams: &Upstreams, viewer: Viewer) -> RequestData {
        let scope = Arc::new(RequestScope::new());
        RequestData {
            loaders: Loaders::new(upstreams, &scope),
            viewer,
            scope,
        }
    }

    /// Attaches this data to a request.
    pub fn attach(self, request: async_graphql::Request) -> async_graphql::Request {
        request
            .data(self.loaders)
            .data(self.viewer)
            .data(self.scope)
    }
}
