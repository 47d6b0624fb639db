//! Traces and log lines of a running `c360` process, seen from outside: spans exported
//! over OTLP/HTTP (JSON) to a collector this test runs, joined to the caller's trace
//! and to what the upstreams received; log lines as JSON in production and readable in
//! the demo, each request's carrying its trace id; no personal data in either.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::routing::post;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const SYSTEMS: [&str; 4] = ["core", "cards", "loans", "channels"];
const PROFILE: &str = "query Profile($id: ID!) { customer(id: $id) { name mobile idDocument { number } accounts { number } cards { number } loans { id } onlineBanking { userId } } }";
/// Longest the test waits for the exporter's batches (it is told to send every 100 ms).
const EXPORT_WAIT: Duration = Duration::from_secs(15);

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// A `c360` child process; its stdout up to the banner's end is read, the rest of
/// stdout and all of stderr are collected until it exits.
struct Process {
    child: Child,
    banner: String,
    output: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn start(args: &[&str], env: &[(&str, String)], banner_ends: impl Fn(&str) -> bool) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_c360"));
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("C360_PROFILE")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("c360 starts");
        let (tx, output) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let tx_err = tx.clone();
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut all);
            let _ = tx_err.send(all);
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            banner.push_str(&line);
            if banner_ends(line.trim()) {
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stdout.read_to_string(&mut all);
            let _ = tx.send(all);
        });
        Process {
            child,
            banner,
            output,
        }
    }

    /// The first URL on the banner line starting with `label`, up to `cut`.
    fn url(&self, label: &str, cut: &str) -> String {
        let line = self
            .banner
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in the banner:\n{}", self.banner));
        let url = line[label.len()..].split_whitespace().next().unwrap();
        url.split(cut).next().unwrap().to_owned()
    }

    /// Stops the process (SIGTERM, for a graceful shutdown that flushes spans) and
    /// returns its stderr.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut all = String::new();
        for _ in 0..2 {
            all.push_str(
                &self
                    .output
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap_or_default(),
            );
        }
        all
    }
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

/// Every span received, flattened out of resource and scope.
fn spans(received: &[Value]) -> Vec<Value> {
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
    let demo = Process::start(
        &[
            "demo",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--customers",
            "50",
            "--latency",
            "none",
            "--data-dir",
            data_dir,
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("RUST_LOG", "info,c360=debug".into()),
        ],
        |line| line.starts_with("-d "),
    );
    let hub = demo.url("GraphQL:", "/graphql");
    let sandbox = demo.url("Sandbox:", "/{");
    let admin = demo
        .banner
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("admin "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(|| panic!("an admin token in the banner:\n{}", demo.banner));
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
        let spans = spans(&received.lock().unwrap());
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
    let sandbox = Process::start(
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
    let hub = Process::start(&["serve", "--port", "0"], &env, |line| {
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
