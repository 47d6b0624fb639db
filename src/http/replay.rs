//! The copy of an executed answer that the response tier keeps. Where the execution
//! fetched from a system, its answer says `fromCache: false`; whoever is answered
//! with the kept copy later is answered from the cache, so the copy says `true` there.
//!
//! The copy is made from the answer's text, not by writing the answer a second time:
//! writing a profile to JSON cost about 20,000 instructions, a search of its text for
//! the flags a tenth of that. In JSON text, `"fromCache":false` can only be an object
//! member of that name with the value `false` (a quote inside a string is escaped, and
//! a colon follows only a member's name), so the text is patched where those members
//! stand when their number is exactly the number of flags the execution recorded. When
//! it is not (another field aliased to the same name, also `false`), the text is read
//! back into a tree and the flags are set at their paths, as slow as it is exact.

use async_graphql::PathSegment;
use bytes::Bytes;
use serde_json::Value;

/// The `fromCache` flags of one answer that a replay must turn to `true`.
pub(super) struct FetchedFlags {
    paths: Vec<Vec<PathSegment>>,
}

impl FetchedFlags {
    /// The flags at `paths` (where the execution recorded a fetch) that `data` holds
    /// as `false`; a path that leads elsewhere is not a flag of this answer.
    pub(super) fn of(data: &async_graphql::Value, paths: Vec<Vec<PathSegment>>) -> FetchedFlags {
        let paths = paths
            .into_iter()
            .filter(|path| matches!(at(data, path), Some(async_graphql::Value::Boolean(false))))
            .collect();
        FetchedFlags { paths }
    }

    /// `text`, the answer written as JSON, with every flag set to `true`; `None` when
    /// the text is not the answer's JSON (it cannot be read back).
    pub(super) fn replayed(&self, text: Bytes) -> Option<Bytes> {
        if self.paths.is_empty() {
            return Some(text);
        }
        patched(&text, &self.paths).or_else(|| rewritten(&text, &self.paths))
    }
}

/// The member a path ends at: its name in the answer (the alias, if any).
fn member(path: &[PathSegment]) -> Option<&str> {
    match path.last() {
        Some(PathSegment::Field(name)) => Some(name.as_str()),
        _ => None,
    }
}

fn at<'a>(
    mut value: &'a async_graphql::Value,
    path: &[PathSegment],
) -> Option<&'a async_graphql::Value> {
    for segment in path {
        value = match (segment, value) {
            (PathSegment::Field(name), async_graphql::Value::Object(fields)) => {
                fields.get(name.as_str())?
            }
            (PathSegment::Index(i), async_graphql::Value::List(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The text with each `"name":false` of the flags' members turned to `true`, when
/// the text holds exactly as many of them as there are flags.
fn patched(text: &[u8], paths: &[Vec<PathSegment>]) -> Option<Bytes> {
    let mut names: Vec<&str> = Vec::new();
    for path in paths {
        let name = member(path)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut at_false: Vec<(usize, usize)> = Vec::with_capacity(paths.len());
    for name in names {
        let needle = format!("\"{name}\":false");
        at_false.extend(
            memchr::memmem::find_iter(text, needle.as_bytes())
                .map(|start| (start + needle.len() - "false".len(), start + needle.len())),
        );
    }
    if at_false.len() != paths.len() {
        return None;
    }
    at_false.sort_unstable();
    let mut out = Vec::with_capacity(text.len());
    let mut from = 0;
    for (start, end) in at_false {
        out.extend_from_slice(&text[from..start]);
        out.extend_from_slice(b"true");
        from = end;
    }
    out.extend_from_slice(&text[from..]);
    Some(Bytes::from(out))
}

/// The text read back into a tree, the flags set at their paths, and written again.
fn rewritten(text: &[u8], paths: &[Vec<PathSegment>]) -> Option<Bytes> {
    let mut answer: Value = serde_json::from_slice(text).ok()?;
    for path in paths {
        let mut value = answer.get_mut("data")?;
        for segment in path {
            value = match segment {
                PathSegment::Field(name) => value.get_mut(name.as_str())?,
                PathSegment::Index(i) => value.get_mut(*i)?,
            };
        }
        *value = Value::Bool(true);
    }
    serde_json::to_vec(&answer).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Name, Response, Value as GqlValue};

    fn field(name: &str) -> PathSegment {
        PathSegment::Field(name.to_owned())
    }

    fn flag(system: &str, from_cache: bool) -> GqlValue {
        GqlValue::from_json(serde_json::json!({"system": system, "fromCache": from_cache})).unwrap()
    }

    /// `{customer: {sources: [...], extra}}` as async-graphql answers it.
    fn answer(sources: Vec<GqlValue>, extra: Option<(&str, GqlValue)>) -> Response {
        let mut customer = async_graphql::indexmap::IndexMap::new();
        customer.insert(Name::new("id"), GqlValue::from("1000000001"));
        customer.insert(Name::new("sources"), GqlValue::List(sources));
        if let Some((name, value)) = extra {
            customer.insert(Name::new(name), value);
        }
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(Name::new("customer"), GqlValue::Object(customer));
        Response::new(GqlValue::Object(data))
    }

    fn source_path(index: usize, name: &str) -> Vec<PathSegment> {
        vec![
            field("customer"),
            field("sources"),
            PathSegment::Index(index),
            field(name),
        ]
    }

    fn written(response: &Response) -> Bytes {
        Bytes::from(serde_json::to_vec(response).unwrap())
    }

    /// What the copy should be: the answer with the flags set, written whole.
    fn expected(mut response: Response, paths: &[Vec<PathSegment>]) -> Value {
        for path in paths {
            let mut value = &mut response.data;
            for segment in path {
                value = match (segment, value) {
                    (PathSegment::Field(name), GqlValue::Object(fields)) => {
                        fields.get_mut(name.as_str()).unwrap()
                    }
                    (PathSegment::Index(i), GqlValue::List(items)) => &mut items[*i],
                    _ => unreachable!(),
                };
            }
            *value = GqlValue::Boolean(true);
        }
        serde_json::to_value(&response).unwrap()
    }

    #[test]
    fn the_kept_copy_says_from_cache_where_the_execution_fetched() {
        let response = answer(
            vec![
                flag("core", false),
                flag("cards", true),
                flag("loans", false),
            ],
            None,
        );
        let paths = vec![source_path(0, "fromCache"), source_path(2, "fromCache")];
        let flags = FetchedFlags::of(&response.data, paths.clone());
        let text = written(&response);
        let copy = flags.replayed(text.clone()).unwrap();
        let copy: Value = serde_json::from_slice(&copy).unwrap();
        assert_eq!(copy, expected(response, &paths));
        assert_eq!(copy["data"]["customer"]["sources"][1]["fromCache"], true);
        let own: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            own["data"]["customer"]["sources"][0]["fromCache"], false,
            "the request's own answer keeps the truth of its execution"
        );
    }

    #[test]
    fn a_field_aliased_to_the_flags_name_keeps_its_value() {
        // `customer { fromCache: someFlag }` answered false: one more
        // `"fromCache":false` in the text than flags, so the copy is made from the tree.
        let response = answer(
            vec![flag("core", false)],
            Some(("fromCache", GqlValue::Boolean(false))),
        );
        let paths = vec![source_path(0, "fromCache")];
        let flags = FetchedFlags::of(&response.data, paths.clone());
        let copy = flags.replayed(written(&response)).unwrap();
        let copy: Value = serde_json::from_slice(&copy).unwrap();
        assert_eq!(copy["data"]["customer"]["fromCache"], false);
        assert_eq!(copy, expected(response, &paths));
    }

    #[test]
    fn flags_under_an_alias_and_text_that_looks_like_a_flag() {
        // The client asked for `sources { cached: fromCache }`; a name holds the text
        // of a flag, which JSON escapes, so it is never taken for one.
        let sources = vec![
            GqlValue::from_json(serde_json::json!({"cached": false})).unwrap(),
            GqlValue::from_json(serde_json::json!({"cached": false})).unwrap(),
        ];
        let response = answer(sources, Some(("name", GqlValue::from("\"cached\":false"))));
        let paths = vec![source_path(0, "cached"), source_path(1, "cached")];
        let flags = FetchedFlags::of(&response.data, paths.clone());
        let text = written(&response);
        assert!(patched(&text, &paths).is_some(), "found by search");
        let copy: Value = serde_json::from_slice(&flags.replayed(text).unwrap()).unwrap();
        assert_eq!(copy["data"]["customer"]["name"], "\"cached\":false");
        assert_eq!(copy, expected(response, &paths));
    }

    #[test]
    fn a_recorded_path_that_holds_no_false_flag_is_left_alone() {
        let response = answer(vec![flag("core", true)], None);
        let flags = FetchedFlags::of(
            &response.data,
            vec![source_path(0, "fromCache"), source_path(5, "fromCache")],
        );
        assert!(flags.paths.is_empty());
        let text = written(&response);
        assert_eq!(flags.replayed(text.clone()).unwrap(), text);
    }
}
