//! Authentication and abuse limits over HTTP: bad tokens are 401s (never 500s),
//! hostile queries are refused fast with a clear error while the hub keeps serving,
//! rate limits answer 429 with Retry-After, introspection and the allowlist follow
//! the profile and the manifest.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const PROFILE: &str = "query($id: ID!) { customer(id: $id) { id name } }";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(overrides: Value) -> Value {
    let mut claims = json!({
        "sub": "S0001", "role": "teller", "staff_id": "S0001", "branch_id": "110101",
        "iss": "c360-dev", "aud": "c360", "iat": now(), "exp": now() + 600,
    });
    for (k, v) in overrides.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

fn rs256(claims: &Value) -> String {
    let key = std::fs::read(fixture("rsa_private.pem")).unwrap();
    encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(&key).unwrap(),
    )
    .unwrap()
}

/// A production-profile hub that trusts the test RSA key only.
async fn production_hub() -> TestApp {
    TestApp::builder()
        .config(|config| {
            config.profile = c360::config::Profile::Production;
            config.auth.public_key_file = Some(fixture("rsa_public.pem"));
            config.auth.dev_secret = None;
            config.bi.pseudonym_key = Some(PSEUDONYM_KEY.into());
        })
        .spawn()
        .await
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.bare.post(format!("{}/graphql", app.hub)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("hub answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body: {text}")),
    )
}

#[tokio::test]
async fn bad_tokens_are_401_with_a_graphql_error_and_no_data() {
    let app = production_hub().await;
    let body = json!({"query": PROFILE, "variables": {"id": "1000000001"}});
    let (status, answer) = post(&app, Some(&rs256(&claims(json!({})))), body.clone()).await;
    assert_eq!(status, 200, "a good RS256 token passes: {answer}");
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    let public_pem = std::fs::read(fixture("rsa_public.pem")).unwrap();
    let hs256_with_public_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let good = rs256(&claims(json!({})));
    let mut tampered = good.clone();
    tampered.replace_range(good.len() - 6.., "AAAAAA");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "expired",
            Some(rs256(&claims(json!({"exp": now() - 3600})))),
        ),
        (
            "not yet valid",
            Some(rs256(&claims(json!({"nbf": now() + 3600})))),
        ),
        ("wrong signature", Some(tampered)),
        (
            "wrong audience",
            Some(rs256(&claims(json!({"aud": "other"})))),
        ),
        ("wrong issuer", Some(rs256(&claims(json!({"iss": "evil"}))))),
        ("alg none", Some(format!("{header_none}.{payload}."))),
        ("HS256 against the RS256 key", Some(hs256_with_public_key)),
        ("garbage", Some("not-a-jwt".into())),
        (
            "unknown role",
            Some(rs256(&claims(json!({"role": "superuser"})))),
        ),
    ];
    for (case, token) in cases {
        let (status, answer) = post(&app, token.as_deref(), body.clone()).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert!(answer.get("data").is_none(), "{case}: no data: {answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{case}: {answer}"
        );
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}: a message"
        );
    }
}

#[tokio::test]
async fn the_websocket_endpoint_refuses_connections_without_a_valid_token() {
    let app = TestApp::builder().spawn().await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws_send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": "Bearer garbage"}}),
    )
    .await;
    // The server closes the connection instead of acknowledging it.
    let next = ws_next(&mut socket, Duration::from_secs(5)).await;
    assert!(
        next.as_ref().is_none_or(|m| m["type"] != "connection_ack"),
        "{next:?}"
    );
}

#[tokio::test]
async fn hostile_queries_are_refused_fast_while_the_hub_keeps_serving() {
    let app = TestApp::builder().spawn().await;
    let token = admin_token();
    let deep = format!(
        "{{ __schema {{ types {}name{} }} }}",
        "{ fields { type { ofType ".repeat(6),
        " } } }".repeat(6)
    );
    let aliases = format!(
        "{{ {} }}",
        (0..200)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Selecting the same field over and over is valid GraphQL and costs nothing to
    // write; every selection counts against the complexity limit.
    let wide = format!(
        "query($id: ID!) {{ customer(id: $id) {{ {} }} }}",
        "id name mobile ".repeat(400)
    );
    let many_ids: Vec<String> = (1..=101)
        .map(|i| format!("{}", 1_000_000_000u64 + i))
        .collect();
    let huge_variable = "x".repeat(300 * 1024);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "deep nesting",
            json!({"query": deep}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "alias flooding",
            json!({"query": aliases}),
            400,
            "TOO_MANY_ALIASES",
        ),
        (
            "too complex",
            json!({"query": wide, "variables": {"id": "1000000001"}}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "huge list of ids",
            json!({"query": "query($ids: [ID!]!) { customers(ids: $ids) { id } }", "variables": {"ids": many_ids}}),
            200,
            "BAD_USER_INPUT",
        ),
        (
            "huge page",
            json!({"query": "{ searchCustomers(name: \"王\", first: 100000) { edges { node { id } } } }"}),
            200,
            "BAD_USER_INPUT",
        ),
        (
            "huge variables",
            json!({"query": PROFILE, "variables": {"id": huge_variable}}),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (case, body, status, code) in cases {
        let request = app
            .client
            .post(format!("{}/graphql", app.hub))
            .bearer_auth(&token)
            .json(&body);
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .unwrap_or_else(|_| panic!("{case}: refused in time"))
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{case}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], code,
            "{case}: {answer}"
        );
        assert!(answer["data"].is_null(), "{case}: no data: {answer}");
        // Meanwhile a normal request is served.
        let normal = app.graphql(PROFILE, json!({"id": "1000000002"})).await;
        assert_eq!(normal["data"]["customer"]["id"], "1000000002", "{case}");
    }

    // A 10 MB body is refused without reading it all, with a JSON error.
    let ten_mb = vec![b' '; 10 * 1024 * 1024];
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        app.client
            .post(format!("{}/graphql", app.hub))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(ten_mb)
            .send(),
    )
    .await
    .expect("refused in time");
    match response {
        Ok(response) => {
            assert_eq!(response.status(), 413);
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                answer["errors"][0]["extensions"]["code"],
                "PAYLOAD_TOO_LARGE"
            );
        }
        // The hub may close the connection while the client is still sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let normal = app.graphql(PROFILE, json!({"id": "1000000003"})).await;
    assert_eq!(normal["data"]["customer"]["id"], "1000000003");
}

#[tokio::test]
async fn a_caller_over_its_rate_is_told_to_retry_later_and_others_are_not() {
    let app = TestApp::builder()
        .config(|config| {
            config.access.subject_rate = 1;
            config.access.subject_burst = 3;
        })
        .spawn()
        .await;
    let busy = token_for("teller", Some("T0001"), Some("110101"), None);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let response = app
            .bare
            .post(format!("{}/graphql", app.hub))
            .bearer_auth(&busy)
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&seconds));
    let other = token_for("teller", Some("T0002"), Some("110101"), None);
    let (status, _) = app
        .graphql_as(&other, "{ __typename }", json!({}), &[])
        .await;
    assert_eq!(status, 200, "another subject is not held back");
}

#[tokio::test]
async fn introspection_is_off_outside_the_demo_unless_the_role_allows_it() {
    let app = production_hub().await;
    let query = json!({"query": "{ __schema { queryType { name } } }"});
    let teller = rs256(&claims(json!({})));
    let (status, answer) = post(&app, Some(&teller), query.clone()).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.get("data").is_none(), "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "INTROSPECTION_DISABLED",
        "{answer}"
    );
    // Through a fragment too; `__typename` is not introspection.
    let (status, _) = post(
        &app,
        Some(&teller),
        json!({"query": "query { ...F } fragment F on Query { __type(name: \"Customer\") { name } }"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, answer) = post(&app, Some(&teller), json!({"query": "{ __typename }"})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["__typename"], "Query");
    let admin = rs256(&claims(json!({"role": "admin", "sub": "A0001"})));
    let (_, answer) = post(&app, Some(&admin), query).await;
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn in_allowlist_mode_only_manifest_operations_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    let allowed = "query Own($id: ID!) { customer(id: $id) { id } }";
    std::fs::write(
        &manifest,
        json!({"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "own-v1", "name": "Own", "type": "query", "body": allowed}]})
        .to_string(),
    )
    .unwrap();
    let app = TestApp::builder()
        .config(|config| {
            config.graphql.allowlist = Some(manifest.clone());
            config.graphql.allowlist_roles = vec!["customer".into()];
        })
        .spawn()
        .await;
    let portal = token_for("customer", None, None, Some("1000000001"));
    let vars = json!({"id": "1000000001"});
    let (status, answer) = app.graphql_as(&portal, allowed, vars.clone(), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");
    let by_id = json!({"variables": vars, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "own-v1"}}});
    let (status, answer) = post(&app, Some(&portal), by_id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");
    let (status, answer) = app
        .graphql_as(
            &portal,
            "{ customer(id: \"1000000001\") { id name } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "OPERATION_NOT_ALLOWED"
    );
    // Roles the allowlist does not cover run anything.
    let answer = app
        .graphql("{ customer(id: \"1000000001\") { id name } }", json!({}))
        .await;
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");
}
