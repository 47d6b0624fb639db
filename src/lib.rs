//! c360: a GraphQL customer-360 hub for banks.
//!
//! # Layout
//! - [`config`]: layered configuration; the only reader of the environment.
//! - [`domain`]: canonical banking types (money as `rust_decimal`), no I/O.
//! - [`connectors`]: the `Connector` trait and the declarative REST runtime driven by
//!   `connectors/*.toml`.
//! - [`upstream`]: typed reads over the connectors (customers, accounts, cards, …).
//! - [`cache`]: the response tier and the entity tiers (in-process and Redis).
//! - [`metrics`]: each hub's Prometheus registry, behind its `/metrics`.
//! - [`telemetry`]: log lines and spans (OTLP export when configured), W3C trace
//!   context toward the upstreams.
//! - [`store`]: the hub's own SQL database (SQLite or PostgreSQL): interactions,
//!   consents, contact preferences, the access audit; embedded migrations.
//! - [`bus`]: publish/subscribe, in-process or across instances through Redis.
//! - [`feed`]: change events (the bank's broker, `POST /events`) and the one path
//!   that applies them: every tier of every hub invalidated, the snapshot refreshed.
//! - [`graphql`]: the schema, per-request loaders, errors as GraphQL errors.
//! - [`auth`]: the viewer of a request, masking of personal data, and the batched
//!   writer of the access audit.
//! - [`http`]: the router: GraphQL over HTTP and WebSocket, health and readiness.
//! - [`demo`] (feature `demo`, on by default): sandbox and hub in one process, for
//!   `c360 demo`, and the bench's reference server. The simulated bank
//!   ([`sandbox`], crate `c360-sandbox`) and the load generator ([`bench`], crate
//!   `c360-bench`) come with the same feature; a production build
//!   (`--no-default-features`) has none of them.
//! - [`errors`]: the error catalogue (every `extensions.code` and its HTTP status) and
//!   the one error type that renders as an HTTP response and as a GraphQL error.

pub mod allocator;
pub mod auth;
pub mod bus;
pub mod cache;
pub mod commands;
pub mod config;
pub mod connectors;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod errors;
pub mod export;
pub mod feed;
pub mod graphql;
pub mod http;
pub mod insights;
pub mod metrics;
pub mod redis_client;
pub mod snapshot;
pub mod store;
pub mod telemetry;
pub mod upstream;

#[cfg(feature = "demo")]
pub use c360_bench as bench;
#[cfg(feature = "demo")]
pub use c360_sandbox as sandbox;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::bus::Bus;
use crate::config::Config;
use crate::connectors::{ConnectorError, Connectors, SpecErrors};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::upstream::Upstreams;

/// Parsed GraphQL documents kept in process: a front-office suite sends a few hundred
/// distinct documents, a few kilobytes of text each, so 16 MiB keeps them all.
const PARSED_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Why the hub could not start. `main` prints it with its cause chain, so a variant
/// that wraps an error says what failed and leaves the cause to `source()`; the spec
/// problems, which the message must list (an operator fixes them from it), are the
/// message itself.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Every setting production refuses, listed in the message.
    #[error(transparent)]
    UnsafeForProduction(#[from] config::UnsafeForProduction),
    /// The problems, each naming its file and key, are listed under one heading; they
    /// are the message, not a cause chained below it.
    #[error("connector specs are invalid:\n{0}")]
    Connectors(SpecErrors),
    #[error("connector setup failed")]
    Client(#[from] ConnectorError),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error(transparent)]
    CacheKey(#[from] cache::crypto::CryptoError),
    #[error("database")]
    Store(#[from] StoreError),
    #[error("redis.ca_file {path}")]
    RedisCa {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("redis")]
    Redis(#[from] redis::RedisError),
    #[error("policies")]
    Policies(#[from] auth::PolicyError),
    #[error("insight rules")]
    Insights(#[from] insights::InsightConfigError),
    #[error("authentication")]
    Auth(#[from] auth::AuthSetupError),
    #[error("access audit")]
    AuditKeys(#[from] store::ChainKeyError),
    /// Names the setting and its environment variable itself.
    #[error(transparent)]
    Deidentify(#[from] auth::DeidentifyError),
    #[error("allowlist")]
    Allowlist(#[from] auth::allowlist::AllowlistError),
    #[error("{setting}: {problem}")]
    Setting {
        setting: &'static str,
        problem: String,
    },
    /// Names the `[feed]` setting at fault itself.
    #[error(transparent)]
    Feed(#[from] feed::FeedSetupError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl From<SpecErrors> for StartError {
    fn from(errors: SpecErrors) -> Self {
        StartError::Connectors(errors)
    }
}

/// A hub, bound to its port and ready to serve.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    audit: auth::AuditWriter,
    shutting_down: tokio::sync::watch::Sender<bool>,
    shutdown_timeout: std::time::Duration,
    reloader: Reloader,
    /// Applies change events, whichever source they come from.
    changes: Arc<feed::Changes>,
    /// The broker feed, started with the hub (`feed.url`).
    feed: Option<Box<dyn feed::ChangeFeed>>,
    /// The console this hub serves, if any.
    console: Option<Arc<http::ConsoleSite>>,
}

/// How long a stopping hub waits for its change feed to hand back what it holds.
const FEED_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reloads the connector files and the policies without a restart (SIGHUP): both are
/// read and checked first, and put in place only if both are valid, so a bad edit
/// leaves the hub running as it was. A reload that takes effect drops this hub's
/// response tier: its answers were shaped by the policies and mappings just replaced,
/// and one of them replayed would show a field the new policies deny. Reloading is per
/// process: each hub drops its own tier on its own SIGHUP (the entity tiers hold
/// upstream data, which a reload does not change).
#[derive(Clone)]
pub struct Reloader {
    connectors: config::ConnectorsConfig,
    policies_path: std::path::PathBuf,
    upstreams: Upstreams,
    policies: auth::LivePolicies,
    schema: graphql::AppSchemas,
    /// The hub's metrics, which new connectors count into.
    metrics: Arc<Metrics>,
    responses: Option<Arc<cache::ResponseCache<auth::AccessSummary>>>,
}

/// Drops, on this instance, whatever any instance announces as invalidated
/// (`{"tags": [...]}` on [`cache::INVALIDATE_CHANNEL`]): the in-process entity tier and the
/// response tier, which Redis cannot reach. It is wired here, with the app, because
/// the cache knows nothing of the bus.
fn listen_for_invalidations(
    bus: &Bus,
    entities: Arc<cache::EntityCache>,
    responses: Option<Arc<cache::ResponseCache<auth::AccessSummary>>>,
) {
    use futures::StreamExt;
    let mut messages = Box::pin(bus.subscribe(cache::INVALIDATE_CHANNEL));
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            let tags: Vec<String> = message
                .get("tags")
                .and_then(|t| serde_json::from_value(t.clone()).ok())
                .unwrap_or_default();
            if tags.is_empty() {
                continue;
            }
            let l1 = entities.invalidate_local(&tags);
            let response = responses.as_ref().map(|r| r.invalidate(&tags)).unwrap_or(0);
            tracing::debug!(tags = tags.len(), l1, response, "invalidation received");
        }
    });
}

/// Bus messages sealed with the cache's key, for their channel. Wired here because
/// the bus knows nothing of the cache's keys, nor of the metrics.
struct BusSeal {
    sealer: cache::crypto::Sealer,
    metrics: Arc<Metrics>,
    /// Whether a refused message has been logged: the first is, the rest are counted.
    logged: std::sync::atomic::AtomicBool,
}

impl bus::Seal for BusSeal {
    fn seal(&self, channel: &str, message: &[u8]) -> Vec<u8> {
        self.sealer.seal(channel.as_bytes(), message)
    }

    fn open(&self, channel: &str, message: &[u8]) -> Option<Vec<u8>> {
        match self.sealer.open(channel.as_bytes(), message) {
            Ok(plain) => Some(plain),
            Err(rejected) => {
                self.metrics
                    .bus_rejected
                    .with_label_values(&[rejected.as_str()])
                    .inc();
                if !self.logged.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        reason = rejected.as_str(),
                        "a bus message from Redis did not open and was dropped; later ones are only counted (c360_bus_messages_rejected_total)"
                    );
                }
                None
            }
        }
    }
}

/// Why a reload was refused; the running configuration stays. Logged on its own
/// (`%error`), so each variant is its cause, printed once.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("connector specs are invalid:\n{0}")]
    Connectors(SpecErrors),
    #[error("connector setup failed: {0}")]
    Client(ConnectorError),
    #[error("policies: {0}")]
    Policies(auth::PolicyError),
}

// By hand rather than `#[from]`, which would also make each cause the error's
// `source()`: the reload log line prints the message, cause included, once.
impl From<SpecErrors> for ReloadError {
    fn from(errors: SpecErrors) -> Self {
        ReloadError::Connectors(errors)
    }
}

impl From<ConnectorError> for ReloadError {
    fn from(error: ConnectorError) -> Self {
        ReloadError::Client(error)
    }
}

impl From<auth::PolicyError> for ReloadError {
    fn from(error: auth::PolicyError) -> Self {
        ReloadError::Policies(error)
    }
}

impl Reloader {
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let specs = connectors::load(&self.connectors, &config::process_env)?;
        let connectors = Connectors::from_specs(specs, &self.metrics)?;
        let mut policies = auth::Policies::load(&self.policies_path)?;
        policies.check_against(&graphql::schema_fields(self.schema.policed()).await)?;
        self.upstreams.replace_connectors(connectors);
        self.policies.replace(policies);
        if let Some(responses) = &self.responses {
            responses.clear();
        }
        Ok(())
    }

    /// Reloads on every SIGHUP for as long as the hub runs, logging the outcome.
    fn listen_for_hangups(self) {
        #[cfg(unix)]
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload by restarting");
                return;
            };
            while hangups.recv().await.is_some() {
                match self.reload().await {
                    Ok(()) => tracing::info!("connectors and policies reloaded"),
                    Err(error) => tracing::error!(
                        error = %error,
                        "reload refused; the running connectors and policies stay"
                    ),
                }
            }
        });
    }
}

impl App {
    /// Loads and checks the connector specs, opens the database and applies its
    /// migrations, connects the bus, builds the schema and binds the port the config
    /// names (0 picks a free one; [`App::local_addr`] says which). Every part of the
    /// hub counts into one [`Metrics`] of its own, served on its `/metrics`.
    ///
    /// In the production profile, a configuration with any relaxed setting production
    /// refuses (no identity-provider key, a development key, GraphiQL, open
    /// introspection) is refused before anything else, whoever starts the hub.
    pub async fn build(config: Config) -> Result<App, StartError> {
        config.unsafe_for_production()?;
        let metrics = Arc::new(Metrics::new());
        let verifier = auth::Verifier::new(&config.auth, config.profile)?;
        let audit_keys = store::ChainKeys::from_config(&config.access, config.profile)?;
        let mut policies = auth::Policies::load(&config.access.policies)?;
        let deidentify = Arc::new(auth::Deidentify::from_config(&config.bi, config.profile)?);
        let insights = Arc::new(insights::InsightConfig::load(&config.insights.rules)?);
        let allowlist = match &config.graphql.allowlist {
            Some(path) => Some(Arc::new(auth::allowlist::Allowlist::load(
                path,
                &config.graphql.allowlist_roles,
            )?)),
            None => None,
        };
        let specs = connectors::load(&config.connectors, &config::process_env)?;
        let files = specs.iter().map(|s| s.file.clone()).collect();
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
        let redis = match &config.redis.url {
            Some(url) => {
                let tier = cache::RedisTier::start(
                    cache::RedisSettings {
                        url: url.clone(),
                        cluster: config.redis.cluster,
                        prefix: config.redis.key_prefix.clone(),
                        timeout: config.redis.timeout,
                        ca: match &config.redis.ca_file {
                            Some(path) => {
                                Some(std::fs::read(path).map_err(|source| StartError::RedisCa {
                                    path: path.clone(),
                                    source,
                                })?)
                            }
                            None => None,
                        },
                    },
                    sealer.clone(),
                    metrics.clone(),
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
            metrics.clone(),
        ));
        let responses = config.cache.response_enabled.then(|| {
            Arc::new(cache::ResponseCache::new(
                config.cache.response_max_bytes,
                config.cache.response_max_entry_bytes,
                config.cache.response_max_ttl,
                // Each replayed read: a CIF and a set of classes.
                |reads: &auth::AccessSummary| 64 * reads.reads.len(),
                metrics.clone(),
            ))
        });
        let upstreams = Upstreams::new(Connectors::from_specs(specs, &metrics)?, entities);
        let store = Store::connect(&config.database, &metrics).await?;
        let applied = store.migrate().await?;
        if applied > 0 {
            tracing::info!(
                applied,
                backend = store.backend().as_str(),
                "database migrated"
            );
        }
        let bus_seal = sealer.map(|sealer| {
            Arc::new(BusSeal {
                sealer,
                metrics: metrics.clone(),
                logged: std::sync::atomic::AtomicBool::new(false),
            }) as Arc<dyn bus::Seal>
        });
        let bus = Bus::connect(&config.redis, bus_seal).await?;
        listen_for_invalidations(&bus, upstreams.cache().clone(), responses.clone());
        // The snapshot's rows are computed from the systems themselves, not the cache
        // tiers: a sweep must not evict the front office's hot set, and a change event's
        // recomputation must read the record as it is now.
        let uncached = upstreams.with_cache(no_cache(&config, &metrics));
        let snapshot_rows =
            snapshot::SnapshotBuilder::new(uncached, store.clone(), insights.clone());
        let snapshot_refresh: Option<Arc<dyn feed::SnapshotRefresh>> =
            Some(Arc::new(SnapshotRows(snapshot_rows.clone())));
        let changes = Arc::new(feed::Changes::new(
            upstreams.clone(),
            responses.clone(),
            bus.clone(),
            snapshot_refresh,
        ));
        let change_feed = feed::RabbitFeed::from_config(
            &config.feed,
            store.clone(),
            changes.clone(),
            metrics.clone(),
        )?
        .map(|feed| Box::new(feed) as Box<dyn feed::ChangeFeed>);
        let schema = graphql::build_schema(
            upstreams.clone(),
            config.graphql.clone(),
            store.clone(),
            bus.clone(),
            insights.clone(),
        );
        policies.check_against(&graphql::schema_fields(schema.policed()).await)?;
        let live_policies = auth::LivePolicies::new(policies);
        let reloader = Reloader {
            connectors: config.connectors.clone(),
            policies_path: config.access.policies.clone(),
            upstreams: upstreams.clone(),
            policies: live_policies.clone(),
            schema: schema.clone(),
            metrics: metrics.clone(),
            responses: responses.clone(),
        };
        let audit = auth::AuditWriter::start(
            store.clone(),
            Arc::new(audit_keys),
            auth::AuditSettings {
                max_uncommitted_rows: config.access.audit_max_pending_rows,
                ..auth::AuditSettings::default()
            },
            metrics.clone(),
        );
        let (shutting_down, shutdown_seen) = tokio::sync::watch::channel(false);
        if let Some(every) = config.snapshot.schedule {
            snapshot::schedule(
                snapshot_rows.clone(),
                every,
                snapshot_settings(&config.snapshot)?,
                shutdown_seen.clone(),
            );
        }
        let limits = auth::limits::RateLimits::new(&config.access);
        limits.spawn_janitor();
        let console = http::ConsoleSite::from_config(&config);
        let state = http::AppState::new(http::Shared {
            schema,
            upstreams,
            store,
            bus,
            responses,
            persisted: Arc::new(cache::PersistedQueries::new(redis.clone())),
            documents: Arc::new(cache::ParsedDocuments::new(PARSED_DOCUMENT_BYTES)),
            events_seen: Arc::new(http::SeenEvents::new(config.events.max_age, redis.clone())),
            changes: changes.clone(),
            redis,
            events_secret: config.events.secret.clone().map(Arc::from),
            body_limit: config.server.body_limit,
            request_timeout: config.server.request_timeout,
            graphiql: config.graphiql(),
            console: console.clone(),
            connector_files: Arc::new(files),
            verifier,
            policies: live_policies.clone(),
            deidentify,
            limits,
            allowlist,
            open_introspection: config.open_introspection(),
            max_aliases: config.graphql.max_aliases,
            audit: audit.clone(),
            shutting_down: shutdown_seen,
            metrics,
        });
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
            shutting_down,
            shutdown_timeout: config.server.shutdown_timeout,
            reloader,
            changes,
            feed: change_feed,
            console,
        })
    }

    /// Where change events are applied: to plug the snapshot's refresher in
    /// ([`feed::Changes::set_snapshot_refresh`]) or to apply changes from elsewhere.
    pub fn changes(&self) -> Arc<feed::Changes> {
        self.changes.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The console this hub serves (`None` when neither it nor GraphiQL is on).
    pub fn console(&self) -> Option<&Arc<http::ConsoleSite>> {
        self.console.as_ref()
    }

    /// What SIGHUP runs; tests call it directly.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and writes
    /// every access-audit record they produced before returning.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "hub listening");
        self.reloader.clone().listen_for_hangups();
        let shutting_down = self.shutting_down;
        let mut stopping = shutting_down.subscribe();
        // The feed stops with the hub: it hands back what it has not acknowledged.
        let feed = self
            .feed
            .map(|feed| tokio::spawn(feed.run(shutting_down.subscribe())));
        let signal = async move {
            shutdown.await;
            // New connections stop here; open WebSockets close themselves on this.
            let _ = shutting_down.send(true);
        };
        // Without TCP_NODELAY a second small write before the peer's ACK (a pushed
        // subscription event, a response while the last is unacknowledged) waits for
        // it: up to the peer's delayed-ACK timer, 40 ms on Linux.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let grace = self.shutdown_timeout;
        let deadline = async move {
            let _ = stopping.wait_for(|down| *down).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = server => served,
            () = deadline => {
                tracing::warn!(?grace, "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        };
        if let Some(feed) = feed {
            if tokio::time::timeout(FEED_STOP_TIMEOUT, feed).await.is_err() {
                tracing::warn!("the change feed did not stop in time; its unacknowledged events are redelivered");
            }
        }
        self.audit.close().await;
        tracing::info!("stopped; access audit written");
        served
    }
}

/// A change event recomputes its customers' snapshot rows (the feed does not know the
/// snapshot; this adapter joins them).
struct SnapshotRows(snapshot::SnapshotBuilder);

impl feed::SnapshotRefresh for SnapshotRows {
    fn refresh<'a>(
        &'a self,
        customers: &'a [domain::Cif],
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .refresh(customers)
                .await
                .map(|_| ())
                .map_err(|e| e.summary())
        })
    }
}

/// `[snapshot]`'s batch and concurrency, checked, for a sweep under `serve`.
fn snapshot_settings(
    config: &config::SnapshotConfig,
) -> Result<snapshot::SweepSettings, StartError> {
    if !(1..=100).contains(&config.batch) {
        return Err(StartError::Setting {
            setting: "snapshot.batch",
            problem: format!(
                "{} is not 1 to 100 (customers per upstream call)",
                config.batch
            ),
        });
    }
    if !(1..=64).contains(&config.concurrency) {
        return Err(StartError::Setting {
            setting: "snapshot.concurrency",
            problem: format!(
                "{} is not 1 to 64 (pages computed at once)",
                config.concurrency
            ),
        });
    }
    Ok(snapshot::SweepSettings {
        batch: config.batch,
        concurrency: config.concurrency,
        // Unique per hub, even for two hubs in one process (tests), so that the lease
        // tells them apart.
        owner: format!(
            "hub-{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned()),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ),
        ..snapshot::SweepSettings::default()
    })
}

/// An entity cache with every tier off: reads go to the systems themselves.
fn no_cache(config: &Config, metrics: &Arc<Metrics>) -> Arc<cache::EntityCache> {
    Arc::new(cache::EntityCache::new(
        cache::EntitySettings {
            enabled: false,
            l1_max_bytes: 0,
            lock_ttl: config.cache.lock_ttl,
            tag_ttl: config.cache.tag_ttl,
        },
        None,
        &config.redis.key_prefix,
        metrics.clone(),
    ))
}

/// What `c360 snapshot build` and `status` work with: the connectors (each system's
/// rate limit, bulkhead and breaker as in a hub) without cache tiers, so a sweep
/// reads the systems themselves, and the migrated database.
pub async fn snapshot_builder(config: &Config) -> Result<snapshot::SnapshotBuilder, StartError> {
    let metrics = Arc::new(Metrics::new());
    let insights = insights::InsightConfig::load(&config.insights.rules)?;
    let specs = connectors::load(&config.connectors, &config::process_env)?;
    let upstreams = Upstreams::new(
        Connectors::from_specs(specs, &metrics)?,
        no_cache(config, &metrics),
    );
    let store = Store::connect(&config.database, &metrics).await?;
    store.migrate().await?;
    Ok(snapshot::SnapshotBuilder::new(
        upstreams,
        store,
        Arc::new(insights),
    ))
}

/// What `c360 check` validates without opening the database or binding a port: what
/// production refuses, connector specs, the token keys, the policies against the
/// schema, the `[feed]` settings, the allowlist.
pub async fn check(config: &Config) -> Result<(), StartError> {
    let posture = config.unsafe_for_production();
    connectors::load(&config.connectors, &config::process_env)?;
    // A missing or development key is one of the problems the posture lists, with
    // the others; the verifier and the other keys would report only the first of them.
    if posture.is_ok() {
        auth::Verifier::new(&config.auth, config.profile)?;
        store::ChainKeys::from_config(&config.access, config.profile)?;
        auth::Deidentify::from_config(&config.bi, config.profile)?;
    }
    let mut policies = auth::Policies::load(&config.access.policies)?;
    policies.check_against(&graphql::schema_fields(&graphql::bare_schema()).await)?;
    insights::InsightConfig::load(&config.insights.rules)?;
    feed::amqp::check(&config.feed)?;
    if let Some(path) = &config.graphql.allowlist {
        auth::allowlist::Allowlist::load(path, &config.graphql.allowlist_roles)?;
    }
    posture?;
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
