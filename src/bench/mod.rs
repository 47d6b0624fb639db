//! `c360 bench`: load scenarios that drive a hub over HTTP, as clients would, and
//! report throughput and latency percentiles.
//!
//! The driver runs in its own tasks and talks HTTP to the hub (in the same process
//! for `c360 bench` without `--target`, or a hub elsewhere), so what is measured is
//! the whole request path: HTTP, GraphQL, the upstream check and the database commit.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

/// What a benchmark run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `logInteraction` with a fresh idempotency key per call, for random customers.
    LogInteraction,
}

impl Scenario {
    pub const NAMES: &'static [&'static str] = &["log-interaction"];
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "log-interaction" => Ok(Scenario::LogInteraction),
            other => Err(format!(
                "unknown scenario '{other}' (known: {})",
                Scenario::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::LogInteraction => "log-interaction",
        })
    }
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub scenario: Scenario,
    /// Base URL of the hub, e.g. `http://127.0.0.1:4000`.
    pub target: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub duration: Duration,
    /// Customers 1..=N (CIF `1000000000 + i`) are picked at random.
    pub customers: u64,
}

/// What a run measured. Latencies are of successful and failed requests alike.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenario: String,
    pub concurrency: usize,
    pub duration_secs: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} requests in {:.1}s with concurrency {} ({} errors)\n  {:.0} req/s   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            self.scenario,
            self.requests,
            self.duration_secs,
            self.concurrency,
            self.errors,
            self.requests_per_sec,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        )
    }
}

const LOG_INTERACTION: &str = "mutation Log($input: LogInteractionInput!, $key: String) {
  logInteraction(input: $input, idempotencyKey: $key) { id }
}";

/// Runs `plan` and reports. Each of `concurrency` workers sends one request after
/// another until the duration is over.
pub async fn run(plan: &BenchPlan) -> BenchReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .build()
        .expect("an HTTP client");
    let url = format!("{}/graphql", plan.target.trim_end_matches('/'));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let workers: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            let plan = plan.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let body = request(&plan);
                    let sent = Instant::now();
                    let ok = match client.post(&url).json(&body).send().await {
                        Ok(response) if response.status().is_success() => response
                            .json::<Value>()
                            .await
                            .map(|answer| answer.get("errors").is_none())
                            .unwrap_or(false),
                        _ => false,
                    };
                    latencies.push(sent.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((l, e)) = worker.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        ms(latencies[rank.clamp(1, latencies.len()) - 1])
    };
    BenchReport {
        scenario: plan.scenario.to_string(),
        concurrency: plan.concurrency,
        duration_secs: elapsed,
        requests: latencies.len() as u64,
        errors,
        requests_per_sec: latencies.len() as f64 / elapsed.max(f64::EPSILON),
        p50_ms: percentile(50.0),
        p90_ms: percentile(90.0),
        p99_ms: percentile(99.0),
        max_ms: latencies.last().copied().map(ms).unwrap_or(0.0),
    }
}

/// One request of the scenario.
fn request(plan: &BenchPlan) -> Value {
    match plan.scenario {
        Scenario::LogInteraction => {
            let customer = 1_000_000_000 + fastrand::u64(1..=plan.customers.max(1));
            json!({
                "query": LOG_INTERACTION,
                "variables": {
                    "key": uuid::Uuid::now_v7().to_string(),
                    "input": {
                        "customerId": customer.to_string(),
                        "channel": "CALL_CENTER",
                        "type": "SERVICE",
                        "direction": "INBOUND",
                        "staffId": format!("S{:04}", fastrand::u32(1..200)),
                        "branchId": format!("B{:03}", fastrand::u32(1..20)),
                        "subject": "Balance enquiry",
                        "notes": "Customer asked about the balance of the current account.",
                        "outcome": "RESOLVED",
                        "satisfaction": fastrand::i32(1..=5),
                    }
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_by_name() {
        assert_eq!(
            "log-interaction".parse::<Scenario>().unwrap(),
            Scenario::LogInteraction
        );
        assert!("everything".parse::<Scenario>().is_err());
    }
}
