//! Lists of customers cost one batched call per system and entity, made concurrently.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn fifty_customers_with_all_systems_make_five_upstream_calls() {
    let app = TestApp::builder().spawn().await;
    let ids: Vec<String> = (1..=50)
        .map(|i| format!("{}", 1_000_000_000u64 + i * 7))
        .collect();
    app.reset_stats().await;
    let answer = app
        .graphql(
            "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { number } cards { number } loans { id } onlineBanking { userId } } }",
            json!({"ids": ids}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(answer["data"]["customers"].as_array().unwrap().len(), 50);
    assert_one_call_per_system_and_entity(&app.stats().await);
}

#[tokio::test]
async fn systems_are_called_concurrently() {
    let app = TestApp::builder().spawn().await;
    for system in ["core", "cards", "loans", "channels"] {
        app.set_fault(json!({"system": system, "latency_ms": 300}))
            .await;
    }
    let started = std::time::Instant::now();
    let answer = app
        .graphql(
            "query($id: ID!) { customer(id: $id) { id accounts { number } cards { number } loans { id } onlineBanking { userId } } }",
            json!({"id": "1000000001"}),
        )
        .await;
    let elapsed = started.elapsed();
    assert!(answer.get("errors").is_none(), "{answer}");
    // Sequential calls would take 5 × 300 ms; concurrent ones one round trip.
    assert!(
        elapsed < std::time::Duration::from_millis(1_200),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn repeated_ids_are_asked_for_once_and_answered_at_each_place() {
    let app = TestApp::builder().spawn().await;
    app.reset_stats().await;
    let answer = app
        .graphql(
            "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { number } cards { number } loans { id } onlineBanking { userId } } }",
            json!({"ids": ["1000000007", "1000000014", "1000000007"]}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let ids: Vec<&str> = answer["data"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1000000007", "1000000014", "1000000007"]);
    assert_eq!(
        answer["data"]["customers"][0], answer["data"]["customers"][2],
        "the same customer twice"
    );
    assert_one_call_per_system_and_entity(&app.stats().await);
}
