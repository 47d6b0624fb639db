//! The hub's own commands (`serve`, `migrate`, `check`, `token`, `schema`), called by
//! `main.rs` once it has parsed the command line and loaded the configuration.

use crate::config::Config;

/// `c360 serve`: the hub only, until a shutdown signal.
pub async fn serve(mut config: Config, port: Option<u16>) -> anyhow::Result<()> {
    if let Some(port) = port {
        config.server.port = port;
    }
    let app = crate::App::build(config).await?;
    println!("c360 hub: http://{}/graphql", app.local_addr());
    app.run(crate::shutdown_signal()).await?;
    Ok(())
}

/// `c360 migrate`: applies the migrations that have not run yet.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    // Nothing serves `/metrics` here: the store counts into a registry of its own.
    let metrics = crate::metrics::Metrics::new();
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    let applied = store.migrate().await?;
    println!(
        "database ({}) is up to date: {applied} migration(s) applied",
        store.backend().as_str()
    );
    Ok(())
}

/// `c360 check`: validates the configuration, connector specs, keys, policies and
/// allowlist.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    crate::check(config).await?;
    println!("configuration, connector specs, keys, policies and allowlist are valid");
    Ok(())
}

/// `c360 token`: prints a development token.
pub fn token(config: &Config, request: &crate::auth::DevTokenRequest) -> anyhow::Result<()> {
    println!("{}", crate::auth::dev_token(config, request)?);
    Ok(())
}
