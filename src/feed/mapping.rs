//! The `[[feed.bindings]]` of the config, compiled: which deliveries the hub takes
//! (exchange and routing-key pattern) and how each system's body maps onto a change.
//!
//! Every system publishes in its own dialect (core banking's `EVT_ID` and Beijing
//! times without an offset, the card system's camelCase and RFC 3339, the loan
//! system's snake_case and unix seconds), so where each part of a change sits is data,
//! checked at start with the setting named. A body that does not map is refused with
//! the part at fault named, never quoting the body: it may hold personal data.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::{ChangeEvent, FeedSetupError, MAX_ID_LEN};
use crate::config::FeedBinding;
use crate::domain::{Cif, System};

/// The bank's clock, for timestamps written without an offset.
const BEIJING_SECONDS: i32 = 8 * 3600;

/// Where a value sits in a body: a JSON pointer, or a top-level field's name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Locator(String);

impl Locator {
    fn compile(setting: String, raw: &str) -> Result<Locator, FeedSetupError> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "/" {
            return Err(FeedSetupError::new(
                setting,
                "give a JSON pointer (\"/EVT_ID\") or a top-level field name",
            ));
        }
        if raw.starts_with('/') {
            Ok(Locator(raw.to_owned()))
        } else {
            // A field name as a pointer of one token (RFC 6901 escapes).
            Ok(Locator(format!(
                "/{}",
                raw.replace('~', "~0").replace('/', "~1")
            )))
        }
    }

    fn find<'a>(&self, body: &'a Value) -> Option<&'a Value> {
        body.pointer(&self.0).filter(|v| !v.is_null())
    }
}

/// How a binding's timestamps are written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeFormat {
    Rfc3339,
    UnixSeconds,
    UnixMillis,
    /// A chrono pattern, read as Beijing time.
    Local(String),
}

impl TimeFormat {
    fn compile(setting: String, raw: &str) -> Result<TimeFormat, FeedSetupError> {
        match raw.trim() {
            "rfc3339" => Ok(TimeFormat::Rfc3339),
            "unix" => Ok(TimeFormat::UnixSeconds),
            "unix_ms" => Ok(TimeFormat::UnixMillis),
            pattern if pattern.contains('%') => {
                // A pattern that cannot print a time cannot read one either.
                let sample = NaiveDateTime::default();
                let mut printed = String::new();
                if std::fmt::write(&mut printed, format_args!("{}", sample.format(pattern)))
                    .is_err()
                {
                    return Err(FeedSetupError::new(
                        setting,
                        format!("'{pattern}' is not a chrono time pattern"),
                    ));
                }
                Ok(TimeFormat::Local(pattern.to_owned()))
            }
            other => Err(FeedSetupError::new(
                setting,
                format!("'{other}': expected rfc3339, unix, unix_ms or a chrono pattern such as %Y%m%d%H%M%S"),
            )),
        }
    }

    fn read(&self, value: &Value) -> Option<DateTime<Utc>> {
        match (self, value) {
            (TimeFormat::Rfc3339, Value::String(text)) => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            (TimeFormat::UnixSeconds, value) => {
                integer(value).and_then(|s| DateTime::from_timestamp(s, 0))
            }
            (TimeFormat::UnixMillis, value) => {
                integer(value).and_then(DateTime::from_timestamp_millis)
            }
            (TimeFormat::Local(pattern), Value::String(text)) => {
                let local = NaiveDateTime::parse_from_str(text, pattern).ok()?;
                FixedOffset::east_opt(BEIJING_SECONDS)?
                    .from_local_datetime(&local)
                    .single()
                    .map(|t| t.with_timezone(&Utc))
            }
            _ => None,
        }
    }

    fn describe(&self) -> &str {
        match self {
            TimeFormat::Rfc3339 => "RFC 3339 with an offset",
            TimeFormat::UnixSeconds => "unix seconds",
            TimeFormat::UnixMillis => "unix milliseconds",
            TimeFormat::Local(pattern) => pattern,
        }
    }
}

/// A whole number, written as one or as a string of digits.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A key or id: a string, or a number written as its digits.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Where the kind of record comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntitySource {
    /// Every event of the binding is about this kind.
    Fixed(&'static str),
    /// The body says, in its own words, mapped to the hub's.
    Field {
        at: Locator,
        names: Vec<(String, &'static str)>,
    },
}

/// A routing-key pattern of a topic exchange: words separated by dots, `*` exactly
/// one word, `#` zero or more.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Topic(Vec<String>);

impl Topic {
    fn matches(&self, routing_key: &str) -> bool {
        let words: Vec<&str> = routing_key.split('.').collect();
        matches_from(&self.0, &words)
    }
}

fn matches_from(pattern: &[String], words: &[&str]) -> bool {
    match pattern.split_first() {
        None => words.is_empty(),
        Some((first, rest)) if first == "#" => {
            (0..=words.len()).any(|skip| matches_from(rest, &words[skip..]))
        }
        Some((first, rest)) => match words.split_first() {
            Some((word, others)) => (first == "*" || first == word) && matches_from(rest, others),
            None => false,
        },
    }
}

/// One binding, compiled.
#[derive(Debug, Clone)]
pub struct Mapping {
    exchange: String,
    routing_key: String,
    topic: Topic,
    system: System,
    entity: EntitySource,
    time: TimeFormat,
    id: Locator,
    timestamp: Locator,
    keys: Locator,
    customer: Option<Locator>,
}

/// A delivery's body read through its binding.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEvent {
    /// The sender's id of the event.
    pub id: String,
    /// When the sender wrote it.
    pub at: DateTime<Utc>,
    pub change: ChangeEvent,
}

/// Why a body does not map. `reason` is a metrics label; the message names the part
/// of the change and the binding's setting, never a value from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unmapped {
    /// `not_json`, `missing`, `invalid` or `no_binding`.
    pub reason: &'static str,
    pub message: String,
}

impl Unmapped {
    fn new(reason: &'static str, message: impl Into<String>) -> Unmapped {
        Unmapped {
            reason,
            message: message.into(),
        }
    }
}

impl Mapping {
    fn compile(index: usize, binding: &FeedBinding) -> Result<Mapping, FeedSetupError> {
        let at = |name: &str| format!("feed.bindings[{index}].{name}");
        if binding.exchange.trim().is_empty() {
            return Err(FeedSetupError::new(at("exchange"), "required"));
        }
        let routing_key = binding.routing_key.trim();
        if routing_key.is_empty() || routing_key.split('.').any(str::is_empty) {
            return Err(FeedSetupError::new(
                at("routing_key"),
                "required: words separated by dots, * for one word, # for any number",
            ));
        }
        let system = binding
            .system
            .parse::<System>()
            .map_err(|e| FeedSetupError::new(at("system"), e.to_string()))?;
        let known = |name: &str, setting: String| {
            super::CHANGE_ENTITIES
                .iter()
                .map(|(n, _)| *n)
                .find(|n| *n == name)
                .ok_or_else(|| {
                    FeedSetupError::new(
                        setting,
                        format!(
                            "'{name}' is not one of {}",
                            super::CHANGE_ENTITIES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
        };
        let entity = match (&binding.entity, &binding.fields.entity) {
            (Some(name), None) => EntitySource::Fixed(known(name, at("entity"))?),
            (None, Some(field)) => {
                if binding.entities.is_empty() {
                    return Err(FeedSetupError::new(
                        at("entities"),
                        "required with fields.entity: each value the body may carry, with the hub's entity name",
                    ));
                }
                let mut names = Vec::new();
                for (theirs, ours) in &binding.entities {
                    names.push((
                        theirs.clone(),
                        known(ours, at(&format!("entities.{theirs}")))?,
                    ));
                }
                EntitySource::Field {
                    at: Locator::compile(at("fields.entity"), field)?,
                    names,
                }
            }
            (Some(_), Some(_)) => {
                return Err(FeedSetupError::new(
                    at("entity"),
                    "give either entity or fields.entity, not both",
                ))
            }
            (None, None) => return Err(FeedSetupError::new(
                at("entity"),
                "required: the kind of record (account, card, …), or fields.entity with entities",
            )),
        };
        Ok(Mapping {
            exchange: binding.exchange.trim().to_owned(),
            routing_key: routing_key.to_owned(),
            topic: Topic(routing_key.split('.').map(str::to_owned).collect()),
            system,
            entity,
            time: TimeFormat::compile(at("timestamp_format"), &binding.timestamp_format)?,
            id: Locator::compile(at("fields.id"), &binding.fields.id)?,
            timestamp: Locator::compile(at("fields.timestamp"), &binding.fields.timestamp)?,
            keys: Locator::compile(at("fields.keys"), &binding.fields.keys)?,
            customer: binding
                .fields
                .customer
                .as_deref()
                .map(|c| Locator::compile(at("fields.customer"), c))
                .transpose()?,
        })
    }

    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    pub fn routing_key(&self) -> &str {
        &self.routing_key
    }

    pub fn system(&self) -> System {
        self.system
    }

    fn takes(&self, exchange: &str, routing_key: &str) -> bool {
        self.exchange == exchange && self.topic.matches(routing_key)
    }

    /// Reads `body` as this binding's system writes it.
    pub fn map(&self, body: &[u8]) -> Result<MappedEvent, Unmapped> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|_| Unmapped::new("not_json", "the body is not a JSON document"))?;
        if !body.is_object() {
            return Err(Unmapped::new("not_json", "the body is not a JSON object"));
        }
        let missing = |part: &str, at: &Locator| {
            Unmapped::new(
                "missing",
                format!("{part}: nothing at {} (fields.{part})", at.0),
            )
        };
        let invalid = |part: &str, at: &Locator, expected: &str| {
            Unmapped::new(
                "invalid",
                format!(
                    "{part}: the value at {} is not {expected} (fields.{part})",
                    at.0
                ),
            )
        };
        let raw_id = self.id.find(&body).ok_or_else(|| missing("id", &self.id))?;
        let id = text(raw_id)
            .filter(|id| {
                !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                invalid(
                    "id",
                    &self.id,
                    &format!("1 to {MAX_ID_LEN} printable ASCII characters"),
                )
            })?;
        let raw_time = self
            .timestamp
            .find(&body)
            .ok_or_else(|| missing("timestamp", &self.timestamp))?;
        let at = self
            .time
            .read(raw_time)
            .ok_or_else(|| invalid("timestamp", &self.timestamp, self.time.describe()))?;
        let raw_keys = self
            .keys
            .find(&body)
            .ok_or_else(|| missing("keys", &self.keys))?;
        let keys = match raw_keys {
            Value::Array(items) => items.iter().map(text).collect::<Option<Vec<_>>>(),
            single => text(single).map(|k| vec![k]),
        }
        .ok_or_else(|| invalid("keys", &self.keys, "a key or an array of keys"))?;
        let customer = match &self.customer {
            None => None,
            Some(at) => match at.find(&body) {
                None => None,
                Some(value) => Some(
                    text(value)
                        .and_then(|c| Cif::parse(&c).ok())
                        .ok_or_else(|| invalid("customer", at, "a CIF (ten digits)"))?,
                ),
            },
        };
        let entity = match &self.entity {
            EntitySource::Fixed(name) => *name,
            EntitySource::Field { at, names } => {
                let theirs = at
                    .find(&body)
                    .and_then(text)
                    .ok_or_else(|| missing("entity", at))?;
                names
                    .iter()
                    .find(|(t, _)| *t == theirs)
                    .map(|(_, ours)| *ours)
                    .ok_or_else(|| invalid("entity", at, "one of the binding's entities"))?
            }
        };
        let change = ChangeEvent::new(self.system.as_str(), entity, keys, customer)
            .map_err(|e| Unmapped::new("invalid", e.to_string()))?;
        Ok(MappedEvent { id, at, change })
    }
}

/// Every binding, in the order of the config.
#[derive(Debug, Clone)]
pub struct Bindings(Vec<Mapping>);

impl Bindings {
    pub fn compile(bindings: &[FeedBinding]) -> Result<Bindings, FeedSetupError> {
        if bindings.is_empty() {
            return Err(FeedSetupError::new(
                "feed.bindings",
                "at least one binding is required when feed.url is set",
            ));
        }
        bindings
            .iter()
            .enumerate()
            .map(|(i, b)| Mapping::compile(i, b))
            .collect::<Result<Vec<_>, _>>()
            .map(Bindings)
    }

    /// The first binding that takes a delivery from `exchange` with `routing_key`.
    pub fn find(&self, exchange: &str, routing_key: &str) -> Option<&Mapping> {
        self.0.iter().find(|m| m.takes(exchange, routing_key))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedConfig;

    fn shipped() -> Bindings {
        Bindings::compile(&FeedConfig::default().bindings).expect("the shipped bindings compile")
    }

    #[test]
    fn topic_patterns_match_words_as_rabbitmq_does() {
        let topic = |p: &str| Topic(p.split('.').map(str::to_owned).collect());
        assert!(topic("core.account.*").matches("core.account.balance"));
        assert!(!topic("core.account.*").matches("core.account"));
        assert!(!topic("core.account.*").matches("core.account.balance.x"));
        assert!(topic("core.#").matches("core"));
        assert!(topic("core.#").matches("core.account.balance"));
        assert!(topic("#.changed").matches("cards.card.changed"));
        assert!(!topic("#.changed").matches("cards.card.closed"));
        assert!(topic("#").matches("anything.at.all"));
        assert!(!topic("loans.*").matches("core.loan"));
    }

    #[test]
    fn core_banking_bodies_map_in_upper_snake_and_beijing_time() {
        let bindings = shipped();
        let mapping = bindings
            .find("bank.changes", "core.account.balance")
            .expect("a binding for core's balance changes");
        let event = mapping
            .map(br#"{"EVT_ID":"E1","EVT_TM":"20261203160000","EVT_TYP":"ACCT_BAL_CHG","CUST_NO":"1000000001","ACCT_NO":"6013547120548116162","TXN_AMT":"100.00"}"#)
            .expect("maps");
        assert_eq!(event.id, "E1");
        assert_eq!(
            event.at.to_rfc3339(),
            "2026-12-03T08:00:00+00:00",
            "Beijing is UTC+8"
        );
        assert_eq!(event.change.system, System::Core);
        assert_eq!(event.change.entity, "account");
        assert_eq!(event.change.keys, vec!["6013547120548116162"]);
        assert_eq!(
            event.change.customer.as_ref().map(Cif::as_str),
            Some("1000000001")
        );
    }

    #[test]
    fn card_and_loan_bodies_map_in_their_own_dialects() {
        let bindings = shipped();
        let card = bindings
            .find("bank.changes", "cards.card.status")
            .unwrap()
            .map(br#"{"eventId":"c-1","eventTime":"2026-12-03T16:00:00+08:00","customerId":"1000000002","cardId":"CD1","status":"CLOSED"}"#)
            .unwrap();
        assert_eq!(
            (card.change.system, card.change.entity),
            (System::Cards, "card")
        );
        assert_eq!(card.at.timestamp(), 1_796_284_800);
        let loan = bindings
            .find("bank.changes", "loans.loan.repayment")
            .unwrap()
            .map(br#"{"event_id":"l-1","occurred_at":1796284800,"customer_id":1000000003,"loan_id":"LN1","amount":"10.00"}"#)
            .unwrap();
        assert_eq!(loan.change.keys, vec!["LN1"]);
        assert_eq!(loan.at.timestamp(), 1_796_284_800);
        assert_eq!(
            loan.change.customer.unwrap().as_str(),
            "1000000003",
            "a number is read as its digits"
        );
        assert!(bindings
            .find("bank.changes", "channels.user.locked")
            .is_none());
        assert!(bindings
            .find("other.exchange", "core.account.balance")
            .is_none());
    }

    #[test]
    fn a_body_that_does_not_map_names_the_part_and_never_quotes_the_body() {
        let bindings = shipped();
        let core = bindings
            .find("bank.changes", "core.account.balance")
            .unwrap();
        let refused = |body: &str| core.map(body.as_bytes()).unwrap_err();
        assert_eq!(refused("not json").reason, "not_json");
        assert_eq!(refused("[1]").reason, "not_json");
        let missing = refused(r#"{"EVT_TM":"20261203160000","ACCT_NO":"1"}"#);
        assert_eq!(missing.reason, "missing");
        assert!(missing.message.starts_with("id:"), "{missing}");
        let late = refused(r#"{"EVT_ID":"E1","EVT_TM":"2026-12-03","ACCT_NO":"1"}"#);
        assert!(late.message.starts_with("timestamp:"), "{late}");
        assert!(
            !late.message.contains("2026-12-03"),
            "no value quoted: {late}"
        );
        let customer = refused(
            r#"{"EVT_ID":"E1","EVT_TM":"20261203160000","ACCT_NO":"1","CUST_NO":"张三 13912345678"}"#,
        );
        assert!(customer.message.starts_with("customer:"), "{customer}");
        assert!(
            !customer.message.contains("1391"),
            "no value quoted: {customer}"
        );
        let keys = refused(r#"{"EVT_ID":"E1","EVT_TM":"20261203160000","ACCT_NO":{"n":1}}"#);
        assert!(keys.message.starts_with("keys:"), "{keys}");
    }

    #[test]
    fn field_names_arrays_of_keys_and_entities_named_by_the_body() {
        let binding = FeedBinding {
            exchange: "esb".into(),
            routing_key: "#".into(),
            system: "core".into(),
            entity: None,
            timestamp_format: "unix_ms".into(),
            fields: crate::config::FeedFields {
                id: "msgId".into(),
                timestamp: "ts".into(),
                keys: "/data/keys".into(),
                customer: None,
                entity: Some("type".into()),
            },
            entities: [("CUST".to_owned(), "customer".to_owned())].into(),
        };
        let bindings = Bindings::compile(&[binding]).unwrap();
        let mapping = bindings.find("esb", "any.key").unwrap();
        let event = mapping
            .map(br#"{"msgId":"m1","ts":1796284800000,"type":"CUST","data":{"keys":["1000000001","1000000002"]}}"#)
            .unwrap();
        assert_eq!(event.change.entity, "customer");
        assert_eq!(event.change.customers().len(), 2);
        let unknown = mapping
            .map(br#"{"msgId":"m1","ts":1796284800000,"type":"ACCT","data":{"keys":["1"]}}"#)
            .unwrap_err();
        assert!(unknown.message.starts_with("entity:"), "{unknown}");
    }

    #[test]
    fn a_binding_that_cannot_work_is_refused_naming_its_setting() {
        let mut bindings = FeedConfig::default().bindings;
        bindings[1].fields.keys = " ".into();
        assert_eq!(
            Bindings::compile(&bindings).unwrap_err().setting,
            "feed.bindings[1].fields.keys"
        );
        let mut bindings = FeedConfig::default().bindings;
        bindings[0].system = "atm".into();
        assert_eq!(
            Bindings::compile(&bindings).unwrap_err().setting,
            "feed.bindings[0].system"
        );
        let mut bindings = FeedConfig::default().bindings;
        bindings[2].entity = Some("balance".into());
        assert_eq!(
            Bindings::compile(&bindings).unwrap_err().setting,
            "feed.bindings[2].entity"
        );
        let mut bindings = FeedConfig::default().bindings;
        bindings[0].timestamp_format = "yyyyMMdd".into();
        assert_eq!(
            Bindings::compile(&bindings).unwrap_err().setting,
            "feed.bindings[0].timestamp_format"
        );
        assert_eq!(Bindings::compile(&[]).unwrap_err().setting, "feed.bindings");
    }
}
