//! No panics on hostile input: property tests that throw arbitrary and deliberately
//! hostile requests at the hub's HTTP endpoint (GET parameters, POST bodies, variables,
//! extensions, persisted-query hashes, documents nested or aliased past every limit),
//! and malformed upstream bodies at every connector mapping.
//!
//! The answer to a bad request must be one a client can act on: a 4xx or a GraphQL
//! error, each with a message and a code, never a 500 and never a dropped connection.
//! A malformed upstream body must be a `MapError` or a `ConnectorError`, never a panic.
//!
//! CI runs a few dozen cases per property (a few seconds); for a longer run by hand:
//! `PROPTEST_CASES=100000 cargo test --test api fuzz`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Map, Value};

use crate::common::TestApp;
use c360::config::ConnectorsConfig;
use c360::connectors::RestConnector;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CI_CASES: u32 = 48;

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CI_CASES);
    TestRunner::new(ProptestConfig {
        cases,
        // Failures are kept as named regression tests below, not as files.
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// Text an attacker would try: anything at all, numbers too long for any integer,
/// hashes of the wrong length, GraphQL punctuation, control characters.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,40}",
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?(e[+-]?[0-9]{1,4})?",
        "[0-9a-fA-F]{0,80}",
        "[{}()\\[\\]$@!:.,=|&\"\\\\#a-zA-Z_ \n\t]{0,80}",
        Just("1000000001".to_owned()),
        Just("\u{0}\u{feff}\u{202e}".to_owned()),
        Just("%00%ZZ%".to_owned()),
    ]
}

/// JSON of any shape, with object keys from `keys` or anywhere.
fn json_with(keys: Vec<String>) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        hostile_text().prop_map(Value::from),
    ];
    let key = if keys.is_empty() {
        hostile_text().boxed()
    } else {
        prop_oneof![3 => prop::sample::select(keys), 1 => hostile_text()].boxed()
    };
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Documents, real and hostile: deep nesting, alias floods, fragment cycles,
/// operations the transport does not allow, and real queries cut or garbled.
fn documents() -> impl Strategy<Value = String> {
    let real = prop::sample::select(vec![
        "{ __typename }",
        "query($id: ID!) { customer(id: $id) { id name mobile accounts { number balance { amount } } } }",
        "query($ids: [ID!]!) { customers(ids: $ids) { id name } }",
        "query($n: Int, $a: String) { searchCustomers(name: \"刘\", first: $n, after: $a) { edges { node { id } } } }",
        "mutation { __typename }",
        "subscription { interactionLogged { id } }",
        "{ __schema { types { name } } }",
    ]);
    prop_oneof![
        1 => hostile_text(),
        3 => real.clone().prop_map(str::to_owned),
        1 => (real, any::<prop::sample::Index>(), hostile_text()).prop_map(|(doc, at, junk)| {
            let cut = at.index(doc.len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|i| doc.is_char_boundary(*i))
                .unwrap_or(0);
            format!("{}{junk}", &doc[..cut])
        }),
        1 => (1usize..40_000).prop_map(|n| format!("{}{}", "{ a ".repeat(n), "}".repeat(n))),
        1 => (1usize..20_000).prop_map(|n| format!("{{ f(x: {}1{}) }}", "[".repeat(n), "]".repeat(n))),
        1 => (1usize..3_000).prop_map(|n| {
            let aliases: Vec<String> = (0..n).map(|i| format!("a{i}: __typename")).collect();
            format!("{{ {} }}", aliases.join(" "))
        }),
        1 => Just("fragment A on Query { ...B } fragment B on Query { ...A } { ...A }".to_owned()),
        1 => Just("fragment A on Query { a: __typename ...A } { ...A }".to_owned()),
        1 => Just("query A { __typename } query A { __typename }".to_owned()),
    ]
}

/// The `extensions` of a request: anything, or an automatic persisted query whose
/// hash and version are wrong in every way.
fn extensions() -> impl Strategy<Value = Value> {
    let hash = prop_oneof![
        "[0-9a-f]{64}".prop_map(Value::from),
        hostile_text().prop_map(Value::from),
        json_with(Vec::new()),
    ];
    prop_oneof![
        json_with(vec!["persistedQuery".into()]),
        (json_with(Vec::new()), hash).prop_map(|(version, hash)| {
            json!({"persistedQuery": {"version": version, "sha256Hash": hash}})
        }),
        "[0-9a-f]{64}"
            .prop_map(|hash| json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})),
    ]
}

/// One request: its method, URL query, headers and body.
#[derive(Clone)]
struct Hostile {
    post: bool,
    params: Vec<(String, String)>,
    accept: String,
    content_type: String,
    body: Vec<u8>,
}

/// Short enough to read in a failure: every part cut to its first 300 characters.
impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn cut(text: &str) -> String {
            match text.char_indices().nth(300) {
                Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
                None => text.to_owned(),
            }
        }
        let params: Vec<(String, String)> =
            self.params.iter().map(|(k, v)| (cut(k), cut(v))).collect();
        f.debug_struct("Hostile")
            .field("post", &self.post)
            .field("params", &params)
            .field("accept", &cut(&self.accept))
            .field("content_type", &cut(&self.content_type))
            .field("body", &cut(&String::from_utf8_lossy(&self.body)))
            .finish()
    }
}

fn param_names() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["query", "variables", "operationName", "extensions"])
            .prop_map(str::to_owned),
        1 => hostile_text(),
    ]
}

fn param_values() -> impl Strategy<Value = String> {
    prop_oneof![
        documents(),
        hostile_text(),
        json_with(vec!["id".into(), "ids".into(), "n".into()]).prop_map(|v| v.to_string()),
        extensions().prop_map(|v| v.to_string()),
    ]
}

fn headers() -> impl Strategy<Value = (String, String)> {
    // Mostly what clients send, so that most cases get past content negotiation.
    let accept = prop_oneof![
        6 => Just("application/json".to_owned()),
        3 => Just("application/graphql-response+json".to_owned()),
        1 => Just("*/*".to_owned()),
        1 => Just("text/html".to_owned()),
        1 => "[ -~]{0,40}",
    ];
    let content_type = prop_oneof![
        8 => Just("application/json".to_owned()),
        1 => Just("application/json; charset=utf-16".to_owned()),
        1 => Just("text/plain".to_owned()),
        1 => "[ -~]{0,40}",
    ];
    (accept, content_type)
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let variables = json_with(vec!["id".into(), "ids".into(), "n".into(), "a".into()]);
    let structured = (
        prop_oneof![documents().prop_map(Value::from), json_with(Vec::new())],
        prop::option::of(variables),
        prop::option::of(prop_oneof![
            hostile_text().prop_map(Value::from),
            json_with(Vec::new())
        ]),
        prop::option::of(extensions()),
    )
        .prop_map(|(query, variables, operation, extensions)| {
            let mut body = Map::new();
            body.insert("query".into(), query);
            for (name, value) in [
                ("variables", variables),
                ("operationName", operation),
                ("extensions", extensions),
            ] {
                if let Some(value) = value {
                    body.insert(name.into(), value);
                }
            }
            serde_json::to_vec(&Value::Object(body)).unwrap()
        })
        .boxed();
    prop_oneof![
        4 => structured.clone(),
        1 => prop::collection::vec(structured, 0..4).prop_map(|bodies| {
            let items: Vec<String> = bodies.into_iter().map(|b| String::from_utf8(b).unwrap()).collect();
            format!("[{}]", items.join(",")).into_bytes()
        }),
        1 => json_with(vec!["query".into(), "variables".into(), "extensions".into()])
            .prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (1usize..100_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
    ]
}

fn requests() -> impl Strategy<Value = Hostile> {
    (
        any::<bool>(),
        prop::collection::vec((param_names(), param_values()), 0..5),
        headers(),
        bodies(),
    )
        .prop_map(|(post, params, (accept, content_type), body)| Hostile {
            post,
            params,
            accept,
            content_type,
            body,
        })
}

/// A status and body a client can act on: never a 500; an error status (and any
/// GraphQL error) carries a message and a code; success is GraphQL JSON or GraphiQL.
fn assert_clear(request: &Hostile, status: u16, content_type: &str, body: &[u8]) {
    assert_ne!(
        status,
        500,
        "500 for {request:?}: {}",
        String::from_utf8_lossy(&body[..body.len().min(600)])
    );
    if status == 200 && content_type.starts_with("text/html") {
        return;
    }
    let answer: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status} with a body that is not JSON ({e}) for {request:?}: {}",
            String::from_utf8_lossy(&body[..body.len().min(600)])
        )
    });
    let answers = match &answer {
        Value::Array(items) => items.clone(),
        _ => vec![answer.clone()],
    };
    for answer in &answers {
        let errors = answer["errors"].as_array();
        if status >= 400 {
            assert!(
                errors.is_some_and(|e| !e.is_empty()),
                "{status} without errors for {request:?}: {answer}"
            );
        } else {
            assert!(
                answer.get("data").is_some() || errors.is_some(),
                "{status} that is not a GraphQL response for {request:?}: {answer}"
            );
        }
        for error in errors.into_iter().flatten() {
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "an error without a message for {request:?}: {answer}"
            );
            if status >= 400 {
                assert!(
                    error["extensions"]["code"].is_string(),
                    "an error without a code for {request:?}: {answer}"
                );
            }
        }
    }
}

/// The hub's answer, or None for a request no HTTP client can send (a URL past the
/// 64 KiB the `http` crate allows, a header value with control characters).
async fn send(app: &TestApp, request: &Hostile) -> Option<(u16, String, Vec<u8>)> {
    let url = format!("{}/graphql", app.hub);
    let builder = if request.post {
        app.client.post(&url).body(request.body.clone())
    } else {
        app.client.get(&url)
    };
    let response = match builder
        .query(&request.params)
        .header("accept", &request.accept)
        .header("content-type", &request.content_type)
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) if error.is_builder() => return None,
        Err(error) => {
            let error: String = error.to_string().chars().take(300).collect();
            panic!("no answer to {request:?}: {error}")
        }
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    Some((status, content_type, body))
}

#[test]
fn fuzz_graphql_over_http_answers_every_hostile_request_clearly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::builder().spawn());
    let mut runner = runner();
    let outcome = runner.run(&requests(), |request| {
        if let Some((status, content_type, body)) = runtime.block_on(send(&app, &request)) {
            assert_clear(&request, status, &content_type, &body);
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let alive = runtime
        .block_on(send(
            &app,
            &Hostile {
                post: true,
                params: Vec::new(),
                accept: "application/json".into(),
                content_type: "application/json".into(),
                body: br#"{"query":"{ __typename }"}"#.to_vec(),
            },
        ))
        .expect("a request a client can send");
    assert_eq!(alive.0, 200, "the hub still answers after the fuzz");
}

/// The fuzz's first find: a list value 5,000 levels deep (a 10 KB document) overflowed
/// the stack of the worker parsing it and aborted the hub. Both transports now refuse
/// it before it is parsed, and the hub goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_regression_a_value_nested_thousands_deep_is_refused_on_both_transports() {
    let app = TestApp::builder().spawn().await;
    let deep = format!(
        "{{ customer(id: {}\"1000000001\"{}) {{ id }} }}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let answer: Value = app
        .client
        .post(format!("{}/graphql", app.hub))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": deep }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nests")),
        "{answer}"
    );

    let mut socket = crate::common::ws_subscribe(&app.ws_url(), &deep, json!({})).await;
    let refused = crate::common::ws_next(&mut socket, std::time::Duration::from_secs(5))
        .await
        .expect("an answer over the socket");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"]
            .as_str()
            .or(refused["payload"]["errors"][0]["extensions"]["code"].as_str()),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{refused}"
    );

    let alive = app
        .client
        .post(format!("{}/graphql", app.hub))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);
}

/// The shipped connector specs, and every key their JSON pointers read: malformed
/// bodies built from those keys reach the conversions, not just the first lookup.
fn shipped_specs() -> (Vec<c360::connectors::CompiledSpec>, Vec<String>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
    let config = ConnectorsConfig {
        dir: dir.clone(),
        ..ConnectorsConfig::default()
    };
    let specs = c360::connectors::load(&config, &|_| None).expect("shipped specs load");
    let mut keys = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for quoted in text.split('"').skip(1).step_by(2) {
            if let Some(pointer) = quoted.strip_prefix('/') {
                keys.extend(
                    pointer
                        .split('/')
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    (specs, keys.into_iter().collect())
}

#[test]
fn fuzz_connector_mapping_turns_malformed_upstream_bodies_into_errors() {
    let (specs, keys) = shipped_specs();
    assert!(keys.len() > 20, "pointers found in the specs: {keys:?}");
    let connectors: Vec<(RestConnector, Vec<String>)> = specs
        .iter()
        .map(|spec| {
            let endpoints = spec.endpoints.keys().cloned().collect();
            (
                RestConnector::new(spec.clone(), Arc::default()).expect("a connector"),
                endpoints,
            )
        })
        .collect();
    let item = json_with(keys.clone());
    let items = prop_oneof![
        3 => prop::collection::btree_map(prop::sample::select(keys.clone()), json_with(keys.clone()), 0..16)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => item,
    ];
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        items.clone().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (
            prop::sample::select(keys.clone()),
            prop::collection::vec(items.clone(), 0..4)
        )
            .prop_map(|(envelope, items)| serde_json::to_vec(&json!({ envelope: items })).unwrap()),
        prop::collection::vec(items.clone(), 0..4).prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ];
    let batch_keys = prop::collection::vec(hostile_text(), 0..4);
    let mut runner = runner();
    let outcome = runner.run(&(items, bodies, batch_keys), |(item, body, batch_keys)| {
        for spec in &specs {
            for endpoint in spec.endpoints.values() {
                if let Err(error) = endpoint.mapping.apply(&item) {
                    assert!(!error.to_string().is_empty(), "{}: {item}", endpoint.name);
                }
            }
        }
        for (connector, endpoints) in &connectors {
            for endpoint in endpoints {
                if let Err(error) = connector.read_batch_answer(endpoint, &batch_keys, &body) {
                    assert!(!error.to_string().is_empty(), "{endpoint}");
                }
            }
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Cases the fuzz is known to reach, run on every `cargo test` whatever the seed.
#[test]
fn fuzz_regressions_of_connector_mapping() {
    let (specs, _) = shipped_specs();
    let hostile: BTreeMap<&str, Value> = BTreeMap::from([
        ("empty object", json!({})),
        ("not an object", json!([1, "two", null])),
        (
            "huge number",
            json!({"CUST_NO": 1e308, "AVG_BAL": "9".repeat(400)}),
        ),
        (
            "nested wrong types",
            json!({"MBR_LIST": "x", "MON_AVG_BAL_LIST": [[], {}, 7]}),
        ),
    ]);
    for spec in &specs {
        for endpoint in spec.endpoints.values() {
            for (name, item) in &hostile {
                if let Err(error) = endpoint.mapping.apply(item) {
                    assert!(!error.to_string().is_empty(), "{name}: {}", endpoint.name);
                }
            }
        }
    }
}
