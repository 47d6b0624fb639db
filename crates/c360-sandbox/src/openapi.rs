//! The OpenAPI 3.0 documents the four systems serve at `GET /<prefix>/openapi.json`,
//! so connector authors (and `c360 check`) can see each dialect's endpoints and
//! record shapes without reading the sandbox's code. They restate docs/sandbox.md.

use serde_json::{json, Value};

use super::params::{MAX_BATCH_KEYS, MAX_PAGE_SIZE};

const OPENAPI_VERSION: &str = "3.0.3";

fn document(title: &str, description: &str, server: &str, paths: Value, schemas: Value) -> Value {
    json!({
        "openapi": OPENAPI_VERSION,
        "info": { "title": title, "version": "1.0.0", "description": description },
        "servers": [{ "url": server }],
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

fn param(location: &str, name: &str, description: &str, required: bool, schema: Value) -> Value {
    json!({ "name": name, "in": location, "description": description, "required": required, "schema": schema })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn keys(description: &str) -> Value {
    json!({ "type": "string", "description": format!("{description}; comma-separated, at most {MAX_BATCH_KEYS}") })
}

fn limit(default: u64) -> Value {
    json!({ "type": "integer", "minimum": 1, "default": default, "description": format!("page size; values above {MAX_PAGE_SIZE} are clamped") })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn answer(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn enumeration(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// `/core/v1`: ESB envelope, HTTP 200 for business errors.
pub(crate) fn core() -> Value {
    let envelope = |body: Value| {
        object(
            &["header", "body"],
            json!({ "header": reference("Header"), "body": body }),
        )
    };
    let ok = |body: Value| json!({ "200": answer("ESB envelope; check header.retCode (000000 success, CIF404, ACC404, E00400, E99999)", envelope(body)) });
    let customer_list = object(
        &["CUST_LIST"],
        json!({
            "CUST_LIST": { "type": "array", "items": reference("Customer") },
            "NOT_FOUND": { "type": "array", "items": string(), "description": "with ids=: the ids that do not exist" },
            "NEXT_PAGE_KEY": { "type": "string", "nullable": true },
        }),
    );
    let account_list = object(
        &["ACCT_LIST"],
        json!({ "ACCT_LIST": { "type": "array", "items": reference("Account") } }),
    );
    let cif = param(
        "path",
        "cif",
        "customer number (CIF), 10 digits",
        true,
        json!({ "type": "string", "pattern": "^[0-9]{10}$" }),
    );
    let paths = json!({
        "/customers/{cif}": { "get": { "operationId": "getCustomer", "parameters": [cif], "responses": ok(reference("Customer")) } },
        "/customers": { "get": {
            "operationId": "findCustomers",
            "description": "exactly one of ids, certNo, mobNo, namePrefix",
            "parameters": [
                param("query", "ids", "batch lookup", false, keys("CIFs")),
                param("query", "certNo", "exact ID document number", false, string()),
                param("query", "certTyp", "ID document type", false, enumeration(&["01", "02", "03", "21"])),
                param("query", "mobNo", "exact mobile number", false, string()),
                param("query", "namePrefix", "name starts with", false, string()),
                param("query", "limit", "page size", false, limit(20)),
                param("query", "pageKey", "NEXT_PAGE_KEY of the previous page", false, string()),
            ],
            "responses": ok(customer_list),
        } },
        "/customers/{cif}/accounts": { "get": { "operationId": "getCustomerAccounts", "parameters": [cif], "responses": ok(account_list.clone()) } },
        "/accounts": { "get": {
            "operationId": "getAccountsOfCustomers",
            "parameters": [param("query", "cifs", "customers", true, keys("CIFs"))],
            "responses": ok(account_list),
        } },
        "/accounts/{account}/transactions": { "get": {
            "operationId": "getTransactions",
            "description": "newest first",
            "parameters": [
                param("path", "account", "account number", true, string()),
                param("query", "fromBookingDateTime", "inclusive; RFC 3339 or yyyy-MM-dd HH:mm:ss (Beijing time)", false, string()),
                param("query", "toBookingDateTime", "inclusive; RFC 3339 or yyyy-MM-dd HH:mm:ss (Beijing time)", false, string()),
                param("query", "limit", "page size", false, limit(20)),
                param("query", "pageKey", "NEXT_PAGE_KEY of the previous page", false, string()),
            ],
            "responses": ok(object(&["TXN_LIST", "TOTAL_NUM"], json!({
                "TXN_LIST": { "type": "array", "items": reference("Transaction") },
                "NEXT_PAGE_KEY": { "type": "string", "nullable": true },
                "TOTAL_NUM": { "type": "integer" },
            }))),
        } },
        "/relationships": { "get": {
            "operationId": "getRelationshipsOfCustomers",
            "description": "each relationship seen from CUST_NO; REL_TYP says what REL_CUST_NO is to it",
            "parameters": [param("query", "cif", "customers", true, keys("CIFs"))],
            "responses": ok(object(&["REL_LIST"], json!({ "REL_LIST": { "type": "array", "items": reference("Relationship") } }))),
        } },
        "/parties": { "get": {
            "operationId": "getPartiesOfCustomers",
            "description": "per customer, the CIFs sharing its verified ID number (itself included)",
            "parameters": [param("query", "cif", "customers", true, keys("CIFs"))],
            "responses": ok(object(&["PTY_LIST"], json!({ "PTY_LIST": { "type": "array", "items": reference("Party") } }))),
        } },
        "/activity": { "get": {
            "operationId": "getActivityOfCustomers",
            "description": "management-information aggregates of the last twelve months, CNY",
            "parameters": [param("query", "cif", "customers", true, keys("CIFs"))],
            "responses": ok(object(&["ACTV_LIST"], json!({ "ACTV_LIST": { "type": "array", "items": reference("Activity") } }))),
        } },
    });
    let decimal = json!({ "type": "string", "pattern": "^-?[0-9]+\\.[0-9]+$" });
    let date = json!({ "type": "string", "pattern": "^[0-9]{8}$", "description": "yyyyMMdd" });
    let schemas = json!({
        "Header": object(&["retCode", "retMsg", "traceId"], json!({ "retCode": string(), "retMsg": string(), "traceId": string() })),
        "Customer": object(
            &["CUST_NO", "CUST_TYP", "CUST_NM", "CERT_TYP", "CERT_NO", "MOB_NO", "ADDR", "OCCP", "BRCH_NO", "OPEN_DT", "CUST_STAT"],
            json!({
                "CUST_NO": string(), "CUST_TYP": enumeration(&["1", "2"]), "CUST_NM": string(),
                "CERT_TYP": enumeration(&["01", "02", "03", "21"]), "CERT_NO": string(), "MOB_NO": string(),
                "EMAIL": string(), "BIRTH_DT": date, "GENDER_CD": enumeration(&["M", "F"]), "ADDR": string(),
                "OCCP": string(), "BRCH_NO": string(), "RM_NO": string(), "OPEN_DT": date,
                "CUST_STAT": enumeration(&["A", "D", "C"]),
                "CERT_VRFY": { "type": "string", "enum": ["1", "0"], "description": "1 when core has verified the ID number" },
            }),
        ),
        "Account": object(
            &["ACCT_NO", "CUST_NO", "ACCT_TYP", "CCY", "BAL", "AVL_BAL", "ACCT_STAT", "OPEN_DT", "INT_RATE"],
            json!({
                "ACCT_NO": string(), "CUST_NO": string(), "ACCT_TYP": enumeration(&["CA", "SA", "TD"]), "CCY": string(),
                "BAL": decimal, "AVL_BAL": decimal, "ACCT_STAT": enumeration(&["A", "D", "F", "C"]), "OPEN_DT": date,
                "MTR_DT": date, "INT_RATE": decimal,
            }),
        ),
        "Relationship": object(
            &["CUST_NO", "REL_CUST_NO", "REL_TYP", "EFF_DT"],
            json!({
                "CUST_NO": string(), "REL_CUST_NO": string(),
                "REL_TYP": { "type": "string", "enum": ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"],
                    "description": "what REL_CUST_NO is to CUST_NO: 01 spouse, 02 parent, 03 child, 04 joint holder, 05 guarantor of CUST_NO's loan, 06 guaranteed by CUST_NO, 07 legal representative, 08 represented company, 09 shareholder, 10 company CUST_NO holds shares in" },
                "REF_NO": { "type": "string", "description": "loan id (05, 06) or account number (04)" },
                "SHR_PCT": decimal.clone(), "EFF_DT": date.clone(),
            }),
        ),
        "Party": object(
            &["CUST_NO", "CERT_VRFY", "MBR_LIST"],
            json!({
                "CUST_NO": string(), "CERT_VRFY": enumeration(&["1", "0"]),
                "MBR_LIST": { "type": "array", "items": object(&["CUST_NO"], json!({ "CUST_NO": string() })) },
            }),
        ),
        "Activity": object(
            &["CUST_NO", "STAT_DT", "MON_AVG_BAL_LIST", "TXN_CNT_12M", "TXN_CNT_90D", "TXN_CNT_PRE_90D", "PAYROLL_MON_CNT", "INFLOW_AMT_90D", "OTH_BANK_OUT_AMT_30D", "CA_MIN_BAL_90D"],
            json!({
                "CUST_NO": string(), "STAT_DT": date.clone(),
                "MON_AVG_BAL_LIST": { "type": "array", "description": "six months, oldest first", "items": object(&["STAT_MON", "AVG_BAL"], json!({ "STAT_MON": { "type": "string", "description": "yyyyMM" }, "AVG_BAL": decimal.clone() })) },
                "TXN_CNT_12M": { "type": "integer" }, "TXN_CNT_90D": { "type": "integer" }, "TXN_CNT_PRE_90D": { "type": "integer" },
                "LAST_TXN_DT": date.clone(), "PAYROLL_MON_CNT": { "type": "integer" }, "LAST_PAYROLL_DT": date.clone(),
                "INFLOW_AMT_90D": decimal.clone(), "OTH_BANK_OUT_AMT_30D": decimal.clone(), "CA_MIN_BAL_90D": decimal.clone(),
                "CC_LAST_USE_DT": date.clone(),
            }),
        ),
        "Transaction": object(
            &["TXN_ID", "ACCT_NO", "TXN_TM", "CR_DR_FLG", "TXN_AMT", "CCY", "TXN_DESC", "CHNL"],
            json!({
                "TXN_ID": string(), "ACCT_NO": string(),
                "TXN_TM": { "type": "string", "description": "yyyy-MM-dd HH:mm:ss, Beijing time" },
                "CR_DR_FLG": enumeration(&["C", "D"]), "TXN_AMT": decimal, "CCY": string(), "TXN_DESC": string(),
                "CHNL": enumeration(&["COUNTER", "ATM", "POS", "MOBILE", "WEB", "WECHAT", "BATCH"]), "CTPTY_NM": string(),
            }),
        ),
    });
    document(
        "Core banking (sandbox)",
        "ESB-style core banking system of the c360 sandbox.",
        "/core/v1",
        paths,
        schemas,
    )
}

/// `/cards/v1`: Open Banking envelope and OBErrorResponse1 errors.
pub(crate) fn cards() -> Value {
    let error = json!({ "default": answer("OBErrorResponse1", reference("OBErrorResponse1")) });
    let ok = |description: &str| {
        let mut responses = json!({ "200": answer(description, reference("CardsResponse")) });
        if let (Some(map), Value::Object(extra)) = (responses.as_object_mut(), error.clone()) {
            map.extend(extra);
        }
        responses
    };
    let paths = json!({
        "/cards": { "get": {
            "operationId": "getCardsOfCustomers",
            "parameters": [param("query", "customerId", "customers", true, keys("CIFs"))],
            "responses": ok("the cards of those customers"),
        } },
        "/cards/{cardId}": { "get": {
            "operationId": "getCard",
            "parameters": [param("path", "cardId", "card id", true, string())],
            "responses": ok("one card"),
        } },
    });
    let money = object(
        &["amount", "currency"],
        json!({ "amount": { "type": "string", "pattern": "^\\d{1,13}\\.\\d{1,5}$" }, "currency": string() }),
    );
    let date = json!({ "type": "string", "format": "date" });
    let schemas = json!({
        "Money": money,
        "CardsResponse": object(&["Data", "Links", "Meta"], json!({
            "Data": object(&["Card"], json!({ "Card": { "type": "array", "items": reference("Card") } })),
            "Links": object(&["Self"], json!({ "Self": string() })),
            "Meta": object(&["TotalPages"], json!({ "TotalPages": { "type": "integer" } })),
        })),
        "Card": object(
            &["cardId", "cardNumber", "customerId", "cardType", "productName", "cardLevel", "status", "issueDate"],
            json!({
                "cardId": string(), "cardNumber": { "type": "string", "description": "full PAN; mask before display" },
                "customerId": string(), "cardType": enumeration(&["DEBIT", "CREDIT"]), "productName": string(),
                "cardLevel": enumeration(&["STANDARD", "GOLD", "PLATINUM", "DIAMOND"]),
                "status": enumeration(&["INACTIVE", "ACTIVE", "FROZEN", "LOST", "EXPIRED", "CLOSED"]),
                "issueDate": date, "linkedAccountId": string(),
                "creditLimit": reference("Money"), "availableCredit": reference("Money"), "currentBalance": reference("Money"),
                "daysPastDue": { "type": "integer" },
                "statement": object(&["closingDate", "dueDate", "minimumPayment", "statementBalance"], json!({
                    "closingDate": date, "dueDate": date,
                    "minimumPayment": reference("Money"), "statementBalance": reference("Money"),
                })),
            }),
        ),
        "OBErrorResponse1": object(&["Code", "Message", "Errors"], json!({
            "Code": string(), "Id": string(), "Message": string(),
            "Errors": { "type": "array", "items": object(&["ErrorCode", "Message"], json!({
                "ErrorCode": string(), "Message": string(), "Path": string(), "Url": string(),
            })) },
        })),
    });
    document(
        "Cards (sandbox)",
        "Open Banking-style card system of the c360 sandbox.",
        "/cards/v1",
        paths,
        schemas,
    )
}

/// `/loans/v1`: snake_case, JSON numbers for money, FDX paging, RFC 9457 problems.
pub(crate) fn loans() -> Value {
    let problem = json!({ "description": "RFC 9457 problem", "content": { "application/problem+json": { "schema": reference("Problem") } } });
    let paths = json!({
        "/loans": { "get": {
            "operationId": "getLoansOfCustomers",
            "parameters": [
                param("query", "customer_ids", "customers", true, keys("CIFs")),
                param("query", "limit", "page size", false, limit(50)),
                param("query", "page_key", "next_page_key of the previous page", false, string()),
            ],
            "responses": {
                "200": answer("a page of loans", object(&["data", "page"], json!({
                    "data": { "type": "array", "items": reference("Loan") },
                    "page": object(&["total_elements"], json!({
                        "next_page_key": { "type": "string", "nullable": true }, "total_elements": { "type": "integer" },
                    })),
                }))),
                "400": problem,
            },
        } },
        "/loans:batchGet": { "post": {
            "operationId": "batchGetLoans",
            "description": "all or nothing: 404 naming the missing ids",
            "requestBody": { "required": true, "content": { "application/json": { "schema": object(&["ids"], json!({
                "ids": { "type": "array", "maxItems": MAX_BATCH_KEYS, "items": string() },
            })) } } },
            "responses": {
                "200": answer("the loans, in request order", object(&["loans"], json!({ "loans": { "type": "array", "items": reference("Loan") } }))),
                "400": problem,
                "404": problem,
            },
        } },
        "/loans/{loan_id}": { "get": {
            "operationId": "getLoan",
            "parameters": [param("path", "loan_id", "loan id", true, string())],
            "responses": { "200": answer("one loan", reference("Loan")), "404": problem },
        } },
    });
    let number =
        json!({ "type": "number", "description": "exact decimal; do not parse as a float" });
    let date = json!({ "type": "string", "format": "date" });
    let schemas = json!({
        "Loan": object(
            &["loan_id", "customer_id", "loan_type", "original_principal", "principal_balance", "interest_rate", "loan_term",
              "originating_date", "maturity_date", "overdue_days", "five_level_class", "status", "currency"],
            json!({
                "loan_id": string(), "customer_id": string(),
                "loan_type": enumeration(&["mortgage", "consumer", "business", "auto", "credit_line"]),
                "original_principal": number, "principal_balance": number,
                "interest_rate": { "type": "number", "description": "percent per year, exact decimal" },
                "loan_term": { "type": "integer", "description": "months" },
                "originating_date": date, "maturity_date": date,
                "next_payment_date": { "type": "string", "format": "date", "nullable": true },
                "next_payment_amount": { "type": "number", "nullable": true },
                "overdue_days": { "type": "integer" },
                "five_level_class": enumeration(&["normal", "special_mention", "substandard", "doubtful", "loss"]),
                "status": enumeration(&["active", "paid_off", "restructured", "written_off"]),
                "currency": string(),
            }),
        ),
        "Problem": object(&["type", "title", "status"], json!({
            "type": string(), "title": string(), "status": { "type": "integer" }, "detail": string(), "instance": string(),
            "parameter": string(), "missing_ids": { "type": "array", "items": string() },
        })),
    });
    document(
        "Loans (sandbox)",
        "Loan system of the c360 sandbox.",
        "/loans/v1",
        paths,
        schemas,
    )
}

/// `/channels/v1`: `{code, message, requestId}` envelope, epoch-millisecond times.
pub(crate) fn channels() -> Value {
    let with_envelope = |required: &[&str], fields: Value| {
        let mut schema = object(
            &["code", "message", "requestId"],
            json!({ "code": string(), "message": string(), "requestId": string() }),
        );
        if let (Some(props), Value::Object(extra)) = (
            schema.get_mut("properties").and_then(Value::as_object_mut),
            fields,
        ) {
            props.extend(extra);
        }
        if let Some(list) = schema.get_mut("required").and_then(Value::as_array_mut) {
            list.extend(required.iter().map(|r| json!(r)));
        }
        schema
    };
    let error = answer("error envelope with a non-zero code", reference("Error"));
    let uid = param("path", "uid", "channel user id", true, string());
    let paths = json!({
        "/users": { "get": {
            "operationId": "getUsersOfCustomers",
            "parameters": [param("query", "cifs", "customers", true, keys("CIFs"))],
            "responses": {
                "200": answer("registered users of those customers", with_envelope(&["users"], json!({ "users": { "type": "array", "items": reference("User") } }))),
                "default": error,
            },
        } },
        "/users/{uid}": { "get": {
            "operationId": "getUser",
            "parameters": [uid],
            "responses": { "200": answer("one user", with_envelope(&["user"], json!({ "user": reference("User") }))), "default": error },
        } },
        "/users/{uid}/login-events": { "get": {
            "operationId": "getLoginEvents",
            "description": "newest first",
            "parameters": [
                uid,
                param("query", "limit", "page size", false, limit(20)),
                param("query", "cursor", "nextCursor of the previous page", false, string()),
            ],
            "responses": {
                "200": answer("a page of login events", with_envelope(&["events"], json!({
                    "events": { "type": "array", "items": reference("LoginEvent") },
                    "nextCursor": { "type": "string", "nullable": true },
                }))),
                "default": error,
            },
        } },
    });
    let millis =
        json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" });
    let channel = enumeration(&["APP", "WEB", "WX"]);
    let schemas = json!({
        "User": object(&["uid", "cif", "state", "regTime", "prefChannel", "devices"], json!({
            "uid": string(), "cif": string(), "state": enumeration(&["NORMAL", "LOCKED", "CANCELLED"]),
            "regTime": millis, "lastLoginTime": { "type": "integer", "format": "int64", "nullable": true },
            "prefChannel": channel,
            "devices": { "type": "array", "items": object(&["deviceId", "os", "model", "bindTime", "trusted"], json!({
                "deviceId": string(), "os": string(), "model": string(), "bindTime": millis, "trusted": { "type": "boolean" },
            })) },
        })),
        "LoginEvent": object(&["time", "channel", "authMethod", "result", "ipRegion"], json!({
            "time": millis, "channel": channel,
            "authMethod": enumeration(&["PASSWORD", "SMS_OTP", "BIOMETRIC", "USB_KEY"]),
            "result": enumeration(&["SUCCESS", "FAILED", "LOCKED"]), "ipRegion": string(),
        })),
        "Error": object(&["code", "message", "requestId"], json!({ "code": string(), "message": string(), "requestId": string() })),
    });
    document(
        "Online channel (sandbox)",
        "Internet and mobile banking system of the c360 sandbox.",
        "/channels/v1",
        paths,
        schemas,
    )
}
