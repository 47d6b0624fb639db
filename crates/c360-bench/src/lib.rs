//! `c360 bench`: load scenarios that drive a hub over HTTP, as clients would, and
//! report throughput and latency percentiles.
//!
//! The driver runs in its own tasks and talks HTTP to the hub (in the same process
//! for `c360 bench` without `--target`, or a hub elsewhere), so what is measured is
//! the whole request path: HTTP, GraphQL, the cache tiers, the upstreams and the
//! database commit. Modes choose which cache tiers are on, and warm modes read every
//! customer of the pool once before measuring.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

mod client;
mod cpu;
mod hub;

pub use hub::{
    HubProcess, HubProcessError, HubSettings, ReferenceProcess, SandboxPlacement, REFERENCE_BANNER,
};

/// What a benchmark run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `logInteraction` with a fresh idempotency key per call, for random customers.
    LogInteraction,
    /// The customer-360 profile (all four systems, no transactions) of random
    /// customers of the pool.
    Profile360,
    /// `customers(ids:)` with 100 random ids and all four systems: a BI page.
    Batch100,
    /// `searchCustomers` by a surname, first 20, with the core profile.
    Search,
    /// `segmentSummary` by tier and branch over the whole book: what a BI dashboard
    /// asks. Meant for a hub whose BI snapshot has been built (`--target`).
    Segments,
    /// A `customerBook` page of 20 from a random customer of the pool on (keyset
    /// paging deep into the book). Meant for a hub whose BI snapshot has been built.
    BookPage,
}

impl Scenario {
    pub const NAMES: &'static [&'static str] = &[
        "log-interaction",
        "profile360",
        "batch100",
        "search",
        "segments",
        "book-page",
    ];

    /// Whether the scenario reads the book, which a BI role does (a teller may not).
    pub fn reads_book(self) -> bool {
        matches!(self, Scenario::Segments | Scenario::BookPage)
    }
}

/// Which cache tiers are on, and whether the pool is read once before measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every tier on, as shipped, and nothing read before measuring: a customer's
    /// first read pays for the upstream calls and for filling the tiers. With
    /// `--unique` no customer is asked twice, so every request stays a first read
    /// whatever the rate.
    Cold,
    /// No cache at all: every request reads the upstreams (what `cold` meant before
    /// the tiers were kept on for it).
    Uncached,
    /// Every tier: responses, in-process entities, Redis when configured.
    Warm,
    /// Entity tiers only (no response tier): every request is executed.
    WarmL1,
    /// Redis only (no response tier, no in-process entities).
    WarmRedis,
}

impl Mode {
    pub const NAMES: &'static [&'static str] =
        &["cold", "uncached", "warm", "warm-l1", "warm-redis"];

    fn warm(self) -> bool {
        !matches!(self, Mode::Cold | Mode::Uncached)
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cold" => Ok(Mode::Cold),
            "uncached" => Ok(Mode::Uncached),
            "warm" => Ok(Mode::Warm),
            "warm-l1" => Ok(Mode::WarmL1),
            "warm-redis" => Ok(Mode::WarmRedis),
            other => Err(format!(
                "unknown mode '{other}' (known: {})",
                Mode::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Cold => "cold",
            Mode::Uncached => "uncached",
            Mode::Warm => "warm",
            Mode::WarmL1 => "warm-l1",
            Mode::WarmRedis => "warm-redis",
        })
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "log-interaction" => Ok(Scenario::LogInteraction),
            "profile360" => Ok(Scenario::Profile360),
            "batch100" => Ok(Scenario::Batch100),
            "search" => Ok(Scenario::Search),
            "segments" => Ok(Scenario::Segments),
            "book-page" => Ok(Scenario::BookPage),
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
            Scenario::Profile360 => "profile360",
            Scenario::Batch100 => "batch100",
            Scenario::Search => "search",
            Scenario::Segments => "segments",
            Scenario::BookPage => "book-page",
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
    pub mode: Mode,
    /// The sandbox the hub reads, when known: upstream calls are counted there.
    pub sandbox: Option<String>,
    /// Bearer token sent with every request.
    pub token: Option<String>,
    /// No customer is asked for twice in the run: the pool is dealt out in a shuffled
    /// order and the run ends early if it runs out.
    pub unique: bool,
    /// The hub's process, when it runs alone in one: its CPU time is measured.
    pub hub_pid: Option<u32>,
    /// The sandbox's process, when it runs in one of its own.
    pub sandbox_pid: Option<u32>,
}

/// What a run measured. Latencies are of successful and failed requests alike.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenario: String,
    pub mode: String,
    pub concurrency: usize,
    pub duration_secs: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Upstream calls per measured request (`null` when the sandbox is not known).
    pub upstream_calls_per_request: Option<f64>,
    /// Peak resident memory of the hub process (`null` when it is not a child of
    /// this run, or not on Linux).
    pub hub_peak_rss_mb: Option<f64>,
    /// CPU time of the hub process (user + system, all threads) during the measured
    /// part of the run, per request; `null` unless the hub runs alone in a process
    /// started by this run (`--sandbox-process`).
    pub hub_cpu_us_per_request: Option<f64>,
    /// The same for the sandbox, with `--sandbox-process`.
    pub sandbox_cpu_us_per_request: Option<f64>,
    /// Whether each customer was asked for at most once (`--unique`).
    pub unique: bool,
    /// With `--unique`: the pool ran out before the duration was over, and the run
    /// stopped there.
    pub pool_exhausted: bool,
    /// Requests per second of the bare reference server (`--reference`) under the
    /// same load, run after the hub; `null` without it.
    pub reference_requests_per_sec: Option<f64>,
    /// `requests_per_sec / reference_requests_per_sec`; `null` without `--reference`.
    pub ratio_to_reference: Option<f64>,
    /// CPU time of the reference server's process per request, as
    /// `hub_cpu_us_per_request` is for the hub: req/s moves with the machine's load,
    /// while the CPU both spend on the same request is a yardstick that travels
    /// between machines. `null` without `--reference`.
    pub reference_cpu_us_per_request: Option<f64>,
    /// What one customer's profile weighs in the hub's in-process entity tier at the
    /// end of the run (see [`L1Figures`]); `null` for scenarios that read other
    /// entities, without the hub's `/metrics`, or with the tier off or empty.
    pub l1_bytes_per_profile: Option<f64>,
    /// Entries the in-process entity tier evicted for lack of room from before the
    /// warm-up to the end of the run; `null` without the hub's `/metrics`.
    pub l1_evictions_size: Option<u64>,
}

impl BenchReport {
    /// Records the reference server's run of the same load.
    pub fn compare_with(&mut self, reference: &BenchReport) {
        self.reference_requests_per_sec = Some(reference.requests_per_sec);
        self.ratio_to_reference = (reference.requests_per_sec > 0.0)
            .then(|| self.requests_per_sec / reference.requests_per_sec);
        self.reference_cpu_us_per_request = reference.hub_cpu_us_per_request;
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} requests in {:.1}s with concurrency {} ({} errors)\n  {:.0} req/s   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   upstream calls/request {}   hub peak RSS {}",
            self.scenario,
            self.mode,
            self.requests,
            self.duration_secs,
            self.concurrency,
            self.errors,
            self.requests_per_sec,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.upstream_calls_per_request
                .map(|c| format!("{c:.3}"))
                .unwrap_or_else(|| "unknown".into()),
            self.hub_peak_rss_mb
                .map(|m| format!("{m:.0} MB"))
                .unwrap_or_else(|| "unknown".into())
        )?;
        let us = |v: Option<f64>| v.map_or_else(|| "unknown".into(), |v| format!("{v:.0} µs"));
        write!(
            f,
            "\n  CPU per request: hub {}   sandbox {}{}",
            us(self.hub_cpu_us_per_request),
            us(self.sandbox_cpu_us_per_request),
            match (self.unique, self.pool_exhausted) {
                (true, true) => "   (unique customers; the pool ran out: stopped early)",
                (true, false) => "   (unique customers)",
                _ => "",
            }
        )?;
        if let Some(bytes) = self.l1_bytes_per_profile {
            write!(
                f,
                "\n  in-process entity tier: {bytes:.0} bytes per profile"
            )?;
        }
        if let Some(evicted) = self.l1_evictions_size {
            write!(
                f,
                "\n  in-process entity tier: {evicted} evictions for lack of room"
            )?;
        }
        if let (Some(reference), Some(ratio)) =
            (self.reference_requests_per_sec, self.ratio_to_reference)
        {
            write!(
                f,
                "\n  reference (bare async-graphql, same load): {reference:.0} req/s   hub/reference {:.0}%   reference CPU/request {}",
                ratio * 100.0,
                us(self.reference_cpu_us_per_request)
            )?;
        }
        Ok(())
    }
}

/// The profile a front-office screen opens with: every system, no transactions.
/// Public so that the reference server and the criterion benchmarks answer the very
/// query this scenario sends.
pub const PROFILE_360: &str = "query Profile($id: ID!) { customer(id: $id) { id kind name mobile idDocument { type number } status branch
  accounts { number type balance { amount currency } availableBalance { amount } status }
  cards { number kind status creditLimit { amount } outstanding { amount } }
  loans { id product outstanding { amount } overdueDays classification }
  onlineBanking { userId status lastLoginAt preferredChannel }
  sources { system fromCache stale error } } }";

/// A BI page: a hundred customers with something from every system.
const BATCH_100: &str = "query Batch($ids: [ID!]!) { customers(ids: $ids) { id kind status branch
  accounts { type balance { amount currency } } cards { kind outstanding { amount } }
  loans { outstanding { amount } classification } onlineBanking { status } } }";

/// A teller's lookup by surname.
const SEARCH: &str = "query Search($name: String!) { searchCustomers(name: $name, first: 20) {
  edges { node { id name mobile branch status } } pageInfo { hasNextPage } } }";

/// A BI dashboard's question: customers, AUM and deposits by tier and branch.
const SEGMENTS: &str = "{ segmentSummary(groupBy: [TIER, BRANCH]) { key count aum { amount }
  deposits { amount } isOther asOf } }";

/// A page of the book as a BI role reads it (amounts as bands).
const BOOK_PAGE: &str = "query Book($after: String) { customerBook(first: 20, after: $after) {
  edges { node { customer { id } tier lifecycleStage churnLevel aum { band } asOf } }
  pageInfo { hasNextPage endCursor } } }";

/// The commonest surnames, as a teller would type them.
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];

const LOG_INTERACTION: &str = "mutation Log($input: LogInteractionInput!, $key: String) {
  logInteraction(input: $input, idempotencyKey: $key) { id }
}";

/// What the load generator reads of an answer: whether it has errors. The body is
/// still parsed in full (a malformed one counts as an error), but without building a
/// tree of it: the generator shares the machine with what it measures, and the less
/// it spends per answer, the more the figures are the hub's.
#[derive(serde::Deserialize)]
struct Answer {
    errors: Option<serde::de::IgnoredAny>,
}

/// Runs `plan` and reports. Each of `concurrency` workers sends one request after
/// another until the duration is over.
pub async fn run(plan: &BenchPlan) -> Result<BenchReport, HubProcessError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &plan.token {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .default_headers(headers)
        .build()
        .expect("an HTTP client");
    let url = format!("{}/graphql", plan.target.trim_end_matches('/'));
    let target = client::Target::new(&plan.target, plan.token.as_deref(), client.clone())
        .map_err(HubProcessError::Target)?;
    let l1_before = L1Figures::read(&client, &plan.target).await;
    if matches!(plan.scenario, Scenario::Profile360 | Scenario::Batch100) && plan.mode.warm() {
        prewarm(&client, &url, plan).await;
    }
    if plan.unique && matches!(plan.scenario, Scenario::Search | Scenario::Segments) {
        return Err(HubProcessError::Mode(format!(
            "--unique deals out customers; {} asks about no customer",
            plan.scenario
        )));
    }
    let customers = Arc::new(Customers::new(plan.customers, plan.unique));
    let calls_before = upstream_calls(&client, plan).await;
    let hub_cpu = plan.hub_pid.map(cpu::CpuMeter::start);
    let sandbox_cpu = plan.sandbox_pid.map(cpu::CpuMeter::start);
    let started = Instant::now();
    let deadline = started + plan.duration;
    let workers: Vec<_> = (0..plan.concurrency.max(1))
        .map(|_| {
            let mut sender = client::Sender::new(target.clone());
            let plan = plan.clone();
            let customers = customers.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let Some(request) = request(&plan, &customers) else {
                        break;
                    };
                    let body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
                    let sent = Instant::now();
                    let ok = match sender.post(body).await {
                        Some((status, answer)) if status.is_success() => {
                            serde_json::from_slice::<Answer>(&answer)
                                .is_ok_and(|answer| answer.errors.is_none())
                        }
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
    let requests = latencies.len() as u64;
    let hub_cpu_us_per_request = hub_cpu.and_then(|meter| meter.per_request_us(requests));
    let sandbox_cpu_us_per_request = sandbox_cpu.and_then(|meter| meter.per_request_us(requests));
    let calls_after = upstream_calls(&client, plan).await;
    let l1_after = L1Figures::read(&client, &plan.target).await;
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        ms(latencies[rank.clamp(1, latencies.len()) - 1])
    };
    Ok(BenchReport {
        scenario: plan.scenario.to_string(),
        mode: plan.mode.to_string(),
        concurrency: plan.concurrency,
        duration_secs: elapsed,
        requests: latencies.len() as u64,
        errors,
        requests_per_sec: latencies.len() as f64 / elapsed.max(f64::EPSILON),
        p50_ms: percentile(50.0),
        p90_ms: percentile(90.0),
        p99_ms: percentile(99.0),
        max_ms: latencies.last().copied().map(ms).unwrap_or(0.0),
        upstream_calls_per_request: calls_before
            .zip(calls_after)
            .filter(|_| !latencies.is_empty())
            .map(|(before, after)| after.saturating_sub(before) as f64 / latencies.len() as f64),
        hub_peak_rss_mb: None,
        hub_cpu_us_per_request,
        sandbox_cpu_us_per_request,
        unique: plan.unique,
        pool_exhausted: customers.exhausted(),
        reference_requests_per_sec: None,
        reference_cpu_us_per_request: None,
        ratio_to_reference: None,
        l1_bytes_per_profile: l1_after
            .as_ref()
            .filter(|_| matches!(plan.scenario, Scenario::Profile360 | Scenario::Batch100))
            .and_then(L1Figures::bytes_per_profile),
        l1_evictions_size: l1_before.zip(l1_after).map(|(before, after)| {
            after
                .evicted_for_size
                .saturating_sub(before.evicted_for_size)
        }),
    })
}

/// The hub's in-process entity tier, as its `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L1Figures {
    /// `c360_cache_bytes{tier="l1"}`: the tier's weight, its estimate of the resident
    /// bytes it holds.
    pub bytes: f64,
    /// `c360_cache_entries{tier="l1"}`.
    pub entries: f64,
    /// `c360_cache_evictions_total{cause="size",tier="l1"}`.
    pub evicted_for_size: u64,
}

/// Entries of one customer's profile in the entity tier: customer, accounts, cards,
/// loans and online banking, what profile360 and batch100 read per customer.
const ENTRIES_PER_PROFILE: f64 = 5.0;

impl L1Figures {
    /// The figures of the hub at `target`; `None` when its `/metrics` cannot be read
    /// or has no entity tier (turned off, or another server).
    pub async fn read(client: &reqwest::Client, target: &str) -> Option<L1Figures> {
        let response = client
            .get(format!("{}/metrics", target.trim_end_matches('/')))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        L1Figures::parse(&response.text().await.ok()?)
    }

    /// The figures in a `/metrics` page.
    pub fn parse(metrics: &str) -> Option<L1Figures> {
        let sample = |series: &str| {
            metrics.lines().find_map(|line| {
                line.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        };
        Some(L1Figures {
            bytes: sample(r#"c360_cache_bytes{tier="l1"}"#)?,
            entries: sample(r#"c360_cache_entries{tier="l1"}"#)?,
            evicted_for_size: sample(r#"c360_cache_evictions_total{cause="size",tier="l1"}"#)?
                as u64,
        })
    }

    /// Bytes of one profile: the tier's bytes per entry, five entries a profile. The
    /// tier holds only profiles' entities when the run read nothing else.
    pub fn bytes_per_profile(&self) -> Option<f64> {
        (self.entries > 0.0).then(|| self.bytes / self.entries * ENTRIES_PER_PROFILE)
    }
}

/// Runs `plan`'s load against the bare reference server (`c360 bench-reference`, a
/// process of its own started here), for [`BenchReport::compare_with`]. Only
/// `profile360` has a reference.
pub async fn run_reference(plan: &BenchPlan) -> Result<BenchReport, HubProcessError> {
    if plan.scenario != Scenario::Profile360 {
        return Err(HubProcessError::Mode(format!(
            "the reference server answers profile360 only, not {}",
            plan.scenario
        )));
    }
    let reference = tokio::task::block_in_place(|| ReferenceProcess::start(plan.customers))?;
    let reference_plan = BenchPlan {
        target: reference.url.clone(),
        // The reference holds every profile from its start: there is nothing to warm
        // and no sandbox to count calls at.
        mode: Mode::Uncached,
        sandbox: None,
        // Measured as the hub is, so that the two CPU figures compare.
        hub_pid: Some(reference.pid()),
        sandbox_pid: None,
        ..plan.clone()
    };
    run(&reference_plan).await
}

/// Reads every customer of the pool once, `concurrency` at a time.
async fn prewarm(client: &reqwest::Client, url: &str, plan: &BenchPlan) {
    let customers: Vec<u64> = (1..=plan.customers.max(1)).collect();
    for chunk in customers.chunks(plan.concurrency.max(1)) {
        let calls = chunk.iter().map(|i| {
            let body =
                json!({"query": PROFILE_360, "variables": {"id": (1_000_000_000 + i).to_string()}});
            client.post(url).json(&body).send()
        });
        futures::future::join_all(calls).await;
    }
}

/// Requests the sandbox has received, over all systems.
async fn upstream_calls(client: &reqwest::Client, plan: &BenchPlan) -> Option<u64> {
    let sandbox = plan.sandbox.as_ref()?;
    let stats: Value = client
        .get(format!("{}/_sandbox/stats", sandbox.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        ["core", "cards", "loans", "channels"]
            .iter()
            .filter_map(|s| stats[s]["requests"].as_u64())
            .sum(),
    )
}

/// One request of the scenario; `None` when `--unique` has dealt out every customer.
fn request(plan: &BenchPlan, customers: &Customers) -> Option<Value> {
    let cif = |i: u64| (1_000_000_000 + i).to_string();
    Some(match plan.scenario {
        Scenario::Profile360 => {
            json!({"query": PROFILE_360, "variables": {"id": cif(customers.next()?)}})
        }
        Scenario::Batch100 => {
            let ids = (0..100)
                .map(|_| customers.next().map(cif))
                .collect::<Option<Vec<String>>>()?;
            json!({"query": BATCH_100, "variables": {"ids": ids}})
        }
        Scenario::Segments => json!({ "query": SEGMENTS }),
        Scenario::BookPage => {
            // The book's keyset cursor after the customer before the chosen one.
            let after = json!({ "c": cif(customers.next()?.saturating_sub(1)) });
            json!({
                "query": BOOK_PAGE,
                "variables": {"after": URL_SAFE_NO_PAD.encode(after.to_string())}
            })
        }
        Scenario::Search => {
            let surname = SURNAMES[fastrand::usize(..SURNAMES.len())];
            json!({"query": SEARCH, "variables": {"name": surname}})
        }
        Scenario::LogInteraction => {
            let customer = cif(customers.next()?);
            json!({
                "query": LOG_INTERACTION,
                "variables": {
                    "key": uuid::Uuid::now_v7().to_string(),
                    "input": {
                        "customerId": customer,
                        "channel": "CALL_CENTER",
                        "type": "SERVICE",
                        "direction": "INBOUND",
                        "subject": "Balance enquiry",
                        "notes": "Customer asked about the balance of the current account.",
                        "outcome": "RESOLVED",
                        "satisfaction": fastrand::i32(1..=5),
                    }
                }
            })
        }
    })
}

/// Which customer each request is about: one of the pool at random, or (`--unique`)
/// each of the pool once, in an order that is not the CIFs' own.
struct Customers {
    pool: u64,
    unique: Option<Dealer>,
}

struct Dealer {
    dealt: AtomicU64,
    /// A step coprime with the pool: `i * stride mod pool` visits every customer once.
    stride: u64,
    exhausted: AtomicBool,
}

impl Customers {
    fn new(pool: u64, unique: bool) -> Customers {
        let pool = pool.max(1);
        let stride = [1_000_003, 104_729, 7_919]
            .into_iter()
            .find(|p| !pool.is_multiple_of(*p))
            .unwrap_or(1);
        Customers {
            pool,
            unique: unique.then(|| Dealer {
                dealt: AtomicU64::new(0),
                stride,
                exhausted: AtomicBool::new(false),
            }),
        }
    }

    /// A customer number in `1..=pool`.
    fn next(&self) -> Option<u64> {
        let Some(dealer) = &self.unique else {
            return Some(fastrand::u64(1..=self.pool));
        };
        let i = dealer.dealt.fetch_add(1, Ordering::Relaxed);
        if i >= self.pool {
            dealer.exhausted.store(true, Ordering::Relaxed);
            return None;
        }
        Some((u128::from(i) * u128::from(dealer.stride) % u128::from(self.pool)) as u64 + 1)
    }

    fn exhausted(&self) -> bool {
        self.unique
            .as_ref()
            .is_some_and(|d| d.exhausted.load(Ordering::Relaxed))
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
        assert_eq!(
            "profile360".parse::<Scenario>().unwrap(),
            Scenario::Profile360
        );
        assert_eq!("warm-redis".parse::<Mode>().unwrap(), Mode::WarmRedis);
        assert_eq!("batch100".parse::<Scenario>().unwrap(), Scenario::Batch100);
        assert_eq!("search".parse::<Scenario>().unwrap(), Scenario::Search);
        for name in Scenario::NAMES {
            assert_eq!(name.parse::<Scenario>().unwrap().to_string(), *name);
        }
        assert!("tepid".parse::<Mode>().is_err());
        assert_eq!("uncached".parse::<Mode>().unwrap(), Mode::Uncached);
    }

    #[test]
    fn unique_customers_are_each_dealt_once_then_run_out() {
        for pool in [1, 7, 7_919, 10_000, 104_729 * 2] {
            let customers = Customers::new(pool, true);
            let mut seen = std::collections::HashSet::new();
            while let Some(c) = customers.next() {
                assert!((1..=pool).contains(&c), "{c} outside 1..={pool}");
                assert!(seen.insert(c), "{c} dealt twice from a pool of {pool}");
            }
            assert_eq!(seen.len() as u64, pool);
            assert!(customers.exhausted());
        }
        let random = Customers::new(5, false);
        assert!((0..100).all(|_| random.next().is_some()));
        assert!(!random.exhausted());
    }

    #[test]
    fn the_entity_tier_is_read_from_a_metrics_page() {
        let page = "# TYPE c360_cache_bytes gauge\n\
            c360_cache_bytes{tier=\"l1\"} 50000\n\
            c360_cache_bytes{tier=\"response\"} 7\n\
            c360_cache_entries{tier=\"l1\"} 50\n\
            c360_cache_evictions_total{cause=\"size\",tier=\"l1\"} 3\n\
            c360_cache_evictions_total{cause=\"size\",tier=\"response\"} 9\n";
        let figures = L1Figures::parse(page).unwrap();
        assert_eq!(figures.evicted_for_size, 3);
        assert_eq!(figures.bytes_per_profile(), Some(5000.0));
        assert_eq!(
            L1Figures::parse("c360_cache_bytes{tier=\"response\"} 7\n"),
            None
        );
        let empty = L1Figures {
            entries: 0.0,
            ..figures
        };
        assert_eq!(empty.bytes_per_profile(), None);
    }
}
