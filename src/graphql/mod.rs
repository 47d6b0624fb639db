//! The GraphQL schema: thin resolvers over [`crate::upstream`] and [`crate::store`],
//! per-request loaders, and the one mapping from failures to GraphQL errors.
//!
//! The schema does not know about HTTP; [`crate::http`] carries requests to it and
//! attaches each request's [`RequestData`].

mod access;
mod audit;
mod book;
mod changes;
pub mod classes;
mod consents;
mod customer;
mod deadline;
mod errors;
mod identity;
mod insights;
mod interactions;
mod loaders;
mod money;
mod node;
mod paging;
mod party;
mod products;
mod viewer;

use std::sync::Arc;
use std::time::SystemTime;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::auth::Viewer;
use crate::bus::Bus;
use crate::cache::{KnownDocument, RequestScope};
use crate::config::GraphqlConfig;
use crate::store::Store;
use crate::upstream::Upstreams;

pub use changes::{CustomerChange, CHANGE_ENTITIES, CUSTOMER_CHANGED_CHANNEL};
pub use deadline::EventDeadline;
pub use interactions::INTERACTIONS_CHANNEL;
pub use loaders::Loaders;

#[derive(MergedObject, Default)]
pub struct Query(
    customer::CustomerQuery,
    interactions::InteractionQuery,
    audit::AuditQuery,
    book::BookQuery,
    viewer::ViewerQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(interactions::InteractionMutation, consents::ConsentMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    interactions::InteractionSubscription,
    changes::ChangeSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema several times over, with the same types and data: with the field policy
/// ([`access::FieldPolicy`]) for requests that may reach a field the caller's role
/// denies, and without it for the rest; and each of those in async-graphql's fast
/// validation mode, for documents that have passed the full validation before
/// ([`crate::cache::KnownDocument`]). async-graphql runs an extension's `resolve` hook
/// around every field of every request (its factory cannot see the request), and on a
/// teller's profile360 answered from the entity tier that machinery was about 3 % of
/// the hub's CPU (perf, self time) for nothing: the query selects no field a teller is
/// denied.
#[derive(Clone)]
pub struct AppSchemas {
    policed: AppSchema,
    open: AppSchema,
    policed_fast: AppSchema,
    open_fast: AppSchema,
    /// The policed schema with a deadline on each subscription event
    /// ([`EventDeadline`]): subscriptions are few, so they do not need the open
    /// schema's economy.
    streamed: AppSchema,
    /// What the field policy follows through a document to the types it selects.
    types: Arc<access::FieldTypes>,
}

impl AppSchemas {
    /// The schema that enforces the viewer's role on `document`: the policed one unless
    /// the role denies no field, or the document selects none of the fields it denies
    /// (a field is only ever resolved where a document selects it); in fast validation
    /// mode when the parsed-document cache (`known`) says the document has passed the
    /// full one before. Both depend on the document, not the request: what the policy
    /// needs is decided once per document and role policy. A
    /// document that did not parse gets the policed schema, which reports why.
    pub fn for_request(
        &self,
        viewer: &Viewer,
        document: Option<&ExecutableDocument>,
        known: Option<&KnownDocument>,
    ) -> &AppSchema {
        let denied = &viewer.policy().deny;
        let selects_denied =
            |document| access::selects_a_denied_field(document, &self.types, denied);
        let policed = !denied.is_empty()
            && document.is_none_or(|document| match known {
                Some(known) => known.decided(viewer.shared_policy(), || selects_denied(document)),
                None => selects_denied(document),
            });
        let validated = known.is_some_and(KnownDocument::validated);
        match (policed, validated && document.is_some()) {
            (true, false) => &self.policed,
            (true, true) => &self.policed_fast,
            (false, false) => &self.open,
            (false, true) => &self.open_fast,
        }
    }

    /// The schema a subscription runs in: every check of the policed one, and each
    /// event resolved under the request's [`EventDeadline`].
    pub fn for_subscription(&self) -> &AppSchema {
        &self.streamed
    }

    /// The schema with every check, for what no caller decides (the field list the
    /// policies are checked against).
    pub fn policed(&self) -> &AppSchema {
        &self.policed
    }
}

/// Builds the schemas with what every request shares.
pub fn build_schema(
    upstreams: Upstreams,
    config: GraphqlConfig,
    store: Store,
    bus: Bus,
    insights: Arc<crate::insights::InsightConfig>,
) -> AppSchemas {
    let build = |policed: bool, streamed: bool, fast: bool| {
        let mut builder = Schema::build(
            Query::default(),
            Mutation::default(),
            Subscription::default(),
        )
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity);
        if policed {
            builder = builder.extension(access::FieldPolicy);
        }
        if streamed {
            builder = builder.extension(deadline::EventDeadlines);
        }
        if fast {
            builder = builder.validation_mode(async_graphql::ValidationMode::Fast);
        }
        builder
            .data(upstreams.clone())
            .data(config.clone())
            .data(store.clone())
            .data(bus.clone())
            .data(insights.clone())
            .finish()
    };
    let policed = build(true, false, false);
    let types = Arc::new(access::FieldTypes::from_sdl(&policed.sdl()));
    AppSchemas {
        policed,
        open: build(false, false, false),
        policed_fast: build(true, false, true),
        open_fast: build(false, false, true),
        streamed: build(true, true, false),
        types,
    }
}

/// Every field of the schema with its nullability, the type it returns and its data
/// classes ([`classes::REGISTRY`]), read by introspection, so the policies are checked
/// against what the schema really has.
pub async fn schema_fields(schema: &AppSchema) -> Vec<crate::auth::policy::SchemaField> {
    let response = schema
        .execute(
            "{ __schema { types { name fields(includeDeprecated: true) { name type { kind name \
             ofType { kind name ofType { kind name ofType { kind name } } } } } } } }",
        )
        .await;
    let data = response.data.into_json().unwrap_or_default();
    let mut fields = Vec::new();
    for ty in data["__schema"]["types"].as_array().into_iter().flatten() {
        let type_name = ty["name"].as_str().unwrap_or_default();
        if type_name.starts_with("__") {
            continue;
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let name = field["name"].as_str().unwrap_or_default();
            let mut returns = &field["type"];
            while returns["name"].is_null() && !returns["ofType"].is_null() {
                returns = &returns["ofType"];
            }
            fields.push(crate::auth::policy::SchemaField {
                type_name: type_name.to_owned(),
                field: name.to_owned(),
                nullable: field["type"]["kind"] != "NON_NULL",
                returns: returns["name"].as_str().unwrap_or_default().to_owned(),
                classes: classes::classes_of(type_name, name),
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
    pub expires: viewer::TokenExpiry,
}

impl RequestData {
    pub fn new(upstreams: &Upstreams, viewer: Viewer, expires: SystemTime) -> RequestData {
        let scope = Arc::new(RequestScope::new());
        RequestData {
            loaders: Loaders::new(upstreams, &scope),
            viewer,
            scope,
            expires: viewer::TokenExpiry(expires),
        }
    }

    /// Attaches this data to a request.
    pub fn attach(self, request: async_graphql::Request) -> async_graphql::Request {
        request
            .data(self.loaders)
            .data(self.viewer)
            .data(self.scope)
            .data(self.expires)
    }
}
