//! The full customer-360 query, lists of customers and unknown or malformed ids.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn the_360_query_answers_from_all_four_systems() {
    let app = TestApp::builder().spawn().await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let customer = &answer["data"]["customer"];
    assert_eq!(customer["id"], "1000000001");
    assert!(
        !customer["accounts"].as_array().unwrap().is_empty(),
        "core accounts"
    );
    assert!(!customer["cards"].as_array().unwrap().is_empty(), "cards");
    assert!(!customer["loans"].as_array().unwrap().is_empty(), "loans");
    assert!(customer["onlineBanking"]["userId"].is_string(), "channels");
    let systems: Vec<_> = customer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["system"].as_str().unwrap(), s["error"].is_null()))
        .collect();
    assert_eq!(
        systems,
        vec![
            ("core", true),
            ("cards", true),
            ("loans", true),
            ("channels", true)
        ]
    );
    let balance = &customer["accounts"][0]["balance"];
    assert!(
        balance["amount"].is_string(),
        "money is a decimal string: {balance}"
    );
    assert!(balance["amount"]
        .as_str()
        .unwrap()
        .parse::<rust_decimal::Decimal>()
        .is_ok());
}

#[tokio::test]
async fn personal_data_is_masked_for_callers_without_a_role() {
    let app = TestApp::builder().spawn().await;
    let raw = app.core_customer("1000000001").await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    let customer = &answer["data"]["customer"];
    let name = raw["CUST_NM"].as_str().unwrap();
    let id_number = raw["CERT_NO"].as_str().unwrap();
    let mobile = raw["MOB_NO"].as_str().unwrap();
    assert_eq!(
        customer["name"].as_str().unwrap().chars().next(),
        name.chars().next()
    );
    assert_ne!(customer["name"], name);
    assert_eq!(
        customer["idDocument"]["number"].as_str().unwrap().len(),
        id_number.len()
    );
    assert!(
        !customer["idDocument"]["number"]
            .as_str()
            .unwrap()
            .contains(&id_number[6..14]),
        "birth date hidden"
    );
    assert_eq!(
        customer["mobile"],
        format!("{}****{}", &mobile[..3], &mobile[7..])
    );
    let card = customer["cards"][0]["number"].as_str().unwrap();
    assert!(card[6..card.len() - 4].chars().all(|c| c == '*'), "{card}");
}

#[tokio::test]
async fn transactions_page_forward_without_gaps_or_overlap() {
    let app = TestApp::builder().spawn().await;
    let query = r#"query($id: ID!, $after: String) { customer(id: $id) { accounts {
        transactions(first: 7, after: $after) { edges { cursor node { id postedAt } } pageInfo { hasNextPage hasPreviousPage endCursor } } } } }"#;
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    for page in 0..4 {
        let answer = app
            .graphql(query, json!({"id": "1000000001", "after": after}))
            .await;
        let connection = &answer["data"]["customer"]["accounts"][0]["transactions"];
        let edges = connection["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 7, "page {page}: {answer}");
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], page > 0);
        for edge in edges {
            seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(connection["pageInfo"]["endCursor"], edges[6]["cursor"]);
        after = connection["pageInfo"]["endCursor"].clone();
        assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 28, "no transaction twice");

    // The same 28, read in one page, come in the same order.
    let all = app
        .graphql(
            r#"query($id: ID!) { customer(id: $id) { accounts { transactions(first: 28) { edges { node { id } } } } } }"#,
            json!({"id": "1000000001"}),
        )
        .await;
    let ids: Vec<_> = all["data"]["customer"]["accounts"][0]["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, seen);
}

#[tokio::test]
async fn transactions_respect_the_period() {
    let app = TestApp::builder().spawn().await;
    let query = r#"query($id: ID!, $from: DateTime, $to: DateTime) { customer(id: $id) { accounts {
        transactions(first: 100, from: $from, to: $to) { edges { node { postedAt } } } } } }"#;
    let answer = app
        .graphql(query, json!({"id": "1000000001", "from": "2026-10-01T00:00:00Z", "to": "2026-10-31T23:59:59Z"}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let edges = answer["data"]["customer"]["accounts"][0]["transactions"]["edges"]
        .as_array()
        .unwrap();
    assert!(
        !edges.is_empty(),
        "the showcase account has October transactions"
    );
    let from = chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z").unwrap();
    let to = chrono::DateTime::parse_from_rfc3339("2026-10-31T23:59:59Z").unwrap();
    for edge in edges {
        let at = chrono::DateTime::parse_from_rfc3339(edge["node"]["postedAt"].as_str().unwrap())
            .unwrap();
        assert!(from <= at && at <= to, "{at} outside October");
    }
    let reversed = app
        .graphql(query, json!({"id": "1000000001", "from": "2026-10-31T00:00:00Z", "to": "2026-10-01T00:00:00Z"}))
        .await;
    let accounts = reversed["data"]["customer"]["accounts"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        errors_with_code(&reversed, "BAD_USER_INPUT").len(),
        accounts,
        "one per account: {reversed}"
    );
    assert!(
        reversed["data"]["customer"]["accounts"][0].is_object(),
        "the account stays: {reversed}"
    );
    assert!(reversed["data"]["customer"]["accounts"][0]["transactions"].is_null());
}

#[tokio::test]
async fn an_unknown_customer_is_null_with_not_found() {
    let app = TestApp::builder().spawn().await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1999999999"})).await;
    assert!(answer["data"]["customer"].is_null());
    let errors = errors_with_code(&answer, "NOT_FOUND");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["path"], json!(["customer"]));
}

#[tokio::test]
async fn a_malformed_id_is_refused_naming_the_argument() {
    let app = TestApp::builder().spawn().await;
    let answer = app.graphql(PROFILE_360, json!({"id": "12ab"})).await;
    let errors = errors_with_code(&answer, "BAD_USER_INPUT");
    assert_eq!(errors.len(), 1, "{answer}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("id: must be a 10-digit CIF"),
        "{answer}"
    );
}

#[tokio::test]
async fn customers_by_ids_keep_order_and_mark_unknown_ones() {
    let app = TestApp::builder().spawn().await;
    let answer = app
        .graphql(
            "query($ids: [ID!]!) { customers(ids: $ids) { id } }",
            json!({"ids": ["1000000003", "1999999999", "1000000001"]}),
        )
        .await;
    assert_eq!(
        answer["data"]["customers"],
        json!([{"id": "1000000003"}, null, {"id": "1000000001"}])
    );
    let errors = errors_with_code(&answer, "NOT_FOUND");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["path"], json!(["customers", 1]));
}

#[tokio::test]
async fn more_than_a_hundred_ids_are_refused() {
    let app = TestApp::builder().spawn().await;
    let ids: Vec<String> = (1..=101)
        .map(|i| format!("{}", 1_000_000_000u64 + i))
        .collect();
    let answer = app
        .graphql(
            "query($ids: [ID!]!) { customers(ids: $ids) { id } }",
            json!({"ids": ids}),
        )
        .await;
    let errors = errors_with_code(&answer, "BAD_USER_INPUT");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 ids"),
        "{answer}"
    );
    let bad = app
        .graphql(
            "query($ids: [ID!]!) { customers(ids: $ids) { id } }",
            json!({"ids": ["1000000001", "x"]}),
        )
        .await;
    assert!(
        errors_with_code(&bad, "BAD_USER_INPUT")[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("ids[1]:"),
        "{bad}"
    );
}
