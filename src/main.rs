//! The `c360` command line: parses the arguments and hands each command to the
//! library (`c360::commands`, and `c360::demo::commands` with the `demo` feature).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use c360::config::Config;
#[cfg(feature = "demo")]
use c360::{
    bench::{BenchPlan, Mode, Scenario},
    demo::commands as demo,
    sandbox::{LatencyProfile, SandboxConfig},
};

/// glibc's allocator took a fifth of the hub's CPU time in the cold `profile360`
/// benchmark (perf, release build), and its per-thread arenas fragment under many
/// short-lived requests; mimalloc is cheaper on both (tuned in [`c360::allocator`]).
#[global_allocator]
static ALLOCATOR: c360::allocator::Mimalloc = c360::allocator::Mimalloc;

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
    #[cfg(feature = "demo")]
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
        /// An AMQP broker (amqp://guest:guest@127.0.0.1:5672/%2f): the sandbox publishes
        /// its changes there and the hub consumes them (unless feed.url says otherwise).
        #[arg(long)]
        broker: Option<String>,
        /// The topic exchange the sandbox publishes its changes to.
        #[arg(long, default_value = c360::config::DEFAULT_EXCHANGE)]
        broker_exchange: String,
    },
    /// The hub only; upstream base URLs from connectors/ and the environment.
    Serve {
        #[arg(long)]
        port: Option<u16>,
    },
    #[cfg(feature = "demo")]
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
        /// An AMQP broker (amqp://guest:guest@127.0.0.1:5672/%2f) to publish each change
        /// made through POST /_sandbox/changes to.
        #[arg(long)]
        broker: Option<String>,
        /// The topic exchange changes are published to.
        #[arg(long, default_value = c360::config::DEFAULT_EXCHANGE)]
        broker_exchange: String,
    },
    /// Prints the GraphQL schema (SDL).
    Schema,
    /// Applies the database migrations that have not run yet.
    Migrate,
    #[cfg(feature = "demo")]
    /// Load scenarios over HTTP; reports req/s and latency percentiles.
    Bench {
        /// What to exercise: log-interaction, profile360, batch100, search, or the BI
        /// snapshot's segments and book-page (as bi_analyst).
        #[arg(long, default_value = "log-interaction")]
        scenario: Scenario,
        /// Cache tiers: cold (every tier on, nothing read first), uncached (no tier),
        /// warm, warm-l1 or warm-redis (needs REDIS_URL).
        #[arg(long, default_value = "warm")]
        mode: Mode,
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
        /// Asks for each customer of the pool at most once (profile360, batch100,
        /// log-interaction): with `--mode cold` every request is a first read at any
        /// rate. The run ends early if the pool runs out.
        #[arg(long)]
        unique: bool,
        /// Starts the hub and the sandbox from this `c360` binary instead of this one,
        /// e.g. to compare two builds under one load generator in the same minutes.
        #[arg(long)]
        hub_binary: Option<std::path::PathBuf>,
    },
    #[cfg(feature = "demo")]
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
    /// Prints the profile and every relaxed setting, validates the configuration and
    /// connector specs; prints every problem (in production, fails on what `serve`
    /// refuses).
    Check,
    /// The BI snapshot: one row per customer, filled by a sweep through the systems.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Writes the BI snapshot as CSV (one file) or Parquet (a directory partitioned by
    /// branch, `branch=0101/part-0.parquet`), de-identified as `--role` sees the book
    /// in GraphQL, and records it in the access audit as one bulk read.
    Export {
        /// csv or parquet.
        #[arg(long)]
        format: String,
        /// Conditions as name=value, comma-separated: branch, tier, lifecycleStage,
        /// churnLevel (e.g. branch=0101,tier=GOLD).
        #[arg(long, value_delimiter = ',')]
        filter: Vec<String>,
        /// The role (config/policies.toml) whose scope, columns and de-identification
        /// apply: the operator exports what that role may see, never more.
        #[arg(long)]
        role: String,
        /// Branch number, for a role whose scope is its branch.
        #[arg(long)]
        branch: Option<String>,
        /// Staff number, for a role whose scope is its book.
        #[arg(long)]
        staff: Option<String>,
        /// The CSV file, or the directory Parquet partitions go into.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The access audit.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    #[cfg(feature = "demo")]
    /// Prints a development JWT signed with the configured development key (demo
    /// profile only: C360_PROFILE=demo).
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

#[derive(Subcommand)]
enum AuditCommand {
    /// Walks the audit's keyed hash chain with the configured keys and reports every
    /// edited, deleted or inserted row by position; exits non-zero if there is any.
    Verify {
        /// First row: a position (e.g. 1) or a time of reading (RFC 3339).
        #[arg(long)]
        from: Option<c360::store::ChainBound>,
        /// Last row: a position (inclusive) or a time (rows read before it).
        #[arg(long)]
        to: Option<c360::store::ChainBound>,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Walks core banking's customers in CIF order and writes each one's row, resuming
    /// an unfinished sweep from its checkpoint; batches that fail after their retries
    /// are recorded and make the command fail (retried by the next sweep).
    Build {
        /// Customers per page and per upstream call (the systems take up to 100).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=100))]
        batch: u16,
        /// Pages computed at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Further tries of a failed page before it is recorded.
        #[arg(long, default_value_t = 2)]
        retries: u32,
        /// Stop after this many pages (the sweep resumes from there next time).
        #[arg(long)]
        max_pages: Option<usize>,
        /// How long the sweep's lease lasts between checkpoints: a sweep that was
        /// killed keeps others out this long.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        lease: std::time::Duration,
        /// How long to wait for a lease another owner holds (a killed sweep's runs
        /// out by itself) before giving up.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: std::time::Duration,
    },
    /// Rows, their age, the sweeps and the batches that failed.
    Status,
}

impl Command {
    /// The commands that start the simulated bank (and a hub on it) run in the demo
    /// profile whatever the environment says; every other command in the profile
    /// configured, production unless told otherwise.
    fn runs_the_demo(&self) -> bool {
        match self {
            #[cfg(feature = "demo")]
            Command::Demo { .. }
            | Command::Sandbox { .. }
            | Command::Bench { .. }
            | Command::BenchReference { .. } => true,
            _ => false,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    c360::allocator::return_freed_memory();
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", c360::graphql::sdl());
        return Ok(());
    }
    let config = if cli.command.runs_the_demo() {
        Config::load_demo(cli.config.as_deref())?
    } else {
        Config::load(cli.config.as_deref())?
    };
    // Held to the end of `main`, after graceful shutdown, so that the spans of the
    // last requests are exported before the process exits.
    let telemetry = c360::telemetry::init(&config)?;
    match cli.command {
        Command::Schema => unreachable!("handled above"),
        Command::Migrate => c360::commands::migrate(&config).await?,
        Command::Check => c360::commands::check(&config).await?,
        Command::Snapshot {
            command:
                SnapshotCommand::Build {
                    batch,
                    concurrency,
                    retries,
                    max_pages,
                    lease,
                    wait,
                },
        } => {
            let settings = c360::snapshot::SweepSettings {
                batch: usize::from(batch),
                concurrency: usize::from(concurrency),
                retries,
                max_pages,
                lease,
                wait_for_lease: wait,
                ..c360::snapshot::SweepSettings::default()
            };
            c360::commands::snapshot_build(&config, settings).await?
        }
        Command::Snapshot {
            command: SnapshotCommand::Status,
        } => c360::commands::snapshot_status(&config).await?,
        Command::Export {
            format,
            filter,
            role,
            branch,
            staff,
            out,
        } => {
            let request = c360::commands::ExportRequest {
                format,
                filter,
                role,
                branch,
                staff,
                out,
            };
            c360::commands::export(&config, &request).await?
        }
        Command::Audit {
            command: AuditCommand::Verify { from, to },
        } => c360::commands::audit_verify(&config, from, to).await?,
        #[cfg(feature = "demo")]
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
            c360::commands::token(&config, &request)?;
        }
        Command::Serve { port } => c360::commands::serve(config, port).await?,
        #[cfg(feature = "demo")]
        Command::Demo {
            port,
            sandbox_port,
            customers,
            seed,
            latency,
            data_dir,
            broker,
            broker_exchange,
        } => {
            let sandbox = SandboxConfig {
                customers,
                seed,
                latency,
                as_of: None,
            };
            let broker = broker.map(|url| demo::Broker {
                url,
                exchange: broker_exchange,
            });
            demo::demo(config, port, sandbox_port, sandbox, data_dir, broker).await?;
        }
        #[cfg(feature = "demo")]
        Command::Sandbox {
            port,
            customers,
            seed,
            latency,
            broker,
            broker_exchange,
        } => {
            let sandbox = SandboxConfig {
                customers,
                seed,
                latency,
                as_of: None,
            };
            let broker = broker.map(|url| demo::Broker {
                url,
                exchange: broker_exchange,
            });
            demo::sandbox(&config, port, sandbox, broker).await?;
        }
        #[cfg(feature = "demo")]
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
            unique,
            hub_binary,
        } => {
            let plan = BenchPlan {
                scenario,
                target: target.unwrap_or_default(),
                concurrency,
                duration,
                customers,
                mode,
                sandbox: None,
                token,
                unique,
                hub_pid: None,
                sandbox_pid: None,
            };
            let options = demo::BenchOptions {
                latency_ms,
                sandbox_process,
                sandbox_customers,
                reference,
                hub_binary,
            };
            let report = demo::bench(config, plan, options).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{report}");
            }
        }
        #[cfg(feature = "demo")]
        Command::BenchReference {
            port,
            customers,
            seed,
        } => demo::bench_reference(&config, port, customers, seed).await?,
    }
    drop(telemetry);
    Ok(())
}
