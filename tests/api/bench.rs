//! `c360 bench`'s reference server and its hub-alone placement: the reference answers
//! the profile360 query in the hub's shape, and the bench reports the comparison.
//! Throughput is measured by the bench itself, never asserted here.

use std::collections::BTreeSet;
use std::process::Command;

use c360::sandbox::bank::Bank;
use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::common::{token_for, TestApp, CUSTOMERS};

/// Every key path of `value` (`customer.accounts[].balance.amount`), whatever the
/// values under them; array elements share one path.
fn key_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                let path = format!("{prefix}.{key}");
                paths.insert(path.clone());
                key_paths(inner, &path, paths);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), paths);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_answers_profile360_with_the_same_keys_as_the_hub() {
    let app = TestApp::builder().spawn().await;
    let bank = Bank::new(
        CUSTOMERS,
        42,
        NaiveDate::from_ymd_opt(2026, 11, 27).expect("a valid date"),
    );
    let pool = 30;
    let schema = c360::demo::reference::schema(&bank, pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let reference = format!("http://{}/graphql", listener.local_addr().expect("bound"));
    tokio::spawn(c360::demo::reference::serve(
        listener,
        schema,
        std::future::pending(),
    ));
    let teller = token_for("teller", None, None, None);
    let client = reqwest::Client::new();
    for index in 1..=pool {
        let variables = json!({"id": (1_000_000_000 + index).to_string()});
        let (status, hub) = app
            .graphql_as(&teller, c360::bench::PROFILE_360, variables.clone(), &[])
            .await;
        assert_eq!(status, 200, "hub status for customer {index}");
        assert!(hub.get("errors").is_none(), "hub errors: {hub}");
        let answer: Value = client
            .post(&reference)
            .json(&json!({"query": c360::bench::PROFILE_360, "variables": variables}))
            .send()
            .await
            .expect("the reference answers")
            .json()
            .await
            .expect("JSON answer");
        assert!(answer.get("errors").is_none(), "reference errors: {answer}");
        let (mut expected, mut actual) = (BTreeSet::new(), BTreeSet::new());
        key_paths(&hub, "", &mut expected);
        key_paths(&answer, "", &mut actual);
        assert_eq!(actual, expected, "key paths for customer {index}");
    }
}

#[test]
fn bench_with_reference_and_sandbox_process_reports_the_comparison_and_hub_memory() {
    let output = Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["bench", "--scenario", "profile360", "--mode", "warm-l1"])
        .args(["--reference", "--sandbox-process", "--json"])
        .args([
            "--duration",
            "1s",
            "--concurrency",
            "2",
            "--customers",
            "20",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("c360 runs");
    assert!(
        output.status.success(),
        "c360 bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert!(report["requests"].as_u64().expect("requests") > 0);
    assert_eq!(report["errors"], 0, "{report}");
    let reference = report["reference_requests_per_sec"]
        .as_f64()
        .expect("reference_requests_per_sec is a number");
    let ratio = report["ratio_to_reference"]
        .as_f64()
        .expect("ratio_to_reference is a number");
    let hub = report["requests_per_sec"]
        .as_f64()
        .expect("requests_per_sec");
    assert!((ratio - hub / reference).abs() < 1e-9, "{report}");
    let reference_cpu = report["reference_cpu_us_per_request"]
        .as_f64()
        .expect("the reference is a child process: its CPU is measured");
    assert!(reference_cpu > 0.0, "{report}");
    assert!(
        report["hub_peak_rss_mb"].as_f64().is_some(),
        "the hub is a child process: {report}"
    );
    assert!(
        report["upstream_calls_per_request"].as_f64().is_some(),
        "upstream calls are counted at the sandbox process: {report}"
    );
}

#[test]
fn bench_refuses_a_reference_for_a_scenario_it_cannot_answer() {
    let output = Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["bench", "--scenario", "batch100", "--reference"])
        .args(["--duration", "1s", "--concurrency", "1", "--customers", "5"])
        .output()
        .expect("c360 runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("profile360"), "{said}");
}
