//! Finding customers by ID number, mobile or name, with Relay paging.

use crate::common::*;
use serde_json::{json, Value};

const SEARCH: &str = r#"query($idNumber: String, $mobile: String, $name: String, $first: Int, $after: String) {
  searchCustomers(idNumber: $idNumber, mobile: $mobile, name: $name, first: $first, after: $after) {
    edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"#;

fn ids(answer: &Value) -> Vec<String> {
    answer["data"]["searchCustomers"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn exact_id_number_and_mobile_find_the_customer() {
    let app = TestApp::builder().spawn().await;
    let raw = app.core_customer("1000000042").await;
    let by_id = app
        .graphql(SEARCH, json!({"idNumber": raw["CERT_NO"]}))
        .await;
    assert_eq!(ids(&by_id), vec!["1000000042"]);
    let by_mobile = app.graphql(SEARCH, json!({"mobile": raw["MOB_NO"]})).await;
    assert_eq!(ids(&by_mobile), vec!["1000000042"]);
    let both_disagree = app
        .graphql(
            SEARCH,
            json!({"idNumber": raw["CERT_NO"], "name": "不存在的名字"}),
        )
        .await;
    assert!(ids(&both_disagree).is_empty(), "criteria narrow each other");
    let nobody = app.graphql(SEARCH, json!({"mobile": "19999999999"})).await;
    assert!(ids(&nobody).is_empty());
}

#[tokio::test]
async fn a_surname_finds_everyone_who_has_it_across_pages() {
    let app = TestApp::builder().spawn().await;
    let raw = app.core_customer("1000000001").await;
    let surname: String = raw["CUST_NM"].as_str().unwrap().chars().take(1).collect();
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let answer = app
            .graphql(
                SEARCH,
                json!({"name": surname, "first": 25, "after": after}),
            )
            .await;
        seen.extend(ids(&answer));
        let info = &answer["data"]["searchCustomers"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
        assert!(seen.len() < 3_000, "paging terminates");
    }
    assert!(seen.contains(&"1000000001".to_owned()));
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no customer twice");
    assert!(
        seen.len() > 25,
        "a common surname spans pages: {}",
        seen.len()
    );
    // Every hit really has the surname (read unmasked from core).
    for cif in seen.iter().take(10) {
        let record = app.core_customer(cif).await;
        assert!(record["CUST_NM"].as_str().unwrap().starts_with(&surname));
    }
}

#[tokio::test]
async fn bad_search_input_names_the_argument() {
    let app = TestApp::builder().spawn().await;
    for (variables, field) in [
        (json!({}), "searchCustomers"),
        (json!({"mobile": "13x"}), "mobile"),
        (json!({"idNumber": "11010' OR 1=1"}), "idNumber"),
        (json!({"name": "张", "first": 0}), "first"),
        (json!({"name": "张", "first": 1000}), "first"),
        (json!({"name": "张", "after": "not-a-cursor"}), "after"),
    ] {
        let answer = app.graphql(SEARCH, variables.clone()).await;
        let errors = errors_with_code(&answer, "BAD_USER_INPUT");
        assert_eq!(errors.len(), 1, "{variables}: {answer}");
        assert_eq!(errors[0]["extensions"]["field"], field, "{answer}");
    }
}
