//! GraphQL over HTTP: media types, status codes, methods and limits.

use crate::common::*;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{json, Value};

const TYPENAME: &str = r#"{"query":"{ __typename }"}"#;

async fn post(
    app: &TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &str,
) -> (u16, String, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.hub))
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, media, body)
}

#[tokio::test]
async fn the_answer_follows_the_accept_header() {
    let app = TestApp::builder().spawn().await;
    let (status, media, body) = post(
        &app,
        Some("application/json"),
        Some("application/json"),
        TYPENAME,
    )
    .await;
    assert_eq!(
        (status, media.as_str()),
        (200, "application/json; charset=utf-8")
    );
    assert_eq!(body["data"]["__typename"], "Query");
    let (_, media, _) = post(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        TYPENAME,
    )
    .await;
    assert_eq!(media, "application/graphql-response+json; charset=utf-8");
    let (_, media, _) = post(&app, Some("application/json"), None, TYPENAME).await;
    assert_eq!(
        media, "application/json; charset=utf-8",
        "no Accept means legacy JSON"
    );
    let (_, media, _) = post(&app, Some("application/json"), Some("*/*"), TYPENAME).await;
    assert_eq!(media, "application/json; charset=utf-8");
    let (status, _, _) = post(&app, Some("application/json"), Some("text/html"), TYPENAME).await;
    assert_eq!(status, 406);
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused_before_execution() {
    let app = TestApp::builder().spawn().await;
    app.reset_stats().await;
    let body = r#"{"query":"{ customer(id: \"1000000001\") { id } }"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
        Some("application/json; charset=latin1"),
    ] {
        let (status, _, answer) = post(&app, content_type, Some("application/json"), body).await;
        assert_eq!(status, 415, "{content_type:?}");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "UNSUPPORTED_MEDIA_TYPE"
        );
    }
    assert_eq!(requests(&app.stats().await, "core"), 0, "nothing executed");
}

#[tokio::test]
async fn request_errors_are_400_without_data_under_graphql_response_json() {
    let app = TestApp::builder().spawn().await;
    let accept = Some("application/graphql-response+json");
    for body in [
        r#"{"query":"{ customer(id: "#,
        r#"{"query":"{ noSuchField }"}"#,
        r#"{"query":"query($id: ID!) { customer(id: $id) { id } }","variables":{}}"#,
        r#"{"query": 42}"#,
        r#"{"variables": {}}"#,
        r#"{"query":"{ __typename }","variables":"x"}"#,
        r#"not json"#,
        r#"[]"#,
    ] {
        let (status, _, answer) = post(&app, Some("application/json"), accept, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.get("data").is_none(), "{body}: {answer}");
        assert!(
            answer["errors"][0]["message"].is_string(),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn validation_errors_are_200_under_legacy_json() {
    let app = TestApp::builder().spawn().await;
    let (status, _, answer) = post(
        &app,
        Some("application/json"),
        Some("application/json"),
        r#"{"query":"{ noSuchField }"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer.get("data").is_none(), "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::builder().spawn().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.hub))
        .query(&[
            ("query", "query($id: ID!) { customer(id: $id) { id } }"),
            ("variables", r#"{"id":"1000000002"}"#),
        ])
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"]["customer"]["id"], "1000000002");

    let response = app
        .client
        .get(format!("{}/graphql", app.hub))
        .query(&[("query", "mutation { __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()[ALLOW], "POST");
}

#[tokio::test]
async fn operation_name_selects_the_operation() {
    let app = TestApp::builder().spawn().await;
    let body = json!({"query": "query A { __typename } query B { customer(id: \"1000000001\") { id } }", "operationName": "B"});
    let (status, _, answer) = post(&app, Some("application/json"), None, &body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::builder().spawn().await;
    let padding = "x".repeat(300 * 1024);
    let body = json!({"query": "{ __typename }", "extensions": {"padding": padding}}).to_string();
    let (status, _, answer) = post(&app, Some("application/json"), None, &body).await;
    assert_eq!(status, 413);
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "PAYLOAD_TOO_LARGE"
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::builder().spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.hub))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}
