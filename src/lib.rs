//! c360: a GraphQL customer-360 hub for banks.
//!
//! # Layout
//! - [`config`]: layered configuration; the only reader of the environment.
//! - [`domain`]: canonical banking types (money as `rust_decimal`), no I/O.
//! - [`connectors`]: the `Connector` trait and the declarative REST runtime driven by
//!   `connectors/*.toml`.
//! - [`upstream`]: typed reads over the connectors (customers, accounts, cards, …).
//! - [`cache`]: the response tier and the entity tiers (in-process and Redis).
//! - [`metrics`]: the Prometheus registry behind `/metrics`.
//! - [`store`]: the hub's own SQL database (SQLite or PostgreSQL): interactions,
//!   consents, contact preferences, the access audit; embedded migrations.
//! - [`bus`]: publish/subscribe, in-process or across instances through Redis.
//! - [`graphql`]: the schema, per-request loaders, errors as GraphQL errors.
//! - [`auth`]: the viewer of a request, masking of personal data, and the batched
//!   writer of the access audit.
//! - [`http`]: the router: GraphQL over HTTP and WebSocket, health and readiness.
//! - [`bench`]: `c360 bench`, load scenarios driven over HTTP.
//! - [`sandbox`]: the four simulated upstream systems.
//! - [`demo`]: sandbox and hub in one process, for `c360 demo`.

pub mod auth;
pub mod bench;
pub mod bus;
pub mod cache;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod insights;
pub mod metrics;
pub mod sandbox;
pub mod store;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::bus::Bus;
use crate::config::Config;
use crate::connectors::{ConnectorError, Connectors, SpecErrors};
use crate::store::{Store, StoreError};
use crate::upstream::Upstreams;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("connector specs are invalid:\n{0}")]
    Connectors(#[from] SpecErrors),
    #[error("connector setup failed: {0}")]
    Client(#[from] ConnectorError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error(transparent)]
    CacheKey(#[from] cache::crypto::CryptoError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("policies: {0}")]
    Policies(#[from] auth::PolicyError),
    #[error("authentication: {0}")]
    Auth(#[from] auth::AuthSetupError),
    #[error("allowlist: {0}")]
    Allowlist(#[from] auth::allowlist::AllowlistError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A hub, bound to its port and ready to serve.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    audit: auth::AuditWriter,
}

impl App {
    /// Loads and checks the connector specs, opens the database and applies its
    /// migrations, connects the bus, builds the schema and binds the port the config
    /// names (0 picks a free one; [`App::local_addr`] says which).
    pub async fn build(config: Config) -> Result<App, StartError> {
        let verifier = auth::Verifier::new(&config.auth, &config.profile)?;
        let policies = auth::Policies::load(&config.access.policies)?;
        let allowlist = match &config.graphql.allowlist {
            Some(path) => Some(Arc::new(auth::allowlist::Allowlist::load(
                path,
                &config.graphql.allowlist_roles,
            )?)),
            None => None,
        };
        let specs = connectors::load(&config.connectors, &config::process_env)?;
        let files = specs.iter().map(|s| s.file.clone()).collect();
        let redis = match &config.redis.url {
            Some(url) => {
                let sealer = match &config.cache.encryption_key {
                    Some(key) => {
                        let previous = config
                            .cache
                            .previous_encryption_keys
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        Some(cache::crypto::Sealer::new(
                            &config.cache.encryption_key_id,
                            key,
                            &previous,
                        )?)
                    }
                    None => None,
                };
                let tier = cache::RedisTier::start(
                    cache::RedisSettings {
                        url: url.clone(),
                        cluster: config.redis.cluster,
                        prefix: config.redis.key_prefix.clone(),
                        timeout: config.redis.timeout,
                    },
                    sealer,
                );
                tier.connect_now().await;
                Some(tier)
            }
            None => None,
        };
        let entities = Arc::new(cache::EntityCache::new(
            cache::EntitySettings {
                enabled: config.cache.enabled,
                l1_max_bytes: config.cache.l1_max_bytes,
                lock_ttl: config.cache.lock_ttl,
                tag_ttl: config.cache.tag_ttl,
            },
            redis.clone(),
            &config.redis.key_prefix,
        ));
        let responses = config.cache.response_enabled.then(|| {
            Arc::new(cache::ResponseCache::new(
                config.cache.response_max_bytes,
                config.cache.response_max_ttl,
            ))
        });
        let upstreams = Upstreams::new(Connectors::from_specs(specs)?, entities);
        let store = Store::connect(&config.database).await?;
        let applied = store.migrate().await?;
        if applied > 0 {
            tracing::info!(
                applied,
                backend = store.backend().as_str(),
                "database migrated"
            );
        }
        let bus = Bus::connect(&config.redis).await?;
        cache::listen_for_invalidations(&bus, upstreams.cache().clone(), responses.clone());
        let schema = graphql::build_schema(
            upstreams.clone(),
            config.graphql.clone(),
            store.clone(),
            bus.clone(),
        );
        policies.check_against(&graphql::schema_fields(&schema).await)?;
        let audit = auth::AuditWriter::start(store.clone(), auth::AuditSettings::default());
        let limits = auth::limits::RateLimits::new(&config.access);
        limits.spawn_janitor();
        let state = http::AppState {
            schema,
            upstreams,
            store,
            bus,
            responses,
            persisted: Arc::new(cache::PersistedQueries::new(redis.clone())),
            redis,
            events_secret: config.events.secret.clone().map(Arc::from),
            body_limit: config.server.body_limit,
            request_timeout: config.server.request_timeout,
            graphiql: config.graphql.graphiql,
            connector_files: Arc::new(files),
            verifier,
            policies: Arc::new(policies),
            limits,
            allowlist,
            open_introspection: config.profile == "demo",
            max_aliases: config.graphql.max_aliases,
            audit: audit.clone(),
        };
        let addr = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(App {
            listener,
            router: http::router(state),
            addr,
            audit,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and writes
    /// every access-audit record they produced before returning.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "hub listening");
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        self.audit.close().await;
        served
    }
}

/// What `c360 check` validates without opening the database or binding a port:
/// connector specs, the token keys, the policies against the schema, the allowlist.
pub async fn check(config: &Config) -> Result<(), StartError> {
    connectors::load(&config.connectors, &config::process_env)?;
    auth::Verifier::new(&config.auth, &config.profile)?;
    let policies = auth::Policies::load(&config.access.policies)?;
    policies.check_against(&graphql::schema_fields(&graphql::bare_schema()).await)?;
    if let Some(path) = &config.graphql.allowlist {
        auth::allowlist::Allowlist::load(path, &config.graphql.allowlist_roles)?;
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
