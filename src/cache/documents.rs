//! Parsed GraphQL documents, by their text: front ends send the same few documents
//! over and over, and parsing one (async-graphql's pest grammar) cost a quarter of the
//! hub's CPU on an executed profile360 (`perf record` of `c360 bench --scenario
//! profile360 --mode warm-l1`). A document is parsed once and each request gets a copy
//! of the tree, which is cheap: names in it are shared, not copied.
//!
//! Only documents that parsed are kept, so malformed ones always get their parse
//! error; validation still runs on every request, against the schema it executes on.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

/// Bytes a parsed document occupies per byte of its text (positions, vectors and
/// names for every selection), for the byte budget.
const RESIDENT_PER_TEXT_BYTE: usize = 16;

/// A bounded cache of parsed documents.
pub struct ParsedDocuments {
    documents: Cache<Arc<str>, Arc<ExecutableDocument>>,
}

impl ParsedDocuments {
    /// At most about `max_bytes` of parsed documents; documents longer than
    /// `max_bytes / 64` are parsed every time, so no single one can take the budget.
    pub fn new(max_bytes: u64) -> ParsedDocuments {
        ParsedDocuments {
            documents: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|text: &Arc<str>, _| weight(text.len()))
                .build(),
        }
    }

    /// `request` with its document parsed, from the cache when this text was parsed
    /// before; a document that does not parse is left for async-graphql to report.
    pub fn prepare(&self, mut request: async_graphql::Request) -> async_graphql::Request {
        if let Some(document) = self.documents.get(request.query.as_str()) {
            request.set_parsed_query((*document).clone());
            return request;
        }
        let text: Arc<str> = Arc::from(request.query.as_str());
        if let Ok(document) = request.parsed_query() {
            if u64::from(weight(text.len()))
                <= self.documents.policy().max_capacity().unwrap_or(0) / 64
            {
                self.documents.insert(text, Arc::new(document.clone()));
            }
        }
        request
    }
}

fn weight(text_len: usize) -> u32 {
    text_len
        .saturating_mul(RESIDENT_PER_TEXT_BYTE)
        .min(u32::MAX as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "query P($id: ID!) { customer(id: $id) { id name accounts { number } } }";

    #[test]
    fn a_document_parsed_once_is_served_the_same_tree() {
        let documents = ParsedDocuments::new(1 << 20);
        let mut first = documents.prepare(async_graphql::Request::new(PROFILE));
        let parsed = format!("{:?}", first.parsed_query().unwrap());
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 1);
        let mut second = documents.prepare(async_graphql::Request::new(PROFILE));
        assert_eq!(format!("{:?}", second.parsed_query().unwrap()), parsed);
    }

    #[test]
    fn documents_that_do_not_parse_or_are_too_long_are_not_kept() {
        let documents = ParsedDocuments::new(64 * 16 * 200);
        let mut broken = documents.prepare(async_graphql::Request::new("{ customer(id: "));
        assert!(
            broken.parsed_query().is_err(),
            "the parse error still comes"
        );
        let long = format!("{{ {} }}", "__typename ".repeat(40));
        documents.prepare(async_graphql::Request::new(long));
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 0);
        documents.prepare(async_graphql::Request::new("{ __typename }"));
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 1);
    }
}
