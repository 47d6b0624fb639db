//! Traces and log lines of a running `c360` process, seen from outside: spans exported
//! over OTLP/HTTP (JSON) to a collector this test runs, joined to the caller's trace
//! and to what the upstreams received; log lines as JSON in production and readable in
//! the demo, each request's carrying its trace id; no personal data in either.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::process::C360Process;
use axum::body::Bytes;
use axum::routing::post;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// The trace of a WebSocket connection's upgrade request.
const WS_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const SYSTEMS: [&str; 4] = ["core", "cards", "loans", "channels"];
const PROFILE: &str = "query Profile($id: ID!) { customer(id: $id) { name mobile idDocument { number } accounts { number } cards { number } loans { id } onlineBanking { userId } } }";
/// Longest the test waits for the exporter's batches (it is told to send every 100 ms).
const EXPORT_WAIT: Duration = Duration::from_secs(15);

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// A fake OTLP/HTTP collector: keeps every JSON body posted to `/v1/traces`.
async fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let value: Value = serde_json::from_slice(&body).expect("OTLP/JSON body");
                store.lock().unwrap().push(value);
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// Runs the profile query over a `graphql-transport-ws` connection whose upgrade
/// request carries a `traceparent` of [`WS_TRACE_ID`], then closes the connection.
async fn websocket_profile(hub: &str, token: &str, cif: &str) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}/graphql/ws", hub.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in [
        ("sec-websocket-protocol", "graphql-transport-ws".to_owned()),
        ("authorization", format!("Bearer {token}")),
        ("traceparent", format!("00-{WS_TRACE_ID}-{CALLER_SPAN}-01")),
    ] {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket upgrade");
    for message in [
        json!({"type": "connection_init", "payload": {}}),
        json!({"type": "subscribe", "id": "1", "payload": {
            "query": PROFILE, "operationName": "Profile", "variables": {"id": cif}}}),
    ] {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "next" {
                    return value;
                }
            }
        }
        panic!("the connection closed before the answer");
    })
    .await
    .expect("an answer over WebSocket");
    assert!(
        answer["payload"]["data"]["customer"]["name"].is_string(),
        "{answer}"
    );
    let _ = socket.close(None).await;
    // The connection's span ends once the hub has seen the close.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while socket.next().await.is_some() {}
    })
    .await;
}

/// Every span received, flattened out of resource and scope.
fn all_spans(received: &[Value]) -> Vec<Value> {
    received
        .iter()
        .flat_map(|body| {
            body["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The value of attribute `key` as text, whatever its OTLP type.
fn attribute(span: &Value, key: &str) -> Option<String> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(map) => map.values().find_map(scalar),
            _ => None,
        }
    }
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| scalar(&a["value"]))
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| s["name"] == name && s["traceId"] == TRACE_ID)
        .collect()
}

async fn profile_query(client: &reqwest::Client, hub: &str, token: &str, cif: &str) -> Value {
    client
        .post(format!("{hub}/graphql"))
        .bearer_auth(token)
        .header("x-c360-purpose", "SERVICE")
        .header("traceparent", traceparent())
        .json(&json!({"query": PROFILE, "variables": {"id": cif}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The sandbox customer's name, ID number and mobile, as the core system has them.
async fn personal_data(client: &reqwest::Client, sandbox: &str, cif: &str) -> Vec<String> {
    let record: Value = client
        .get(format!("{sandbox}/core/v1/customers/{cif}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let values: Vec<String> = ["CUST_NM", "CERT_NO", "MOB_NO"]
        .iter()
        .filter_map(|key| record["body"][key].as_str().map(str::to_owned))
        .collect();
    assert_eq!(values.len(), 3, "the sandbox record has them: {record}");
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_joined_to_the_caller_and_to_the_upstream_calls() {
    let (endpoint, received) = collector().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let demo = C360Process::demo(
        &["--customers", "50", "--data-dir", data_dir],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("RUST_LOG", "info,c360=debug".into()),
        ],
    );
    let hub = demo.hub();
    let sandbox = demo.sandbox();
    let admin = demo.token("admin");
    let client = reqwest::Client::new();
    let cif = "1000000001";
    let secrets = personal_data(&client, &sandbox, cif).await;

    let answer = profile_query(&client, &hub, &admin, cif).await;
    assert!(answer["data"]["customer"]["name"].is_string(), "{answer}");
    let stats: Value = client
        .get(format!("{sandbox}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Every span of the request ends before its response is sent; the exporter sends
    // them within its delay.
    let deadline = Instant::now() + EXPORT_WAIT;
    let spans = loop {
        let spans = all_spans(&received.lock().unwrap());
        let calls = named(&spans, "upstream.call");
        let all_systems = SYSTEMS.iter().all(|system| {
            calls
                .iter()
                .any(|c| attribute(c, "upstream.system").as_deref() == Some(*system))
        });
        if (all_systems && !named(&spans, "http.request").is_empty()) || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let requests = named(&spans, "http.request");
    assert_eq!(requests.len(), 1, "one request span: {spans:#?}");
    let request = requests[0];
    assert_eq!(request["parentSpanId"], CALLER_SPAN, "{request:#}");
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/graphql")
    );
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(request, "graphql.operation.name").as_deref(),
        Some("Profile")
    );
    assert_eq!(attribute(request, "trace_id").as_deref(), Some(TRACE_ID));

    let operations = named(&spans, "graphql.operation");
    assert_eq!(operations.len(), 1, "one operation span");
    let operation = operations[0];
    assert_eq!(operation["parentSpanId"], request["spanId"]);

    let loads = named(&spans, "upstream.load");
    for system in SYSTEMS {
        let groups: Vec<_> = loads
            .iter()
            .filter(|l| attribute(l, "upstream.system").as_deref() == Some(system))
            .collect();
        assert!(!groups.is_empty(), "a resolver group for {system}");
        assert!(groups
            .iter()
            .all(|g| g["parentSpanId"] == operation["spanId"]));
    }

    let calls = named(&spans, "upstream.call");
    for system in SYSTEMS {
        let sent = stats[system]["last_traceparent"]
            .as_str()
            .unwrap_or_else(|| panic!("{system} received a traceparent: {stats}"));
        let parts: Vec<&str> = sent.split('-').collect();
        assert_eq!(parts[1], TRACE_ID, "{system} joined the caller's trace");
        let call = calls
            .iter()
            .find(|c| c["spanId"] == parts[2])
            .unwrap_or_else(|| {
                panic!("an upstream.call span with the span id {system} received ({sent})")
            });
        assert_eq!(attribute(call, "upstream.system").as_deref(), Some(system));
        assert_eq!(attribute(call, "upstream.outcome").as_deref(), Some("ok"));
        assert_eq!(attribute(call, "upstream.attempt").as_deref(), Some("1"));
        assert_eq!(
            attribute(call, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert!(attribute(call, "upstream.duration_ms").is_some());
        assert!(
            loads.iter().any(|l| l["spanId"] == call["parentSpanId"]),
            "the call is recorded under its resolver group"
        );
    }

    // Over WebSocket, each operation is a span of the connection, in the trace the
    // upgrade request carried, and its upstream calls are recorded under it.
    websocket_profile(&hub, &admin, "1000000002").await;
    let deadline = Instant::now() + EXPORT_WAIT;
    let ws_spans: Vec<Value> = loop {
        let in_trace: Vec<Value> = all_spans(&received.lock().unwrap())
            .into_iter()
            .filter(|s| s["traceId"] == WS_TRACE_ID)
            .collect();
        let done = ["graphql.ws.connection", "upstream.call"]
            .iter()
            .all(|name| in_trace.iter().any(|s| s["name"] == *name));
        if done || Instant::now() > deadline {
            break in_trace;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_name =
        |name: &str| -> Vec<&Value> { ws_spans.iter().filter(|s| s["name"] == name).collect() };
    let upgrade = by_name("http.request");
    assert_eq!(
        upgrade.len(),
        1,
        "the upgrade request's span: {ws_spans:#?}"
    );
    assert_eq!(
        attribute(upgrade[0], "http.route").as_deref(),
        Some("/graphql/ws")
    );
    let connection = by_name("graphql.ws.connection");
    assert_eq!(connection.len(), 1, "one connection span: {ws_spans:#?}");
    assert_eq!(connection[0]["parentSpanId"], upgrade[0]["spanId"]);
    let ws_operations = by_name("graphql.operation");
    assert_eq!(ws_operations.len(), 1, "one operation span: {ws_spans:#?}");
    let ws_operation = ws_operations[0];
    assert_eq!(ws_operation["parentSpanId"], connection[0]["spanId"]);
    assert_eq!(
        attribute(ws_operation, "graphql.operation.name").as_deref(),
        Some("Profile")
    );
    assert_eq!(
        attribute(ws_operation, "graphql.transport").as_deref(),
        Some("websocket")
    );
    let ws_loads = by_name("upstream.load");
    assert!(
        ws_loads
            .iter()
            .any(|l| attribute(l, "upstream.system").as_deref() == Some("core")),
        "the operation's core read is a resolver group of its own: {ws_spans:#?}"
    );
    assert!(ws_loads
        .iter()
        .all(|l| l["parentSpanId"] == ws_operation["spanId"]));
    assert!(by_name("upstream.call")
        .iter()
        .all(|c| ws_loads.iter().any(|l| l["spanId"] == c["parentSpanId"])));

    let exported = serde_json::to_string(&*received.lock().unwrap()).unwrap();
    for secret in &secrets {
        assert!(
            !exported.contains(secret.as_str()),
            "an exported span holds personal data ({} characters)",
            secret.chars().count()
        );
    }

    // The demo's log lines are for people, and a request's carry its trace id.
    let logs = demo.stop();
    let request_lines: Vec<&str> = logs.lines().filter(|l| l.contains(TRACE_ID)).collect();
    assert!(
        !request_lines.is_empty(),
        "the request's log lines carry its trace id:\n{}",
        &logs[..logs.len().min(3000)]
    );
    assert!(logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| serde_json::from_str::<Value>(l).is_err()));
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the log holds personal data"
        );
    }
}

fn rs256_admin() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/auth/rsa_private.pem"
    ))
    .unwrap();
    encode(
        &Header::new(Algorithm::RS256),
        &json!({"sub": "S0001", "role": "admin", "staff_id": "S0001", "branch_id": "110101",
            "iss": "c360-dev", "aud": "c360", "iat": now, "exp": now + 600}),
        &EncodingKey::from_rsa_pem(&key).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_logs_are_json_lines_that_carry_the_trace_id() {
    let sandbox = C360Process::start(
        &[
            "sandbox",
            "--port",
            "0",
            "--customers",
            "50",
            "--latency",
            "none",
        ],
        &[],
        |line| line.starts_with("c360 sandbox:"),
    );
    let upstreams = sandbox.url("c360 sandbox:", "/{");
    let data = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("C360_PROFILE", "production".to_owned()),
        (
            "C360_ACCESS__AUDIT_CHAIN_KEYS__K1",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ),
        (
            "C360_BI__PSEUDONYM_KEY",
            crate::common::PSEUDONYM_KEY.to_owned(),
        ),
        (
            "C360_AUTH__PUBLIC_KEY_FILE",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/auth/rsa_public.pem"
            )
            .into(),
        ),
        (
            "DATABASE_URL",
            format!("sqlite://{}/c360.db", data.path().display()),
        ),
        ("RUST_LOG", "info,c360=debug".into()),
    ];
    for (var, system) in [
        ("C360_CORE_URL", "core"),
        ("C360_CARDS_URL", "cards"),
        ("C360_LOANS_URL", "loans"),
        ("C360_CHANNELS_URL", "channels"),
    ] {
        env.push((var, format!("{upstreams}/{system}/v1")));
    }
    let hub = C360Process::start(&["serve", "--port", "0"], &env, |line| {
        line.starts_with("c360 hub:")
    });
    let url = hub.url("c360 hub:", "/graphql");
    let client = reqwest::Client::new();
    let answer = profile_query(&client, &url, &rs256_admin(), "1000000001").await;
    assert!(answer["data"]["customer"]["name"].is_string(), "{answer}");
    let secrets = personal_data(&client, &upstreams, "1000000001").await;

    let logs = hub.stop();
    sandbox.stop();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "the hub logged");
    let with_trace = lines
        .iter()
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == TRACE_ID))
        })
        .count();
    assert!(
        with_trace > 0,
        "the request's lines carry its trace id:\n{}",
        &logs[..logs.len().min(3000)]
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the log holds personal data"
        );
    }
}
