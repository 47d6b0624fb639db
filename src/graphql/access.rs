//! Who may read what, enforced in the schema: the customer scope of the caller's role
//! (checked where a customer enters the graph: roots, mutations, subscriptions, the
//! contact history) and the fields the role may not read (checked for every field by
//! [`FieldPolicy`], so a denial in `config/policies.toml` reaches every path that
//! exposes the field).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::Variables;
use async_graphql::{Context, PathSegment, Response, Result, ServerError, ServerResult, Value};

use super::errors;
use super::loaders::{self, Loaders};
use crate::auth::{ScopeRule, Viewer};
use crate::domain::{Cif, Customer};

/// The request's viewer.
pub(crate) fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    ctx.data_unchecked::<Viewer>()
}

/// Admits a loaded customer into the answer, or refuses it; an admitted customer is
/// noted for the access audit.
pub(crate) fn admit(viewer: &Viewer, customer: &Customer) -> Result<()> {
    if viewer.may_read(customer) {
        viewer.record_read(&customer.id);
        Ok(())
    } else {
        Err(errors::forbidden(format!("customer {}", customer.id)))
    }
}

/// Refuses a lookup by CIF (`argument` names the argument) from a pseudonymous role.
/// Its answers carry pseudonyms, which the hub cannot turn back into CIFs (it keeps no
/// table to), and a lookup by CIF would let the caller tie a pseudonym to a customer
/// it already knows.
pub(crate) fn no_lookup_by_cif(viewer: &Viewer, argument: &str) -> Result<()> {
    if viewer.pseudonymous() {
        return Err(errors::deidentified(
            argument,
            "this role sees customers under pseudonyms and may not look them up by CIF",
        ));
    }
    Ok(())
}

/// Whether the role reads every customer (so cross-customer lists need no filter).
pub(crate) fn reads_everyone(viewer: &Viewer) -> bool {
    viewer.policy().scope.contains(&ScopeRule::All)
}

/// Refuses a CIF the caller may not read when the CIF alone decides (a portal
/// customer asking for someone else), before anything is loaded: the answer then
/// does not even say whether the customer exists.
pub(crate) fn precheck(viewer: &Viewer, cif: &Cif) -> Result<()> {
    match viewer.may_read_cif(cif) {
        Some(false) => Err(errors::forbidden(format!("customer {cif}"))),
        _ => Ok(()),
    }
}

/// Whether the caller may act on `cif` (log a contact, record a consent, follow a
/// customer's changes): the customer must exist in core banking and be in scope.
/// `field` names the argument for a `NOT_FOUND`.
pub(crate) async fn authorize(ctx: &Context<'_>, cif: &Cif, field: &str) -> Result<()> {
    let viewer = viewer(ctx);
    precheck(viewer, cif)?;
    let loaders = ctx.data_unchecked::<Loaders>();
    let outcome = loaders::one(&loaders.customers, cif).await;
    match &outcome.items {
        Ok(items) => match items.first() {
            Some(customer) => admit(viewer, customer),
            None => Err(errors::not_found_field(field, format!("customer {cif}"))),
        },
        Err(error) => Err(errors::upstream(error)),
    }
}

/// Denies the fields a role's policy lists. A denied field answers null with a
/// `FORBIDDEN` error at its path, and the rest of the answer stands (the policy check
/// at start makes sure every denied field below the roots is nullable). A denied root
/// field fails as a whole, as the specification asks of a failed non-null field.
pub struct FieldPolicy;

impl ExtensionFactory for FieldPolicy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldPolicyExtension::default())
    }
}

#[derive(Default)]
struct FieldPolicyExtension {
    denied: Mutex<Vec<ServerError>>,
}

const ROOTS: [&str; 3] = ["Query", "Mutation", "Subscription"];

#[async_trait::async_trait]
impl Extension for FieldPolicyExtension {
    /// A subscription's root field resolves only when an event arrives, so a denied one
    /// is refused here, before the subscription starts, rather than on each event.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(viewer) = ctx.data_opt::<Viewer>() {
            if let Some(error) = denied_subscription(viewer, &document) {
                return Err(error);
            }
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let denied = std::mem::take(&mut *self.denied.lock().unwrap_or_else(|e| e.into_inner()));
        response.errors.extend(denied);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !info.is_for_introspection {
            if let Some(viewer) = ctx.data_opt::<Viewer>() {
                if viewer.policy().denies(info.parent_type, info.name) {
                    let error = errors::forbidden(format!("{}.{}", info.parent_type, info.name))
                        .into_server_error(info.field.name.pos);
                    let mut error = error;
                    error.path = path_of(&info);
                    if ROOTS.contains(&info.parent_type) {
                        return Err(error);
                    }
                    self.denied
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(error);
                    return Ok(Some(Value::Null));
                }
            }
        }
        next.run(ctx, info).await
    }
}

/// The refusal of the first subscription root field in `document` the viewer's role
/// denies.
fn denied_subscription(viewer: &Viewer, document: &ExecutableDocument) -> Option<ServerError> {
    let mut sets: Vec<&SelectionSet> = document
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Subscription)
        .map(|(_, op)| &op.node.selection_set.node)
        .collect();
    // Validation, which refuses fragment cycles, has not run yet.
    let mut spread = std::collections::HashSet::new();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if viewer.policy().denies("Subscription", name) {
                        let mut error = errors::forbidden(format!("Subscription.{name}"))
                            .into_server_error(field.pos);
                        error.path = vec![PathSegment::Field(
                            field.node.response_key().node.to_string(),
                        )];
                        return Some(error);
                    }
                }
                Selection::InlineFragment(inline) => sets.push(&inline.node.selection_set.node),
                Selection::FragmentSpread(fragment) => {
                    let name = &fragment.node.fragment_name.node;
                    if spread.insert(name.clone()) {
                        if let Some(fragment) = document.fragments.get(name) {
                            sets.push(&fragment.node.selection_set.node);
                        }
                    }
                }
            }
        }
    }
    None
}

/// Whether `document` selects, anywhere (every operation and every fragment, used or
/// not), a field whose name is the field of a `Type.field` entry in `denied`. When it
/// does not, no field the role denies can be resolved, whatever the types: fields are
/// resolved only where a document selects them, and by name, not alias.
pub(crate) fn names_a_denied_field(
    document: &ExecutableDocument,
    denied: &std::collections::HashSet<String>,
) -> bool {
    let names: Vec<&str> = denied
        .iter()
        .map(|entry| {
            entry
                .rsplit_once('.')
                .map_or(entry.as_str(), |(_, field)| field)
        })
        .collect();
    let mut sets: Vec<&SelectionSet> = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| &fragment.node.selection_set.node),
        )
        .collect();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if names.contains(&field.node.name.node.as_str()) {
                        return true;
                    }
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(inline) => sets.push(&inline.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    false
}

fn path_of(info: &ResolveInfo<'_>) -> Vec<PathSegment> {
    let mut nodes: Vec<_> = std::iter::once(info.path_node)
        .chain(info.path_node.parents())
        .collect();
    nodes.reverse();
    nodes
        .into_iter()
        .map(|node| match node.segment {
            async_graphql::QueryPathSegment::Index(i) => PathSegment::Index(i),
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use async_graphql::parser::parse_query;

    use super::names_a_denied_field;

    fn names(query: &str, denied: &[&str]) -> bool {
        let denied: HashSet<String> = denied.iter().map(|d| d.to_string()).collect();
        names_a_denied_field(&parse_query(query).expect("a valid document"), &denied)
    }

    #[test]
    fn a_document_without_the_denied_names_needs_no_check() {
        let denied = ["Customer.insights", "Query.interactions"];
        assert!(!names(
            "{ customer(id: 1) { id name accounts { number } } }",
            &denied
        ));
        // Aliases are response keys, not field names.
        assert!(!names(
            "{ insights: customer(id: 1) { interactions: id } }",
            &denied
        ));
    }

    #[test]
    fn a_denied_name_is_found_wherever_the_document_selects_it() {
        let denied = ["Customer.insights"];
        assert!(names(
            "{ customer(id: 1) { x: insights { tier } } }",
            &denied
        ));
        assert!(names(
            "{ customer(id: 1) { ... on Customer { insights { tier } } } }",
            &denied
        ));
        assert!(names(
            "{ customer(id: 1) { ...F } } fragment F on Customer { insights { tier } }",
            &denied
        ));
        // A fragment no operation spreads is still looked at: the check only has to
        // be safe, not exact.
        assert!(names(
            "{ customer(id: 1) { id } } fragment F on Customer { insights { tier } }",
            &denied
        ));
        assert!(names(
            "mutation { a { b { c { d { insights } } } } }",
            &denied
        ));
    }
}
