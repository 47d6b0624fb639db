//! Protecting the upstreams: a circuit breaker that stops calling a failing system
//! and closes again when it recovers, and a rate limit that a traffic spike at the hub
//! cannot push through. Each test runs the hub on a copy of the shipped connector
//! files with its own `[resilience]` settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

/// A copy of `connectors/` with `resilience` appended to `system`'s file.
fn connectors_with(system: &str, resilience: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_stem().is_some_and(|s| s == system) {
            // Keys placed first in the table win over the file's own only if the file
            // has none of them; the shipped files set none.
            if text.contains("\n[resilience]\n") {
                text = text.replacen(
                    "\n[resilience]\n",
                    &format!("\n[resilience]\n{resilience}"),
                    1,
                );
            } else {
                text.push_str("\n[resilience]\n");
                text.push_str(resilience);
            }
        }
        std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
    }
    dir
}

async fn ready(app: &TestApp) -> Value {
    app.client
        .get(format!("{}/readyz", app.hub))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const CARDS: &str = "query($id: ID!) { customer(id: $id) { id cards { number } } }";

#[tokio::test]
async fn a_failing_system_is_cut_off_then_probed_and_trusted_again() {
    let connectors = connectors_with(
        "cards",
        "min_calls = 4\nfailure_ratio = 0.5\nwindow = \"10s\"\nopen_for = \"1s\"\nprobes = 1\n",
    );
    let dir: PathBuf = connectors.path().to_owned();
    let app = TestApp::builder()
        .config(move |config| {
            config.connectors.dir = dir;
            config.cache.enabled = false;
            config.cache.response_enabled = false;
        })
        .spawn()
        .await;
    app.set_fault(json!({"system": "cards", "status": 503, "error_rate": 1.0}))
        .await;
    for i in 1..=4 {
        let answer = app
            .graphql(CARDS, json!({"id": format!("{}", 1_000_000_000 + i)}))
            .await;
        assert_eq!(
            answer["data"]["customer"]["id"].as_str().map(|s| s.len()),
            Some(10)
        );
        assert!(answer["data"]["customer"]["cards"].is_null());
    }
    let readiness = ready(&app).await;
    assert_eq!(
        readiness["checks"]["connectors"]["circuits"]["cards"], "open",
        "{readiness}"
    );
    assert_eq!(
        readiness["checks"]["connectors"]["circuits"]["core"],
        "closed"
    );
    assert_eq!(
        readiness["status"], "ready",
        "an open circuit costs fields, not readiness"
    );

    // While open, the card system is not called at all and the answer says why.
    app.reset_stats().await;
    for i in 5..=14 {
        let answer = app
            .graphql(CARDS, json!({"id": format!("{}", 1_000_000_000 + i)}))
            .await;
        let errors = errors_with_code(&answer, "UPSTREAM_UNAVAILABLE");
        assert_eq!(errors.len(), 1, "{answer}");
        assert_eq!(errors[0]["extensions"]["source"], "cards");
    }
    assert_eq!(
        requests(&app.stats().await, "cards"),
        0,
        "no call while open"
    );

    // The system recovers; after `open_for` a probe goes through and closes it.
    app.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = app.graphql(CARDS, json!({"id": "1000000001"})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert!(answer["data"]["customer"]["cards"].is_array());
    assert_eq!(
        ready(&app).await["checks"]["connectors"]["circuits"]["cards"],
        "closed"
    );
}

#[tokio::test]
async fn a_spike_at_the_hub_never_exceeds_the_rate_core_may_receive() {
    let connectors = connectors_with("core", "rate_per_second = 10\nmax_wait = \"300ms\"\n");
    let dir: PathBuf = connectors.path().to_owned();
    let app = TestApp::builder()
        .config(move |config| {
            config.connectors.dir = dir;
            config.cache.enabled = false;
            config.cache.response_enabled = false;
        })
        .spawn()
        .await;
    app.reset_stats().await;
    let started = Instant::now();
    let answers = futures::future::join_all((1..=60).map(|i| {
        app.graphql(
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({"id": format!("{}", 1_000_000_000 + i)}),
        )
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let core = requests(&app.stats().await, "core") as f64;
    // A burst of 10, then 10 per second.
    assert!(
        core <= 10.0 + 10.0 * elapsed + 1.0,
        "{core} core calls in {elapsed:.2} s"
    );
    let served = answers
        .iter()
        .filter(|a| a["data"]["customer"]["id"].is_string())
        .count();
    let refused = answers
        .iter()
        .filter(|a| !errors_with_code(a, "UPSTREAM_UNAVAILABLE").is_empty())
        .count();
    assert!(served >= 10, "{served} served");
    assert_eq!(
        served + refused,
        60,
        "each request answered or refused fast"
    );
}
