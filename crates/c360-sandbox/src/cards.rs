//! The card system, `/cards/v1`: Open Banking style. Answers use the
//! `{Data, Links, Meta}` envelope with camelCase records, money as
//! `{amount, currency}` and dates `yyyy-MM-dd`; errors are HTTP 4xx/5xx with an
//! `OBErrorResponse1` body.

use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::bank::{Card, CardLevel, CardStatus, CardType};
use super::params::{ParamError, Params};
use super::{openapi, request_id, SharedState};

const DATE: &str = "%Y-%m-%d";

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(openapi::cards()) }))
        .route("/v1/cards", get(cards_of_customers))
        .route("/v1/cards/{card_id}", get(card))
        .fallback(|uri: OriginalUri| async move {
            error_with(
                StatusCode::NOT_FOUND,
                "UK.OBIE.NotFound",
                "no such endpoint",
                uri.path(),
                uri.path(),
            )
        })
        .method_not_allowed_fallback(|uri: OriginalUri| async move {
            error_with(
                StatusCode::METHOD_NOT_ALLOWED,
                "UK.OBIE.NotAllowed",
                "method not allowed",
                uri.path(),
                uri.path(),
            )
        })
}

/// An `OBErrorResponse1` with one error entry.
fn error_with(
    status: StatusCode,
    error_code: &str,
    message: &str,
    path: &str,
    url: &str,
) -> Response {
    let body = json!({
        "Code": status.as_u16().to_string(),
        "Id": request_id(),
        "Message": message,
        "Errors": [{ "ErrorCode": error_code, "Message": message, "Path": path, "Url": url }],
    });
    (status, Json(body)).into_response()
}

/// An injected failure in this system's error shape.
pub(crate) fn error(status: StatusCode, message: &str, path: &str) -> Response {
    let code = if status.is_server_error() {
        "UK.OBIE.UnexpectedError"
    } else {
        "UK.OBIE.Field.Invalid"
    };
    error_with(status, code, message, path, path)
}

fn bad_request(error: ParamError, uri: &Uri) -> Response {
    let code = if error.message.contains("required") {
        "UK.OBIE.Field.Missing"
    } else {
        "UK.OBIE.Field.Invalid"
    };
    error_with(
        StatusCode::BAD_REQUEST,
        code,
        &error.message,
        &error.parameter,
        uri.path(),
    )
}

fn envelope(cards: Vec<Value>, uri: &Uri) -> Response {
    let body = json!({
        "Data": { "Card": cards },
        "Links": { "Self": uri.to_string() },
        "Meta": { "TotalPages": 1 },
    });
    Json(body).into_response()
}

async fn cards_of_customers(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let customers = match params.keys("customerId") {
        Ok(customers) => customers,
        Err(error) => return bad_request(error, &uri),
    };
    let cards = customers
        .iter()
        .filter_map(|cif| state.bank.index_of_cif(cif))
        .flat_map(|index| state.cards(index))
        .map(|c| card_record(&c))
        .collect();
    envelope(cards, &uri)
}

async fn card(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    card_id: Result<Path<String>, PathRejection>,
) -> Response {
    // An id that is not valid UTF-8 cannot exist.
    let card_id = card_id.map(|Path(value)| value).unwrap_or_default();
    match state.card(&card_id) {
        Some(card) => envelope(vec![card_record(&card)], &uri),
        None => error_with(
            StatusCode::NOT_FOUND,
            "UK.OBIE.Resource.NotFound",
            &format!("card {card_id} not found"),
            "cardId",
            uri.path(),
        ),
    }
}

fn money(amount: Decimal, currency: &str) -> Value {
    json!({ "amount": amount.to_string(), "currency": currency })
}

fn insert(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_string(), value.into());
}

fn card_record(c: &Card) -> Value {
    let mut m = Map::new();
    insert(&mut m, "cardId", c.id.as_str());
    insert(&mut m, "cardNumber", c.number.as_str());
    insert(&mut m, "customerId", c.cif.to_string());
    insert(
        &mut m,
        "cardType",
        if c.kind == CardType::Debit {
            "DEBIT"
        } else {
            "CREDIT"
        },
    );
    insert(&mut m, "productName", c.product_name);
    let level = match c.level {
        CardLevel::Standard => "STANDARD",
        CardLevel::Gold => "GOLD",
        CardLevel::Platinum => "PLATINUM",
        CardLevel::Diamond => "DIAMOND",
    };
    insert(&mut m, "cardLevel", level);
    let status = match c.status {
        CardStatus::Inactive => "INACTIVE",
        CardStatus::Active => "ACTIVE",
        CardStatus::Frozen => "FROZEN",
        CardStatus::Lost => "LOST",
        CardStatus::Expired => "EXPIRED",
        CardStatus::Closed => "CLOSED",
    };
    insert(&mut m, "status", status);
    insert(&mut m, "issueDate", c.issued_on.format(DATE).to_string());
    if let Some(account) = &c.linked_account {
        insert(&mut m, "linkedAccountId", account.as_str());
    }
    if let Some(line) = &c.credit {
        insert(&mut m, "creditLimit", money(line.limit, c.currency));
        insert(&mut m, "availableCredit", money(line.available, c.currency));
        insert(
            &mut m,
            "currentBalance",
            money(line.outstanding, c.currency),
        );
        insert(&mut m, "daysPastDue", line.days_past_due);
        let s = &line.statement;
        let statement = json!({
            "closingDate": s.closing_date.format(DATE).to_string(),
            "dueDate": s.due_date.format(DATE).to_string(),
            "minimumPayment": money(s.minimum_payment, c.currency),
            "statementBalance": money(s.balance, c.currency),
        });
        insert(&mut m, "statement", statement);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::super::bank::luhn_valid;
    use super::super::test_support::{cif_list, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn cards_of_customers_in_the_open_banking_envelope() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let answer = get(
            &router,
            &format!("/cards/v1/cards?customerId={}", cif_list(30)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        let json = answer.json();
        let cards = json["Data"]["Card"].as_array().expect("a list");
        let expected: usize = (1..=30).map(|i| sandbox.bank().cards(i).len()).sum();
        assert_eq!(cards.len(), expected);
        assert!(cards
            .iter()
            .all(|c| luhn_valid(c["cardNumber"].as_str().unwrap_or_default())));
        let credit = cards
            .iter()
            .find(|c| c["cardType"] == "CREDIT")
            .expect("a credit card among 30 customers");
        assert!(credit["creditLimit"]["amount"].is_string());
        assert_eq!(credit["creditLimit"]["currency"], "CNY");
        assert!(credit["statement"]["dueDate"].is_string());
        assert_eq!(json["Meta"]["TotalPages"], 1);
        assert!(json["Links"]["Self"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/cards/v1/cards?"));

        let id = credit["cardId"].as_str().expect("an id");
        let json = get(&router, &format!("/cards/v1/cards/{id}")).await.json();
        assert_eq!(&json["Data"]["Card"][0], credit);
    }

    #[tokio::test]
    async fn unknown_card_and_oversized_batch_use_ob_error_response() {
        let router = sandbox().router();
        assert_eq!(
            get(&router, "/cards/v1/cards/%FF").await.status,
            StatusCode::NOT_FOUND
        );
        let answer = get(&router, "/cards/v1/cards/CRD99").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        let json = answer.json();
        assert_eq!(json["Code"], "404");
        assert_eq!(json["Errors"][0]["ErrorCode"], "UK.OBIE.Resource.NotFound");
        let answer = get(
            &router,
            &format!("/cards/v1/cards?customerId={}", cif_list(101)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.json()["Errors"][0]["Path"], "customerId");
        let answer = get(&router, "/cards/v1/cards").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer.json()["Errors"][0]["ErrorCode"],
            "UK.OBIE.Field.Missing"
        );
        assert_eq!(
            get(&router, "/cards/openapi.json").await.json()["openapi"],
            "3.0.3"
        );
    }
}
