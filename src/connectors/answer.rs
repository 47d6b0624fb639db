//! An upstream answer read in one pass, keeping only what the endpoint reads.
//!
//! Parsing a whole answer into one `serde_json::Value` made a tree several times the
//! size of its text (each object an ordered map, each number and string an
//! allocation): a 100-customer batch answer of 40 kB held about a megabyte while it
//! was mapped. Keeping the text and walking it by pointer instead scanned it four or
//! five times (checking it, finding the code, finding the list, splitting the list,
//! parsing each item), and each item was still built whole though a mapping reads a
//! few of its members: a cold 360 request spent about 12 % of the hub's instructions
//! there. So an endpoint's pointers (the error code, the list, each item's key and
//! mapped fields, the paging members) are compiled into a [`Shape`], and the answer
//! is read once against it: members no pointer reaches are checked and skipped, never
//! built, and the tree that is left holds about what the mapping will produce.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::Value;

use super::mapping::{Mapping, Read};
use super::tree::{Kept, Node, Pointer};

/// The members of an answer that something reads: what the single pass keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// A pointer ends here: the value is kept whole.
    whole: bool,
    /// Members on some pointer's way, by name (or, in an array, by index).
    members: Vec<(Arc<str>, Shape)>,
    /// What is kept of every element when this is a list a mapping walks.
    each: Option<Box<Shape>>,
}

impl Shape {
    /// Keeps the value at `pointer` whole. Text that is not a pointer finds nothing,
    /// and so keeps nothing.
    pub fn keep(&mut self, pointer: &Pointer) {
        if let Some(node) = self.node(pointer) {
            node.whole = true;
        }
    }

    /// The shape to keep of every element of the list at `pointer`.
    pub fn each(&mut self, pointer: &Pointer) -> Option<&mut Shape> {
        let node = self.node(pointer)?;
        Some(node.each.get_or_insert_with(Box::default))
    }

    /// Keeps what `mapping` reads of an item.
    pub fn keep_mapped(&mut self, mapping: &Mapping) {
        for read in mapping.reads() {
            match read {
                Read::Value(pointer) => self.keep(pointer),
                Read::List(pointer, element) => {
                    if let Some(each) = self.each(pointer) {
                        each.keep_mapped(element);
                    }
                }
                Read::Values(pointer, at) => {
                    if let Some(each) = self.each(pointer) {
                        each.keep(at);
                    }
                }
            }
        }
    }

    fn node(&mut self, pointer: &Pointer) -> Option<&mut Shape> {
        let mut node = self;
        for token in pointer.tokens()? {
            let at = match node.members.iter().position(|(name, _)| **name == **token) {
                Some(at) => at,
                None => {
                    node.members
                        .push((Arc::from(token.as_str()), Shape::default()));
                    node.members.len() - 1
                }
            };
            node = &mut node.members[at].1;
        }
        Some(node)
    }

    /// Whether the single pass may skip this node's value in part: a node that lists
    /// both elements by index and a shape for every element keeps its value whole
    /// rather than merge the two (no spec maps a list both ways; whole is correct).
    fn partial(&self) -> bool {
        !self.whole && (self.each.is_none() || self.members.is_empty())
    }

    fn member(&self, name: &str) -> Option<&(Arc<str>, Shape)> {
        self.members.iter().find(|(member, _)| **member == *name)
    }
}

/// An answer as the endpoint's [`Shape`] kept it.
pub struct Answer {
    kept: Kept,
    bytes: usize,
}

/// Why the items of an answer could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ItemsError {
    /// Something other than a list (or null) is where the items should be.
    NotAList,
}

impl Answer {
    /// The body, if it is JSON (in UTF-8, as RFC 8259 requires between systems), with
    /// what `shape` reaches kept. Every part of the text is checked, kept or not.
    pub fn parse(body: &[u8], shape: &Shape) -> Option<Answer> {
        let text = std::str::from_utf8(body).ok()?;
        let mut reader = serde_json::Deserializer::from_str(text);
        let kept = shape.deserialize(&mut reader).ok()?;
        reader.end().ok()?;
        Some(Answer {
            kept,
            bytes: body.len(),
        })
    }

    /// The value at `pointer` (for codes, keys of the next page, totals), if the shape
    /// kept it; `None` when nothing is there.
    pub fn value(&self, pointer: &Pointer) -> Option<&Value> {
        Node::Kept(&self.kept).find(pointer)?.value()
    }

    /// Takes the items of the list at `pointer`; none when the pointer finds nothing
    /// or null.
    pub fn take_items(&mut self, pointer: &Pointer) -> Result<Vec<Kept>, ItemsError> {
        match pointer.tokens() {
            Some(tokens) => take_items(&mut self.kept, tokens),
            None => Ok(Vec::new()),
        }
    }
}

/// [`Answer::take_items`] below `node`, at `tokens`.
fn take_items(node: &mut Kept, tokens: &[String]) -> Result<Vec<Kept>, ItemsError> {
    match (node, tokens.split_first()) {
        (Kept::Value(value), _) => {
            let found = tokens.iter().try_fold(value, |target, token| match target {
                Value::Object(map) => map.get_mut(token.as_str()),
                Value::Array(list) => Pointer::array_index(token).and_then(|i| list.get_mut(i)),
                _ => None,
            });
            match found {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => {
                    Ok(std::mem::take(items).into_iter().map(Kept::Value).collect())
                }
                Some(_) => Err(ItemsError::NotAList),
            }
        }
        (Kept::List(items), None) => Ok(std::mem::take(items)),
        (Kept::Object(_), None) => Err(ItemsError::NotAList),
        (Kept::Object(members), Some((token, rest))) => {
            match members.iter_mut().find(|(name, _)| **name == **token) {
                Some((_, member)) => take_items(member, rest),
                None => Ok(Vec::new()),
            }
        }
        (Kept::List(list), Some((token, rest))) => {
            match Pointer::array_index(token).and_then(|i| list.get_mut(i)) {
                Some(element) => take_items(element, rest),
                None => Ok(Vec::new()),
            }
        }
    }
}

impl fmt::Debug for Answer {
    /// By size only: answers carry names and ID numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer({} bytes)", self.bytes)
    }
}

impl<'de> DeserializeSeed<'de> for &Shape {
    type Value = Kept;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kept, D::Error> {
        if self.partial() {
            deserializer.deserialize_any(Partial(self))
        } else {
            Value::deserialize(deserializer).map(Kept::Value)
        }
    }
}

/// Reads a value keeping the members its shape reaches. Scalars are kept as they are:
/// where a list or an object was expected, the mapping says what came instead.
struct Partial<'s>(&'s Shape);

/// serde_json hands a number to `deserialize_any` as a one-member map under this
/// name when numbers keep their text (`arbitrary_precision`, which exact money
/// needs); `numbers_where_a_pointer_passes_stay_numbers` fails if it is renamed.
const NUMBER: &str = "$serde_json::private::Number";

impl<'de> Visitor<'de> for Partial<'_> {
    type Value = Kept;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kept, A::Error> {
        let mut kept = Vec::with_capacity(self.0.members.len());
        let mut first = true;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            if name == NUMBER && first {
                let text: String = map.next_value()?;
                return text
                    .parse::<Value>()
                    .map(Kept::Value)
                    .map_err(A::Error::custom);
            }
            first = false;
            match self.0.member(&name) {
                Some((shared, shape)) => {
                    let value = map.next_value_seed(shape)?;
                    Kept::insert(&mut kept, shared, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Kept::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kept, A::Error> {
        let mut kept = Vec::new();
        if let Some(each) = &self.0.each {
            while let Some(element) = seq.next_element_seed(&**each)? {
                kept.push(element);
            }
            return Ok(Kept::List(kept));
        }
        // Elements no pointer names are held as null, so that the indexes (and the
        // list's length) stay as sent.
        loop {
            let shape = self
                .0
                .members
                .iter()
                .find(|(name, _)| Pointer::array_index(name) == Some(kept.len()))
                .map(|(_, shape)| shape);
            let element = match shape {
                Some(shape) => seq.next_element_seed(shape)?,
                None => seq
                    .next_element::<IgnoredAny>()?
                    .map(|_| Kept::Value(Value::Null)),
            };
            match element {
                Some(element) => kept.push(element),
                None => return Ok(Kept::List(kept)),
            }
        }
    }

    fn visit_bool<E>(self, v: bool) -> Result<Kept, E> {
        Ok(Kept::Value(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kept, E> {
        Ok(Kept::Value(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kept, E> {
        Ok(Kept::Value(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kept, E> {
        Ok(Kept::Value(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kept, E> {
        Ok(Kept::Value(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Kept, E> {
        Ok(Kept::Value(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Kept, E> {
        Ok(Kept::Value(Value::Null))
    }
}

/// An object's member name, borrowed from the text unless it has escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shape_keeping(pointers: &[&str]) -> Shape {
        let mut shape = Shape::default();
        for pointer in pointers {
            shape.keep(&Pointer::new(pointer));
        }
        shape
    }

    fn json_of(items: Vec<Kept>) -> Vec<Value> {
        items.iter().map(Kept::to_json).collect()
    }

    fn answer(value: &Value, shape: &Shape) -> Answer {
        Answer::parse(&serde_json::to_vec(value).unwrap(), shape).unwrap()
    }

    #[test]
    fn values_are_found_where_value_pointer_finds_them() {
        let whole = json!({
            "header": {"retCode": "000000", "count": 2, "amount": 12.50},
            "body": {"items": [{"cif": "1"}, {"cif": "2"}], "next": null},
            "a/b": {"~": "escaped"},
            "list": [0, [1, 2], {"deep": true}],
            "dup": 1,
        });
        for text in [
            "",
            "/header",
            "/header/retCode",
            "/header/count",
            "/header/amount",
            "/body/items",
            "/body/items/1/cif",
            "/body/next",
            "/a~1b/~0",
            "/list/1/0",
            "/list/2/deep",
            "/list/3",
            "/list/01",
            "/missing",
            "/header/retCode/x",
            "header",
        ] {
            let pointer = Pointer::new(text);
            let parsed = answer(&whole, &shape_keeping(&[text]));
            assert_eq!(
                parsed.value(&pointer),
                whole.pointer(text),
                "pointer {text:?}"
            );
        }
    }

    #[test]
    fn members_no_pointer_reaches_are_checked_but_not_kept() {
        let shape = shape_keeping(&["/code", "/body/list/1/id"]);
        let text = br#"{"code": "0", "noise": {"deep": [1, 2, {"x": "y"}]},
            "body": {"list": [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}], "more": true}}"#;
        let parsed = Answer::parse(text, &shape).unwrap();
        assert_eq!(
            parsed.kept.to_json(),
            json!({"code": "0", "body": {"list": [null, {"id": 2}]}})
        );
        let broken = br#"{"code": "0", "noise": {"deep": [1, 2}, "body": {}}"#;
        assert!(Answer::parse(broken, &shape).is_none());
        let trailing = br#"{"code": "0"} {"code": "1"}"#;
        assert!(Answer::parse(trailing, &shape).is_none());
    }

    #[test]
    fn items_keep_what_every_item_needs_and_a_non_list_is_refused() {
        let mut shape = Shape::default();
        let each = shape.each(&Pointer::new("/data")).unwrap();
        each.keep(&Pointer::new("/id"));
        shape.keep(&Pointer::new("/next"));
        let mut parsed = answer(
            &json!({"data": [{"id": 1, "pan": "6222"}, {"id": 2}], "next": "k2"}),
            &shape,
        );
        assert_eq!(
            json_of(parsed.take_items(&Pointer::new("/data")).unwrap()),
            vec![json!({"id": 1}), json!({"id": 2})]
        );
        assert_eq!(parsed.value(&Pointer::new("/next")), Some(&json!("k2")));
        let mut none = answer(&json!({"data": null}), &shape);
        assert!(none.take_items(&Pointer::new("/data")).unwrap().is_empty());
        assert!(none
            .take_items(&Pointer::new("/absent"))
            .unwrap()
            .is_empty());
        let mut one = answer(&json!({"data": {"id": 1}}), &shape);
        assert_eq!(
            one.take_items(&Pointer::new("/data")).unwrap_err(),
            ItemsError::NotAList
        );
    }

    #[test]
    fn items_inside_a_value_kept_whole_are_taken_too() {
        let mut shape = shape_keeping(&[""]);
        shape
            .each(&Pointer::new("/data"))
            .unwrap()
            .keep(&Pointer::new("/id"));
        let mut parsed = answer(&json!({"data": [{"id": 1, "pan": "6222"}], "n": 2}), &shape);
        assert_eq!(
            json_of(parsed.take_items(&Pointer::new("/data")).unwrap()),
            vec![json!({"id": 1, "pan": "6222"})]
        );
        assert_eq!(
            parsed.take_items(&Pointer::new("/n")).unwrap_err(),
            ItemsError::NotAList
        );
    }

    #[test]
    fn numbers_where_a_pointer_passes_stay_numbers() {
        let mut shape = Shape::default();
        shape
            .each(&Pointer::new("/items"))
            .unwrap()
            .keep(&Pointer::new("/x"));
        let parsed = Answer::parse(br#"{"items": 12.50}"#, &shape).unwrap();
        assert_eq!(
            parsed.value(&Pointer::new("/items")).unwrap().to_string(),
            "12.50"
        );
        let mut listed = answer(&json!({"items": [7, {"x": 1, "y": 2}, "s", true]}), &shape);
        assert_eq!(
            json_of(listed.take_items(&Pointer::new("/items")).unwrap()),
            vec![json!(7), json!({"x": 1}), json!("s"), json!(true)]
        );
    }

    #[test]
    fn duplicate_names_keep_the_last_as_a_parsed_tree_does() {
        let parsed = Answer::parse(br#"{"code": "1", "code": "2"}"#, &shape_keeping(&["/code"]));
        assert_eq!(
            parsed.unwrap().value(&Pointer::new("/code")),
            Some(&json!("2"))
        );
    }

    #[test]
    fn numbers_keep_their_text() {
        let parsed = Answer::parse(
            br#"{"balance": 12345678901234567890.10}"#,
            &shape_keeping(&["/balance"]),
        )
        .unwrap();
        assert_eq!(
            parsed.value(&Pointer::new("/balance")).unwrap().to_string(),
            "12345678901234567890.10"
        );
    }

    #[test]
    fn what_is_not_json_is_not_an_answer() {
        let shape = shape_keeping(&["/header/retCode"]);
        assert!(Answer::parse(b"<html>gateway timeout</html>", &shape).is_none());
        assert!(Answer::parse(br#"{"header": {"retCode": "#, &shape).is_none());
        assert!(Answer::parse(&[0xff, 0xfe], &shape).is_none());
        assert!(Answer::parse(b"{\"note\": \"\xff\"}", &Shape::default()).is_none());
    }
}
