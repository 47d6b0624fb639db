//! The `c360` command line: parses arguments, sets up telemetry, runs the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use c360::config::Config;
use c360::sandbox::{LatencyProfile, Sandbox, SandboxConfig};

/// glibc's allocator took a fifth of the hub's CPU time in the cold `profile360`
/// benchmark (perf, release build), and its per-thread arenas fragment under many
/// short-lived requests; mimalloc is cheaper on both.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed pages for later (purged after a delay, and arenas committed
/// eagerly, which on Linux purges with `MADV_FREE`: the pages stay in the resident set
/// until the kernel needs them). Under warm batch100 over a 20,000-customer pool the
/// hub grew past 200 MB (216 MB after 40 s); with both set here, 193 MB, and the cold
/// benchmark's CPU did not move (docs/performance.md). Eager commit is also off by the
/// default compiled in (.cargo/config.toml), which reaches the arena mimalloc makes
/// before `main`; setting it here covers a build whose `CFLAGS` replaced that one. An
/// operator's `MIMALLOC_*` variables still win.
///
/// The purge delay is short rather than none: purging at every free returned pages one
/// `madvise` at a time, each a TLB flush on every core, 9 % of the workers' time under
/// warm batch100; 25 ms lets freed pages be reused first (batch100 warm +20 %, cold
/// +15 %) for about 3 MB more at the peak (docs/performance.md).
fn return_freed_memory() {
    // Positions in mimalloc 3's `mi_option_e` (include/mimalloc.h of the bundled
    // 3.3): libmimalloc-sys names only older options, so the linked version is checked.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: plain calls into the linked allocator, which reads options at any time.
    let version = unsafe { libmimalloc_sys::mi_version() };
    if !(30_000..40_000).contains(&version) {
        return;
    }
    for (option, variable, value) in [
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 25),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: as above; the option exists in this version.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}

#[derive(Parser)]
#[command(name = "c360", version, about = "Customer-360 GraphQL hub for banks")]
struct Cli {
    /// Configuration file layered over config/default.toml.
    #[arg(long, global = true, env = "C360_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sandbox of the four upstream systems and the hub in one process.
    Demo {
        #[arg(long, default_value_t = 4000)]
        port: u16,
        #[arg(long, default_value_t = 4100)]
        sandbox_port: u16,
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Sandbox latency profile: default, realistic or none.
        #[arg(long, default_value = "default")]
        latency: LatencyProfile,
        /// Folder of the SQLite database (created on first run); overrides
        /// `database.url` and DATABASE_URL.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The hub only; upstream base URLs from connectors/ and the environment.
    Serve {
        #[arg(long)]
        port: Option<u16>,
    },
    /// The four simulated upstream systems only.
    Sandbox {
        #[arg(long, default_value_t = 4100)]
        port: u16,
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value = "default")]
        latency: LatencyProfile,
    },
    /// Prints the GraphQL schema (SDL).
    Schema,
    /// Applies the database migrations that have not run yet.
    Migrate,
    /// Load scenarios over HTTP; reports req/s and latency percentiles.
    Bench {
        /// What to exercise: log-interaction, profile360, batch100 or search.
        #[arg(long, default_value = "log-interaction")]
        scenario: c360::bench::Scenario,
        /// Cache tiers: cold, warm, warm-l1 or warm-redis (needs REDIS_URL).
        #[arg(long, default_value = "warm")]
        mode: c360::bench::Mode,
        /// Every sandbox system answers after this many milliseconds (default: none).
        #[arg(long)]
        latency_ms: Option<u64>,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// How long to run, e.g. 10s.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// A running hub (e.g. http://127.0.0.1:4000). Without it, a sandbox and a hub
        /// start in this process, on the configured database (a temporary SQLite file
        /// when that is SQLite).
        #[arg(long)]
        target: Option<String>,
        /// Customers the scenario picks from (without --target, also the sandbox's size
        /// unless --sandbox-customers).
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        /// Bearer token for --target (without --target, a development teller token is
        /// minted for the hub started here).
        #[arg(long, env = "C360_TOKEN")]
        token: Option<String>,
        /// Customers in the sandbox started here (default: --customers), e.g. a
        /// 1,000,000-customer bank behind a smaller pool that warm modes can read once.
        #[arg(long)]
        sandbox_customers: Option<u64>,
        /// Runs the sandbox in a process of its own and the hub alone (`c360 serve`),
        /// so that the hub's peak RSS is the hub's only (without it, `c360 demo` runs
        /// both in one process).
        #[arg(long)]
        sandbox_process: bool,
        /// After the hub, runs the same load (concurrency, duration) against a bare
        /// async-graphql server answering the same query from memory, and reports the
        /// hub's throughput as a ratio of it (profile360 only; meant for warm-l1).
        #[arg(long)]
        reference: bool,
    },
    /// The bench's reference: a bare async-graphql server answering the profile360
    /// query from memory (started by `c360 bench --reference`).
    #[command(hide = true)]
    BenchReference {
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Customers 1..=N whose profiles it holds.
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Validates the configuration and connector specs; prints every problem.
    Check,
    /// Prints a development JWT signed with the configured development key (demo
    /// profile only).
    Token {
        /// Role the token grants.
        #[arg(long)]
        role: String,
        /// Staff number; it is also the token's subject.
        #[arg(long)]
        staff: Option<String>,
        /// Branch the staff member works at.
        #[arg(long)]
        branch: Option<String>,
        /// CIF of the customer an internet-banking token belongs to.
        #[arg(long)]
        customer: Option<String>,
        /// Application the token is issued to (azp).
        #[arg(long)]
        client: Option<String>,
        /// Lifetime, e.g. 15m, 1h, 8h.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_freed_memory();
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", c360::graphql::sdl());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    // Held to the end of `main`, after graceful shutdown, so that the spans of the
    // last requests are exported before the process exits.
    let telemetry = c360::telemetry::init(&config)?;
    match cli.command {
        Command::Schema => unreachable!("handled above"),
        Command::Migrate => {
            // Nothing serves `/metrics` here: the store counts into a registry of its own.
            let metrics = c360::metrics::Metrics::new();
            let store = c360::store::Store::connect(&config.database, &metrics).await?;
            let applied = store.migrate().await?;
            println!(
                "database ({}) is up to date: {applied} migration(s) applied",
                store.backend().as_str()
            );
        }
        Command::Bench {
            scenario,
            mode,
            latency_ms,
            concurrency,
            duration,
            json,
            target,
            customers,
            token,
            sandbox_customers,
            sandbox_process,
            reference,
        } => {
            if reference && scenario != c360::bench::Scenario::Profile360 {
                anyhow::bail!("--reference compares profile360 only, not {scenario}");
            }
            let placement = if sandbox_process {
                c360::bench::SandboxPlacement::OwnProcess
            } else {
                c360::bench::SandboxPlacement::WithHub
            };
            let plan = c360::bench::BenchPlan {
                scenario,
                target: target.unwrap_or_default(),
                concurrency,
                duration,
                customers,
                mode,
                sandbox: None,
                token,
            };
            let bank_size = sandbox_customers.unwrap_or(customers).max(customers);
            let mut report = bench(config, plan.clone(), latency_ms, placement, bank_size).await?;
            if reference {
                report.compare_with(&c360::bench::run_reference(&plan).await?);
            }
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{report}");
            }
        }
        Command::Check => {
            c360::check(&config).await?;
            println!("configuration, connector specs, keys, policies and allowlist are valid");
        }
        Command::Token {
            role,
            staff,
            branch,
            customer,
            client,
            ttl,
        } => {
            let request = c360::auth::DevTokenRequest {
                role,
                staff_id: staff,
                branch,
                customer,
                client,
                ttl,
            };
            println!("{}", c360::auth::dev_token(&config, &request)?);
        }
        Command::Serve { port } => {
            if let Some(port) = port {
                config.server.port = port;
            }
            let app = c360::App::build(config).await?;
            println!("c360 hub: http://{}/graphql", app.local_addr());
            app.run(c360::shutdown_signal()).await?;
        }
        Command::Sandbox {
            port,
            customers,
            seed,
            latency,
        } => {
            let sandbox = Sandbox::new(SandboxConfig {
                customers,
                seed,
                latency,
                as_of: None,
            })?;
            let listener = tokio::net::TcpListener::bind((config.server.host, port))
                .await
                .with_context(|| format!("cannot listen on port {port}"))?;
            let addr = listener.local_addr()?;
            println!("c360 sandbox: http://{addr}/{{core,cards,loans,channels}}/v1 ({customers} customers, seed {seed})");
            c360::sandbox::serve(listener, sandbox, c360::shutdown_signal()).await?;
        }
        Command::BenchReference {
            port,
            customers,
            seed,
        } => {
            let sandbox = Sandbox::new(SandboxConfig {
                customers,
                seed,
                latency: LatencyProfile::None,
                as_of: None,
            })?;
            let schema = c360::bench::reference::schema(sandbox.bank(), customers);
            let listener = tokio::net::TcpListener::bind((config.server.host, port))
                .await
                .with_context(|| format!("cannot listen on port {port}"))?;
            let addr = listener.local_addr()?;
            println!("{} http://{addr}/graphql", c360::bench::REFERENCE_BANNER);
            c360::bench::reference::serve(listener, schema, c360::shutdown_signal()).await?;
        }
        Command::Demo {
            port,
            sandbox_port,
            customers,
            seed,
            latency,
            data_dir,
        } => {
            config.server.port = port;
            if let Some(dir) = data_dir {
                config.database.url = format!("sqlite://{}/c360.db", dir.display());
            }
            let sandbox = SandboxConfig {
                customers,
                seed,
                latency,
                as_of: None,
            };
            let demo = c360::demo::start(config, sandbox, sandbox_port).await?;
            let hub = demo.app.local_addr();
            println!("c360 demo");
            println!("  GraphQL:  http://{hub}/graphql   (GraphiQL in a browser)");
            println!("  Sandbox:  http://{}/{{core,cards,loans,channels}}/v1  ({customers} customers, seed {seed})", demo.sandbox_addr);
            println!(
                "  Tokens (development only, valid 12 h; send as Authorization: Bearer <token>):"
            );
            for (role, token) in &demo.tokens {
                println!("    {role:<21} {token}");
            }
            println!(
                "  Try:      curl -s http://{hub}/graphql -H 'content-type: application/json' \\"
            );
            println!(
                "              -H \"authorization: Bearer $TOKEN\" -H 'x-c360-purpose: SERVICE' \\"
            );
            println!("              -d '{{\"query\":\"{{ customer(id: \\\"1000000001\\\") {{ id name accounts {{ number balance {{ amount currency }} }} }} }}\"}}'");
            demo.app.run(c360::shutdown_signal()).await?;
        }
    }
    drop(telemetry);
    Ok(())
}

/// Runs a benchmark against `target`, or against a sandbox and hub that this command
/// starts in a process of its own (`c360 demo` from this binary).
async fn bench(
    config: Config,
    mut plan: c360::bench::BenchPlan,
    latency_ms: Option<u64>,
    placement: c360::bench::SandboxPlacement,
    sandbox_customers: u64,
) -> anyhow::Result<c360::bench::BenchReport> {
    if !plan.target.is_empty() {
        return Ok(c360::bench::run(&plan).await?);
    }
    if plan.token.is_none() {
        let teller = c360::auth::Identity {
            subject: "bench".into(),
            role: "teller".into(),
            // No staff number: the scenario logs contacts for many staff members.
            staff_id: None,
            branch: None,
            customer: None,
            client: Some("c360-bench".into()),
        };
        plan.token = Some(c360::auth::mint_dev_token(
            &c360::auth::dev_secret(&config.auth)?,
            &config.auth.issuer,
            &config.auth.audience,
            &teller,
            std::time::Duration::from_secs(24 * 3600),
        ));
    }
    let backend = if config.database.url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let hub = tokio::task::block_in_place(|| {
        c360::bench::HubProcess::start(&config, plan.mode, sandbox_customers, placement)
    })?;
    plan.target = hub.hub.clone();
    if let Some(latency) = latency_ms {
        let client = reqwest::Client::new();
        for system in c360::domain::System::ALL {
            client
                .post(format!("{}/_sandbox/faults", hub.sandbox))
                .json(&serde_json::json!({"system": system.as_str(), "latency_ms": latency}))
                .send()
                .await?
                .error_for_status()?;
        }
    }
    plan.sandbox = Some(hub.sandbox.clone());
    eprintln!(
        "bench: hub process on {} ({backend}, mode {}), sandbox latency {}",
        plan.target,
        plan.mode,
        latency_ms
            .map(|l| format!("{l} ms"))
            .unwrap_or_else(|| "none".into())
    );
    let mut report = c360::bench::run(&plan).await?;
    report.hub_peak_rss_mb = hub.peak_rss_mb();
    if let Some(sandbox) = hub.sandbox_peak_rss_mb() {
        eprintln!("bench: sandbox process peak RSS {sandbox:.0} MB");
    }
    Ok(report)
}
