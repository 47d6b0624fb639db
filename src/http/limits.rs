//! What a document may ask before it runs, read from its syntax tree: how many
//! aliases it uses, and whether it introspects the schema.

/// Whether a document asks for `__schema` or `__type` (at the root, where they live,
/// directly or through fragments). `__typename` is not introspection of the schema.
pub(super) fn asks_for_schema(document: &async_graphql::parser::types::ExecutableDocument) -> bool {
    use async_graphql::parser::types::{Selection, SelectionSet};
    fn root(
        set: &SelectionSet,
        document: &async_graphql::parser::types::ExecutableDocument,
        depth: usize,
    ) -> bool {
        depth <= 16
            && set.items.iter().any(|item| match &item.node {
                Selection::Field(field) => {
                    matches!(field.node.name.node.as_str(), "__schema" | "__type")
                }
                Selection::InlineFragment(inline) => {
                    root(&inline.node.selection_set.node, document, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| root(&f.node.selection_set.node, document, depth + 1)),
            })
    }
    document
        .operations
        .iter()
        .any(|(_, op)| root(&op.node.selection_set.node, document, 0))
}

/// Aliased fields in the operations of a document, fragments counted where they are
/// spread (so spreading one aliased fragment a hundred times counts a hundred).
/// Runs before validation, so fragment cycles are cut off by depth.
pub(super) fn count_aliases(document: &async_graphql::parser::types::ExecutableDocument) -> usize {
    use async_graphql::parser::types::{Selection, SelectionSet};
    const MAX_SPREAD_DEPTH: usize = 16;
    fn walk(
        set: &SelectionSet,
        document: &async_graphql::parser::types::ExecutableDocument,
        depth: usize,
    ) -> usize {
        if depth > MAX_SPREAD_DEPTH {
            return 0;
        }
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some())
                        + walk(&field.node.selection_set.node, document, depth)
                }
                Selection::InlineFragment(inline) => {
                    walk(&inline.node.selection_set.node, document, depth)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map(|f| walk(&f.node.selection_set.node, document, depth + 1))
                    .unwrap_or(0),
            })
            .fold(0usize, usize::saturating_add)
    }
    document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node, document, 0))
        .fold(0usize, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: customer(id: 1) { x: id ...F } b: customer(id: 2) { ...F ...F } } fragment F on Customer { y: name z: name }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 3 + 3 * 2);
        let cyclic = async_graphql::parser::parse_query(
            "query { ...A } fragment A on Query { a: __typename ...A }",
        )
        .unwrap();
        assert!(count_aliases(&cyclic) <= 17, "cycles end");
    }
}
