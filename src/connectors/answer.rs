//! An upstream answer kept as its text, read by pointer.
//!
//! Parsing a whole answer into one `serde_json::Value` made a tree several times the
//! size of its text (each object an ordered map, each number and string an
//! allocation), and mapping built a second tree beside it. A 100-customer batch
//! answer of 40 kB held about a megabyte while it was mapped, and 32 concurrent
//! `customers(ids:)` requests held 85 MB of such trees at once. Here the text is
//! checked once, the envelope is read by walking only the objects on a pointer's way,
//! and the items are parsed one at a time, each dropped once it is mapped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::mapping::Pointer;

/// Valid JSON text, as an upstream sent it.
pub struct Answer(Box<RawValue>);

/// Why the items of an answer could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ItemsError {
    /// Something other than a list (or null) is where the items should be.
    NotAList,
}

impl Answer {
    /// The body, if it is JSON (in UTF-8, as RFC 8259 requires between systems).
    pub fn parse(body: Vec<u8>) -> Option<Answer> {
        let text = String::from_utf8(body).ok()?;
        RawValue::from_string(text).ok().map(Answer)
    }

    /// The value at `pointer`, parsed (for codes, keys of the next page, totals: small
    /// values). `None` when nothing is there.
    pub fn value(&self, pointer: &Pointer) -> Option<Value> {
        let raw = seek(&self.0, pointer)?;
        serde_json::from_str(raw.get()).ok()
    }

    /// The items of the list at `pointer`, each still as text; none when the pointer
    /// finds nothing or null.
    pub fn items(&self, pointer: &Pointer) -> Result<Vec<&RawValue>, ItemsError> {
        match seek(&self.0, pointer) {
            None => Ok(Vec::new()),
            Some(raw) if raw.get() == "null" => Ok(Vec::new()),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| ItemsError::NotAList),
        }
    }
}

impl fmt::Debug for Answer {
    /// By size only: answers carry names and ID numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer({} bytes)", self.0.get().len())
    }
}

/// One item of an answer as a tree, to be mapped.
pub fn item(raw: &RawValue) -> Value {
    // The answer was checked as a whole, so each of its values parses.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// What `Value::pointer` would find in the parsed text, without parsing more than the
/// objects and arrays on the pointer's way (and skipping over their other members).
fn seek<'a>(root: &'a RawValue, pointer: &Pointer) -> Option<&'a RawValue> {
    pointer.tokens()?.iter().try_fold(root, |at, token| {
        let mut reader = serde_json::Deserializer::from_str(at.get());
        reader.deserialize_any(Child { token }).ok().flatten()
    })
}

/// Finds one member of an object (by name) or of an array (by index).
struct Child<'t> {
    token: &'t str,
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

impl<'de> Visitor<'de> for Child<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            // The last of duplicate names wins, as when the text is parsed whole.
            if name == self.token {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(wanted) = Pointer::array_index(self.token) else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        let mut index = 0;
        while let Some(element) = seq.next_element_seed(Element(index == wanted))? {
            if element.is_some() {
                found = element;
            }
            index += 1;
        }
        Ok(found)
    }

    // Scalars have no members.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An array element: kept as text when it is the one wanted, skipped otherwise.
struct Element(bool);

impl<'de> DeserializeSeed<'de> for Element {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        if self.0 {
            <&'de RawValue>::deserialize(deserializer).map(Some)
        } else {
            IgnoredAny::deserialize(deserializer).map(|_| None)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(value: &Value) -> Answer {
        Answer::parse(serde_json::to_vec(value).unwrap()).unwrap()
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
        let parsed = answer(&whole);
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
            assert_eq!(
                parsed.value(&Pointer::new(text)).as_ref(),
                whole.pointer(text),
                "pointer {text:?}"
            );
        }
    }

    #[test]
    fn items_come_one_by_one_and_a_non_list_is_refused() {
        let parsed = answer(&json!({"data": [{"id": 1}, {"id": 2}], "none": null, "one": {}}));
        let items = parsed.items(&Pointer::new("/data")).unwrap();
        assert_eq!(
            items.iter().map(|raw| item(raw)).collect::<Vec<_>>(),
            vec![json!({"id": 1}), json!({"id": 2})]
        );
        assert!(parsed.items(&Pointer::new("/none")).unwrap().is_empty());
        assert!(parsed.items(&Pointer::new("/absent")).unwrap().is_empty());
        assert_eq!(
            parsed.items(&Pointer::new("/one")).unwrap_err(),
            ItemsError::NotAList
        );
    }

    #[test]
    fn duplicate_names_keep_the_last_as_a_parsed_tree_does() {
        let parsed = Answer::parse(br#"{"code": "1", "code": "2"}"#.to_vec()).unwrap();
        assert_eq!(parsed.value(&Pointer::new("/code")), Some(json!("2")));
    }

    #[test]
    fn numbers_keep_their_text() {
        let parsed = Answer::parse(br#"{"balance": 12345678901234567890.10}"#.to_vec()).unwrap();
        assert_eq!(
            parsed.value(&Pointer::new("/balance")).unwrap().to_string(),
            "12345678901234567890.10"
        );
    }

    #[test]
    fn what_is_not_json_is_not_an_answer() {
        assert!(Answer::parse(b"<html>gateway timeout</html>".to_vec()).is_none());
        assert!(Answer::parse(br#"{"header": {"retCode": "#.to_vec()).is_none());
        assert!(Answer::parse(vec![0xff, 0xfe]).is_none());
    }
}
