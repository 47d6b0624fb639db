//! What operators see on `/metrics`: requests per operation with latency, upstream
//! calls per system and outcome, database pool use, open subscriptions.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn metrics_show_operations_upstreams_the_pool_and_subscriptions() {
    let app = TestApp::builder()
        .config(|c| c.cache.enabled = false)
        .spawn()
        .await;
    for id in ["1000000001", "1000000002"] {
        let answer = app.graphql(PROFILE_360, json!({"id": id})).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    app.set_fault(json!({"system": "cards", "status": 503, "error_rate": 1.0}))
        .await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000003"})).await;
    assert_eq!(errors_with_code(&answer, "UPSTREAM_UNAVAILABLE").len(), 1);
    app.clear_faults().await;

    let mut screen = ws_subscribe(
        &app.ws_url(),
        "subscription($id: ID!) { customerChanged(id: $id) { id } }",
        json!({"id": "1000000001"}),
    )
    .await;
    let text = app.metrics().await;
    assert_eq!(
        sample(
            &text,
            r#"c360_graphql_requests_total{operation="Profile",outcome="ok"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"c360_graphql_request_duration_seconds_count{operation="Profile"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"c360_upstream_calls_total{endpoint="customers",outcome="ok",system="core"}"#
        )
        .is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"c360_upstream_calls_total{endpoint="cards",outcome="UPSTREAM_UNAVAILABLE",system="cards"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains(
            r#"c360_upstream_call_duration_seconds_bucket{endpoint="accounts",system="core""#
        ),
        "{text}"
    );
    assert!(
        sample(&text, r#"c360_db_connections{state="open"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "c360_subscriptions_open"),
        Some(1.0),
        "{text}"
    );

    ws_send(&mut screen, json!({"type": "complete", "id": "1"})).await;
    let mut closed = false;
    for _ in 0..50 {
        if sample(&app.metrics().await, "c360_subscriptions_open") == Some(0.0) {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(closed, "a completed subscription is no longer counted");
}

#[tokio::test]
async fn the_callers_trace_reaches_every_upstream_it_calls() {
    let app = TestApp::builder()
        .config(|c| {
            c.cache.enabled = false;
            c.cache.response_enabled = false;
        })
        .spawn()
        .await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, answer) = app
        .graphql_as(
            &admin_token(),
            PROFILE_360,
            json!({"id": "1000000001"}),
            &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let stats = app.stats().await;
    for system in ["core", "cards", "loans", "channels"] {
        let seen = stats[system]["last_traceparent"]
            .as_str()
            .unwrap_or_default();
        assert!(
            seen.starts_with(&format!("00-{trace}-")) && seen.len() == 55,
            "{system} saw {seen:?}"
        );
        assert!(!seen.contains("00f067aa0ba902b7"), "a new span id per call");
    }
}
