//! The `c360` command line: parses arguments, sets up logging, runs the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use c360::config::Config;
use c360::sandbox::{LatencyProfile, Sandbox, SandboxConfig};

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
    /// Validates the configuration and connector specs; prints every problem.
    Check,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", c360::graphql::sdl());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Schema => unreachable!("handled above"),
        Command::Check => {
            c360::connectors::load(&config.connectors, &c360::config::process_env)
                .map_err(|errors| anyhow::anyhow!("{errors}"))?;
            println!("configuration and connector specs are valid");
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
        Command::Demo {
            port,
            sandbox_port,
            customers,
            seed,
            latency,
        } => {
            config.server.port = port;
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
                "  Try:      curl -s http://{hub}/graphql -H 'content-type: application/json' \\"
            );
            println!("              -d '{{\"query\":\"{{ customer(id: \\\"1000000001\\\") {{ id name accounts {{ number balance {{ amount currency }} }} }} }}\"}}'");
            demo.app.run(c360::shutdown_signal()).await?;
        }
    }
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
