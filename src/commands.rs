//! The hub's own commands (`serve`, `migrate`, `check`, `token`, `schema`, `audit`), called by
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

/// `c360 audit verify`: walks the access audit's chain; every break is printed, by
/// position, and makes the command fail, so that a scheduled check alerts.
pub async fn audit_verify(
    config: &Config,
    from: Option<crate::store::ChainBound>,
    to: Option<crate::store::ChainBound>,
) -> anyhow::Result<()> {
    let keys = crate::store::ChainKeys::from_config(&config.access, config.profile)?;
    let metrics = crate::metrics::Metrics::new();
    let store = crate::store::Store::connect(&config.database, &metrics).await?;
    let report = store.verify_access_chain(&keys, from, to).await?;
    let range = match (report.first, report.last) {
        (Some(first), Some(last)) => format!("positions {first}-{last}"),
        _ => "no positions".to_owned(),
    };
    let ids: Vec<&str> = report.key_ids.iter().map(String::as_str).collect();
    let ids = if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    };
    for problem in &report.breaks {
        println!("{problem}");
    }
    if report.breaks.is_empty() {
        println!(
            "access audit intact: {} rows checked, {range}, key ids: {ids}",
            report.rows
        );
        Ok(())
    } else {
        anyhow::bail!(
            "access audit chain broken: {} problem(s) in {} rows checked ({range}, key ids: {ids})",
            report.breaks.len(),
            report.rows
        )
    }
}
