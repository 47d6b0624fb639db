//! The commands that exist only with the `demo` feature: `c360 demo`, `c360 sandbox`,
//! `c360 bench` and the bench's reference server. `main.rs` parses their arguments and
//! calls these.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use c360_bench::{
    BenchPlan, BenchReport, HubProcess, HubSettings, Mode, SandboxPlacement, Scenario,
};
use c360_sandbox::{LatencyProfile, Sandbox, SandboxConfig};

use crate::config::Config;
use crate::domain::System;

/// How long the token a local bench mints stays valid: longer than any run.
const BENCH_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where the sandbox publishes its changes (`--broker`, `--broker-exchange`).
pub struct Broker {
    pub url: String,
    pub exchange: String,
}

/// `c360 demo`: the sandbox and the hub in one process, until a shutdown signal. With
/// a broker, the sandbox publishes its changes there and the hub consumes them (its
/// own `feed.url` wins when set), so a change shows on the next read.
pub async fn demo(
    mut config: Config,
    port: u16,
    sandbox_port: u16,
    sandbox: SandboxConfig,
    data_dir: Option<PathBuf>,
    broker: Option<Broker>,
) -> anyhow::Result<()> {
    config.server.port = port;
    if let Some(dir) = data_dir {
        config.database.url = format!("sqlite://{}/c360.db", dir.display());
    }
    let (customers, seed) = (sandbox.customers, sandbox.seed);
    let bank = Sandbox::new(sandbox)?;
    if let Some(broker) = &broker {
        bank.publish_to(&broker.url, &broker.exchange)?;
        // The hub consumes what the sandbox publishes, unless told otherwise: the
        // shipped bindings read the sandbox's exchange, wherever it was moved.
        if config.feed.url.is_none() {
            config.feed.url = Some(broker.url.clone());
            for binding in &mut config.feed.bindings {
                if binding.exchange == crate::config::DEFAULT_EXCHANGE {
                    binding.exchange = broker.exchange.clone();
                }
            }
        }
    }
    let demo = super::start_with(config, bank, sandbox_port).await?;
    let hub = demo.app.local_addr();
    println!("c360 demo");
    println!("  Console:  http://{hub}/console/   (sign in by picking a role)");
    println!("  GraphQL:  http://{hub}/graphql   (GraphiQL in a browser)");
    println!(
        "  Sandbox:  http://{}/{{core,cards,loans,channels}}/v1  ({customers} customers, seed {seed})",
        demo.sandbox_addr
    );
    if let Some(broker) = &broker {
        println!(
            "  Changes:  POST http://{}/_sandbox/changes, published to {} on {} (docs/sandbox.md)",
            demo.sandbox_addr,
            broker.exchange,
            crate::config::redact_url(&broker.url)
        );
    }
    println!("  Tokens (development only, valid 12 h; send as Authorization: Bearer <token>):");
    for (role, token) in &demo.tokens {
        println!("    {role:<21} {token}");
    }
    println!("  Try:      curl -s http://{hub}/graphql -H 'content-type: application/json' \\");
    println!("              -H \"authorization: Bearer $TOKEN\" -H 'x-c360-purpose: SERVICE' \\");
    println!("              -d '{{\"query\":\"{{ customer(id: \\\"1000000001\\\") {{ id name accounts {{ number balance {{ amount currency }} }} }} }}\"}}'");
    demo.app.run(crate::shutdown_signal()).await?;
    Ok(())
}

/// `c360 sandbox`: the four simulated systems only, until a shutdown signal; with a
/// broker, each change made through `POST /_sandbox/changes` is published there.
pub async fn sandbox(
    config: &Config,
    port: u16,
    sandbox: SandboxConfig,
    broker: Option<Broker>,
) -> anyhow::Result<()> {
    let (customers, seed) = (sandbox.customers, sandbox.seed);
    let sandbox = Sandbox::new(sandbox)?;
    if let Some(broker) = &broker {
        sandbox.publish_to(&broker.url, &broker.exchange)?;
    }
    let listener = tokio::net::TcpListener::bind((config.server.host, port))
        .await
        .with_context(|| format!("cannot listen on port {port}"))?;
    let addr = listener.local_addr()?;
    println!("c360 sandbox: http://{addr}/{{core,cards,loans,channels}}/v1 ({customers} customers, seed {seed})");
    if let Some(broker) = &broker {
        println!(
            "  changes (POST http://{addr}/_sandbox/changes) are published to {} on {}",
            broker.exchange,
            crate::config::redact_url(&broker.url)
        );
    }
    c360_sandbox::serve(listener, sandbox, crate::shutdown_signal()).await?;
    Ok(())
}

/// `c360 bench-reference`: the bare server `c360 bench --reference` compares with.
pub async fn bench_reference(
    config: &Config,
    port: u16,
    customers: u64,
    seed: u64,
) -> anyhow::Result<()> {
    let sandbox = Sandbox::new(SandboxConfig {
        customers,
        seed,
        latency: LatencyProfile::None,
        as_of: None,
    })?;
    let schema = super::reference::schema(sandbox.bank(), customers);
    let listener = tokio::net::TcpListener::bind((config.server.host, port))
        .await
        .with_context(|| format!("cannot listen on port {port}"))?;
    let addr = listener.local_addr()?;
    println!("{} http://{addr}/graphql", c360_bench::REFERENCE_BANNER);
    super::reference::serve(listener, schema, crate::shutdown_signal()).await?;
    Ok(())
}

/// What `c360 bench` was asked to do, beyond the load itself.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Every sandbox system answers after this many milliseconds.
    pub latency_ms: Option<u64>,
    /// Runs the sandbox in a process of its own.
    pub sandbox_process: bool,
    /// Customers in the sandbox started here (at least the pool).
    pub sandbox_customers: Option<u64>,
    /// Also runs the load against the bare reference server.
    pub reference: bool,
    /// The binary the hub and sandbox processes are started from (default: this one).
    pub hub_binary: Option<PathBuf>,
}

/// `c360 bench`: runs `plan` against its target, or against a sandbox and hub that
/// this command starts in processes of their own, and returns the report.
pub async fn bench(
    config: Config,
    mut plan: BenchPlan,
    options: BenchOptions,
) -> anyhow::Result<BenchReport> {
    if options.reference && plan.scenario != Scenario::Profile360 {
        anyhow::bail!(
            "--reference compares profile360 only, not {}",
            plan.scenario
        );
    }
    if !plan.target.is_empty() && options.hub_binary.is_some() {
        anyhow::bail!("--hub-binary starts a hub of that build; it cannot go with --target");
    }
    let mut report = if plan.target.is_empty() {
        local_bench(&config, &mut plan, &options).await?
    } else {
        c360_bench::run(&plan).await?
    };
    if options.reference {
        report.compare_with(&c360_bench::run_reference(&plan).await?);
    }
    Ok(report)
}

/// Starts the hub (and its sandbox) from this binary and runs `plan` against them.
async fn local_bench(
    config: &Config,
    plan: &mut BenchPlan,
    options: &BenchOptions,
) -> anyhow::Result<BenchReport> {
    if plan.token.is_none() {
        // A teller, or for the book's scenarios the BI analyst who reads the book.
        let bi = plan.scenario.reads_book();
        let teller = crate::auth::Identity {
            subject: "bench".into(),
            role: if bi { "bi_analyst" } else { "teller" }.into(),
            // Contacts are recorded as the token's staff member and branch.
            staff_id: Some(if bi { "A0001" } else { "S0001" }.into()),
            branch: (!bi).then(|| "B001".into()),
            customer: None,
            client: Some("c360-bench".into()),
        };
        plan.token = Some(crate::auth::mint_dev_token(
            &crate::auth::dev_secret(&config.auth)?,
            &config.auth.issuer,
            &config.auth.audience,
            &teller,
            BENCH_TOKEN_TTL,
        ));
    }
    let placement = if options.sandbox_process {
        SandboxPlacement::OwnProcess
    } else {
        SandboxPlacement::WithHub
    };
    let settings = HubSettings {
        redis_key_prefix: config.redis.key_prefix.clone(),
        redis_configured: config.redis.url.is_some(),
        database_url: config.database.url.clone(),
        binary: options.hub_binary.clone(),
    };
    let backend = if config.database.url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let bank_size = options
        .sandbox_customers
        .unwrap_or(plan.customers)
        .max(plan.customers);
    let mode: Mode = plan.mode;
    let hub =
        tokio::task::block_in_place(|| HubProcess::start(&settings, mode, bank_size, placement))?;
    plan.target = hub.hub.clone();
    if let Some(latency) = options.latency_ms {
        let client = reqwest::Client::new();
        for system in System::ALL {
            client
                .post(format!("{}/_sandbox/faults", hub.sandbox))
                .json(&serde_json::json!({"system": system.as_str(), "latency_ms": latency}))
                .send()
                .await?
                .error_for_status()?;
        }
    }
    plan.sandbox = Some(hub.sandbox.clone());
    plan.hub_pid = hub.hub_alone_pid();
    plan.sandbox_pid = hub.sandbox_pid();
    eprintln!(
        "bench: hub process on {} ({backend}, mode {}), sandbox latency {}",
        plan.target,
        plan.mode,
        options
            .latency_ms
            .map(|l| format!("{l} ms"))
            .unwrap_or_else(|| "none".into())
    );
    let mut report = c360_bench::run(plan).await?;
    report.hub_peak_rss_mb = hub.peak_rss_mb();
    if let Some(sandbox) = hub.sandbox_peak_rss_mb() {
        eprintln!("bench: sandbox process peak RSS {sandbox:.0} MB");
    }
    Ok(report)
}
