//! The benchmark's reference: a bare axum + async-graphql server that answers the
//! `profile360` query from memory, with no authentication, cache, upstreams or audit.
//!
//! Issue 7 sets warm-l1 (every request executed, entities from the in-process tier)
//! against what async-graphql itself can do on the same machine in the same run. This
//! server is that yardstick: the same query text, the same response shape and a
//! payload of the same size, so the ratio between the two measures what the hub's own
//! work costs (auth, masking, loaders, cache lookups, audit) and nothing else. Its
//! profiles are built once at start from the sandbox's deterministic bank, masked as
//! the bench's teller token sees them on the hub.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, SimpleObject, ID};
use async_graphql_axum::GraphQL;
use axum::routing::post_service;
use axum::serve::ListenerExt;
use axum::Router;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use rust_decimal::Decimal;

use crate::auth::{mask, Personal};
use crate::domain::{
    AccountStatus, AccountType, CardKind, CardStatus, CustomerKind, CustomerStatus, DigitalChannel,
    IdDocument, IdType, LoanClass, LoanProduct, Money, OnlineUserStatus, System,
};
use c360_sandbox::bank::{self, Bank};

/// The bank works in Beijing time (UTC+8); the hub answers times in UTC.
const BEIJING_OFFSET_SECONDS: i32 = 8 * 3600;

/// The reference schema: one root field, `customer(id:)`, over profiles in memory.
pub type ReferenceSchema = async_graphql::Schema<ReferenceQuery, EmptyMutation, EmptySubscription>;

/// Every profile of the pool, by CIF, built once.
struct Profiles(HashMap<String, Arc<Profile>>);

/// The root query of the reference schema.
pub struct ReferenceQuery;

#[Object]
impl ReferenceQuery {
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Option<Arc<Profile>> {
        ctx.data_unchecked::<Profiles>().0.get(id.as_str()).cloned()
    }
}

/// One customer as the profile360 query selects it.
#[derive(SimpleObject)]
#[graphql(name = "Customer")]
pub struct Profile {
    id: ID,
    kind: CustomerKind,
    name: Option<String>,
    id_document: Option<IdDocument>,
    mobile: Option<String>,
    branch: Option<String>,
    status: CustomerStatus,
    accounts: Option<Vec<Account>>,
    cards: Option<Vec<Card>>,
    loans: Option<Vec<Loan>>,
    online_banking: Option<OnlineBanking>,
    sources: Vec<SourceStatus>,
}

#[derive(SimpleObject)]
struct Account {
    number: Option<String>,
    #[graphql(name = "type")]
    account_type: AccountType,
    balance: Money,
    available_balance: Option<Money>,
    status: AccountStatus,
}

#[derive(SimpleObject)]
struct Card {
    id: String,
    number: Option<String>,
    kind: CardKind,
    status: CardStatus,
    credit_limit: Option<Money>,
    outstanding: Option<Money>,
}

#[derive(SimpleObject)]
struct Loan {
    id: String,
    product: LoanProduct,
    outstanding: Money,
    overdue_days: i32,
    classification: LoanClass,
}

#[derive(SimpleObject)]
struct OnlineBanking {
    user_id: String,
    status: OnlineUserStatus,
    last_login_at: Option<DateTime<Utc>>,
    preferred_channel: Option<DigitalChannel>,
}

#[derive(SimpleObject)]
struct SourceStatus {
    system: String,
    fetched_at: DateTime<Utc>,
    from_cache: bool,
    stale: bool,
    error: Option<String>,
}

/// The schema over customers `1..=customers` of `bank` (at most the bank's size).
pub fn schema(bank: &Bank, customers: u64) -> ReferenceSchema {
    let fetched_at = Utc::now();
    let profiles = (1..=customers.min(bank.customers()))
        .filter_map(|index| profile(bank, index, fetched_at))
        .map(|p| (p.id.to_string(), Arc::new(p)))
        .collect();
    async_graphql::Schema::build(ReferenceQuery, EmptyMutation, EmptySubscription)
        .data(Profiles(profiles))
        .finish()
}

/// `POST /graphql` and nothing else: no middleware at all.
pub fn router(schema: ReferenceSchema) -> Router {
    Router::new().route("/graphql", post_service(GraphQL::new(schema)))
}

/// Serves `schema` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    schema: ReferenceSchema,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // As the hub's own listener, so that the two are compared on equal terms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(schema))
        .with_graceful_shutdown(shutdown)
        .await
}

fn profile(bank: &Bank, index: u64, fetched_at: DateTime<Utc>) -> Option<Profile> {
    let customer = bank.customer(index)?;
    let cny = |amount: Decimal| Money {
        amount,
        currency: "CNY".into(),
        group_size: None,
    };
    let accounts = bank
        .accounts(index)
        .into_iter()
        .map(|a| Account {
            number: Some(mask(Personal::AccountNumber, &a.number)),
            account_type: match a.kind {
                bank::AccountType::Current => AccountType::Current,
                bank::AccountType::Savings => AccountType::Savings,
                bank::AccountType::TimeDeposit => AccountType::TimeDeposit,
            },
            balance: Money {
                amount: a.balance,
                currency: a.currency.into(),
                group_size: None,
            },
            available_balance: Some(cny(a.available_balance)),
            status: match a.status {
                bank::AccountStatus::Active => AccountStatus::Active,
                bank::AccountStatus::Dormant => AccountStatus::Dormant,
                bank::AccountStatus::Frozen => AccountStatus::Frozen,
                bank::AccountStatus::Closed => AccountStatus::Closed,
            },
        })
        .collect();
    let cards = bank
        .cards(index)
        .into_iter()
        .map(|c| Card {
            number: Some(mask(Personal::AccountNumber, &c.number)),
            kind: match c.kind {
                bank::CardType::Debit => CardKind::Debit,
                bank::CardType::Credit => CardKind::Credit,
            },
            status: match c.status {
                bank::CardStatus::Inactive => CardStatus::Inactive,
                bank::CardStatus::Active => CardStatus::Active,
                bank::CardStatus::Frozen => CardStatus::Frozen,
                bank::CardStatus::Lost => CardStatus::Lost,
                bank::CardStatus::Expired => CardStatus::Expired,
                bank::CardStatus::Closed => CardStatus::Closed,
            },
            credit_limit: c.credit.as_ref().map(|l| cny(l.limit)),
            outstanding: c.credit.as_ref().map(|l| cny(l.outstanding)),
            id: c.id,
        })
        .collect();
    let loans = bank
        .loans(index)
        .into_iter()
        .map(|l| Loan {
            product: match l.product {
                bank::LoanProduct::Mortgage => LoanProduct::Mortgage,
                bank::LoanProduct::Consumer => LoanProduct::Consumer,
                bank::LoanProduct::Business => LoanProduct::Business,
                bank::LoanProduct::Auto => LoanProduct::Auto,
                bank::LoanProduct::CreditLine => LoanProduct::CreditLine,
            },
            outstanding: cny(l.outstanding),
            overdue_days: i32::try_from(l.overdue_days).unwrap_or(i32::MAX),
            classification: match l.class {
                bank::FiveLevelClass::Normal => LoanClass::Normal,
                bank::FiveLevelClass::SpecialMention => LoanClass::SpecialMention,
                bank::FiveLevelClass::Substandard => LoanClass::Substandard,
                bank::FiveLevelClass::Doubtful => LoanClass::Doubtful,
                bank::FiveLevelClass::Loss => LoanClass::Loss,
            },
            id: l.id,
        })
        .collect();
    let online_banking = bank.online_user(index).map(|u| OnlineBanking {
        status: match u.state {
            bank::UserState::Normal => OnlineUserStatus::Active,
            bank::UserState::Locked => OnlineUserStatus::Locked,
            bank::UserState::Cancelled => OnlineUserStatus::Closed,
        },
        last_login_at: u.last_login_at.and_then(beijing_to_utc),
        preferred_channel: Some(match u.preferred_channel {
            bank::OnlineChannel::App => DigitalChannel::MobileApp,
            bank::OnlineChannel::Web => DigitalChannel::Web,
            bank::OnlineChannel::Wechat => DigitalChannel::Wechat,
        }),
        user_id: u.uid,
    });
    let sources = System::ALL
        .iter()
        .map(|system| SourceStatus {
            system: system.as_str().to_owned(),
            fetched_at,
            from_cache: true,
            stale: false,
            error: None,
        })
        .collect();
    Some(Profile {
        id: ID(customer.cif.to_string()),
        kind: match customer.kind {
            bank::CustomerKind::Individual => CustomerKind::Individual,
            bank::CustomerKind::Corporate => CustomerKind::Corporate,
        },
        name: Some(mask(Personal::Name, &customer.name)),
        id_document: Some(IdDocument {
            id_type: match customer.id_type {
                bank::IdType::ResidentId => IdType::ResidentId,
                bank::IdType::Uscc => IdType::Uscc,
            },
            number: mask(Personal::IdNumber, &customer.id_number),
        }),
        mobile: Some(mask(Personal::Mobile, &customer.mobile)),
        branch: Some(customer.branch),
        status: match customer.status {
            bank::CustomerStatus::Active => CustomerStatus::Active,
            bank::CustomerStatus::Dormant => CustomerStatus::Dormant,
            bank::CustomerStatus::Closed => CustomerStatus::Closed,
        },
        accounts: Some(accounts),
        cards: Some(cards),
        loans: Some(loans),
        online_banking,
        sources,
    })
}

fn beijing_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let offset = FixedOffset::east_opt(BEIJING_OFFSET_SECONDS)?;
    local
        .and_local_timezone(offset)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn bank() -> Bank {
        Bank::new(
            20,
            42,
            NaiveDate::from_ymd_opt(2026, 11, 27).expect("a valid date"),
        )
    }

    #[tokio::test]
    async fn answers_the_profile360_query_for_a_customer_of_the_pool() {
        let schema = schema(&bank(), 10);
        let request = async_graphql::Request::new(c360_bench::PROFILE_360).variables(
            async_graphql::Variables::from_json(serde_json::json!({"id": "1000000001"})),
        );
        let answer = schema
            .execute(request)
            .await
            .into_result()
            .expect("no errors");
        let data = answer.data.into_json().expect("JSON data");
        let customer = &data["customer"];
        assert_eq!(customer["id"], "1000000001");
        assert!(!customer["accounts"]
            .as_array()
            .expect("accounts")
            .is_empty());
        assert_eq!(customer["sources"].as_array().expect("sources").len(), 4);
        assert_ne!(
            customer["mobile"].as_str().expect("a mobile"),
            bank().customer(1).expect("customer 1").mobile,
            "personal data is masked as the hub masks it for a teller"
        );
    }

    #[tokio::test]
    async fn a_customer_outside_the_pool_is_null() {
        let schema = schema(&bank(), 10);
        let request = async_graphql::Request::new(c360_bench::PROFILE_360).variables(
            async_graphql::Variables::from_json(serde_json::json!({"id": "1000000011"})),
        );
        let answer = schema
            .execute(request)
            .await
            .into_result()
            .expect("no errors");
        assert_eq!(
            answer.data.into_json().expect("JSON data")["customer"],
            serde_json::Value::Null
        );
    }
}
