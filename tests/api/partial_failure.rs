//! A failing or slow upstream costs its own fields, never the whole query.

use crate::common::*;
use serde_json::{json, Value};

async fn profile(app: &TestApp) -> Value {
    app.graphql(PROFILE_360, json!({"id": "1000000001"})).await
}

fn source<'a>(answer: &'a Value, system: &str) -> &'a Value {
    answer["data"]["customer"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == system)
        .unwrap()
}

#[tokio::test]
async fn cards_down_nulls_cards_only() {
    let app = TestApp::builder().spawn().await;
    app.set_fault(json!({"system": "cards", "status": 503}))
        .await;
    let answer = profile(&app).await;
    let customer = &answer["data"]["customer"];
    assert!(customer["cards"].is_null(), "{answer}");
    assert!(customer["accounts"].is_array());
    assert!(customer["loans"].is_array());
    assert!(customer["onlineBanking"].is_object());
    let errors = errors_with_code(&answer, "UPSTREAM_UNAVAILABLE");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["source"], "cards");
    assert_eq!(errors[0]["path"], json!(["customer", "cards"]));
    assert_eq!(source(&answer, "cards")["error"], "UPSTREAM_UNAVAILABLE");
    assert!(source(&answer, "loans")["error"].is_null());
}

#[tokio::test]
async fn each_system_failing_degrades_its_own_field() {
    for (system, field) in [("loans", "loans"), ("channels", "onlineBanking")] {
        let app = TestApp::builder().spawn().await;
        app.set_fault(json!({"system": system, "status": 500}))
            .await;
        let answer = profile(&app).await;
        let customer = &answer["data"]["customer"];
        assert!(customer[field].is_null(), "{system}: {answer}");
        assert!(customer["cards"].is_array(), "{system}: {answer}");
        let errors = errors_with_code(&answer, "UPSTREAM_UNAVAILABLE");
        assert_eq!(errors.len(), 1, "{system}: {answer}");
        assert_eq!(errors[0]["extensions"]["source"], system);
        assert_eq!(source(&answer, system)["error"], "UPSTREAM_UNAVAILABLE");
    }
}

#[tokio::test]
async fn core_down_nulls_the_customer_with_its_source() {
    let app = TestApp::builder().spawn().await;
    app.set_fault(json!({"system": "core", "status": 503}))
        .await;
    let answer = profile(&app).await;
    assert!(answer["data"]["customer"].is_null(), "{answer}");
    let errors = errors_with_code(&answer, "UPSTREAM_UNAVAILABLE");
    assert_eq!(errors[0]["extensions"]["source"], "core");
}

#[tokio::test]
async fn a_slow_upstream_times_out_within_its_budget() {
    let app = TestApp::builder()
        .config(|config| {
            config.connectors.loans.timeout = Some(std::time::Duration::from_millis(200));
            config.connectors.loans.retry_attempts = Some(1);
        })
        .spawn()
        .await;
    app.set_fault(json!({"system": "loans", "latency_ms": 2_000}))
        .await;
    let started = std::time::Instant::now();
    let answer = profile(&app).await;
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert!(answer["data"]["customer"]["loans"].is_null(), "{answer}");
    let errors = errors_with_code(&answer, "UPSTREAM_TIMEOUT");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["source"], "loans");
    assert!(answer["data"]["customer"]["cards"].is_array());
}

#[tokio::test]
async fn malformed_upstream_json_is_a_bad_response_for_that_source() {
    let app = TestApp::builder().spawn().await;
    app.set_fault(json!({"system": "channels", "malformed": true}))
        .await;
    let answer = profile(&app).await;
    assert!(
        answer["data"]["customer"]["onlineBanking"].is_null(),
        "{answer}"
    );
    let errors = errors_with_code(&answer, "UPSTREAM_BAD_RESPONSE");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["source"], "channels");
    assert!(answer["data"]["customer"]["loans"].is_array());
}

#[tokio::test]
async fn a_failing_system_is_called_once_per_request_and_retried_once() {
    let app = TestApp::builder().spawn().await;
    app.set_fault(json!({"system": "cards", "status": 503}))
        .await;
    app.reset_stats().await;
    profile(&app).await;
    let stats = app.stats().await;
    assert_eq!(
        requests(&stats, "cards"),
        2,
        "one call and one retry, though two fields need cards: {stats}"
    );
}
