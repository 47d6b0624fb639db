//! Parsed GraphQL documents, by their text: front ends send the same few documents
//! over and over, and parsing one (async-graphql's pest grammar) cost a quarter of the
//! hub's CPU on an executed profile360 (`perf record` of `c360 bench --scenario
//! profile360 --mode warm-l1`). A document is parsed once and each request gets a copy
//! of the tree, which is cheap: names in it are shared, not copied.
//!
//! Only documents that parsed are kept, so malformed ones always get their parse
//! error. A kept document also remembers whether it has passed validation: the rules
//! of GraphQL validation look at the document and the schema, not at the values of
//! its variables, so a document that passed once passes again, and async-graphql's
//! full validation (a ninth of the instructions of a cold profile360) runs only on its
//! first execution. Later ones run the schema's fast mode, which still checks depth,
//! complexity and fragment cycles; the values of variables are checked where they are
//! used, as each argument is read.
//!
//! A document nested deeper than [`MAX_NESTING`] is refused before it is parsed:
//! async-graphql's parser, validator and executor recurse once per level of a list or
//! object value, with no limit of their own there, so `{ f(x: [[[[…]]]]) }` a few
//! thousand levels deep (a 10 KB request) overflowed a worker thread's stack and
//! aborted the whole hub (found by `tests/api/fuzz.rs`).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

use super::response::{DocumentDigest, ResponseKey};

/// Bytes a parsed document occupies per byte of its text (positions, vectors and
/// names for every selection), for the byte budget.
const RESIDENT_PER_TEXT_BYTE: usize = 16;

/// Deepest nesting of braces, brackets and parentheses a document may have. Selection
/// sets stop at `graphql.max_depth` (15) and async-graphql's own 64; list and object
/// values of real documents nest a few levels. 128 leaves room for any real document
/// and stays far from the thousands of levels that exhaust a 2 MiB stack.
pub const MAX_NESTING: usize = 128;

/// Why a document was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the document nests braces, brackets or parentheses more than {MAX_NESTING} levels deep")]
pub struct TooDeep;

/// A bounded cache of parsed documents.
pub struct ParsedDocuments {
    documents: Cache<Arc<str>, Arc<KnownDocument>, foldhash::fast::RandomState>,
}

/// Role policies a document's answer to [`KnownDocument::decided`] is remembered for;
/// past it (many reloads of the policies), the answers start over.
const DECISIONS_KEPT: usize = 16;

/// A document parsed before, whether an execution of it has passed validation, and
/// what was decided about it per role policy.
#[derive(Debug)]
pub struct KnownDocument {
    document: ExecutableDocument,
    /// The text's SHA-256, for the response tier's keys.
    digest: DocumentDigest,
    validated: AtomicBool,
    /// Per role policy (a weak pointer, so that a policy replaced by a reload is never
    /// mistaken for a new one at the same address), a yes-or-no decided about the
    /// document: whether it selects a field the role denies.
    decisions: Mutex<Vec<(Weak<dyn Any + Send + Sync>, bool)>>,
}

impl KnownDocument {
    /// Whether the full validation has passed on this document before: its later
    /// executions need only the fast one.
    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    /// SHA-256 of the document's text.
    pub fn digest(&self) -> &DocumentDigest {
        &self.digest
    }

    /// Records that an execution of the document passed the full validation.
    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }

    /// What `decide` says of this document for `policy` (a role's policy, as one load
    /// of the policies shares it), decided once per policy: it depends on the document
    /// and the policy only, never on a request.
    pub fn decided<P: Any + Send + Sync>(
        &self,
        policy: &Arc<P>,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        let address = Arc::as_ptr(policy).cast::<()>();
        let mut decisions = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, decision)) = decisions
            .iter()
            .find(|(known, _)| std::ptr::eq(known.as_ptr().cast::<()>(), address))
        {
            return *decision;
        }
        let decision = decide();
        if decisions.len() >= DECISIONS_KEPT {
            decisions.clear();
        }
        let weak: Weak<P> = Arc::downgrade(policy);
        decisions.push((weak as Weak<dyn Any + Send + Sync>, decision));
        decision
    }
}

impl ParsedDocuments {
    /// At most about `max_bytes` of parsed documents; documents longer than
    /// `max_bytes / 64` are parsed every time, so no single one can take the budget.
    pub fn new(max_bytes: u64) -> ParsedDocuments {
        ParsedDocuments {
            documents: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|text: &Arc<str>, _| weight(text.len()))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// The entry for a document text parsed before, without copying its tree: what
    /// the response tier's key needs, before anything is executed.
    pub fn known(&self, text: &str) -> Option<Arc<KnownDocument>> {
        self.documents.get(text)
    }

    /// `request` with its document parsed (from `known`, the entry [`Self::known`]
    /// found for its text, when there is one), and the cache's entry for it (`None`
    /// for a document not kept); a document that does not parse is left for
    /// async-graphql to report, one nested too deep to parse safely is refused.
    pub fn prepare(
        &self,
        mut request: async_graphql::Request,
        known: Option<Arc<KnownDocument>>,
    ) -> Result<(async_graphql::Request, Option<Arc<KnownDocument>>), TooDeep> {
        if let Some(known) = known {
            request.set_parsed_query(known.document.clone());
            return Ok((request, Some(known)));
        }
        if nesting_exceeds(&request.query, MAX_NESTING) {
            return Err(TooDeep);
        }
        let text: Arc<str> = Arc::from(request.query.as_str());
        let mut kept = None;
        if let Ok(document) = request.parsed_query() {
            if u64::from(weight(text.len()))
                <= self.documents.policy().max_capacity().unwrap_or(0) / 64
            {
                let known = Arc::new(KnownDocument {
                    document: document.clone(),
                    digest: ResponseKey::document_digest(&text),
                    validated: AtomicBool::new(false),
                    decisions: Mutex::new(Vec::new()),
                });
                self.documents.insert(text, known.clone());
                kept = Some(known);
            }
        }
        Ok((request, kept))
    }
}

/// Whether `text` opens more than `limit` braces, brackets or parentheses inside one
/// another, outside strings, block strings and comments. One pass, no allocation: it
/// runs on every document not parsed before, whatever its size.
fn nesting_exceeds(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

fn weight(text_len: usize) -> u32 {
    text_len
        .saturating_mul(RESIDENT_PER_TEXT_BYTE)
        .min(u32::MAX as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A role's policy as one load (or a reload) of the policies shares it.
    fn teller() -> Arc<String> {
        Arc::new("teller".to_owned())
    }

    const PROFILE: &str = "query P($id: ID!) { customer(id: $id) { id name accounts { number } } }";

    #[test]
    fn a_document_parsed_once_is_served_the_same_tree() {
        let documents = ParsedDocuments::new(1 << 20);
        let (mut first, known) = documents
            .prepare(async_graphql::Request::new(PROFILE), None)
            .unwrap();
        let parsed = format!("{:?}", first.parsed_query().unwrap());
        let known = known.expect("kept");
        assert!(
            !known.validated(),
            "not validated before its first execution"
        );
        known.mark_validated();
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 1);
        let (mut second, again) = documents
            .prepare(
                async_graphql::Request::new(PROFILE),
                documents.known(PROFILE),
            )
            .unwrap();
        assert_eq!(format!("{:?}", second.parsed_query().unwrap()), parsed);
        let again = again.expect("kept");
        assert!(again.validated(), "the same entry");
        let policy = teller();
        assert!(again.decided(&policy, || true));
        assert!(
            again.decided(&policy, || unreachable!("decided once per policy")),
            "remembered"
        );
        let reloaded = teller();
        assert!(
            !again.decided(&reloaded, || false),
            "a new policy decides anew"
        );
    }

    #[test]
    fn documents_that_do_not_parse_or_are_too_long_are_not_kept() {
        let documents = ParsedDocuments::new(64 * 16 * 200);
        let (mut broken, kept) = documents
            .prepare(async_graphql::Request::new("{ customer(id: "), None)
            .unwrap();
        assert!(kept.is_none());
        assert!(
            broken.parsed_query().is_err(),
            "the parse error still comes"
        );
        let long = format!("{{ {} }}", "__typename ".repeat(40));
        documents
            .prepare(async_graphql::Request::new(long), None)
            .unwrap();
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 0);
        documents
            .prepare(async_graphql::Request::new("{ __typename }"), None)
            .unwrap();
        documents.documents.run_pending_tasks();
        assert_eq!(documents.documents.entry_count(), 1);
    }

    /// The fuzz's find: a list value a few thousand levels deep in a 10 KB document
    /// overflowed the stack of the thread parsing it, aborting the hub. Run on a
    /// thread with the stack of a tokio worker, so that a regression aborts the test.
    #[test]
    fn a_document_nested_thousands_deep_is_refused_before_it_is_parsed() {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let documents = ParsedDocuments::new(1 << 20);
                let deep = format!("{{ f(x: {}1{}) }}", "[".repeat(5_000), "]".repeat(5_000));
                assert_eq!(
                    documents
                        .prepare(async_graphql::Request::new(deep), None)
                        .unwrap_err(),
                    TooDeep
                );
                let selections = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
                assert!(documents
                    .prepare(async_graphql::Request::new(selections), None)
                    .is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn nesting_in_strings_and_comments_does_not_count() {
        let limit = 3;
        assert!(!nesting_exceeds("{ a { b { c } } }", limit));
        assert!(nesting_exceeds("{ a { b { c { d } } } }", limit));
        assert!(!nesting_exceeds(r#"{ a(x: "[[[[[[[[") }"#, limit));
        assert!(!nesting_exceeds(r#"{ a(x: "\"[[[[[[") }"#, limit));
        assert!(!nesting_exceeds(
            "{ a(x: \"\"\"[[[[[[ \\\"\"\" [[[[\"\"\") }",
            limit
        ));
        assert!(!nesting_exceeds("{ a # [[[[[[[\n }", limit));
        assert!(nesting_exceeds("# [[[[\n{ a(x: [[[1]]]) }", limit));
        assert!(
            nesting_exceeds("{ a(x: \"open\n[[[[[[ ) }", limit),
            "a string ends at the end of its line, as the parser ends it"
        );
    }
}
