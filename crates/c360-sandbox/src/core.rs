//! The core banking system, `/core/v1`: ESB style. Every answer is HTTP 200 with a
//! `{header:{retCode,retMsg,traceId},body}` envelope, business errors included; field
//! names are upper snake abbreviations, dates `yyyyMMdd`, times `yyyy-MM-dd HH:mm:ss`
//! in Beijing time, money decimal strings.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::{json, Map, Value};

use super::bank::{
    Account, AccountStatus, AccountType, ActivitySummary, CreditDebit, Customer, CustomerKind,
    CustomerStatus, Gender, IdType, Party, Relation, RelationKind, Transaction, TransactionChannel,
    TransactionQuery,
};
use super::params::{ParamError, Params};
use super::{openapi, request_id, SharedState, BEIJING_OFFSET_SECONDS};

const OK: &str = "000000";
const CUSTOMER_NOT_FOUND: &str = "CIF404";
const ACCOUNT_NOT_FOUND: &str = "ACC404";
const BAD_REQUEST: &str = "E00400";
const SYSTEM_ERROR: &str = "E99999";
/// Page size when the caller gives no `limit`.
const DEFAULT_LIMIT: u64 = 20;
const DATE: &str = "%Y%m%d";
const TIME: &str = "%Y-%m-%d %H:%M:%S";

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(openapi::core()) }))
        .route("/v1/customers", get(customers))
        .route("/v1/customers/{cif}", get(customer))
        .route("/v1/customers/{cif}/accounts", get(customer_accounts))
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{account}/transactions", get(transactions))
        .route("/v1/relationships", get(relationships))
        .route("/v1/parties", get(parties))
        .route("/v1/activity", get(activity))
        .fallback(|uri: Uri| async move {
            envelope(
                StatusCode::NOT_FOUND,
                BAD_REQUEST,
                &format!("接口不存在: {}", uri.path()),
                Value::Null,
            )
        })
        .method_not_allowed_fallback(|| async {
            envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                BAD_REQUEST,
                "不支持的请求方法",
                Value::Null,
            )
        })
}

fn envelope(status: StatusCode, code: &str, message: &str, body: Value) -> Response {
    let answer = json!({
        "header": { "retCode": code, "retMsg": message, "traceId": request_id() },
        "body": body,
    });
    (status, Json(answer)).into_response()
}

fn success(body: Value) -> Response {
    envelope(StatusCode::OK, OK, "交易成功", body)
}

fn business_error(code: &str, message: &str) -> Response {
    envelope(StatusCode::OK, code, message, Value::Null)
}

fn bad_request(error: ParamError) -> Response {
    business_error(
        BAD_REQUEST,
        &format!("请求参数错误 ({}): {}", error.parameter, error.message),
    )
}

/// An injected failure: the fault's HTTP status with `E99999`.
pub(crate) fn fault(status: StatusCode, message: &str) -> Response {
    envelope(
        status,
        SYSTEM_ERROR,
        &format!("系统错误: {message}"),
        Value::Null,
    )
}

async fn customer(
    State(state): State<SharedState>,
    cif: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(cif)) = cif else {
        return bad_request(ParamError::new("cif", "the path is not valid UTF-8"));
    };
    if !is_cif(&cif) {
        return bad_request(ParamError::new(
            "cif",
            format!("客户号必须是10位数字, got `{cif}`"),
        ));
    }
    match state.bank.customer_by_cif(&cif) {
        Some(customer) => success(customer_record(&customer)),
        None => business_error(CUSTOMER_NOT_FOUND, &format!("客户不存在: {cif}")),
    }
}

/// Customers looked at per book call: a branch filter may match few, and one call
/// must still answer quickly.
const BOOK_SCAN_PER_CALL: u64 = 5_000;

async fn customers(State(state): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let modes: Vec<&str> = ["ids", "certNo", "mobNo", "namePrefix", "all"]
        .into_iter()
        .filter(|m| params.has(m))
        .collect();
    let [mode] = modes.as_slice() else {
        let message = "exactly one of `ids`, `certNo`, `mobNo`, `namePrefix`, `all` is required";
        return bad_request(ParamError::new(
            "ids, certNo, mobNo, namePrefix, all",
            message,
        ));
    };
    match search(&state, &params, mode).await {
        Ok(body) => success(body),
        Err(error) => bad_request(error),
    }
}

async fn search(state: &SharedState, params: &Params, mode: &str) -> Result<Value, ParamError> {
    let bank = &state.bank;
    if mode == "ids" {
        let ids = params.keys("ids")?;
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match bank.customer_by_cif(&id) {
                Some(customer) => found.push(customer_record(&customer)),
                None => missing.push(Value::String(id)),
            }
        }
        return Ok(json!({ "CUST_LIST": found, "NOT_FOUND": missing }));
    }
    let limit = params.limit("limit", DEFAULT_LIMIT)?;
    let page_key = params.page_key("pageKey")?;
    let (list, next) = match mode {
        "certNo" => {
            let wanted_type = match params.get("certTyp") {
                None => None,
                Some(code @ ("01" | "02" | "03" | "21")) => Some(code.to_string()),
                Some(other) => {
                    return Err(ParamError::new(
                        "certTyp",
                        format!("must be 01, 02, 03 or 21, got `{other}`"),
                    ))
                }
            };
            // A person has a handful of CIFs at most: one page holds them all.
            let found = bank
                .find_by_id_number(params.required("certNo")?)
                .into_iter()
                .filter(|c| {
                    page_key == 0
                        && wanted_type
                            .as_deref()
                            .is_none_or(|t| t == cert_type(c.id_type))
                })
                .collect();
            (found, None)
        }
        "mobNo" => {
            let found = bank.find_by_mobile(params.required("mobNo")?);
            (found.filter(|_| page_key == 0).into_iter().collect(), None)
        }
        "all" => {
            // The whole book in CIF order (for MI and CRM), optionally one branch's.
            let branch = params.get("brchNo").map(str::to_owned);
            let state = state.clone();
            let page = tokio::task::spawn_blocking(move || {
                state.bank.book(
                    branch.as_deref(),
                    page_key.max(1),
                    limit as usize,
                    BOOK_SCAN_PER_CALL,
                )
            })
            .await
            .map_err(|_| ParamError::new("all", "the listing was interrupted"))?;
            (page.items, page.next_start)
        }
        _ => {
            let prefix = params.required("namePrefix")?.to_string();
            let state = state.clone();
            // A name scan visits every customer; keep it off the async workers.
            let page = tokio::task::spawn_blocking(move || {
                state
                    .bank
                    .search_by_name_prefix(&prefix, page_key.max(1), limit as usize)
            })
            .await
            .map_err(|_| ParamError::new("namePrefix", "the search was interrupted"))?;
            (page.items, page.next_start)
        }
    };
    let list: Vec<Value> = list.iter().map(customer_record).collect();
    Ok(json!({ "CUST_LIST": list, "NEXT_PAGE_KEY": next.map(|n| n.to_string()) }))
}

async fn customer_accounts(
    State(state): State<SharedState>,
    cif: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(cif)) = cif else {
        return bad_request(ParamError::new("cif", "the path is not valid UTF-8"));
    };
    if !is_cif(&cif) {
        return bad_request(ParamError::new(
            "cif",
            format!("客户号必须是10位数字, got `{cif}`"),
        ));
    }
    match state.bank.index_of_cif(&cif) {
        Some(index) => {
            let list: Vec<Value> = state.accounts(index).iter().map(account_record).collect();
            success(json!({ "ACCT_LIST": list }))
        }
        None => business_error(CUSTOMER_NOT_FOUND, &format!("客户不存在: {cif}")),
    }
}

async fn accounts(State(state): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let cifs = match params.keys("cifs") {
        Ok(cifs) => cifs,
        Err(error) => return bad_request(error),
    };
    let list: Vec<Value> = cifs
        .iter()
        .filter_map(|cif| state.bank.index_of_cif(cif))
        .flat_map(|index| state.accounts(index))
        .map(|a| account_record(&a))
        .collect();
    success(json!({ "ACCT_LIST": list }))
}

async fn transactions(
    State(state): State<SharedState>,
    number: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path(number)) = number else {
        return bad_request(ParamError::new("account", "the path is not valid UTF-8"));
    };
    let params = Params::parse(query.as_deref());
    let parsed = (|| {
        Ok::<_, ParamError>(TransactionQuery {
            from: booking_time(&params, "fromBookingDateTime")?,
            to: booking_time(&params, "toBookingDateTime")?,
            offset: params.page_key("pageKey")?,
            limit: params.limit("limit", DEFAULT_LIMIT)?,
        })
    })();
    let query = match parsed {
        Ok(query) => query,
        Err(error) => return bad_request(error),
    };
    let Some(account) = state.account(&number) else {
        return business_error(ACCOUNT_NOT_FOUND, &format!("账户不存在: {number}"));
    };
    let page = state.bank.transactions(&account, &query);
    let list: Vec<Value> = page.items.iter().map(transaction_record).collect();
    success(json!({
        "TXN_LIST": list,
        "NEXT_PAGE_KEY": page.next_offset.map(|n| n.to_string()),
        "TOTAL_NUM": page.total,
    }))
}

/// The customers of a `cif=` batch that exist, in the order asked, each once.
fn batch_indices(state: &SharedState, params: &Params) -> Result<Vec<u64>, ParamError> {
    let mut indices = Vec::new();
    for cif in params.keys("cif")? {
        if let Some(index) = state.bank.index_of_cif(&cif) {
            if !indices.contains(&index) {
                indices.push(index);
            }
        }
    }
    Ok(indices)
}

/// Answers a `cif=` batch with one list built per customer, off the async workers:
/// relationships and activity regenerate neighbours and account histories.
async fn per_customer_batch(
    state: SharedState,
    query: Option<String>,
    list: &'static str,
    records: fn(&SharedState, u64) -> Vec<Value>,
) -> Response {
    let params = Params::parse(query.as_deref());
    let indices = match batch_indices(&state, &params) {
        Ok(indices) => indices,
        Err(error) => return bad_request(error),
    };
    let built = tokio::task::spawn_blocking(move || {
        indices
            .into_iter()
            .flat_map(|index| records(&state, index))
            .collect::<Vec<Value>>()
    })
    .await;
    match built {
        Ok(items) => {
            let mut body = Map::new();
            body.insert(list.to_owned(), Value::Array(items));
            success(Value::Object(body))
        }
        Err(_) => business_error(SYSTEM_ERROR, "系统错误: 批量查询中断"),
    }
}

async fn relationships(State(state): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    per_customer_batch(state, query, "REL_LIST", |state, index| {
        state
            .bank
            .relations(index)
            .iter()
            .map(relation_record)
            .collect()
    })
    .await
}

async fn parties(State(state): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    per_customer_batch(state, query, "PTY_LIST", |state, index| {
        state.bank.party(index).iter().map(party_record).collect()
    })
    .await
}

async fn activity(State(state): State<SharedState>, RawQuery(query): RawQuery) -> Response {
    per_customer_batch(state, query, "ACTV_LIST", |state, index| {
        state
            .bank
            .activity(index)
            .iter()
            .map(activity_record)
            .collect()
    })
    .await
}

fn is_cif(text: &str) -> bool {
    text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A booking-time filter: RFC 3339 (any offset) or `yyyy-MM-dd HH:mm:ss` in Beijing time.
fn booking_time(params: &Params, name: &str) -> Result<Option<NaiveDateTime>, ParamError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    if let Ok(time) = NaiveDateTime::parse_from_str(text, TIME) {
        return Ok(Some(time));
    }
    // An unencoded `+` in an offset arrives as a space.
    let repaired = if text.contains('T') {
        text.replace(' ', "+")
    } else {
        text.to_string()
    };
    let beijing = FixedOffset::east_opt(BEIJING_OFFSET_SECONDS);
    match (DateTime::parse_from_rfc3339(&repaired), beijing) {
        (Ok(time), Some(beijing)) => Ok(Some(time.with_timezone(&beijing).naive_local())),
        _ => Err(ParamError::new(
            name,
            format!("must be RFC 3339 or `yyyy-MM-dd HH:mm:ss`, got `{text}`"),
        )),
    }
}

fn cert_type(id_type: IdType) -> &'static str {
    match id_type {
        IdType::ResidentId => "01",
        IdType::Uscc => "21",
    }
}

fn insert(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_string(), value.into());
}

fn customer_record(c: &Customer) -> Value {
    let mut m = Map::new();
    insert(&mut m, "CUST_NO", c.cif.to_string());
    insert(
        &mut m,
        "CUST_TYP",
        if c.kind == CustomerKind::Individual {
            "1"
        } else {
            "2"
        },
    );
    insert(&mut m, "CUST_NM", c.name.as_str());
    insert(&mut m, "CERT_TYP", cert_type(c.id_type));
    insert(&mut m, "CERT_NO", c.id_number.as_str());
    insert(&mut m, "MOB_NO", c.mobile.as_str());
    if let Some(email) = &c.email {
        insert(&mut m, "EMAIL", email.as_str());
    }
    if let Some(birth) = c.birth_date {
        insert(&mut m, "BIRTH_DT", birth.format(DATE).to_string());
    }
    if let Some(gender) = c.gender {
        insert(
            &mut m,
            "GENDER_CD",
            if gender == Gender::Male { "M" } else { "F" },
        );
    }
    insert(&mut m, "ADDR", c.address.as_str());
    insert(&mut m, "OCCP", c.occupation.as_str());
    insert(&mut m, "BRCH_NO", c.branch.as_str());
    if let Some(rm) = &c.relationship_manager {
        insert(&mut m, "RM_NO", rm.as_str());
    }
    insert(&mut m, "OPEN_DT", c.onboarded_on.format(DATE).to_string());
    let status = match c.status {
        CustomerStatus::Active => "A",
        CustomerStatus::Dormant => "D",
        CustomerStatus::Closed => "C",
    };
    insert(&mut m, "CUST_STAT", status);
    insert(&mut m, "CERT_VRFY", flag(c.id_verified));
    Value::Object(m)
}

fn flag(value: bool) -> &'static str {
    if value {
        "1"
    } else {
        "0"
    }
}

/// Relationship type codes, seen from `CUST_NO`: what `REL_CUST_NO` is to it.
fn relation_code(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Spouse => "01",
        RelationKind::Parent => "02",
        RelationKind::Child => "03",
        RelationKind::JointHolder => "04",
        RelationKind::Guarantor => "05",
        RelationKind::Guaranteed => "06",
        RelationKind::LegalRepresentative => "07",
        RelationKind::Represents => "08",
        RelationKind::Shareholder => "09",
        RelationKind::Holding => "10",
    }
}

fn relation_record(r: &Relation) -> Value {
    let mut m = Map::new();
    insert(&mut m, "CUST_NO", r.cif.to_string());
    insert(&mut m, "REL_CUST_NO", r.related_cif.to_string());
    insert(&mut m, "REL_TYP", relation_code(r.kind));
    if let Some(reference) = &r.reference {
        insert(&mut m, "REF_NO", reference.as_str());
    }
    if let Some(share) = r.share {
        insert(&mut m, "SHR_PCT", share.to_string());
    }
    insert(&mut m, "EFF_DT", r.since.format(DATE).to_string());
    Value::Object(m)
}

fn party_record(p: &Party) -> Value {
    let members: Vec<Value> = p
        .members
        .iter()
        .map(|cif| json!({ "CUST_NO": cif.to_string() }))
        .collect();
    json!({
        "CUST_NO": p.cif.to_string(),
        "CERT_VRFY": flag(p.id_verified),
        "MBR_LIST": members,
    })
}

fn activity_record(a: &ActivitySummary) -> Value {
    let mut m = Map::new();
    insert(&mut m, "CUST_NO", a.cif.to_string());
    insert(&mut m, "STAT_DT", a.as_of.format(DATE).to_string());
    let months: Vec<Value> = a
        .monthly_average_balances
        .iter()
        .map(|(month, average)| {
            json!({ "STAT_MON": month.format("%Y%m").to_string(), "AVG_BAL": average.to_string() })
        })
        .collect();
    insert(&mut m, "MON_AVG_BAL_LIST", months);
    insert(&mut m, "TXN_CNT_12M", a.transactions_12m);
    insert(&mut m, "TXN_CNT_90D", a.transactions_90d);
    insert(&mut m, "TXN_CNT_PRE_90D", a.transactions_prior_90d);
    if let Some(day) = a.last_transaction_on {
        insert(&mut m, "LAST_TXN_DT", day.format(DATE).to_string());
    }
    insert(&mut m, "PAYROLL_MON_CNT", a.payroll_months_12m);
    if let Some(day) = a.last_payroll_on {
        insert(&mut m, "LAST_PAYROLL_DT", day.format(DATE).to_string());
    }
    insert(&mut m, "INFLOW_AMT_90D", a.inflow_90d.to_string());
    insert(
        &mut m,
        "OTH_BANK_OUT_AMT_30D",
        a.outbound_transfers_30d.to_string(),
    );
    insert(
        &mut m,
        "CA_MIN_BAL_90D",
        a.current_min_balance_90d.to_string(),
    );
    if let Some(day) = a.card_last_used_on {
        insert(&mut m, "CC_LAST_USE_DT", day.format(DATE).to_string());
    }
    Value::Object(m)
}

fn account_record(a: &Account) -> Value {
    let mut m = Map::new();
    insert(&mut m, "ACCT_NO", a.number.as_str());
    insert(&mut m, "CUST_NO", a.cif.to_string());
    let kind = match a.kind {
        AccountType::Current => "CA",
        AccountType::Savings => "SA",
        AccountType::TimeDeposit => "TD",
    };
    insert(&mut m, "ACCT_TYP", kind);
    insert(&mut m, "CCY", a.currency);
    insert(&mut m, "BAL", a.balance.to_string());
    insert(&mut m, "AVL_BAL", a.available_balance.to_string());
    let status = match a.status {
        AccountStatus::Active => "A",
        AccountStatus::Dormant => "D",
        AccountStatus::Frozen => "F",
        AccountStatus::Closed => "C",
    };
    insert(&mut m, "ACCT_STAT", status);
    insert(&mut m, "OPEN_DT", a.opened_on.format(DATE).to_string());
    if let Some(maturity) = a.maturity_date {
        insert(&mut m, "MTR_DT", maturity.format(DATE).to_string());
    }
    insert(&mut m, "INT_RATE", a.interest_rate.to_string());
    Value::Object(m)
}

fn transaction_record(t: &Transaction) -> Value {
    let mut m = Map::new();
    insert(&mut m, "TXN_ID", t.id.as_str());
    insert(&mut m, "ACCT_NO", t.account_number.as_str());
    insert(&mut m, "TXN_TM", t.booked_at.format(TIME).to_string());
    insert(
        &mut m,
        "CR_DR_FLG",
        if t.direction == CreditDebit::Credit {
            "C"
        } else {
            "D"
        },
    );
    insert(&mut m, "TXN_AMT", t.amount.to_string());
    insert(&mut m, "CCY", t.currency);
    insert(&mut m, "TXN_DESC", t.description);
    let channel = match t.channel {
        TransactionChannel::Counter => "COUNTER",
        TransactionChannel::Atm => "ATM",
        TransactionChannel::Pos => "POS",
        TransactionChannel::Mobile => "MOBILE",
        TransactionChannel::Web => "WEB",
        TransactionChannel::Wechat => "WECHAT",
        TransactionChannel::Batch => "BATCH",
    };
    insert(&mut m, "CHNL", channel);
    if let Some(counterparty) = &t.counterparty {
        insert(&mut m, "CTPTY_NM", counterparty.as_str());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::super::bank::resident_id_valid;
    use super::super::test_support::{cif_list, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn customer_is_served_in_the_esb_envelope() {
        let sandbox = sandbox();
        let answer = get(&sandbox.router(), "/core/v1/customers/1000000001").await;
        assert_eq!(answer.status, StatusCode::OK);
        let json = answer.json();
        assert_eq!(json["header"]["retCode"], "000000");
        assert_eq!(json["body"]["CUST_NO"], "1000000001");
        let expected = sandbox.bank().customer(1).expect("customer 1");
        assert_eq!(json["body"]["CUST_NM"], expected.name.as_str());
        assert_eq!(json["body"]["OPEN_DT"].as_str().map(str::len), Some(8));
        if expected.id_type == IdType::ResidentId {
            assert!(resident_id_valid(
                json["body"]["CERT_NO"].as_str().unwrap_or_default()
            ));
        }
    }

    #[tokio::test]
    async fn unknown_customer_is_http_200_with_cif404_and_bad_cif_names_the_parameter() {
        let router = sandbox().router();
        let json = get(&router, "/core/v1/customers/1000999999").await.json();
        assert_eq!(json["header"]["retCode"], "CIF404");
        assert!(json["body"].is_null());
        let answer = get(&router, "/core/v1/customers/12ab").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["header"]["retCode"], "E00400");
        assert!(answer.text.contains("cif"));
        let answer = get(&router, "/core/v1/customers/%FF%FE").await;
        assert_eq!(answer.json()["header"]["retCode"], "E00400");
        let answer = get(&router, "/core/v1/nothing-here").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json()["header"]["retCode"], "E00400");
    }

    #[tokio::test]
    async fn batch_returns_found_and_not_found_and_refuses_more_than_100_ids() {
        let router = sandbox().router();
        let json = get(
            &router,
            "/core/v1/customers?ids=1000000002,1000000001,1000999999,junk",
        )
        .await
        .json();
        let list = json["body"]["CUST_LIST"].as_array().expect("a list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["CUST_NO"], "1000000002");
        assert_eq!(
            json["body"]["NOT_FOUND"],
            serde_json::json!(["1000999999", "junk"])
        );
        let answer = get(
            &router,
            &format!("/core/v1/customers?ids={}", cif_list(101)),
        )
        .await;
        let json = answer.json();
        assert_eq!(json["header"]["retCode"], "E00400");
        assert!(json["header"]["retMsg"]
            .as_str()
            .unwrap_or_default()
            .contains("ids"));
        let json = get(&router, "/core/v1/customers").await.json();
        assert_eq!(json["header"]["retCode"], "E00400");
    }

    #[tokio::test]
    async fn searches_by_cert_mobile_and_name_prefix() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let customer = sandbox.bank().customer(17).expect("customer 17");
        let json = get(
            &router,
            &format!("/core/v1/customers?certNo={}", customer.id_number),
        )
        .await
        .json();
        assert_eq!(
            json["body"]["CUST_LIST"][0]["CUST_NO"],
            customer.cif.to_string()
        );
        assert!(json["body"]["NEXT_PAGE_KEY"].is_null());
        let json = get(
            &router,
            &format!("/core/v1/customers?mobNo={}", customer.mobile),
        )
        .await
        .json();
        assert_eq!(
            json["body"]["CUST_LIST"][0]["CUST_NO"],
            customer.cif.to_string()
        );
        let json = get(&router, "/core/v1/customers?mobNo=19999999999")
            .await
            .json();
        assert_eq!(json["body"]["CUST_LIST"], serde_json::json!([]));

        let surname: String = customer.name.chars().take(1).collect();
        let encoded: String = url::form_urlencoded::byte_serialize(surname.as_bytes()).collect();
        let mut key: Option<String> = None;
        let mut names = Vec::new();
        loop {
            let uri = match &key {
                Some(k) => format!("/core/v1/customers?namePrefix={encoded}&limit=5&pageKey={k}"),
                None => format!("/core/v1/customers?namePrefix={encoded}&limit=5"),
            };
            let json = get(&router, &uri).await.json();
            assert_eq!(json["header"]["retCode"], "000000");
            for c in json["body"]["CUST_LIST"].as_array().expect("a list") {
                names.push(c["CUST_NM"].as_str().unwrap_or_default().to_string());
            }
            match json["body"]["NEXT_PAGE_KEY"].as_str() {
                Some(next) => key = Some(next.to_string()),
                None => break,
            }
        }
        let expected = (1..=2_000)
            .filter(|&i| sandbox.bank().name(i).starts_with(&surname))
            .count();
        assert_eq!(names.len(), expected);
        assert!(names.iter().all(|n| n.starts_with(&surname)));
    }

    #[tokio::test]
    async fn accounts_and_transactions_page_with_filters() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let json = get(&router, "/core/v1/accounts?cifs=1000000001,1000000002")
            .await
            .json();
        let accounts = json["body"]["ACCT_LIST"].as_array().expect("a list");
        assert!(accounts.len() >= 2);
        let json = get(&router, "/core/v1/customers/1000000003/accounts")
            .await
            .json();
        let number = json["body"]["ACCT_LIST"][0]["ACCT_NO"]
            .as_str()
            .expect("an account")
            .to_string();

        let json = get(
            &router,
            &format!("/core/v1/accounts/{number}/transactions?limit=3"),
        )
        .await
        .json();
        assert_eq!(json["header"]["retCode"], "000000");
        let total = json["body"]["TOTAL_NUM"].as_u64().expect("a total");
        assert!(json["body"]["TXN_LIST"].as_array().expect("a list").len() as u64 == total.min(3));
        let uri = format!("/core/v1/accounts/{number}/transactions?fromBookingDateTime=2025-06-01T00:00:00%2B08:00&toBookingDateTime=2025-06-15%2023:59:59&limit=500");
        let json = get(&router, &uri).await.json();
        for txn in json["body"]["TXN_LIST"].as_array().expect("a list") {
            let time = txn["TXN_TM"].as_str().unwrap_or_default();
            assert!(
                ("2025-06-01 00:00:00"..="2025-06-15 23:59:59").contains(&time),
                "{time}"
            );
        }
        let json = get(
            &router,
            "/core/v1/accounts/6013000000000000000/transactions",
        )
        .await
        .json();
        assert_eq!(json["header"]["retCode"], "ACC404");
        let answer = get(
            &router,
            &format!("/core/v1/accounts/{number}/transactions?limit=abc"),
        )
        .await;
        assert_eq!(answer.json()["header"]["retCode"], "E00400");
        assert!(answer.text.contains("limit"));
        let answer = get(
            &router,
            &format!("/core/v1/accounts/{number}/transactions?fromBookingDateTime=yesterday"),
        )
        .await;
        assert!(answer.text.contains("fromBookingDateTime"));
    }

    #[tokio::test]
    async fn relationships_parties_and_activity_are_batches_by_cif() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let bank = sandbox.bank();
        let related = (1..=2_000)
            .find(|&i| !bank.relations(i).is_empty())
            .expect("a customer with relationships");
        let cif = bank.cif(related).to_string();
        let json = get(
            &router,
            &format!("/core/v1/relationships?cif={cif},1000999999,junk"),
        )
        .await
        .json();
        assert_eq!(json["header"]["retCode"], "000000");
        let list = json["body"]["REL_LIST"].as_array().expect("a list");
        assert_eq!(list.len(), bank.relations(related).len());
        for record in list {
            assert_eq!(record["CUST_NO"], cif.as_str());
            assert_eq!(record["REL_CUST_NO"].as_str().map(str::len), Some(10));
            assert_eq!(record["EFF_DT"].as_str().map(str::len), Some(8));
        }

        let json = get(&router, "/core/v1/parties?cif=1000000001,1000000002")
            .await
            .json();
        let parties = json["body"]["PTY_LIST"].as_array().expect("a list");
        assert_eq!(parties.len(), 2);
        assert!(parties[0]["MBR_LIST"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["CUST_NO"] == "1000000001"));

        let json = get(&router, "/core/v1/activity?cif=1000000001")
            .await
            .json();
        let record = &json["body"]["ACTV_LIST"][0];
        assert_eq!(record["CUST_NO"], "1000000001");
        assert_eq!(record["MON_AVG_BAL_LIST"].as_array().map(Vec::len), Some(6));
        assert!(record["INFLOW_AMT_90D"].is_string());
        assert!(record["TXN_CNT_12M"].is_u64());

        let json = get(&router, &format!("/core/v1/activity?cif={}", cif_list(101)))
            .await
            .json();
        assert_eq!(json["header"]["retCode"], "E00400");
        let json = get(&router, "/core/v1/relationships").await.json();
        assert_eq!(json["header"]["retCode"], "E00400");
    }

    #[tokio::test]
    async fn a_cert_number_search_finds_every_cif_of_the_person() {
        let sandbox = sandbox();
        let bank = sandbox.bank();
        let copy = (1..=2_000)
            .find(|&i| bank.original_of(i).is_some())
            .expect("a duplicate record");
        let customer = bank.customer(copy).expect("exists");
        let json = get(
            &sandbox.router(),
            &format!("/core/v1/customers?certNo={}", customer.id_number),
        )
        .await
        .json();
        let list = json["body"]["CUST_LIST"].as_array().expect("a list");
        assert!(list.len() >= 2, "{list:?}");
        let cif = customer.cif.to_string();
        assert!(list.iter().any(|c| c["CUST_NO"].as_str() == Some(&cif)));
        assert!(list
            .iter()
            .all(|c| c["CERT_VRFY"] == "1" || c["CERT_VRFY"] == "0"));
    }

    #[tokio::test]
    async fn serves_its_openapi_document() {
        let json = get(&sandbox().router(), "/core/openapi.json").await.json();
        assert_eq!(json["openapi"], "3.0.3");
        assert!(json["paths"]["/customers/{cif}"].is_object());
    }
}
