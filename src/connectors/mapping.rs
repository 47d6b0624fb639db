//! Compiled field mappings: from one upstream JSON item to the canonical record of a
//! domain entity.
//!
//! Compiling checks a spec's `fields` table against the entity's registry
//! ([`crate::domain::fields`]), so that every problem is found at start; applying a
//! compiled mapping can then only fail on what the upstream sent, and says which field
//! and pointer failed. Amounts never pass through a float: JSON numbers keep their
//! text (serde_json's `arbitrary_precision`) and become `rust_decimal` strings.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::record::{Member, Record};
use super::spec::{FieldSpec, FullFieldSpec};
use super::tree::{describe, Elements, Node, Pointer};
use crate::domain::dates;
use crate::domain::fields::{FieldDef, FieldKind};

/// A problem found while compiling: the key below the field table, and what is wrong.
pub type CompileProblem = (String, String);

/// Why an upstream item could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field} (from {pointer}): {problem}")]
pub struct MapError {
    pub field: String,
    pub pointer: String,
    pub problem: String,
}

/// One place a mapping reads an item.
pub enum Read<'a> {
    /// The value at the pointer.
    Value(&'a Pointer),
    /// Each element of the list at the pointer, mapped by the inner mapping.
    List(&'a Pointer, &'a Mapping),
    /// Each element of the list at the first pointer, read at the second.
    Values(&'a Pointer, &'a Pointer),
}

#[derive(Debug, Clone)]
pub struct Mapping {
    fields: Vec<CompiledField>,
}

#[derive(Debug, Clone)]
struct CompiledField {
    name: &'static str,
    /// `name` split at its last dot: the nested object the field goes in, if any.
    parent: Option<&'static str>,
    leaf: &'static str,
    required: bool,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Constant(Value),
    Read {
        pointer: Pointer,
        conversion: Conversion,
        default: Option<Value>,
    },
    Money {
        amount: Pointer,
        currency: Option<Pointer>,
        default_currency: Option<String>,
    },
    List {
        pointer: Pointer,
        element: Mapping,
    },
    /// Each element of the array at `pointer`, read at `each` inside it.
    Values {
        pointer: Pointer,
        each: Pointer,
        conversion: Conversion,
    },
}

#[derive(Debug, Clone)]
enum Conversion {
    Text,
    Int,
    Decimal,
    Bool,
    Date(Option<String>),
    DateTime(TimeFormat),
    Enum {
        map: BTreeMap<String, String>,
        otherwise: Option<String>,
        allowed: Vec<&'static str>,
    },
}

#[derive(Debug, Clone)]
enum TimeFormat {
    Rfc3339,
    EpochMillis,
    EpochSeconds,
    Custom { format: String, offset: FixedOffset },
}

impl Mapping {
    /// Compiles `specs` for an entity with fields `defs`; problems are pushed with their
    /// key relative to the fields table.
    pub fn compile(
        defs: &'static [FieldDef],
        specs: &BTreeMap<String, FieldSpec>,
        problems: &mut Vec<CompileProblem>,
    ) -> Mapping {
        let mut fields = Vec::new();
        for (name, spec) in specs {
            match defs.iter().find(|d| d.name == name) {
                Some(def) => match compile_field(def, &spec.full()) {
                    Ok(field) => fields.push(field),
                    Err(mut inner) => problems.extend(
                        inner
                            .drain(..)
                            .map(|(key, problem)| (join_key(name, &key), problem)),
                    ),
                },
                None => {
                    let known: Vec<_> = defs.iter().map(|d| d.name).collect();
                    problems.push((
                        quote_key(name),
                        format!("no such field (known: {})", known.join(", ")),
                    ));
                }
            }
        }
        for def in defs.iter().filter(|d| d.required) {
            if !specs.contains_key(def.name) {
                problems.push((
                    quote_key(def.name),
                    format!("required field is not mapped (a {})", def.kind.name()),
                ));
            }
        }
        Mapping { fields }
    }

    /// Where in an item this mapping reads: what an answer must keep of each item
    /// (`answer::Shape`).
    pub fn reads(&self) -> impl Iterator<Item = Read<'_>> {
        self.fields.iter().flat_map(|field| {
            let (first, second) = match &field.source {
                Source::Constant(_) => (None, None),
                Source::Read { pointer, .. } => (Some(Read::Value(pointer)), None),
                Source::Money {
                    amount, currency, ..
                } => (
                    Some(Read::Value(amount)),
                    currency.as_ref().map(Read::Value),
                ),
                Source::List { pointer, element } => (Some(Read::List(pointer, element)), None),
                Source::Values { pointer, each, .. } => (Some(Read::Values(pointer, each)), None),
            };
            first.into_iter().chain(second)
        })
    }

    /// Maps one upstream item (as an answer kept it, or a JSON value) onto a canonical
    /// record.
    pub fn apply<'a>(&self, item: impl Into<Node<'a>>) -> Result<Record, MapError> {
        let item = item.into();
        let mut root = Record::with_capacity(self.fields.len());
        let mut sourced_objects: Vec<&str> = Vec::new();
        for field in &self.fields {
            let Some((member, from_upstream)) = field.read(item)? else {
                continue;
            };
            let target = match field.parent {
                None => &mut root,
                Some(parent) => {
                    if from_upstream {
                        sourced_objects.push(parent);
                    }
                    root.record_mut(parent)
                }
            };
            target.insert(field.leaf, member);
        }
        // A nested object filled only from defaults (a debit card's statement with just
        // a default currency) did not come from the upstream: leave it out.
        root.retain(|key, member| {
            !matches!(member, Member::Record(_))
                || sourced_objects.contains(&key)
                || self.fields.iter().any(|f| f.name == key)
        });
        Ok(root)
    }
}

impl CompiledField {
    /// The canonical value, and whether the upstream supplied it (rather than a default).
    fn read(&self, item: Node<'_>) -> Result<Option<(Member, bool)>, MapError> {
        let fail = |pointer: &str, problem: String| MapError {
            field: self.name.to_owned(),
            pointer: pointer.to_owned(),
            problem,
        };
        let found = match &self.source {
            Source::Constant(value) => return Ok(Some((Member::Value(value.clone()), false))),
            Source::Read {
                pointer,
                conversion,
                default,
            } => match present(item, pointer) {
                Some(raw) => Some((
                    Member::Value(
                        conversion
                            .apply_to(raw)
                            .map_err(|p| fail(pointer.as_str(), p))?,
                    ),
                    true,
                )),
                None => default.clone().map(|d| (Member::Value(d), false)),
            },
            Source::Money {
                amount,
                currency,
                default_currency,
            } => match present(item, amount) {
                Some(raw) => {
                    let amount_value = Conversion::Decimal
                        .apply_to(raw)
                        .map_err(|p| fail(amount.as_str(), p))?;
                    let currency_value = match currency.as_ref().and_then(|c| present(item, c)) {
                        Some(node) => match node.value() {
                            Some(Value::String(code)) if is_currency(code) => code.clone(),
                            _ => {
                                return Err(fail(
                                    currency.as_ref().map(Pointer::as_str).unwrap_or_default(),
                                    format!(
                                        "expected an ISO 4217 currency code, got {}",
                                        node.describe()
                                    ),
                                ))
                            }
                        },
                        None => default_currency.clone().ok_or_else(|| {
                            fail(
                                currency.as_ref().map(Pointer::as_str).unwrap_or_default(),
                                "currency is missing and the spec gives no default_currency".into(),
                            )
                        })?,
                    };
                    let mut money = Record::with_capacity(2);
                    money.insert("amount", Member::Value(amount_value));
                    money.insert("currency", Member::Value(Value::String(currency_value)));
                    Some((Member::Record(money), true))
                }
                None => None,
            },
            Source::List { pointer, element } => match present(item, pointer) {
                Some(found) => {
                    let mapped = list(found)
                        .map_err(|p| fail(pointer.as_str(), p))?
                        .enumerate()
                        .map(|(i, e)| {
                            element.apply(e).map_err(|mut err| {
                                err.field = format!("{}[{i}].{}", self.name, err.field);
                                err.pointer = format!("{pointer}/{i}{}", err.pointer);
                                err
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Some((Member::Records(mapped), true))
                }
                None => None,
            },
            Source::Values {
                pointer,
                each,
                conversion,
            } => match present(item, pointer) {
                Some(found) => {
                    let values = list(found)
                        .map_err(|p| fail(pointer.as_str(), p))?
                        .enumerate()
                        .map(|(i, element)| {
                            let at = format!("{pointer}/{i}{each}");
                            let fail_at = |problem: String| MapError {
                                field: format!("{}[{i}]", self.name),
                                pointer: at.clone(),
                                problem,
                            };
                            let raw = present(element, each)
                                .ok_or_else(|| fail_at("required value is missing".into()))?;
                            conversion.apply_to(raw).map_err(fail_at)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Some((Member::Value(Value::Array(values)), true))
                }
                None => None,
            },
        };
        match found {
            Some(found) => Ok(Some(found)),
            None if self.required => Err(fail(self.pointer(), "required value is missing".into())),
            None => Ok(None),
        }
    }

    fn pointer(&self) -> &str {
        match &self.source {
            Source::Constant(_) => "",
            Source::Read { pointer, .. }
            | Source::List { pointer, .. }
            | Source::Values { pointer, .. } => pointer.as_str(),
            Source::Money { amount, .. } => amount.as_str(),
        }
    }
}

/// The value at `pointer`, treating JSON null and empty strings as absent (upstreams
/// use all three for "no value").
fn present<'a>(item: Node<'a>, pointer: &Pointer) -> Option<Node<'a>> {
    let found = item.find(pointer)?;
    match found.value() {
        Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        _ => Some(found),
    }
}

/// The elements of the list a pointer found.
fn list(found: Node<'_>) -> Result<Elements<'_>, String> {
    found
        .elements()
        .ok_or_else(|| format!("expected a list, got {}", found.describe()))
}

fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// An upstream code, for the "unmapped value" message: codes are not personal data,
/// but a long string in a code field may be, so only short codes are quoted.
fn code(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 12 => format!("\"{s}\""),
        Value::Number(n) if n.to_string().len() <= 12 => n.to_string(),
        other => describe(other),
    }
}

impl Conversion {
    /// [`Conversion::apply`] to what a pointer found: an object or a list an answer
    /// kept in part is never a scalar.
    fn apply_to(&self, raw: Node<'_>) -> Result<Value, String> {
        match raw.value() {
            Some(value) => self.apply(value),
            None => Err(format!("expected a value, got {}", raw.describe())),
        }
    }

    fn apply(&self, raw: &Value) -> Result<Value, String> {
        match self {
            Conversion::Text => match raw {
                Value::String(s) => Ok(Value::String(s.trim().to_owned())),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                Value::Bool(b) => Ok(Value::String(b.to_string())),
                other => Err(format!("expected text, got {}", describe(other))),
            },
            Conversion::Int => {
                let text = match raw {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.trim().to_owned(),
                    other => return Err(format!("expected an integer, got {}", describe(other))),
                };
                text.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("expected an integer, got {}", describe(raw)))
            }
            Conversion::Decimal => {
                let text = match raw {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) if s.contains(',') => s.trim().replace(',', ""),
                    Value::String(s) => s.trim().to_owned(),
                    other => return Err(format!("expected a decimal, got {}", describe(other))),
                };
                let decimal = parse_decimal(&text)
                    .ok_or_else(|| format!("expected a decimal, got {}", describe(raw)))?;
                // Most amounts arrive written as the hub writes them; only the others
                // are written again.
                Ok(Value::String(if is_canonical_decimal(&text) {
                    text
                } else {
                    decimal.to_string()
                }))
            }
            Conversion::Bool => match raw {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "y" | "yes" | "1" => Ok(Value::Bool(true)),
                    "false" | "n" | "no" | "0" => Ok(Value::Bool(false)),
                    _ => Err(format!("expected a boolean, got {}", describe(raw))),
                },
                Value::Number(n) if n.to_string() == "1" || n.to_string() == "0" => {
                    Ok(Value::Bool(n.to_string() == "1"))
                }
                other => Err(format!("expected a boolean, got {}", describe(other))),
            },
            Conversion::Date(format) => {
                let text = as_text(raw)
                    .ok_or_else(|| format!("expected a date, got {}", describe(raw)))?;
                let date = match format {
                    Some(format) => dates::parse_date_as(&text, format),
                    None => dates::parse_date(&text),
                }
                .ok_or_else(|| format!("expected a date, got {}", describe(raw)))?;
                Ok(Value::String(dates::write_date(date)))
            }
            Conversion::DateTime(format) => {
                let at = format
                    .parse(raw)
                    .ok_or_else(|| format!("expected a timestamp, got {}", describe(raw)))?;
                Ok(Value::String(dates::write_instant(at)))
            }
            Conversion::Enum {
                map,
                otherwise,
                allowed,
            } => {
                let text = as_text(raw)
                    .ok_or_else(|| format!("expected a code, got {}", describe(raw)))?;
                let name = map
                    .get(&text)
                    .or(otherwise.as_ref())
                    .cloned()
                    .unwrap_or_else(|| text.clone());
                if allowed.contains(&name.as_str()) {
                    Ok(Value::String(name))
                } else {
                    Err(format!("unmapped value {}", code(raw)))
                }
            }
        }
    }
}

/// Whether `text` is a decimal exactly as [`Decimal`] writes itself: an optional
/// minus, digits without a leading zero (or a single zero), and optionally a point
/// followed by digits (the scale kept as given). A negative zero is not: it is written
/// without its sign.
fn is_canonical_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let canonical_whole = all_digits(whole) && (whole == "0" || !whole.starts_with('0'));
    let canonical_fraction = fraction.is_none_or(all_digits);
    let negative_zero = text.starts_with('-') && digits.bytes().all(|b| b == b'0' || b == b'.');
    canonical_whole && canonical_fraction && !negative_zero
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

fn as_text(raw: &Value) -> Option<String> {
    match raw {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl TimeFormat {
    fn parse(&self, raw: &Value) -> Option<DateTime<Utc>> {
        match self {
            TimeFormat::Rfc3339 => dates::parse_rfc3339(&as_text(raw)?),
            TimeFormat::EpochMillis => {
                DateTime::from_timestamp_millis(as_text(raw)?.parse::<i64>().ok()?)
            }
            TimeFormat::EpochSeconds => {
                DateTime::from_timestamp(as_text(raw)?.parse::<i64>().ok()?, 0)
            }
            TimeFormat::Custom { format, offset } => {
                let naive = NaiveDateTime::parse_from_str(&as_text(raw)?, format).ok()?;
                offset
                    .from_local_datetime(&naive)
                    .single()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

fn join_key(name: &str, rest: &str) -> String {
    if rest.is_empty() {
        quote_key(name)
    } else {
        format!("{}.{rest}", quote_key(name))
    }
}

/// Dotted canonical names are one TOML key, quoted.
fn quote_key(name: &str) -> String {
    if name.contains('.') {
        format!("\"{name}\"")
    } else {
        name.to_owned()
    }
}

fn compile_field(
    def: &FieldDef,
    spec: &FullFieldSpec,
) -> Result<CompiledField, Vec<CompileProblem>> {
    let mut problems: Vec<CompileProblem> = Vec::new();
    let mut problem = |key: &str, text: String| problems.push((key.to_owned(), text));
    let check_pointer = |key: &str, pointer: &str, problems: &mut dyn FnMut(&str, String)| {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            problems(
                key,
                format!("'{pointer}' is not a JSON pointer (it must start with '/')"),
            );
        }
    };
    let kind = def.kind;
    let allowed_keys: &[&str] = match kind {
        FieldKind::Money => &["amount", "currency", "default_currency"],
        FieldKind::List(_) => &["from", "fields"],
        FieldKind::Values(FieldKind::Enum(_)) => &["from", "each", "map"],
        FieldKind::Values(FieldKind::Date | FieldKind::DateTime) => {
            &["from", "each", "format", "timezone"]
        }
        FieldKind::Values(_) => &["from", "each"],
        FieldKind::Enum(_) => &["from", "map", "default", "value"],
        FieldKind::Date | FieldKind::DateTime => {
            &["from", "format", "timezone", "default", "value"]
        }
        _ => &["from", "default", "value"],
    };
    let given = given_keys(spec);
    for key in &given {
        if !allowed_keys.contains(key) {
            problem(
                key,
                format!(
                    "not used for a {} field (allowed: {})",
                    kind.name(),
                    allowed_keys.join(", ")
                ),
            );
        }
    }

    let source = match kind {
        FieldKind::Money => {
            let Some(amount) = spec.amount.clone() else {
                problem(
                    "amount",
                    "a money field needs `amount` (a pointer to the amount)".into(),
                );
                return Err(problems);
            };
            check_pointer("amount", &amount, &mut problem);
            if let Some(currency) = &spec.currency {
                check_pointer("currency", currency, &mut problem);
            }
            if let Some(code) = &spec.default_currency {
                if !is_currency(code) {
                    problem(
                        "default_currency",
                        format!("'{code}' is not an ISO 4217 code"),
                    );
                }
            }
            if spec.currency.is_none() && spec.default_currency.is_none() {
                problem(
                    "currency",
                    "give `currency` (a pointer) or `default_currency`".into(),
                );
            }
            Source::Money {
                amount: Pointer::new(&amount),
                currency: spec.currency.as_deref().map(Pointer::new),
                default_currency: spec.default_currency.clone(),
            }
        }
        FieldKind::List(element_defs) => {
            let Some(pointer) = spec.from.clone() else {
                problem(
                    "from",
                    "a list field needs `from` (a pointer to the array)".into(),
                );
                return Err(problems);
            };
            check_pointer("from", &pointer, &mut problem);
            let mut inner = Vec::new();
            let element = Mapping::compile(element_defs, &spec.fields, &mut inner);
            for (key, text) in inner {
                problem(&format!("fields.{key}"), text);
            }
            Source::List {
                pointer: Pointer::new(&pointer),
                element,
            }
        }
        FieldKind::Values(element_kind) => {
            let Some(pointer) = spec.from.clone() else {
                problem(
                    "from",
                    "a list field needs `from` (a pointer to the array)".into(),
                );
                return Err(problems);
            };
            check_pointer("from", &pointer, &mut problem);
            let each = spec.each.clone().unwrap_or_default();
            check_pointer("each", &each, &mut problem);
            if matches!(
                element_kind,
                FieldKind::Money | FieldKind::List(_) | FieldKind::Values(_)
            ) {
                problem(
                    "",
                    "lists of money or of lists are not supported as plain values".into(),
                );
                return Err(problems);
            }
            match conversion_for(*element_kind, spec) {
                Ok(conversion) => Source::Values {
                    pointer: Pointer::new(&pointer),
                    each: Pointer::new(&each),
                    conversion,
                },
                Err(inner) => {
                    problems.extend(inner);
                    return Err(problems);
                }
            }
        }
        _ => {
            let conversion = match conversion_for(kind, spec) {
                Ok(conversion) => conversion,
                Err(inner) => {
                    problems.extend(inner);
                    return Err(problems);
                }
            };
            let convert = |key: &str, value: &toml::Value| -> Result<Value, CompileProblem> {
                let json =
                    serde_json::to_value(value).map_err(|e| (key.to_owned(), e.to_string()))?;
                let raw = match (&conversion, &json) {
                    // Constants and defaults are written in canonical form, not the
                    // upstream's.
                    (Conversion::Enum { allowed, .. }, Value::String(s)) => {
                        return if allowed.contains(&s.as_str()) {
                            Ok(json)
                        } else {
                            Err((
                                key.to_owned(),
                                format!("'{s}' is not one of {}", allowed.join(", ")),
                            ))
                        };
                    }
                    (Conversion::Date(_), _) => {
                        return Conversion::Date(None)
                            .apply(&json)
                            .map_err(|p| (key.to_owned(), p))
                    }
                    (Conversion::DateTime(_), _) => {
                        return Conversion::DateTime(TimeFormat::Rfc3339)
                            .apply(&json)
                            .map_err(|p| (key.to_owned(), p))
                    }
                    _ => json,
                };
                conversion.apply(&raw).map_err(|p| (key.to_owned(), p))
            };
            if let Some(value) = &spec.value {
                if spec.from.is_some() {
                    problem(
                        "value",
                        "give either `value` (a constant) or `from`, not both".into(),
                    );
                }
                match convert("value", value) {
                    Ok(constant) => Source::Constant(constant),
                    Err((key, text)) => {
                        problem(&key, text);
                        return Err(problems);
                    }
                }
            } else {
                let Some(pointer) = spec.from.clone() else {
                    problem(
                        "from",
                        "give `from` (a JSON pointer) or `value` (a constant)".into(),
                    );
                    return Err(problems);
                };
                check_pointer("from", &pointer, &mut problem);
                let default = match spec.default.as_ref().map(|d| convert("default", d)) {
                    Some(Ok(d)) => Some(d),
                    Some(Err((key, text))) => {
                        problem(&key, text);
                        None
                    }
                    None => None,
                };
                Source::Read {
                    pointer: Pointer::new(&pointer),
                    conversion,
                    default,
                }
            }
        }
    };
    if problems.is_empty() {
        let (parent, leaf) = match def.name.rsplit_once('.') {
            Some((parent, leaf)) => (Some(parent), leaf),
            None => (None, def.name),
        };
        Ok(CompiledField {
            name: def.name,
            parent,
            leaf,
            required: def.required,
            source,
        })
    } else {
        Err(problems)
    }
}

fn given_keys(spec: &FullFieldSpec) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut add = |present: bool, key: &'static str| {
        if present {
            keys.push(key);
        }
    };
    add(spec.from.is_some(), "from");
    add(!spec.map.is_empty(), "map");
    add(spec.format.is_some(), "format");
    add(spec.timezone.is_some(), "timezone");
    add(spec.default.is_some(), "default");
    add(spec.value.is_some(), "value");
    add(spec.amount.is_some(), "amount");
    add(spec.currency.is_some(), "currency");
    add(spec.default_currency.is_some(), "default_currency");
    add(!spec.fields.is_empty(), "fields");
    add(spec.each.is_some(), "each");
    keys
}

fn conversion_for(
    kind: FieldKind,
    spec: &FullFieldSpec,
) -> Result<Conversion, Vec<CompileProblem>> {
    let problem = |key: &str, text: String| vec![(key.to_owned(), text)];
    Ok(match kind {
        FieldKind::Text => Conversion::Text,
        FieldKind::Int => Conversion::Int,
        FieldKind::Decimal => Conversion::Decimal,
        FieldKind::Bool => Conversion::Bool,
        FieldKind::Date => {
            if let Some(format) = &spec.format {
                check_format(format, true).map_err(|e| problem("format", e))?;
            }
            Conversion::Date(spec.format.clone())
        }
        FieldKind::DateTime => {
            let format = match spec.format.as_deref() {
                None | Some("rfc3339") => TimeFormat::Rfc3339,
                Some("epoch_ms") => TimeFormat::EpochMillis,
                Some("epoch_s") => TimeFormat::EpochSeconds,
                Some(format) => {
                    check_format(format, false).map_err(|e| problem("format", e))?;
                    let Some(zone) = &spec.timezone else {
                        return Err(problem(
                            "timezone",
                            "a custom time format needs `timezone` (e.g. \"+08:00\" for Beijing time), so that no time is silently read as UTC".into(),
                        ));
                    };
                    let offset = FixedOffset::from_str(zone).map_err(|_| {
                        problem("timezone", format!("'{zone}' is not an offset like +08:00"))
                    })?;
                    TimeFormat::Custom {
                        format: format.to_owned(),
                        offset,
                    }
                }
            };
            if spec.timezone.is_some() && !matches!(format, TimeFormat::Custom { .. }) {
                return Err(problem(
                    "timezone",
                    "only used with a custom `format`".into(),
                ));
            }
            Conversion::DateTime(format)
        }
        FieldKind::Enum(names) => {
            let allowed = names();
            let mut map = spec.map.clone();
            let otherwise = map.remove("*");
            for (upstream, canonical) in spec.map.iter() {
                if !allowed.contains(&canonical.as_str()) {
                    return Err(problem(
                        &format!("map.{upstream}"),
                        format!("'{canonical}' is not one of {}", allowed.join(", ")),
                    ));
                }
            }
            Conversion::Enum {
                map,
                otherwise,
                allowed,
            }
        }
        FieldKind::Money | FieldKind::List(_) | FieldKind::Values(_) => {
            unreachable!("handled by the caller")
        }
    })
}

/// Checks a chrono format: it must parse, and a sample must survive a round trip (so a
/// format that drops the day or the minutes is refused).
fn check_format(format: &str, date_only: bool) -> Result<(), String> {
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("'{format}' is not a valid chrono format"));
    }
    let sample = NaiveDate::from_ymd_opt(2024, 11, 28)
        .and_then(|d| d.and_hms_opt(13, 45, 30))
        .expect("valid sample");
    let text = sample.format(format).to_string();
    let round_trip = if date_only {
        NaiveDate::parse_from_str(&text, format).ok() == Some(sample.date())
    } else {
        NaiveDateTime::parse_from_str(&text, format).ok() == Some(sample)
    };
    if round_trip {
        Ok(())
    } else {
        Err(format!(
            "'{format}' does not carry a whole {}",
            if date_only { "date" } else { "date and time" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::fields::Entity;

    fn compile(entity: Entity, toml_text: &str) -> Result<Mapping, Vec<CompileProblem>> {
        let mut problems = Vec::new();
        let mapping = Mapping::compile(entity.fields(), &fields(toml_text), &mut problems);
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(problems)
        }
    }

    const ACCOUNT: &str = r#"
        number = "/ACCT_NO"
        customer_id = "/CUST_NO"
        type = { from = "/ACCT_TYP", map = { CA = "CURRENT", SA = "SAVINGS", TD = "TIME_DEPOSIT" } }
        currency = { from = "/CCY", default = "CNY" }
        balance = { amount = "/BAL", currency = "/CCY", default_currency = "CNY" }
        status = { from = "/STAT", map = { A = "ACTIVE", "*" = "DORMANT" } }
        opened_at = { from = "/OPEN_DT", format = "%Y%m%d" }
        interest_rate = "/RATE"
    "#;

    fn fields(toml_text: &str) -> BTreeMap<String, FieldSpec> {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn an_amount_is_written_as_the_decimal_it_parses_to() {
        // Amounts already written as the hub writes them are kept as they came; the
        // rest are written again. Either way the canonical text is the decimal's own.
        for raw in [
            json!("0"),
            json!("0.00"),
            json!("-0.00"),
            json!("-0"),
            json!("007"),
            json!("1.450"),
            json!("-12.5"),
            json!("12345678901234.5678901"),
            json!("+5"),
            json!(".5"),
            json!("1e3"),
            json!("1,234.50"),
            json!("  12.30 "),
            json!("00.10"),
            serde_json::from_str::<Value>("12345678901234.5678901").unwrap(),
            json!(-3),
        ] {
            let text = as_text(&raw).unwrap().replace(',', "");
            let expected = parse_decimal(&text).unwrap().to_string();
            assert_eq!(
                Conversion::Decimal.apply(&raw).unwrap(),
                Value::String(expected),
                "{raw}"
            );
        }
        assert!(Conversion::Decimal.apply(&json!("12.3.4")).is_err());
        assert!(Conversion::Decimal.apply(&json!("-")).is_err());
    }

    #[test]
    fn maps_an_item_with_enums_dates_and_exact_money() {
        let mapping = compile(Entity::Account, ACCOUNT).unwrap();
        let item: Value = serde_json::from_str(
            r#"{"ACCT_NO":"6217","CUST_NO":"1000000001","ACCT_TYP":"TD","BAL":12345678901234.5678901,
                "STAT":"X","OPEN_DT":"20200131","RATE":"1.450"}"#,
        )
        .unwrap();
        let record = mapping.apply(&item).unwrap();
        let mapped = serde_json::to_value(&record).unwrap();
        assert_eq!(mapped["type"], "TIME_DEPOSIT");
        assert_eq!(mapped["currency"], "CNY");
        assert_eq!(
            mapped["balance"],
            json!({"amount": "12345678901234.5678901", "currency": "CNY"})
        );
        assert_eq!(mapped["status"], "DORMANT");
        assert_eq!(mapped["opened_at"], "2020-01-31");
        assert_eq!(
            mapped["interest_rate"], "1.450",
            "scale is kept: 1.450 is what the upstream said"
        );
        let account = <crate::domain::Account as serde::Deserialize>::deserialize(record).unwrap();
        assert_eq!(account.balance.amount.to_string(), "12345678901234.5678901");
    }

    #[test]
    fn bad_upstream_values_name_the_field_and_pointer() {
        let mapping = compile(Entity::Account, ACCOUNT).unwrap();
        let item =
            json!({"ACCT_NO":"1","CUST_NO":"1000000001","ACCT_TYP":"CA","BAL":"12,3x","STAT":"A"});
        let err = mapping.apply(&item).unwrap_err();
        assert_eq!(err.field, "balance");
        assert_eq!(err.pointer, "/BAL");
        let item =
            json!({"ACCT_NO":"1","CUST_NO":"1000000001","ACCT_TYP":"ZZ","BAL":"1","STAT":"A"});
        assert!(mapping
            .apply(&item)
            .unwrap_err()
            .problem
            .contains("unmapped value \"ZZ\""));
        let item = json!({"CUST_NO":"1000000001","ACCT_TYP":"CA","BAL":"1","STAT":"A"});
        let err = mapping.apply(&item).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.problem.as_str()),
            ("number", "required value is missing")
        );
    }

    #[test]
    fn compile_reports_every_problem_with_its_key() {
        let problems = compile(
            Entity::Account,
            r#"
            numbr = "/ACCT_NO"
            customer_id = "ACCT"
            type = { from = "/T", map = { CA = "CHECKING" } }
            currency = "/CCY"
            balance = { amount = "/BAL" }
            status = "/S"
            opened_at = { from = "/D", format = "%Y%m" }
        "#,
        )
        .unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(k, _)| k.as_str()).collect();
        for expected in [
            "numbr",
            "number",
            "customer_id.from",
            "type.map.CA",
            "balance.currency",
            "opened_at.format",
        ] {
            assert!(keys.contains(&expected), "{expected} not in {problems:?}");
        }
    }

    #[test]
    fn local_times_need_a_timezone_and_convert_to_utc() {
        let spec = r#"
            id = "/id"
            account_number = "/acct"
            posted_at = { from = "/tm", format = "%Y-%m-%d %H:%M:%S" }
            direction = { from = "/d", map = { C = "CREDIT", D = "DEBIT" } }
            amount = { amount = "/amt", default_currency = "CNY" }
        "#;
        let problems = compile(Entity::Transaction, spec).unwrap_err();
        assert_eq!(problems[0].0, "posted_at.timezone");
        let spec = spec.replace("%S\" }", "%S\", timezone = \"+08:00\" }");
        let mapping = compile(Entity::Transaction, &spec).unwrap();
        let mapped = mapping
            .apply(&json!({"id":"t","acct":"a","tm":"2024-01-01 07:30:00","d":"D","amt":"5"}))
            .unwrap();
        let mapped = serde_json::to_value(&mapped).unwrap();
        assert_eq!(mapped["posted_at"], "2023-12-31T23:30:00Z");
    }

    #[test]
    fn nested_objects_appear_only_when_the_upstream_filled_them() {
        let mapping = compile(
            Entity::Card,
            r#"
            id = "/id"
            number = "/pan"
            customer_id = "/cif"
            kind = "/type"
            status = "/status"
            "statement.due_date" = "/stmt/due"
            "statement.balance" = { amount = "/stmt/bal", default_currency = "CNY" }
        "#,
        )
        .unwrap();
        let debit = mapping
            .apply(&json!({"id":"c","pan":"6","cif":"1000000001","type":"DEBIT","status":"ACTIVE"}))
            .unwrap();
        assert!(debit.get("statement").is_none());
        let credit = mapping
            .apply(&json!({"id":"c","pan":"6","cif":"1000000001","type":"CREDIT","status":"ACTIVE","stmt":{"due":"2024-02-01"}}))
            .unwrap();
        let credit = serde_json::to_value(&credit).unwrap();
        assert_eq!(credit["statement"]["due_date"], "2024-02-01");
    }

    #[test]
    fn dates_are_written_as_iso_8601_whatever_the_year() {
        for (y, m, d) in [
            (2024, 2, 1),
            (999, 12, 31),
            (1, 1, 1),
            (9999, 12, 31),
            (10000, 1, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            for format in ["%Y-%m-%d", "%d.%m.%Y"] {
                let read = Conversion::Date(Some(format.into()))
                    .apply(&Value::String(date.format(format).to_string()))
                    .unwrap();
                assert_eq!(read, Value::String(date.to_string()), "{date} in {format}");
            }
        }
        let read = Conversion::Date(Some("%d/%m/%Y".into()))
            .apply(&Value::String("01/02/0999".into()))
            .unwrap();
        assert_eq!(read, Value::String("0999-02-01".into()));
    }

    #[test]
    fn lists_map_each_element_and_epoch_times() {
        let mapping = compile(
            Entity::OnlineUser,
            r#"
            user_id = "/uid"
            customer_id = "/cif"
            status = { from = "/state", map = { NORMAL = "ACTIVE" } }
            registered_at = { from = "/reg", format = "epoch_ms" }
            devices = { from = "/devices", fields = { id = "/deviceId", trusted = "/trusted" } }
        "#,
        )
        .unwrap();
        let mapped = mapping
            .apply(
                &json!({"uid":"U1","cif":"1000000001","state":"NORMAL","reg":1700000000000_i64,
                "devices":[{"deviceId":"d1","trusted":true},{"trusted":false}]}),
            )
            .unwrap_err();
        assert_eq!(mapped.field, "devices[1].id");
        assert_eq!(mapped.pointer, "/devices/1/deviceId");
    }
}
