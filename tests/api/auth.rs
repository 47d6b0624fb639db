//! Authentication and abuse limits: bad tokens are 401s (never 500s), hostile
//! queries are refused fast with a clear error while the hub keeps serving, rate
//! limits answer 429 with Retry-After, introspection and the allowlist follow the
//! profile and the manifest. The hostile suite is one table run over both transports,
//! HTTP and WebSocket, which must refuse each case with the same code; a WebSocket
//! session ends when its token expires.

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
    TestApp::builder().config(production).spawn().await
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

/// Sends `body` over HTTP (a POST) and over WebSocket (a `subscribe` message with the
/// same payload) as `token`, and checks that each refuses it fast with `code`: over
/// HTTP with `status` and no data, over WebSocket as an answer with that code and
/// no data or, for what cannot be read at all, by closing the socket with the code
/// in the reason.
async fn refused_alike(
    app: &TestApp,
    token: &str,
    case: &str,
    body: Value,
    status: u16,
    code: &str,
) {
    let request = app
        .bare
        .post(format!("{}/graphql", app.hub))
        .bearer_auth(token)
        .json(&body);
    let response = tokio::time::timeout(Duration::from_secs(10), request.send())
        .await
        .unwrap_or_else(|_| panic!("{case}: refused in time over HTTP"))
        .unwrap();
    assert_eq!(response.status().as_u16(), status, "{case} over HTTP");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], code,
        "{case} over HTTP: {answer}"
    );
    assert!(
        answer["data"].is_null(),
        "{case} over HTTP: no data: {answer}"
    );

    let mut socket = ws_connect(&app.ws_url(), token).await;
    match ws_operation(&mut socket, "1", body, Duration::from_secs(10)).await {
        WsOutcome::Answer(answer) => {
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], code,
                "{case} over WebSocket: {answer}"
            );
            assert!(
                answer["data"].is_null(),
                "{case} over WebSocket: no data: {answer}"
            );
        }
        WsOutcome::Closed(close, reason) => assert!(
            reason.starts_with(code),
            "{case} over WebSocket: closed with {close} {reason}"
        ),
    }
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
            "alias flooding",
            json!({"query": aliases}),
            400,
            "TOO_MANY_ALIASES",
        ),
        (
            "deep nesting",
            json!({"query": deep}),
            200,
            "GRAPHQL_VALIDATION_FAILED",
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
        refused_alike(&app, &token, case, body, status, code).await;
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

/// The one operation of the portal's manifest, persisted as `own-v1`.
const OWN: &str = "query Own($id: ID!) { customer(id: $id) { id } }";

/// A hub in allowlist mode for the `customer` role, whose manifest holds [`OWN`].
async fn allowlisted_portal_hub() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        json!({"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "own-v1", "name": "Own", "type": "query", "body": OWN}]})
        .to_string(),
    )
    .unwrap();
    // The manifest is read at start; the folder may go once the hub runs.
    TestApp::builder()
        .config(move |config| {
            config.graphql.allowlist = Some(manifest);
            config.graphql.allowlist_roles = vec!["customer".into()];
        })
        .spawn()
        .await
}

#[tokio::test]
async fn in_allowlist_mode_only_manifest_operations_run() {
    let allowed = OWN;
    let app = allowlisted_portal_hub().await;
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

/// What the schema enforces, the same over both transports: a field the role is
/// denied is null with `FORBIDDEN` at its path, personal data is masked for the role.
async fn the_same_view_over_http_and_websocket(app: &TestApp) {
    let teller = token_for("teller", Some("T0001"), Some("110101"), None);
    let query = "query($id: ID!) { customer(id: $id) { id name mobile insights { tier } } }";
    let vars = json!({"id": "1000000001"});
    let (status, over_http) = app.graphql_as(&teller, query, vars.clone(), &[]).await;
    assert_eq!(status, 200, "{over_http}");
    let over_ws = ws_execute(app, &teller, query, vars).await;
    for (transport, answer) in [("HTTP", &over_http), ("WebSocket", &over_ws)] {
        let denied = errors_with_code(answer, "FORBIDDEN");
        assert_eq!(denied.len(), 1, "{transport}: {answer}");
        assert_eq!(
            denied[0]["path"],
            json!(["customer", "insights"]),
            "{transport}"
        );
        let name = answer["data"]["customer"]["name"].as_str().unwrap();
        assert!(
            name.contains('*'),
            "{transport}: the name is masked: {name}"
        );
    }
    assert_eq!(over_http["data"], over_ws["data"], "the same view on both");
}

#[tokio::test]
async fn allowlist_introspection_deadline_and_field_policy_hold_alike_over_http_and_websocket() {
    let portal_hub = allowlisted_portal_hub().await;
    let portal = token_for("customer", None, None, Some("1000000001"));
    let by_id = json!({"variables": {"id": "1000000001"},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "own-v1"}}});
    let mut socket = ws_connect(&portal_hub.ws_url(), &portal).await;
    match ws_operation(&mut socket, "1", by_id, Duration::from_secs(10)).await {
        WsOutcome::Answer(answer) => {
            assert_eq!(answer["data"]["customer"]["id"], "1000000001", "{answer}")
        }
        closed => panic!("the manifest's operation runs over WebSocket: {closed:?}"),
    }
    refused_alike(
        &portal_hub,
        &portal,
        "not in the manifest",
        json!({"query": "{ customer(id: \"1000000001\") { id name } }"}),
        403,
        "OPERATION_NOT_ALLOWED",
    )
    .await;
    refused_alike(
        &portal_hub,
        &admin_token(),
        "unknown persisted query",
        json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0".repeat(64)}}}),
        200,
        "PERSISTED_QUERY_NOT_FOUND",
    )
    .await;
    // Roles the allowlist does not cover: the field policy and masking of their role.
    the_same_view_over_http_and_websocket(&portal_hub).await;

    let production = production_hub().await;
    let teller = rs256(&claims(json!({})));
    refused_alike(
        &production,
        &teller,
        "introspection",
        json!({"query": "{ __schema { queryType { name } } }"}),
        403,
        "INTROSPECTION_DISABLED",
    )
    .await;

    let slow = TestApp::builder()
        .config(|config| config.server.request_timeout = Duration::from_secs(1))
        .spawn()
        .await;
    slow.set_fault(json!({"system": "core", "latency_ms": 2_500}))
        .await;
    refused_alike(
        &slow,
        &admin_token(),
        "past the deadline",
        json!({"query": PROFILE, "variables": {"id": "1000000001"}}),
        504,
        "REQUEST_TIMEOUT",
    )
    .await;
}

#[tokio::test]
async fn rate_limits_count_websocket_operations_from_the_same_budget_as_http() {
    let app = TestApp::builder()
        .config(|config| {
            config.access.subject_rate = 1;
            config.access.subject_burst = 3;
        })
        .spawn()
        .await;
    let busy = token_for("teller", Some("T0001"), Some("110101"), None);
    // One connection, six operations: the first three fit the burst.
    let mut socket = ws_connect(&app.ws_url(), &busy).await;
    let mut codes = Vec::new();
    for id in 1..=6 {
        match ws_operation(
            &mut socket,
            &id.to_string(),
            json!({"query": "{ __typename }"}),
            Duration::from_secs(5),
        )
        .await
        {
            WsOutcome::Answer(answer) => codes.push(
                answer["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("ok")
                    .to_owned(),
            ),
            closed => panic!("operation {id}: {closed:?}"),
        }
    }
    assert_eq!(&codes[..3], &["ok", "ok", "ok"], "{codes:?}");
    assert!(codes[3..].iter().any(|c| c == "RATE_LIMITED"), "{codes:?}");

    // A caller who spent its budget over HTTP finds it spent over WebSocket too.
    let other = token_for("teller", Some("T0002"), Some("110101"), None);
    for _ in 0..4 {
        app.graphql_as(&other, "{ __typename }", json!({}), &[])
            .await;
    }
    let answer = ws_execute(&app, &other, "{ __typename }", json!({})).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{answer}"
    );
}

#[tokio::test]
async fn a_websocket_session_ends_when_its_token_expires() {
    let app = TestApp::builder()
        .config(|config| config.auth.leeway = Duration::ZERO)
        .spawn()
        .await;
    let short = token_for_ttl("admin", None, Some("B001"), None, Duration::from_secs(3));
    let connected = std::time::Instant::now();
    let mut socket = ws_connect(&app.ws_url(), &short).await;
    match ws_operation(
        &mut socket,
        "1",
        json!({"query": PROFILE, "variables": {"id": "1000000001"}}),
        Duration::from_secs(5),
    )
    .await
    {
        WsOutcome::Answer(answer) => {
            assert_eq!(answer["data"]["customer"]["id"], "1000000001", "{answer}")
        }
        closed => panic!("a valid token is served: {closed:?}"),
    }
    // A subscription open when the token expires does not keep the session alive.
    ws_send(
        &mut socket,
        json!({"type": "subscribe", "id": "2", "payload": {
            "query": "subscription { interactionLogged { id } }"}}),
    )
    .await;
    let closed = loop {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("the hub closes the socket at expiry: {other:?}"),
        }
    };
    let frame = closed.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    assert!(frame.reason.contains("expired"), "{frame:?}");
    let lived = connected.elapsed();
    assert!(
        lived >= Duration::from_secs(1) && lived < Duration::from_secs(6),
        "closed at the token's expiry, not before: {lived:?}"
    );
}
