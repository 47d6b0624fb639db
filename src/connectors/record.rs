//! A canonical record: one upstream item mapped onto the hub's field names, on its way
//! into a domain type. Its members stand in the order the spec maps them, in a list:
//! a record has a dozen members, is built once and read once, so the keyed map of a
//! JSON object would only cost a hash of every name twice (inserting it, and reading
//! it again into the domain type), about 2 % of the instructions of a cold profile360.
//! A record is read into a domain type by serde, as a map, and written as a JSON
//! object where one is shown (tests, the specs' checks).

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{IntoDeserializer, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Members by canonical name, each name once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    members: Vec<(&'static str, Member)>,
}

/// A member's value: a value, a nested record (a money amount, a statement), or a list
/// of records.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    Value(Value),
    Record(Record),
    Records(Vec<Record>),
}

impl Record {
    pub fn with_capacity(members: usize) -> Record {
        Record {
            members: Vec::with_capacity(members),
        }
    }

    /// Sets `name` to `member`, in place of what it held.
    pub fn insert(&mut self, name: &'static str, member: Member) {
        match self.members.iter_mut().find(|(known, _)| *known == name) {
            Some((_, held)) => *held = member,
            None => self.members.push((name, member)),
        }
    }

    /// The nested record at `name`, made empty when there is none (or a value is there).
    pub fn record_mut(&mut self, name: &'static str) -> &mut Record {
        let index = match self.members.iter().position(|(known, _)| *known == name) {
            Some(index) => index,
            None => {
                self.members.push((name, Member::Value(Value::Null)));
                self.members.len() - 1
            }
        };
        let member = &mut self.members[index].1;
        if !matches!(member, Member::Record(_)) {
            *member = Member::Record(Record::default());
        }
        match member {
            Member::Record(record) => record,
            _ => unreachable!("set to a record above"),
        }
    }

    /// Keeps the members `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Member) -> bool) {
        self.members.retain(|(name, member)| keep(name, member));
    }

    /// The member at `name` (what tests look at).
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, member)| member)
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (name, member) in &self.members {
            map.serialize_entry(name, member)?;
        }
        map.end()
    }
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Value(value) => value.serialize(serializer),
            Member::Record(record) => record.serialize(serializer),
            Member::Records(records) => {
                let mut seq = serializer.serialize_seq(Some(records.len()))?;
                for record in records {
                    seq.serialize_element(record)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserializer<'de> for Record {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let mut members = MapDeserializer::new(self.members.into_iter());
        let value = visitor.visit_map(&mut members)?;
        members.end()?;
        Ok(value)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl IntoDeserializer<'_, serde_json::Error> for Record {
    type Deserializer = Record;

    fn into_deserializer(self) -> Record {
        self
    }
}

impl IntoDeserializer<'_, serde_json::Error> for Member {
    type Deserializer = Member;

    fn into_deserializer(self) -> Member {
        self
    }
}

/// A list of records, read as a sequence.
fn records<'de, V: Visitor<'de>>(
    records: Vec<Record>,
    visitor: V,
) -> Result<V::Value, serde_json::Error> {
    let mut items = SeqDeserializer::new(records.into_iter());
    let value = visitor.visit_seq(&mut items)?;
    items.end()?;
    Ok(value)
}

/// A member is read as what it holds: a value exactly as serde_json reads it (so
/// that amounts, dates and enumerations read as they would from JSON text).
macro_rules! as_held {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            match self {
                Member::Value(value) => value.$method(visitor),
                Member::Record(record) => record.$method(visitor),
                Member::Records(list) => records(list, visitor),
            }
        }
    )*};
}

/// The methods that name what they expect: a value is read as `serde_json` reads it,
/// a record or a list as what it is.
macro_rules! as_held_or_any {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($arg: $ty,)*
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            match self {
                Member::Value(value) => value.$method($($arg,)* visitor),
                held => held.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Member {
    type Error = serde_json::Error;

    as_held! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Member::Value(value) => value.deserialize_option(visitor),
            held => visitor.visit_some(held),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Member::Value(value) => value.deserialize_newtype_struct(name, visitor),
            held => visitor.visit_newtype_struct(held),
        }
    }

    as_held_or_any! {
        deserialize_unit_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Status {
        Active,
        Dormant,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Amount {
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        currency: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Line {
        code: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Account {
        number: String,
        status: Status,
        opened: chrono::NaiveDate,
        balance: Amount,
        limit: Option<Amount>,
        overdraft: Option<Amount>,
        note: Option<String>,
        lines: Vec<Line>,
        tags: Vec<String>,
        #[serde(default)]
        missing: Option<u32>,
    }

    fn account() -> Record {
        let mut record = Record::with_capacity(8);
        record.insert("number", Member::Value(json!("001-0000001")));
        record.insert("status", Member::Value(json!("dormant")));
        record.insert("opened", Member::Value(json!("2019-04-30")));
        let balance = record.record_mut("balance");
        balance.insert("amount", Member::Value(json!("1234.50")));
        balance.insert("currency", Member::Value(json!("EUR")));
        let limit = record.record_mut("limit");
        limit.insert("amount", Member::Value(json!("0.10")));
        limit.insert("currency", Member::Value(json!("EUR")));
        record.insert("overdraft", Member::Value(Value::Null));
        record.insert("note", Member::Value(json!("joint")));
        let mut line = Record::default();
        line.insert("code", Member::Value(json!("X1")));
        record.insert("lines", Member::Records(vec![line]));
        record.insert("tags", Member::Value(json!(["a", "b"])));
        record
    }

    #[test]
    fn a_record_reads_into_a_domain_type_as_its_json_would() {
        let record = account();
        let as_json = serde_json::to_value(&record).unwrap();
        let from_json: Account = serde_json::from_value(as_json.clone()).unwrap();
        let from_record = Account::deserialize(record).unwrap();
        assert_eq!(from_record, from_json);
        assert_eq!(from_record.status, Status::Dormant);
        assert_eq!(from_record.balance.amount, Decimal::new(123450, 2));
        assert_eq!(from_record.overdraft, None);
        assert_eq!(
            as_json["balance"],
            json!({"amount": "1234.50", "currency": "EUR"})
        );
    }

    #[test]
    fn a_record_the_type_refuses_names_the_field() {
        let mut record = account();
        record.insert("status", Member::Value(json!("closed-ish")));
        let error = Account::deserialize(record).unwrap_err().to_string();
        assert!(error.contains("closed-ish"), "{error}");
        let mut record = account();
        record.retain(|name, _| name != "number");
        let error = Account::deserialize(record).unwrap_err().to_string();
        assert!(error.contains("missing field `number`"), "{error}");
    }

    #[test]
    fn a_name_set_twice_holds_the_last_value() {
        let mut record = Record::default();
        record.insert("a", Member::Value(json!(1)));
        record.insert("a", Member::Value(json!(2)));
        record.insert("b", Member::Value(json!(3)));
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({"a": 2, "b": 3})
        );
        assert_eq!(record.get("a"), Some(&Member::Value(json!(2))));
    }
}
