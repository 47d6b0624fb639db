//! The canonical fields of each entity that a connector spec may map onto.
//!
//! A spec file names canonical fields (`balance`, `id_document.number`); this registry
//! says which exist, what kind of value each takes and which are required, so that a
//! typo or a wrong kind in `connectors/*.toml` is found when the hub starts rather than
//! when a customer's screen fails. A unit test proves the registry and the serde types
//! agree.

use std::fmt;
use std::str::FromStr;

use async_graphql::resolver_utils::EnumType;
use serde::{Deserialize, Serialize};

use super::*;

/// The entities connectors produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Customer,
    Account,
    Transaction,
    Card,
    Loan,
    OnlineUser,
    LoginEvent,
    Relationship,
    Party,
    Activity,
}

impl Entity {
    pub const ALL: [Entity; 10] = [
        Entity::Customer,
        Entity::Account,
        Entity::Transaction,
        Entity::Card,
        Entity::Loan,
        Entity::OnlineUser,
        Entity::LoginEvent,
        Entity::Relationship,
        Entity::Party,
        Entity::Activity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Customer => "customer",
            Entity::Account => "account",
            Entity::Transaction => "transaction",
            Entity::Card => "card",
            Entity::Loan => "loan",
            Entity::OnlineUser => "online_user",
            Entity::LoginEvent => "login_event",
            Entity::Relationship => "relationship",
            Entity::Party => "party",
            Entity::Activity => "activity",
        }
    }

    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Entity::Customer => CUSTOMER,
            Entity::Account => ACCOUNT,
            Entity::Transaction => TRANSACTION,
            Entity::Card => CARD,
            Entity::Loan => LOAN,
            Entity::OnlineUser => ONLINE_USER,
            Entity::LoginEvent => LOGIN_EVENT,
            Entity::Relationship => RELATIONSHIP,
            Entity::Party => PARTY,
            Entity::Activity => ACTIVITY,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields().iter().find(|f| f.name == name)
    }
}

impl FromStr for Entity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entity::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Entity::ALL.iter().map(|e| e.as_str()).collect();
                format!(
                    "unknown entity '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of value a canonical field holds.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    Text,
    Int,
    Decimal,
    Bool,
    Date,
    DateTime,
    /// An amount and a currency.
    Money,
    /// One of a fixed set of names; the function lists them.
    Enum(fn() -> Vec<&'static str>),
    /// A list of objects with the given fields.
    List(&'static [FieldDef]),
    /// A list of plain values of the given kind (text, numbers, dates, enums).
    Values(&'static FieldKind),
}

impl FieldKind {
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Int => "int",
            FieldKind::Decimal => "decimal",
            FieldKind::Bool => "bool",
            FieldKind::Date => "date",
            FieldKind::DateTime => "datetime",
            FieldKind::Money => "money",
            FieldKind::Enum(_) => "enum",
            FieldKind::List(_) => "list",
            FieldKind::Values(_) => "list of values",
        }
    }
}

/// One canonical field. Dotted names (`statement.due_date`) are fields of a nested
/// object; the nested object exists when any of its fields has a value.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

const fn req(name: &'static str, kind: FieldKind) -> FieldDef {
    FieldDef {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: FieldKind) -> FieldDef {
    FieldDef {
        name,
        kind,
        required: false,
    }
}

fn names<T: EnumType>() -> Vec<&'static str> {
    T::items().iter().map(|item| item.name).collect()
}

use FieldKind::*;

const CUSTOMER: &[FieldDef] = &[
    req("id", Text),
    req("kind", Enum(names::<CustomerKind>)),
    req("name", Text),
    req("id_document.type", Enum(names::<IdType>)),
    req("id_document.number", Text),
    opt("mobile", Text),
    opt("email", Text),
    opt("birth_date", Date),
    opt("gender", Enum(names::<Gender>)),
    opt("address", Text),
    opt("occupation", Text),
    opt("branch", Text),
    opt("relationship_manager", Text),
    opt("onboarded_at", Date),
    req("status", Enum(names::<CustomerStatus>)),
];

const ACCOUNT: &[FieldDef] = &[
    req("number", Text),
    req("customer_id", Text),
    req("type", Enum(names::<AccountType>)),
    req("currency", Text),
    req("balance", Money),
    opt("available_balance", Money),
    req("status", Enum(names::<AccountStatus>)),
    opt("opened_at", Date),
    opt("maturity_date", Date),
    opt("interest_rate", Decimal),
];

const TRANSACTION: &[FieldDef] = &[
    req("id", Text),
    req("account_number", Text),
    req("posted_at", DateTime),
    req("direction", Enum(names::<CreditDebit>)),
    req("amount", Money),
    opt("description", Text),
    opt("channel", Enum(names::<TransactionChannel>)),
    opt("counterparty", Text),
];

const CARD: &[FieldDef] = &[
    req("id", Text),
    req("number", Text),
    req("customer_id", Text),
    req("kind", Enum(names::<CardKind>)),
    opt("product", Text),
    opt("level", Enum(names::<CardLevel>)),
    req("status", Enum(names::<CardStatus>)),
    opt("issued_at", Date),
    opt("linked_account", Text),
    opt("credit_limit", Money),
    opt("available_credit", Money),
    opt("outstanding", Money),
    opt("days_past_due", Int),
    opt("statement.closing_date", Date),
    opt("statement.due_date", Date),
    opt("statement.minimum_due", Money),
    opt("statement.balance", Money),
];

const LOAN: &[FieldDef] = &[
    req("id", Text),
    req("customer_id", Text),
    req("product", Enum(names::<LoanProduct>)),
    req("principal", Money),
    req("outstanding", Money),
    opt("rate", Decimal),
    opt("term_months", Int),
    opt("start_date", Date),
    opt("maturity_date", Date),
    opt("next_payment.date", Date),
    opt("next_payment.amount", Money),
    req("overdue_days", Int),
    req("classification", Enum(names::<LoanClass>)),
    req("status", Enum(names::<LoanStatus>)),
];

const DEVICE: &[FieldDef] = &[
    req("id", Text),
    opt("os", Text),
    opt("model", Text),
    opt("bound_at", DateTime),
    opt("trusted", Bool),
];

const ONLINE_USER: &[FieldDef] = &[
    req("user_id", Text),
    req("customer_id", Text),
    req("status", Enum(names::<OnlineUserStatus>)),
    opt("registered_at", DateTime),
    opt("last_login_at", DateTime),
    opt("preferred_channel", Enum(names::<DigitalChannel>)),
    opt("devices", List(DEVICE)),
];

const LOGIN_EVENT: &[FieldDef] = &[
    req("at", DateTime),
    opt("channel", Enum(names::<DigitalChannel>)),
    opt("auth_method", Enum(names::<AuthMethod>)),
    req("result", Enum(names::<LoginResult>)),
    opt("ip_region", Text),
];

const RELATIONSHIP: &[FieldDef] = &[
    req("customer_id", Text),
    req("related_id", Text),
    req("kind", Enum(names::<RelationshipKind>)),
    opt("reference", Text),
    opt("share", Decimal),
    opt("since", Date),
];

const PARTY: &[FieldDef] = &[req("customer_id", Text), req("members", Values(&Text))];

const ACTIVITY: &[FieldDef] = &[
    req("customer_id", Text),
    req("as_of", Date),
    req("monthly_average_balances", Values(&Decimal)),
    req("transactions_12m", Int),
    req("transactions_90d", Int),
    req("transactions_prior_90d", Int),
    opt("last_transaction_on", Date),
    req("payroll_months_12m", Int),
    opt("last_payroll_on", Date),
    req("inflow_90d", Decimal),
    req("outbound_transfers_30d", Decimal),
    req("current_min_balance_90d", Decimal),
    opt("card_last_used_on", Date),
];

/// Fully populated canonical objects built from the registry alone, for tests that need
/// a value of every domain type.
#[cfg(test)]
pub(crate) mod samples {
    use serde_json::{json, Map, Value};

    use super::FieldKind::*;
    use super::{FieldDef, FieldKind};

    /// A plausible value of each kind, so that a fully populated canonical object can be
    /// built from the registry alone.
    fn sample(kind: FieldKind) -> Value {
        match kind {
            Text => json!("1000000001"),
            Int => json!(3),
            Decimal => json!("1.25"),
            Bool => json!(true),
            Date => json!("2024-01-31"),
            DateTime => json!("2024-01-31T08:00:00Z"),
            Money => json!({"amount": "10.00", "currency": "CNY"}),
            Enum(values) => json!(values()[0]),
            List(fields) => json!([object(fields, false)]),
            Values(kind) => json!([sample(*kind)]),
        }
    }

    pub(crate) fn object(fields: &[FieldDef], required_only: bool) -> Value {
        let mut root = Map::new();
        for field in fields.iter().filter(|f| f.required || !required_only) {
            let mut parts = field.name.split('.').peekable();
            let mut map = &mut root;
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    map.insert(part.to_owned(), sample(field.kind));
                } else {
                    map = map
                        .entry(part.to_owned())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("nested field under a scalar");
                }
            }
        }
        Value::Object(root)
    }
}

#[cfg(test)]
mod tests {
    use super::samples::object;
    use super::*;

    fn check<T: serde::de::DeserializeOwned>(entity: Entity) {
        for required_only in [false, true] {
            let value = object(entity.fields(), required_only);
            if let Err(e) = serde_json::from_value::<T>(value.clone()) {
                panic!("{entity}: registry and type disagree ({e}) for {value}");
            }
        }
    }

    #[test]
    fn registry_matches_the_domain_types() {
        check::<Customer>(Entity::Customer);
        check::<Account>(Entity::Account);
        check::<Transaction>(Entity::Transaction);
        check::<Card>(Entity::Card);
        check::<Loan>(Entity::Loan);
        check::<OnlineUser>(Entity::OnlineUser);
        check::<LoginEvent>(Entity::LoginEvent);
        check::<Relationship>(Entity::Relationship);
        check::<PartyMembers>(Entity::Party);
        check::<Activity>(Entity::Activity);
    }

    #[test]
    fn enum_names_are_the_graphql_names() {
        let kinds = names::<LoanClass>();
        assert_eq!(kinds[1], "SPECIAL_MENTION");
        assert_eq!(names::<AccountType>()[2], "TIME_DEPOSIT");
    }
}
