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

/// `c360 check`: prints the effective profile and every relaxed setting, then
/// validates the configuration, connector specs, keys, policies and allowlist. In the
/// production profile, a relaxed setting production refuses fails the check, as it
/// would fail `c360 serve`.
pub async fn check(config: &Config) -> anyhow::Result<()> {
    println!("profile: {}", config.profile);
    let relaxed = config.relaxed();
    if relaxed.is_empty() {
        println!("relaxed settings: none");
    } else {
        println!("relaxed settings:");
        for setting in &relaxed {
            let verdict = if setting.refused_in_production {
                "refused in production"
            } else {
                "allowed in production"
            };
            println!("  - {setting} [{verdict}]");
        }
    }
    crate::check(config).await?;
    println!("configuration, connector specs, keys, policies and allowlist are valid");
    Ok(())
}

/// `c360 token`: prints a development token (demo profile only).
#[cfg(feature = "demo")]
pub fn token(config: &Config, request: &crate::auth::DevTokenRequest) -> anyhow::Result<()> {
    println!("{}", crate::auth::dev_token(config, request)?);
    Ok(())
}
