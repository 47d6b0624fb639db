//! Who may read what, enforced in the schema: the customer scope of the caller's role
//! (checked where a customer enters the graph: roots, mutations, subscriptions, the
//! contact history) and the fields the role may not read (checked for every field by
//! [`FieldPolicy`], so a denial in `config/policies.toml` reaches every path that
//! exposes the field).

use std::collections::HashMap;
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

/// The named type each field of the schema returns, and the object types that stand
/// in for each interface and union: what [`selects_a_denied_field`] follows through a
/// document. Read from the schema's own SDL once, when the schemas are built.
pub(crate) struct FieldTypes {
    /// Per type (object or interface), each field's named return type.
    fields: HashMap<String, HashMap<String, String>>,
    /// Per interface or union, the object types that may be behind it.
    possible: HashMap<String, Vec<String>>,
}

impl FieldTypes {
    pub(crate) fn from_sdl(sdl: &str) -> FieldTypes {
        use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
        fn named(ty: &Type) -> &str {
            match &ty.base {
                BaseType::Named(name) => name.as_str(),
                BaseType::List(inner) => named(inner),
            }
        }
        let mut types = FieldTypes {
            fields: HashMap::new(),
            possible: HashMap::new(),
        };
        // The SDL is the schema's own: it parses, or the schema could not be served.
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return types;
        };
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let name = ty.node.name.node.to_string();
            let (fields, implements) = match &ty.node.kind {
                TypeKind::Object(object) => (&object.fields, &object.implements),
                TypeKind::Interface(interface) => (&interface.fields, &interface.implements),
                TypeKind::Union(union) => {
                    let members = union.members.iter().map(|m| m.node.to_string());
                    types.possible.entry(name).or_default().extend(members);
                    continue;
                }
                _ => continue,
            };
            if matches!(ty.node.kind, TypeKind::Object(_)) {
                for interface in implements {
                    let possible = types.possible.entry(interface.node.to_string());
                    possible.or_default().push(name.clone());
                }
            }
            let fields = fields
                .iter()
                .map(|f| {
                    (
                        f.node.name.node.to_string(),
                        named(&f.node.ty.node).to_owned(),
                    )
                })
                .collect();
            types.fields.insert(name, fields);
        }
        types
    }
}

/// Whether `document` selects a field the role denies (`Type.field` entries of
/// `denied`) on a type that has it: every operation from its root type, fragments
/// under their type conditions, a field of an interface or union for every object
/// type behind it. When it does not, no field the role denies can be resolved: a
/// field is resolved only where a document selects it. A field the schema does not
/// have (a document that will fail validation) counts as denied, so that such a
/// document runs where every check is made.
pub(crate) fn selects_a_denied_field(
    document: &ExecutableDocument,
    types: &FieldTypes,
    denied: &std::collections::HashSet<String>,
) -> bool {
    let mut entry = String::new();
    let mut denies = |ty: &str, field: &str| {
        entry.clear();
        entry.push_str(ty);
        entry.push('.');
        entry.push_str(field);
        denied.contains(&entry)
    };
    let mut sets: Vec<(&SelectionSet, &str)> = document
        .operations
        .iter()
        .map(|(_, op)| {
            let root = match op.node.ty {
                OperationType::Query => "Query",
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
            };
            (&op.node.selection_set.node, root)
        })
        .collect();
    let mut spread: Vec<&str> = Vec::new();
    while let Some((set, parent)) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    let Some(returns) = types.fields.get(parent).and_then(|f| f.get(name)) else {
                        return true;
                    };
                    let behind = types.possible.get(parent).map(Vec::as_slice);
                    if denies(parent, name)
                        || behind
                            .unwrap_or_default()
                            .iter()
                            .any(|object| denies(object, name))
                    {
                        return true;
                    }
                    sets.push((&field.node.selection_set.node, returns.as_str()));
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    sets.push((&inline.node.selection_set.node, on));
                }
                Selection::FragmentSpread(fragment) => {
                    let name = fragment.node.fragment_name.node.as_str();
                    if spread.contains(&name) {
                        continue;
                    }
                    spread.push(name);
                    let Some(definition) =
                        document.fragments.get(&fragment.node.fragment_name.node)
                    else {
                        return true;
                    };
                    let on = definition.node.type_condition.node.on.node.as_str();
                    sets.push((&definition.node.selection_set.node, on));
                }
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
    use std::sync::OnceLock;

    use async_graphql::parser::parse_query;

    use super::{selects_a_denied_field, FieldTypes};

    fn selects(query: &str, denied: &[&str]) -> bool {
        static TYPES: OnceLock<FieldTypes> = OnceLock::new();
        let types = TYPES.get_or_init(|| FieldTypes::from_sdl(&super::super::sdl()));
        let denied: HashSet<String> = denied.iter().map(|d| d.to_string()).collect();
        selects_a_denied_field(
            &parse_query(query).expect("a valid document"),
            types,
            &denied,
        )
    }

    #[test]
    fn a_denied_field_of_another_type_with_the_same_name_needs_no_check() {
        // A teller may not read offers (insights), but a loan's product is theirs.
        let denied = ["Offer.product", "Query.interactions"];
        assert!(!selects(
            "{ customer(id: 1) { id name loans { product } accounts { number } } }",
            &denied
        ));
        // Aliases are response keys, not field names.
        assert!(!selects(
            "{ interactions: customer(id: 1) { product: id } }",
            &denied
        ));
        assert!(selects(
            "{ interactions(customerId: 1) { edges { node { id } } } }",
            &denied
        ));
    }

    #[test]
    fn a_denied_field_is_found_wherever_the_document_selects_it() {
        let denied = ["Customer.insights"];
        assert!(selects(
            "{ customer(id: 1) { x: insights { tier } } }",
            &denied
        ));
        assert!(selects(
            "{ customer(id: 1) { ... on Customer { insights { tier } } } }",
            &denied
        ));
        assert!(selects(
            "{ customer(id: 1) { ...F } } fragment F on Customer { insights { tier } }",
            &denied
        ));
        assert!(selects(
            "{ customers(ids: [1]) { ... { ...F } } } fragment F on Customer { insights { reasons { rule } } }",
            &denied
        ));
        assert!(!selects(
            "{ customer(id: 1) { ...F } } fragment F on Customer { id }",
            &denied
        ));
    }

    #[test]
    fn a_field_the_schema_lacks_runs_where_every_check_is_made() {
        assert!(selects(
            "{ customer(id: 1) { noSuchField } }",
            &["Customer.insights"]
        ));
        assert!(selects(
            "{ customer(id: 1) { ...Missing } }",
            &["Customer.insights"]
        ));
    }
}
