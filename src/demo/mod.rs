//! `c360 demo`: the four simulated upstream systems and the hub in one process, on
//! embedded defaults. The hub still reaches the sandbox over HTTP on its own port, so
//! the demo exercises exactly the code paths a bank's deployment does.

pub mod commands;
pub mod reference;

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

use crate::config::{Config, Profile};
use crate::domain::System;
use crate::{App, StartError};
use c360_sandbox::{Sandbox, SandboxConfig};

/// A running sandbox and the hub configured against it.
pub struct Demo {
    pub app: App,
    pub sandbox_addr: SocketAddr,
    /// One development token per role, scoped so that each can read the showcase
    /// customer (CIF 1000000001) if its role allows at all.
    pub tokens: Vec<(String, String)>,
}

/// How long the tokens `c360 demo` prints stay valid: a working day.
const DEMO_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// Starts the sandbox on `sandbox_port` (0: any free port) and builds a hub whose
/// connectors point at it.
pub async fn start(
    config: Config,
    sandbox_config: SandboxConfig,
    sandbox_port: u16,
) -> Result<Demo, StartError> {
    let bank = Sandbox::new(sandbox_config).map_err(|e| StartError::Sandbox(e.to_string()))?;
    start_with(config, bank, sandbox_port).await
}

/// [`start`] with a sandbox built by the caller (one that publishes its changes to a
/// broker, [`Sandbox::publish_to`]).
pub async fn start_with(
    mut config: Config,
    bank: Sandbox,
    sandbox_port: u16,
) -> Result<Demo, StartError> {
    let host: IpAddr = config.server.host;
    let addr = SocketAddr::new(host, sandbox_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let sandbox_addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let showcase = bank.bank().customer(1);
    let branch = showcase.as_ref().map(|c| c.branch.clone());
    let book = showcase.and_then(|c| c.relationship_manager);
    let tokens = tokens(&config, branch, book)?;
    tokio::spawn(async move {
        if let Err(e) = c360_sandbox::serve(listener, bank, std::future::pending()).await {
            tracing::error!(error = %e, "sandbox stopped");
        }
    });
    for system in System::ALL {
        config.connectors.override_mut(system).base_url =
            Some(format!("http://{sandbox_addr}/{system}/v1"));
    }
    let app = App::build(config).await?;
    if let Some(console) = app.console() {
        console.offer_demo_tokens(tokens.clone());
    }
    Ok(Demo {
        app,
        sandbox_addr,
        tokens,
    })
}

/// A token per role of the policies (demo profile only): staff at the showcase customer's branch (its
/// relationship manager for the RM), the showcase customer for the portal.
fn tokens(
    config: &Config,
    branch: Option<String>,
    book: Option<String>,
) -> Result<Vec<(String, String)>, StartError> {
    if config.profile != Profile::Demo {
        // Outside the demo there is no development key; tokens come from the bank's
        // identity provider.
        return Ok(Vec::new());
    }
    let secret = crate::auth::dev_secret(&config.auth)?;
    let policies = crate::auth::Policies::load(&config.access.policies)?;
    let showcase = crate::domain::Cif::parse("1000000001").expect("a valid CIF");
    Ok(policies
        .role_names()
        .into_iter()
        .map(|role| {
            let staff = match role {
                "relationship_manager" => book.clone().unwrap_or_else(|| "S0001".into()),
                "customer" => String::new(),
                other => format!("{}0001", other[..1].to_ascii_uppercase()),
            };
            let identity = crate::auth::Identity {
                subject: if role == "customer" {
                    showcase.to_string()
                } else {
                    staff.clone()
                },
                role: role.to_owned(),
                staff_id: (role != "customer").then_some(staff),
                branch: (role != "customer").then(|| branch.clone()).flatten(),
                customer: (role == "customer").then(|| showcase.clone()),
                client: Some("c360-demo".into()),
            };
            let token = crate::auth::mint_dev_token(
                &secret,
                &config.auth.issuer,
                &config.auth.audience,
                &identity,
                DEMO_TOKEN_TTL,
            );
            (role.to_owned(), token)
        })
        .collect())
}
