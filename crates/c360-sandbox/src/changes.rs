//! `POST /_sandbox/changes`: the simulated bank changes a customer's data, and says so
//! on the broker as the real systems do.
//!
//! The bank is a pure function of its seed, so a change is kept beside it, as an
//! overlay every read of the systems passes through: a balance moved, a card's status,
//! a loan repaid. With a broker (`c360 sandbox --broker URL`) each change is then
//! published, persistent and confirmed, to a topic exchange in the dialect of the
//! system that owns the record — core banking's upper snake and Beijing time without
//! an offset, the card system's camelCase and RFC 3339, the loan system's snake_case
//! and unix seconds — so a hub consuming the broker shows the change end to end.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{FixedOffset, SecondsFormat, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::bank::{Account, Card, CardStatus, Loan};
use super::{SharedState, BEIJING_OFFSET_SECONDS};

/// A publish that the broker has not confirmed within this fails the change's answer.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
const CHANGE_FIELDS: &str = "cif, kind (balance | card_status | loan_repayment), account, delta, card, status, loan, amount";

/// The changes made so far, by record.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    layers: Mutex<Layers>,
}

#[derive(Debug, Default)]
struct Layers {
    /// Net amount moved on each account, by account number.
    balances: HashMap<String, Decimal>,
    /// Each changed card's status, by card id.
    card_status: HashMap<String, CardStatus>,
    /// Total repaid on each loan, by loan id.
    repaid: HashMap<String, Decimal>,
}

impl Overlay {
    fn layers(&self) -> std::sync::MutexGuard<'_, Layers> {
        self.layers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn account(&self, mut account: Account) -> Account {
        if let Some(delta) = self.layers().balances.get(&account.number) {
            account.balance += delta;
            account.available_balance += delta;
        }
        account
    }

    pub(crate) fn card(&self, mut card: Card) -> Card {
        if let Some(status) = self.layers().card_status.get(&card.id) {
            card.status = *status;
        }
        card
    }

    pub(crate) fn loan(&self, mut loan: Loan) -> Loan {
        if let Some(repaid) = self.layers().repaid.get(&loan.id) {
            loan.outstanding = (loan.outstanding - repaid).max(Decimal::ZERO);
        }
        loan
    }
}

/// The broker the sandbox publishes its changes to.
#[derive(Debug)]
pub(crate) struct Publisher {
    url: String,
    exchange: String,
    /// Opened on the first change, and again after the broker went away.
    open: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    pub(crate) fn new(url: String, exchange: String) -> Publisher {
        Publisher {
            url,
            exchange,
            open: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<(Connection, Channel), lapin::Error> {
        let connection = Connection::connect(
            &self.url,
            ConnectionProperties::default().with_connection_name("c360 sandbox".into()),
        )
        .await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((connection, channel))
    }

    /// Publishes `body` persistent and waits for the broker's confirmation; a broker
    /// that went away since the last change is reconnected to once.
    async fn publish(&self, routing_key: &str, id: &str, body: &[u8]) -> Result<(), String> {
        let mut open = self.open.lock().await;
        let mut last = String::new();
        for _ in 0..2 {
            if open.is_none() {
                match self.connect().await {
                    Ok(opened) => *open = Some(opened),
                    Err(error) => return Err(format!("cannot reach the broker: {error}")),
                }
            }
            let Some((_, channel)) = open.as_ref() else {
                continue;
            };
            let sent = async {
                let confirmation = channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        routing_key.into(),
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default()
                            .with_delivery_mode(2)
                            .with_content_type("application/json".into())
                            .with_message_id(id.into()),
                    )
                    .await?
                    .await?;
                Ok::<_, lapin::Error>(confirmation.is_ack())
            };
            match tokio::time::timeout(PUBLISH_TIMEOUT, sent).await {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) => return Err("the broker refused the message".into()),
                Ok(Err(error)) => last = error.to_string(),
                Err(_) => last = format!("no confirmation within {PUBLISH_TIMEOUT:?}"),
            }
            *open = None;
        }
        Err(last)
    }
}

/// One change, read from the request.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    Balance {
        account: Option<String>,
        delta: Decimal,
    },
    CardStatus {
        card: Option<String>,
        status: CardStatus,
    },
    LoanRepayment {
        loan: Option<String>,
        amount: Decimal,
    },
}

/// A decimal amount with at most two places, as a string or a number.
fn amount(body: &Value, field: &str) -> Result<Decimal, String> {
    let text = match body.get(field) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(format!(
                "field `{field}` is required: a decimal amount such as \"100.00\""
            ))
        }
    };
    match Decimal::from_str(&text) {
        Ok(value) if value.scale() <= 2 && !value.is_zero() => Ok(value),
        _ => Err(format!(
            "field `{field}` must be a non-zero amount with at most two decimal places"
        )),
    }
}

fn optional_text(body: &Value, field: &str) -> Result<Option<String>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(format!("field `{field}` must be a string")),
    }
}

/// Reads a change body, naming the offending field in every error.
fn parse_change(body: &[u8]) -> Result<(String, Change), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Some(fields) = body.as_object() else {
        return Err(format!("the body must be an object with {CHANGE_FIELDS}"));
    };
    let known = [
        "cif", "kind", "account", "delta", "card", "status", "loan", "amount",
    ];
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "field `{unknown}` is unknown: expected {CHANGE_FIELDS}"
        ));
    }
    let cif = match body.get("cif") {
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => return Err("field `cif` is required: the customer's ten-digit CIF".into()),
    };
    let change = match body.get("kind").and_then(Value::as_str) {
        Some("balance") => Change::Balance {
            account: optional_text(&body, "account")?,
            delta: amount(&body, "delta")?,
        },
        Some("card_status") => Change::CardStatus {
            card: optional_text(&body, "card")?,
            status: match body.get("status").and_then(Value::as_str) {
                Some("ACTIVE") => CardStatus::Active,
                Some("FROZEN") => CardStatus::Frozen,
                Some("LOST") => CardStatus::Lost,
                Some("CLOSED") => CardStatus::Closed,
                _ => return Err("field `status` must be ACTIVE, FROZEN, LOST or CLOSED".into()),
            },
        },
        Some("loan_repayment") => Change::LoanRepayment {
            loan: optional_text(&body, "loan")?,
            amount: amount(&body, "amount")?,
        },
        _ => return Err("field `kind` must be balance, card_status or loan_repayment".into()),
    };
    if let Change::LoanRepayment { amount, .. } = &change {
        if amount.is_sign_negative() {
            return Err("field `amount` must be positive".into());
        }
    }
    Ok((cif, change))
}

fn status_name(status: CardStatus) -> &'static str {
    match status {
        CardStatus::Inactive => "INACTIVE",
        CardStatus::Active => "ACTIVE",
        CardStatus::Frozen => "FROZEN",
        CardStatus::Lost => "LOST",
        CardStatus::Expired => "EXPIRED",
        CardStatus::Closed => "CLOSED",
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// What a change did to the bank, and the event announcing it.
struct Made {
    /// The event's id, also its message id on the broker.
    id: String,
    system: &'static str,
    routing_key: &'static str,
    event: Value,
    /// The record as it now reads.
    record: Value,
}

/// Applies `change` to customer `index`'s data in the overlay; the event says so in
/// the owning system's dialect.
fn make(state: &SharedState, index: u64, change: &Change) -> Result<Made, String> {
    let cif = state.bank.cif(index).to_string();
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    let beijing = FixedOffset::east_opt(BEIJING_OFFSET_SECONDS).map(|o| now.with_timezone(&o));
    match change {
        Change::Balance { account, delta } => {
            let accounts = state.bank.accounts(index);
            let chosen = match account {
                Some(number) => accounts.iter().find(|a| &a.number == number),
                None => accounts.first(),
            }
            .ok_or_else(|| format!("field `account`: customer {cif} holds no such account"))?;
            {
                let mut layers = state.overlay.layers();
                *layers
                    .balances
                    .entry(chosen.number.clone())
                    .or_insert(Decimal::ZERO) += delta;
            }
            let now_reads = state.overlay.account(chosen.clone());
            Ok(Made {
                id: id.clone(),
                system: "core",
                routing_key: "core.account.balance",
                event: json!({
                    "EVT_ID": id,
                    "EVT_TM": beijing.map(|t| t.format("%Y%m%d%H%M%S").to_string()),
                    "EVT_TYP": "ACCT_BAL_CHG",
                    "CUST_NO": cif,
                    "ACCT_NO": now_reads.number,
                    "CCY": now_reads.currency,
                    "TXN_AMT": delta.to_string(),
                    "ACCT_BAL": now_reads.balance.to_string(),
                }),
                record: json!({"account": now_reads.number, "balance": now_reads.balance.to_string()}),
            })
        }
        Change::CardStatus { card, status } => {
            let cards = state.bank.cards(index);
            let chosen = match card {
                Some(id) => cards.iter().find(|c| &c.id == id || &c.number == id),
                None => cards.first(),
            }
            .ok_or_else(|| format!("field `card`: customer {cif} holds no such card"))?;
            state
                .overlay
                .layers()
                .card_status
                .insert(chosen.id.clone(), *status);
            Ok(Made {
                id: id.clone(),
                system: "cards",
                routing_key: "cards.card.status",
                event: json!({
                    "eventId": id,
                    "eventTime": beijing.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, false)),
                    "eventType": "CARD_STATUS_CHANGED",
                    "customerId": cif,
                    "cardId": chosen.id,
                    "status": status_name(*status),
                }),
                record: json!({"card": chosen.id, "status": status_name(*status)}),
            })
        }
        Change::LoanRepayment { loan, amount } => {
            let loans = state.bank.loans(index);
            let chosen = match loan {
                Some(id) => loans.iter().find(|l| &l.id == id),
                None => loans.first(),
            }
            .ok_or_else(|| format!("field `loan`: customer {cif} holds no such loan"))?;
            {
                let mut layers = state.overlay.layers();
                *layers
                    .repaid
                    .entry(chosen.id.clone())
                    .or_insert(Decimal::ZERO) += amount;
            }
            let now_reads = state.overlay.loan(chosen.clone());
            Ok(Made {
                id: id.clone(),
                system: "loans",
                routing_key: "loans.loan.repayment",
                event: json!({
                    "event_id": id,
                    "occurred_at": now.timestamp(),
                    "event_type": "loan.repaid",
                    "customer_id": cif,
                    "loan_id": now_reads.id,
                    "amount": amount.to_string(),
                    "outstanding": now_reads.outstanding.to_string(),
                }),
                record: json!({"loan": now_reads.id, "outstanding": now_reads.outstanding.to_string()}),
            })
        }
    }
}

/// `POST /_sandbox/changes`: applies the change, then publishes its event when a
/// broker is configured; answers once the broker has confirmed it.
pub(crate) async fn post_change(State(state): State<SharedState>, body: Bytes) -> Response {
    let (cif, change) = match parse_change(&body) {
        Ok(parsed) => parsed,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let Some(index) = state.bank.index_of_cif(&cif) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("field `cif`: no customer {cif} in this bank"),
        );
    };
    let made = match make(&state, index, &change) {
        Ok(made) => made,
        Err(message) => return refuse(StatusCode::NOT_FOUND, message),
    };
    let mut answer = json!({
        "system": made.system,
        "routing_key": made.routing_key,
        "event": made.event,
        "record": made.record,
        "published": false,
    });
    if let Some(publisher) = state.publisher.get() {
        answer["exchange"] = json!(publisher.exchange);
        let body = made.event.to_string();
        if let Err(error) = publisher
            .publish(made.routing_key, &made.id, body.as_bytes())
            .await
        {
            answer["error"] = json!(format!(
                "the change is made, but its event was not published: {error}"
            ));
            return (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response();
        }
        answer["published"] = json!(true);
    }
    Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_bodies_are_validated_field_by_field() {
        let (cif, change) =
            parse_change(br#"{"cif":"1000000001","kind":"balance","delta":"100.00"}"#).unwrap();
        assert_eq!(cif, "1000000001");
        assert_eq!(
            change,
            Change::Balance {
                account: None,
                delta: Decimal::new(10000, 2)
            }
        );
        let (_, change) = parse_change(
            br#"{"cif":"1000000001","kind":"card_status","card":"C1","status":"CLOSED"}"#,
        )
        .unwrap();
        assert_eq!(
            change,
            Change::CardStatus {
                card: Some("C1".into()),
                status: CardStatus::Closed
            }
        );
        for (body, field) in [
            (r#"{"kind":"balance","delta":"1"}"#, "cif"),
            (r#"{"cif":"1000000001","kind":"deposit"}"#, "kind"),
            (r#"{"cif":"1000000001","kind":"balance"}"#, "delta"),
            (
                r#"{"cif":"1000000001","kind":"balance","delta":"0.001"}"#,
                "delta",
            ),
            (
                r#"{"cif":"1000000001","kind":"balance","delta":"0"}"#,
                "delta",
            ),
            (
                r#"{"cif":"1000000001","kind":"card_status","status":"GONE"}"#,
                "status",
            ),
            (
                r#"{"cif":"1000000001","kind":"loan_repayment","amount":"-5"}"#,
                "amount",
            ),
            (
                r#"{"cif":"1000000001","kind":"balance","delta":"1","acount":"x"}"#,
                "acount",
            ),
        ] {
            let message = parse_change(body.as_bytes()).expect_err(body);
            assert!(message.contains(&format!("`{field}`")), "{body}: {message}");
        }
    }
}

#[cfg(test)]
mod router_tests {
    use axum::http::Method;

    use super::super::test_support::{call, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn a_change_shows_in_the_owning_systems_reads_and_names_its_event() {
        let router = sandbox().router();
        let before = get(&router, "/core/v1/customers/1000000001/accounts")
            .await
            .json();
        let first = before["body"]["ACCT_LIST"][0].clone();
        let balance = Decimal::from_str(first["BAL"].as_str().unwrap()).unwrap();
        let changed = call(
            &router,
            Method::POST,
            "/_sandbox/changes",
            Some(r#"{"cif":"1000000001","kind":"balance","delta":"100.50"}"#),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        let answer = changed.json();
        assert_eq!(answer["published"], false, "no broker configured");
        assert_eq!(answer["routing_key"], "core.account.balance");
        assert_eq!(answer["event"]["ACCT_NO"], first["ACCT_NO"]);
        assert_eq!(answer["event"]["CUST_NO"], "1000000001");
        assert_eq!(answer["event"]["EVT_TM"].as_str().map(str::len), Some(14));
        let after = get(&router, "/core/v1/customers/1000000001/accounts")
            .await
            .json();
        assert_eq!(
            after["body"]["ACCT_LIST"][0]["BAL"],
            (balance + Decimal::new(10050, 2)).to_string()
        );

        let closed = call(
            &router,
            Method::POST,
            "/_sandbox/changes",
            Some(r#"{"cif":"1000000001","kind":"card_status","status":"CLOSED"}"#),
        )
        .await
        .json();
        let card = closed["event"]["cardId"].as_str().unwrap().to_owned();
        let read = get(&router, &format!("/cards/v1/cards/{card}"))
            .await
            .json();
        assert_eq!(read["Data"]["Card"][0]["status"], "CLOSED");

        let unknown = call(
            &router,
            Method::POST,
            "/_sandbox/changes",
            Some(r#"{"cif":"1000999999","kind":"balance","delta":"1"}"#),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }
}
