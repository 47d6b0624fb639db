//! The shared tier: Redis (single node, `rediss://` TLS, or a cluster).
//!
//! Every operation is bounded by a short timeout and never fails a request: a Redis
//! that is down, slow or restarting turns into cache misses, a metric, and a
//! `degraded` status in `/readyz`. The connection is (re)made lazily, at most once
//! per [`RECONNECT_INTERVAL`], and redis-rs's connection manager reconnects an
//! established connection by itself.
//!
//! A batch of keys is one `MGET`; writes and their tag sets are one pipeline (on a
//! cluster, concurrent commands routed per node, since a pipeline may not cross slots). Values
//! are sealed with AES-256-GCM when a key is configured, each bound to its own Redis
//! key: a value that does not open where it is read (copied from another key, altered,
//! or in an older format) is a miss, counted in `c360_cache_seal_rejected_total`. Key
//! names carry no personal data beyond the CIF: other identifiers (account numbers,
//! search terms) are hashed by the caller.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;

use super::crypto::{Rejected, Sealer};
use crate::metrics::Metrics;

/// How often a hub retries a Redis it cannot reach.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Connection::Single(c) => cmd.query_async(c).await,
            Connection::Cluster(c) => cmd.query_async(c).await,
        }
    }

    /// Runs commands as one batch: a pipeline on a single node; on a cluster, where a
    /// pipeline may not cross slots, the commands concurrently (the cluster client
    /// routes each to its node).
    async fn batch<T: redis::FromRedisValue>(
        &mut self,
        commands: Vec<redis::Cmd>,
    ) -> redis::RedisResult<Vec<T>> {
        match self {
            Connection::Single(c) => {
                let mut pipe = redis::pipe();
                for command in commands {
                    pipe.add_command(command);
                }
                pipe.query_async(c).await
            }
            Connection::Cluster(c) => {
                let calls = commands.into_iter().map(|command| {
                    let mut connection = c.clone();
                    async move { command.query_async::<T>(&mut connection).await }
                });
                futures::future::try_join_all(calls).await
            }
        }
    }
}

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL; for a cluster, several separated by commas.
    pub url: String,
    pub cluster: bool,
    /// Prefix of every key, so that several deployments can share one Redis.
    pub prefix: String,
    /// Budget of one operation; past it the operation counts as a miss.
    pub timeout: Duration,
    /// PEM of the CA to trust for `rediss://`, instead of the public roots.
    pub ca: Option<Vec<u8>>,
}

pub struct RedisTier {
    settings: RedisSettings,
    sealer: Option<Sealer>,
    connection: RwLock<Option<Connection>>,
    healthy: AtomicBool,
    /// Whether a value that did not open has been logged yet: the first is a warning,
    /// the rest are counted, so that a flood of them does not flood the log.
    rejection_logged: AtomicBool,
    metrics: Arc<Metrics>,
}

impl RedisTier {
    /// Creates the tier and starts connecting in the background; the first
    /// operations are misses until the connection is made. Its health and failed
    /// operations count into `metrics`.
    pub fn start(
        settings: RedisSettings,
        sealer: Option<Sealer>,
        metrics: Arc<Metrics>,
    ) -> Arc<RedisTier> {
        let tier = Arc::new(RedisTier {
            settings,
            sealer,
            connection: RwLock::new(None),
            healthy: AtomicBool::new(false),
            rejection_logged: AtomicBool::new(false),
            metrics,
        });
        tokio::spawn(keep_connected(Arc::downgrade(&tier)));
        tier
    }

    /// Connects now, for start-up: a hub that can reach Redis starts with it.
    pub async fn connect_now(&self) -> bool {
        if self.current().is_some() {
            return true;
        }
        match self.connect().await {
            Ok(connection) => {
                *self.connection.write().expect("connection lock") = Some(connection);
                self.mark(true, "connect");
                true
            }
            Err(error) => {
                self.mark(false, "connect");
                tracing::warn!(%error, "redis unreachable at start; retrying in the background");
                false
            }
        }
    }

    fn current(&self) -> Option<Connection> {
        self.connection.read().expect("connection lock").clone()
    }

    pub fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// Whether the last operation succeeded.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn mark(&self, ok: bool, op: &str) {
        self.healthy.store(ok, Ordering::Relaxed);
        self.metrics.redis_up.set(i64::from(ok));
        if !ok {
            self.metrics.redis_errors.with_label_values(&[op]).inc();
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        let timeout = self.settings.timeout.max(Duration::from_millis(500));
        if self.settings.cluster {
            let nodes: Vec<&str> = self.settings.url.split(',').map(str::trim).collect();
            let mut builder = redis::cluster::ClusterClientBuilder::new(nodes);
            if let Some(ca) = &self.settings.ca {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                });
            }
            let client = builder
                .connection_timeout(timeout)
                .response_timeout(self.settings.timeout)
                .build()
                .map_err(|e| e.to_string())?;
            let connection = tokio::time::timeout(timeout, client.get_async_connection())
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            Ok(Connection::Cluster(connection))
        } else {
            let client = crate::redis_client::client(
                self.settings.url.as_str(),
                self.settings.ca.as_deref(),
            )
            .map_err(|e| e.to_string())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(self.settings.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            let manager =
                tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                    .await
                    .map_err(|_| "connect timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
            Ok(Connection::Single(manager))
        }
    }

    /// Runs one operation within the budget; a failure is logged, counted and `None`.
    async fn run<T, F, Fut>(&self, op: &str, f: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let Some(connection) = self.current() else {
            self.metrics.redis_errors.with_label_values(&[op]).inc();
            return None;
        };
        match tokio::time::timeout(self.settings.timeout, f(connection)).await {
            Ok(Ok(value)) => {
                self.mark(true, op);
                Some(value)
            }
            Ok(Err(error)) => {
                self.mark(false, op);
                tracing::warn!(op, %error, "redis operation failed");
                None
            }
            Err(_) => {
                self.mark(false, op);
                tracing::warn!(op, timeout = ?self.settings.timeout, "redis operation timed out");
                None
            }
        }
    }

    /// Values of `keys` (opened), `None` where absent, unreadable or Redis failed.
    pub async fn mget(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        if keys.is_empty() {
            return Vec::new();
        }
        let cmd = {
            let mut cmd = redis::cmd("MGET");
            for key in keys {
                cmd.arg(key);
            }
            cmd
        };
        let values: Option<Vec<Option<Vec<u8>>>> = self
            .run("mget", |mut c| async move { c.query(&cmd).await })
            .await;
        match values {
            Some(values) => values
                .into_iter()
                .zip(keys)
                .map(|(v, key)| v.and_then(|v| self.open(key, &v)))
                .collect(),
            None => vec![None; keys.len()],
        }
    }

    /// The value stored under `key`, opened; `None` (a miss) when it does not open
    /// there.
    fn open(&self, key: &str, value: &[u8]) -> Option<Vec<u8>> {
        let Some(sealer) = &self.sealer else {
            return Some(value.to_vec());
        };
        match sealer.open(key.as_bytes(), value) {
            Ok(plain) => Some(plain),
            Err(rejected) => {
                self.rejected(rejected);
                None
            }
        }
    }

    /// Counts a value that did not open and logs the first. The key name is left
    /// out: it carries a CIF.
    fn rejected(&self, rejected: Rejected) {
        self.metrics
            .cache_seal_rejected
            .with_label_values(&[rejected.as_str()])
            .inc();
        if !self.rejection_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = rejected.as_str(),
                "a Redis value did not open and was read as a miss; later ones are only counted (c360_cache_seal_rejected_total)"
            );
        }
    }

    /// `value` sealed for `key`, where a key is configured.
    fn seal(&self, key: &str, value: &[u8]) -> Vec<u8> {
        match &self.sealer {
            Some(sealer) => sealer.seal(key.as_bytes(), value),
            None => value.to_vec(),
        }
    }

    /// Stores values with their time to live, and adds each key to its tags' sets
    /// (kept as long as `tag_ttl`), in one pipeline.
    pub async fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration, Vec<String>)>,
        tag_ttl: Duration,
    ) {
        if items.is_empty() {
            return;
        }
        let mut commands = Vec::new();
        for (key, value, ttl, tags) in &items {
            let mut set = redis::cmd("SET");
            set.arg(key)
                .arg(self.seal(key, value))
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64);
            commands.push(set);
            for tag in tags {
                let name = self.tag_key(tag);
                let mut add = redis::cmd("SADD");
                add.arg(&name).arg(key);
                commands.push(add);
                let mut expire = redis::cmd("PEXPIRE");
                expire.arg(&name).arg(tag_ttl.as_millis() as u64);
                commands.push(expire);
            }
        }
        self.run("set", |mut c| async move {
            c.batch::<redis::Value>(commands).await
        })
        .await;
    }

    /// The Redis key of a tag's set. Tags name records (`core:account:6217…`); the
    /// record id is hashed so that key names show no account or card numbers.
    pub fn tag_key(&self, tag: &str) -> String {
        format!("{}t:{}", self.settings.prefix, super::short_hash(tag))
    }

    /// Deletes every key carrying any of `tags`, and the tag sets; how many keys went.
    pub async fn invalidate_tags(&self, tags: &[String]) -> usize {
        if tags.is_empty() {
            return 0;
        }
        let sets: Vec<String> = tags.iter().map(|t| self.tag_key(t)).collect();
        let commands = sets.iter().map(|set| one("SMEMBERS", set)).collect();
        let members: Option<Vec<Vec<String>>> = self
            .run("smembers", |mut c| async move { c.batch(commands).await })
            .await;
        let keys: Vec<String> = members.unwrap_or_default().into_iter().flatten().collect();
        // One DEL per key: on a cluster, a multi-key DEL may not cross slots.
        let deletes = keys
            .iter()
            .chain(sets.iter())
            .map(|key| one("DEL", key))
            .collect();
        self.run("del", |mut c| async move { c.batch::<i64>(deletes).await })
            .await;
        keys.len()
    }

    /// Tries to take short locks on `keys` (`SET NX PX`); true where taken.
    pub async fn try_locks(&self, keys: &[String], ttl: Duration) -> Vec<bool> {
        let commands = keys
            .iter()
            .map(|key| {
                let mut lock = redis::cmd("SET");
                lock.arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64);
                lock
            })
            .collect();
        let answers: Option<Vec<Option<String>>> = self
            .run("lock", |mut c| async move { c.batch(commands).await })
            .await;
        match answers {
            Some(answers) => answers.into_iter().map(|a| a.is_some()).collect(),
            // Without Redis there is no one to wait for: every lock is ours.
            None => vec![true; keys.len()],
        }
    }

    pub async fn release_locks(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let deletes = keys.iter().map(|key| one("DEL", key)).collect();
        self.run(
            "unlock",
            |mut c| async move { c.batch::<i64>(deletes).await },
        )
        .await;
    }

    /// One value (for persisted queries).
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.mget(&[key.to_owned()]).await.pop().flatten()
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(self.seal(key, value))
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.run("set", |mut c| async move { c.query::<()>(&cmd).await })
            .await;
    }

    /// Sets `key` only if it does not exist (`SET NX PX`), so that among every hub
    /// sharing this Redis one claims it first: `Some(true)` for that one,
    /// `Some(false)` when it was already there, `None` when Redis did not answer.
    pub async fn claim(&self, key: &str, ttl: Duration) -> Option<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.run("claim", |mut c| async move {
            c.query::<Option<String>>(&cmd).await
        })
        .await
        .map(|answer| answer.is_some())
    }

    /// Answers `PING` within the budget, for `/readyz`.
    pub async fn ping(&self) -> bool {
        let cmd = redis::cmd("PING");
        self.run("ping", |mut c| async move { c.query::<String>(&cmd).await })
            .await
            .is_some()
    }
}

/// A command with one argument.
fn one(name: &str, arg: &str) -> redis::Cmd {
    let mut command = redis::cmd(name);
    command.arg(arg);
    command
}

/// Makes the connection while the tier lives and has none.
async fn keep_connected(tier: Weak<RedisTier>) {
    loop {
        let Some(strong) = tier.upgrade() else {
            return;
        };
        if strong.current().is_none() && strong.connect_now().await {
            tracing::info!("redis connected");
        }
        drop(strong);
        tokio::time::sleep(RECONNECT_INTERVAL).await;
    }
}
