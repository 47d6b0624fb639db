//! `c360 demo`: the four simulated upstream systems and the hub in one process, on
//! embedded defaults. The hub still reaches the sandbox over HTTP on its own port, so
//! the demo exercises exactly the code paths a bank's deployment does.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

use crate::config::Config;
use crate::domain::System;
use crate::sandbox::{self, Sandbox, SandboxConfig};
use crate::{App, StartError};

/// A running sandbox and the hub configured against it.
pub struct Demo {
    pub app: App,
    pub sandbox_addr: SocketAddr,
}

/// Starts the sandbox on `sandbox_port` (0: any free port) and builds a hub whose
/// connectors point at it.
pub async fn start(
    mut config: Config,
    sandbox_config: SandboxConfig,
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
    let bank = Sandbox::new(sandbox_config).map_err(|e| StartError::Sandbox(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = sandbox::serve(listener, bank, std::future::pending()).await {
            tracing::error!(error = %e, "sandbox stopped");
        }
    });
    for system in System::ALL {
        config.connectors.override_mut(system).base_url =
            Some(format!("http://{sandbox_addr}/{system}/v1"));
    }
    let app = App::build(config).await?;
    Ok(Demo { app, sandbox_addr })
}
