//! Shared test harness: the sandbox and a hub on port 0, over real HTTP.

#![allow(dead_code)]

use std::path::PathBuf;

use c360::config::Config;
use c360::sandbox::{LatencyProfile, SandboxConfig};
use chrono::NaiveDate;
use serde_json::{json, Value};

/// Customers in the test bank: enough for paging and batching, quick to scan.
pub const CUSTOMERS: u64 = 3_000;

pub struct TestApp {
    pub hub: String,
    pub sandbox: String,
    pub client: reqwest::Client,
}

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        customers: CUSTOMERS,
        seed: 42,
        latency: LatencyProfile::None,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 27),
    }
}

/// A hub using the shipped `connectors/` files against a fresh sandbox.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Another hub against an existing sandbox (a second instance of a deployment);
/// returns its base URL.
pub async fn spawn_hub(sandbox: &str, tweak: impl FnOnce(&mut Config)) -> String {
    let mut config = Config::default();
    config.server.port = 0;
    config.connectors.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
    for system in c360::domain::System::ALL {
        config.connectors.override_mut(system).base_url = Some(format!("{sandbox}/{system}/v1"));
    }
    tweak(&mut config);
    let app = c360::App::build(config).await.expect("hub starts");
    let hub = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    hub
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.server.port = 0;
    config.connectors.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
    tweak(&mut config);
    let demo = c360::demo::start(config, sandbox_config(), 0)
        .await
        .expect("sandbox and hub start");
    let hub = format!("http://{}", demo.app.local_addr());
    let sandbox = format!("http://{}", demo.sandbox_addr);
    tokio::spawn(demo.app.run(std::future::pending()));
    TestApp {
        hub,
        sandbox,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    /// POSTs a query as `application/json` and returns the JSON answer.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.hub))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("hub answers");
        assert_eq!(response.status(), 200, "status for {query}");
        response.json().await.expect("JSON answer")
    }

    /// The same as [`TestApp::graphql`] against another hub.
    pub async fn graphql_at(&self, hub: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{hub}/graphql"))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("hub answers");
        assert_eq!(response.status(), 200, "status for {query}");
        response.json().await.expect("JSON answer")
    }

    pub async fn clear_faults(&self) {
        self.client
            .delete(format!("{}/_sandbox/faults", self.sandbox))
            .send()
            .await
            .unwrap();
    }

    /// Total upstream requests since the last reset.
    pub async fn total_requests(&self) -> u64 {
        let stats = self.stats().await;
        ["core", "cards", "loans", "channels"]
            .iter()
            .map(|s| requests(&stats, s))
            .sum()
    }

    pub async fn set_fault(&self, fault: Value) {
        let response = self
            .client
            .post(format!("{}/_sandbox/faults", self.sandbox))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "fault accepted: {}",
            response.text().await.unwrap()
        );
    }

    pub async fn reset_stats(&self) {
        self.client
            .delete(format!("{}/_sandbox/stats", self.sandbox))
            .send()
            .await
            .unwrap();
    }

    /// Requests each system received since the last reset.
    pub async fn stats(&self) -> Value {
        self.client
            .get(format!("{}/_sandbox/stats", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A raw upstream record, straight from the sandbox (unmasked), for assertions.
    pub async fn core_customer(&self, cif: &str) -> Value {
        let answer: Value = self
            .client
            .get(format!("{}/core/v1/customers/{cif}", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["body"].clone()
    }
}

/// The error entries whose `extensions.code` is `code`.
pub fn errors_with_code<'a>(answer: &'a Value, code: &str) -> Vec<&'a Value> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter(|e| e["extensions"]["code"] == code)
                .collect()
        })
        .unwrap_or_default()
}

pub fn requests(stats: &Value, system: &str) -> u64 {
    stats[system]["requests"].as_u64().unwrap_or(0)
}

pub const PROFILE_360: &str = r#"query Profile($id: ID!) {
  customer(id: $id) {
    id kind name mobile idDocument { type number } branch status
    accounts { number type balance { amount currency }
      transactions(first: 5) { edges { cursor node { id amount { amount currency } direction postedAt } } pageInfo { hasNextPage endCursor } } }
    cards { number kind creditLimit { amount } outstanding { amount } }
    loans { id product outstanding { amount } overdueDays classification }
    onlineBanking { userId lastLoginAt preferredChannel }
    sources { system fetchedAt fromCache stale error }
  }
}"#;
