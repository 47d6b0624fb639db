//! The loan system, `/loans/v1`: snake_case records, money and rates as JSON numbers
//! (exact decimals, never floats), FDX paging `{data, page:{next_page_key,
//! total_elements}}`, an all-or-nothing AIP-231 `:batchGet`, and RFC 9457
//! `application/problem+json` errors.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::bank::{FiveLevelClass, Loan, LoanProduct, LoanStatus};
use super::params::{check_batch, ParamError, Params};
use super::{openapi, SharedState};

/// Page size when the caller gives no `limit`.
const DEFAULT_LIMIT: u64 = 50;
const DATE: &str = "%Y-%m-%d";
const PROBLEM_JSON: &str = "application/problem+json";

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(openapi::loans()) }))
        .route("/v1/loans", get(loans_of_customers))
        .route("/v1/loans:batchGet", post(batch_get))
        .route("/v1/loans/{loan_id}", get(loan))
        .fallback(|uri: OriginalUri| async move {
            problem_with(
                StatusCode::NOT_FOUND,
                "not-found",
                &format!("no such endpoint: {}", uri.path()),
                uri.path(),
                None,
            )
        })
        .method_not_allowed_fallback(|uri: OriginalUri| async move {
            problem_with(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "method not allowed",
                uri.path(),
                None,
            )
        })
}

/// An RFC 9457 problem; `extra` adds one extension member.
fn problem_with(
    status: StatusCode,
    kind: &str,
    detail: &str,
    instance: &str,
    extra: Option<(&str, Value)>,
) -> Response {
    let mut body = json!({
        "type": format!("urn:c360:sandbox:problem:{kind}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "instance": instance,
    });
    if let (Some((key, value)), Some(map)) = (extra, body.as_object_mut()) {
        map.insert(key.to_string(), value);
    }
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// An injected failure in this system's error shape.
pub(crate) fn problem(status: StatusCode, detail: &str, instance: &str) -> Response {
    problem_with(status, "unavailable", detail, instance, None)
}

fn bad_request(error: ParamError, instance: &str) -> Response {
    let detail = error.message.clone();
    problem_with(
        StatusCode::BAD_REQUEST,
        "bad-request",
        &detail,
        instance,
        Some(("parameter", Value::String(error.parameter))),
    )
}

async fn loans_of_customers(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let parsed = (|| {
        Ok::<_, ParamError>((
            params.keys("customer_ids")?,
            params.limit("limit", DEFAULT_LIMIT)?,
            params.page_key("page_key")?,
        ))
    })();
    let (customers, limit, offset) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return bad_request(error, uri.path()),
    };
    let all: Vec<Loan> = customers
        .iter()
        .filter_map(|cif| state.bank.index_of_cif(cif))
        .flat_map(|index| state.loans(index))
        .collect();
    let total = all.len() as u64;
    let data: Vec<Value> = all
        .iter()
        .skip(offset.min(total) as usize)
        .take(limit as usize)
        .map(loan_record)
        .collect();
    let next = offset.saturating_add(data.len() as u64);
    let next_key = (!data.is_empty() && next < total).then(|| next.to_string());
    Json(json!({ "data": data, "page": { "next_page_key": next_key, "total_elements": total } }))
        .into_response()
}

async fn batch_get(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let ids = match batch_ids(&body) {
        Ok(ids) => ids,
        Err(error) => return bad_request(error, uri.path()),
    };
    let mut loans = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in &ids {
        match state.loan_by_id(id) {
            Some(loan) => loans.push(loan_record(&loan)),
            None => missing.push(id.clone()),
        }
    }
    if !missing.is_empty() {
        let detail = format!("loans not found: {}", missing.join(", "));
        return problem_with(
            StatusCode::NOT_FOUND,
            "not-found",
            &detail,
            uri.path(),
            Some(("missing_ids", json!(missing))),
        );
    }
    Json(json!({ "loans": loans })).into_response()
}

/// The `ids` of a `:batchGet` body.
fn batch_ids(body: &[u8]) -> Result<Vec<String>, ParamError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ParamError::new("ids", format!("the body must be JSON {{\"ids\":[…]}}: {e}"))
    })?;
    let Some(Value::Array(items)) = value.get("ids") else {
        return Err(ParamError::new(
            "ids",
            "the body must be a JSON object with an array `ids`",
        ));
    };
    let ids = items
        .iter()
        .map(|item| {
            item.as_str().map(String::from).ok_or_else(|| {
                ParamError::new("ids", format!("every id must be a string, got {item}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_batch("ids", ids)
}

async fn loan(
    State(state): State<SharedState>,
    OriginalUri(uri): OriginalUri,
    loan_id: Result<Path<String>, PathRejection>,
) -> Response {
    // An id that is not valid UTF-8 cannot exist.
    let loan_id = loan_id.map(|Path(value)| value).unwrap_or_default();
    match state.loan_by_id(&loan_id) {
        Some(loan) => Json(loan_record(&loan)).into_response(),
        None => problem_with(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("loan {loan_id} not found"),
            uri.path(),
            None,
        ),
    }
}

/// An exact JSON number: with serde_json's arbitrary precision the decimal's digits
/// are written as they are, never through a float.
fn number(value: Decimal) -> Value {
    serde_json::from_str::<serde_json::Number>(&value.to_string())
        .map_or(Value::Null, Value::Number)
}

fn insert(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_string(), value.into());
}

fn loan_record(l: &Loan) -> Value {
    let mut m = Map::new();
    insert(&mut m, "loan_id", l.id.as_str());
    insert(&mut m, "customer_id", l.cif.to_string());
    let product = match l.product {
        LoanProduct::Mortgage => "mortgage",
        LoanProduct::Consumer => "consumer",
        LoanProduct::Business => "business",
        LoanProduct::Auto => "auto",
        LoanProduct::CreditLine => "credit_line",
    };
    insert(&mut m, "loan_type", product);
    insert(&mut m, "original_principal", number(l.original_principal));
    insert(&mut m, "principal_balance", number(l.outstanding));
    insert(&mut m, "interest_rate", number(l.interest_rate));
    insert(&mut m, "loan_term", l.term_months);
    insert(
        &mut m,
        "originating_date",
        l.start_date.format(DATE).to_string(),
    );
    insert(
        &mut m,
        "maturity_date",
        l.maturity_date.format(DATE).to_string(),
    );
    insert(
        &mut m,
        "next_payment_date",
        l.next_payment_date.map(|d| d.format(DATE).to_string()),
    );
    insert(
        &mut m,
        "next_payment_amount",
        l.next_payment_amount.map(number),
    );
    insert(&mut m, "overdue_days", l.overdue_days);
    let class = match l.class {
        FiveLevelClass::Normal => "normal",
        FiveLevelClass::SpecialMention => "special_mention",
        FiveLevelClass::Substandard => "substandard",
        FiveLevelClass::Doubtful => "doubtful",
        FiveLevelClass::Loss => "loss",
    };
    insert(&mut m, "five_level_class", class);
    let status = match l.status {
        LoanStatus::Active => "active",
        LoanStatus::PaidOff => "paid_off",
        LoanStatus::Restructured => "restructured",
        LoanStatus::WrittenOff => "written_off",
    };
    insert(&mut m, "status", status);
    insert(&mut m, "currency", l.currency);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::super::test_support::{call, cif_list, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn loans_page_with_fdx_paging_and_exact_numbers() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let expected: usize = (1..=100).map(|i| sandbox.bank().loans(i).len()).sum();
        assert!(expected > 10);
        let mut seen = Vec::new();
        let mut key: Option<String> = None;
        loop {
            let mut uri = format!("/loans/v1/loans?customer_ids={}&limit=7", cif_list(100));
            if let Some(k) = &key {
                uri.push_str(&format!("&page_key={k}"));
            }
            let answer = get(&router, &uri).await;
            assert_eq!(answer.status, StatusCode::OK);
            assert!(
                answer.text.contains("\"original_principal\":")
                    && !answer.text.contains("\"original_principal\":\"")
            );
            let json = answer.json();
            assert_eq!(json["page"]["total_elements"], expected as u64);
            for loan in json["data"].as_array().expect("a list") {
                seen.push(loan["loan_id"].as_str().unwrap_or_default().to_string());
                assert!(loan["principal_balance"].is_number());
            }
            match json["page"]["next_page_key"].as_str() {
                Some(next) => key = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected);
        let id = &seen[0];
        let json = get(&router, &format!("/loans/v1/loans/{id}")).await.json();
        assert_eq!(&json["loan_id"], id.as_str());
    }

    #[tokio::test]
    async fn batch_get_is_all_or_nothing_with_problem_details() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let ids: Vec<String> = (1..=60)
            .flat_map(|i| sandbox.bank().loans(i))
            .map(|l| l.id)
            .take(3)
            .collect();
        let body = serde_json::json!({ "ids": ids }).to_string();
        let answer = call(
            &router,
            Method::POST,
            "/loans/v1/loans:batchGet",
            Some(&body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["loans"].as_array().map(Vec::len), Some(3));

        let body = serde_json::json!({ "ids": [ids[0], "LN100000000199"] }).to_string();
        let answer = call(
            &router,
            Method::POST,
            "/loans/v1/loans:batchGet",
            Some(&body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.content_type, PROBLEM_JSON);
        let json = answer.json();
        assert_eq!(json["status"], 404);
        assert_eq!(json["missing_ids"], serde_json::json!(["LN100000000199"]));

        let many: Vec<String> = (0..101).map(|i| format!("LN{i}")).collect();
        let body = serde_json::json!({ "ids": many }).to_string();
        let answer = call(
            &router,
            Method::POST,
            "/loans/v1/loans:batchGet",
            Some(&body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.json()["parameter"], "ids");
        let answer = call(
            &router,
            Method::POST,
            "/loans/v1/loans:batchGet",
            Some("{oops"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);

        let answer = get(&router, "/loans/v1/loans/LN0").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.content_type, PROBLEM_JSON);
        let answer = get(&router, "/loans/v1/loans?customer_ids=1000000001&limit=0").await;
        assert_eq!(answer.json()["parameter"], "limit");
        assert_eq!(
            get(&router, "/loans/openapi.json").await.json()["openapi"],
            "3.0.3"
        );
    }
}
