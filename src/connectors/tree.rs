//! What the single pass over an answer keeps ([`Kept`]), JSON pointers compiled once
//! ([`Pointer`]), and one way to walk a kept answer or a plain JSON value by them
//! ([`Node`]).
//!
//! An object the pass keeps in part holds a dozen members at most, the ones some
//! pointer reaches. In a `serde_json` map (an `IndexMap` under `preserve_order`) each
//! member was hashed with SipHash on insert: about 33,000 instructions of a cold
//! profile360's five answers, for maps that are read by comparing names anyway.

use std::sync::Arc;

use serde_json::Value;

/// A JSON pointer split into its tokens once, when a spec is compiled.
/// `Value::pointer` splits and unescapes its text on every lookup (two allocations per
/// token), and a mapping looks up every field of every item of every answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    /// None when the text is not a pointer (no leading `/`): it finds nothing.
    tokens: Option<Vec<String>>,
}

impl Pointer {
    /// RFC 6901 text: empty (the whole value) or tokens each after a `/`, with `~1`
    /// for `/` and `~0` for `~`. Text without the leading `/` finds nothing, as with
    /// `Value::pointer`; specs are checked for that when they load.
    pub fn new(text: &str) -> Pointer {
        let tokens = if text.is_empty() {
            Some(Vec::new())
        } else {
            text.strip_prefix('/').map(|rest| {
                rest.split('/')
                    .map(|t| t.replace("~1", "/").replace("~0", "~"))
                    .collect()
            })
        };
        Pointer {
            text: text.to_owned(),
            tokens,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The unescaped tokens (none for the whole value); `None` when the text is not
    /// a pointer.
    pub fn tokens(&self) -> Option<&[String]> {
        self.tokens.as_deref()
    }

    /// An array index as RFC 6901 allows it: digits, no sign, no leading zero.
    pub fn array_index(token: &str) -> Option<usize> {
        if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
            return None;
        }
        token.parse().ok()
    }
}

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value as the single pass kept it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// A value kept whole, or a scalar.
    Value(Value),
    /// An object kept in part: the members some pointer reaches, in the order sent,
    /// each name once. Names are the shape's own, shared: a kept member costs no
    /// allocation for its name.
    Object(Vec<(Arc<str>, Kept)>),
    /// A list kept in part.
    List(Vec<Kept>),
}

impl Kept {
    /// Adds a member to an object kept in part; a name sent twice keeps its last
    /// value, as a parsed tree does.
    pub fn insert(members: &mut Vec<(Arc<str>, Kept)>, name: &Arc<str>, value: Kept) {
        match members.iter_mut().find(|(member, _)| member == name) {
            Some((_, slot)) => *slot = value,
            None => members.push((name.clone(), value)),
        }
    }
}

#[cfg(test)]
impl Kept {
    /// The JSON this stands for, with what was not kept left out.
    pub fn to_json(&self) -> Value {
        match self {
            Kept::Value(value) => value.clone(),
            Kept::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(name, kept)| (name.to_string(), kept.to_json()))
                    .collect(),
            ),
            Kept::List(list) => Value::Array(list.iter().map(Kept::to_json).collect()),
        }
    }
}

/// A place in a kept answer, or in a JSON value (below a member kept whole).
#[derive(Debug, Clone, Copy)]
pub enum Node<'a> {
    Kept(&'a Kept),
    Json(&'a Value),
}

impl<'a> From<&'a Value> for Node<'a> {
    fn from(value: &'a Value) -> Node<'a> {
        Node::Json(value)
    }
}

impl<'a> From<&'a Kept> for Node<'a> {
    fn from(kept: &'a Kept) -> Node<'a> {
        Node::Kept(kept)
    }
}

impl<'a> Node<'a> {
    /// What `Value::pointer` finds for the same text in the value this node stands for.
    pub fn find(self, pointer: &Pointer) -> Option<Node<'a>> {
        pointer
            .tokens()?
            .iter()
            .try_fold(self, |node, token| node.child(token))
    }

    fn child(self, token: &str) -> Option<Node<'a>> {
        match self {
            Node::Kept(Kept::Value(value)) | Node::Json(value) => match value {
                Value::Object(map) => member(map, token).map(Node::Json),
                Value::Array(list) => Pointer::array_index(token)
                    .and_then(|i| list.get(i))
                    .map(Node::Json),
                _ => None,
            },
            Node::Kept(Kept::Object(members)) => members
                .iter()
                .find(|(name, _)| **name == *token)
                .map(|(_, kept)| Node::Kept(kept)),
            Node::Kept(Kept::List(list)) => Pointer::array_index(token)
                .and_then(|i| list.get(i))
                .map(Node::Kept),
        }
    }

    /// The JSON value here, if it was kept whole (every value a pointer ends at is).
    pub fn value(self) -> Option<&'a Value> {
        match self {
            Node::Kept(Kept::Value(value)) | Node::Json(value) => Some(value),
            Node::Kept(_) => None,
        }
    }

    /// The elements, if this is a list.
    pub fn elements(self) -> Option<Elements<'a>> {
        match self {
            Node::Kept(Kept::Value(Value::Array(list))) | Node::Json(Value::Array(list)) => {
                Some(Elements::Json(list.iter()))
            }
            Node::Kept(Kept::List(list)) => Some(Elements::Kept(list.iter())),
            _ => None,
        }
    }

    /// What the value is, for messages ([`describe`]).
    pub fn describe(self) -> String {
        match self {
            Node::Kept(Kept::Value(value)) | Node::Json(value) => describe(value),
            Node::Kept(Kept::Object(_)) => "an object".into(),
            Node::Kept(Kept::List(list)) => format!("a list of {}", list.len()),
        }
    }
}

/// The elements of a list, kept in part or whole, walked without gathering them.
pub enum Elements<'a> {
    Kept(std::slice::Iter<'a, Kept>),
    Json(std::slice::Iter<'a, Value>),
}

impl<'a> Iterator for Elements<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        match self {
            Elements::Kept(list) => list.next().map(Node::Kept),
            Elements::Json(list) => list.next().map(Node::Json),
        }
    }
}

/// Describes an upstream value for an error message by its type only: messages reach
/// logs and clients, and a value in the wrong place may be a name or an ID number.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(a) => format!("a list of {}", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// The member `name` of a JSON object. The values a mapping reads whole are small:
/// comparing names costs less there than the map's keyed lookup, which hashes the
/// name (SipHash) every time.
fn member<'a>(map: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() > 16 {
        return map.get(name);
    }
    map.iter()
        .find(|(member, _)| member.as_str() == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `node` stands for `json`: the compiled pointer finds there what `Value::pointer`
    /// finds in `json`.
    fn finds_what_value_pointer_finds(node: Node<'_>, json: &Value, text: &str) {
        assert_eq!(
            node.find(&Pointer::new(text)).and_then(Node::value),
            json.pointer(text),
            "pointer {text:?}"
        );
    }

    #[test]
    fn a_compiled_pointer_finds_what_value_pointer_finds() {
        let item = json!({
            "a": {"b": [10, {"c": "x"}], "d/e": 1, "f~g": 2, "": 3},
            "07": "padded",
            "list": ["zero", "one"],
        });
        for text in [
            "",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/01",
            "/a/b/+1",
            "/a/d~1e",
            "/a/f~0g",
            "/a/",
            "/07",
            "/list/1",
            "/list/-",
            "/missing",
            "/a/b/1/c/deeper",
            "a",
            "a/b",
        ] {
            finds_what_value_pointer_finds(Node::from(&item), &item, text);
        }
        assert_eq!(Pointer::new("/a/d~1e").to_string(), "/a/d~1e");
    }

    #[test]
    fn a_kept_answer_is_walked_as_the_value_it_stands_for() {
        let whole = json!({"id": "7", "tags": ["a", "b"]});
        let kept = Kept::Object(vec![
            ("code".into(), Kept::Value(json!("0"))),
            (
                "items".into(),
                Kept::List(vec![
                    Kept::Value(Value::Null),
                    Kept::Object(vec![("whole".into(), Kept::Value(whole.clone()))]),
                ]),
            ),
        ]);
        let as_json = kept.to_json();
        for text in [
            "/code",
            "/items/0",
            "/items/1/whole",
            "/items/1/whole/id",
            "/items/1/whole/tags/1",
            "/items/2",
            "/items/1/absent",
            "/code/x",
        ] {
            finds_what_value_pointer_finds(Node::from(&kept), &as_json, text);
        }
        let items = Node::from(&kept).find(&Pointer::new("/items")).unwrap();
        assert_eq!(items.value(), None, "a list kept in part is not a value");
        assert_eq!(items.elements().map(Iterator::count), Some(2));
        assert_eq!(items.describe(), "a list of 2");
        let a: Arc<str> = Arc::from("a");
        let mut members = vec![(a.clone(), Kept::Value(json!(1)))];
        Kept::insert(&mut members, &a, Kept::Value(json!(2)));
        assert_eq!(members, vec![(a, Kept::Value(json!(2)))]);
    }
}
