//! Layered configuration: built-in defaults < `config/default.toml` <
//! `config/<C360_PROFILE>.toml` < `--config FILE` < environment (`C360_SECTION__FIELD`).
//!
//! This module is the only place that reads the environment; `${VAR}` references in
//! connector files are expanded by [`expand_env`].

mod console;
mod env;
mod feed;
mod otlp;
mod posture;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use console::{ConsoleConfig, ConsoleSettingError};
pub use env::{expand_env, process_env, EnvError};
pub use feed::{redact_url, FeedBinding, FeedConfig, FeedFields, QueueType, DEFAULT_EXCHANGE};
pub use otlp::{OtlpConfig, OtlpProtocol, DEFAULT_SERVICE_NAME};
pub use posture::{Relaxed, UnsafeForProduction};

/// Largest request body the GraphQL endpoint reads. A 360 query with variables is a few
/// kilobytes; 256 KiB leaves room for long persisted documents while refusing the
/// multi-megabyte bodies that only attackers send.
const DEFAULT_BODY_LIMIT: usize = 256 * 1024;
/// `customers(ids:)` and batch endpoints: the sandbox and most bank ESBs take 100 keys.
const DEFAULT_MAX_IDS: usize = 100;
/// The 360 query nests 7 deep; 15 leaves room for any screen and none for the
/// recursive queries that exist only to exhaust a server.
const DEFAULT_MAX_DEPTH: usize = 15;
/// The 360 query selects about 50 fields; a BI page of 100 customers with a few
/// fields each stays far below 1,000.
const DEFAULT_MAX_COMPLEXITY: usize = 1_000;
/// No screen needs more than a handful of aliases.
const DEFAULT_MAX_ALIASES: usize = 30;
/// A person at a screen makes a few requests a second; a portal session fewer. 50/s
/// sustained with bursts of 100 stops scripts without touching people.
const DEFAULT_SUBJECT_RATE: u32 = 50;
const DEFAULT_SUBJECT_BURST: u32 = 100;
/// One application (a teller front end serving a whole branch network) may carry
/// many people: ten times one person.
const DEFAULT_CLIENT_RATE: u32 = 500;
const DEFAULT_CLIENT_BURST: u32 = 1_000;
/// A deployment's orchestrator usually waits 30 s after SIGTERM before SIGKILL; 20 s
/// leaves room to write the audit afterwards.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// A demo book of 10,000 customers summarised whole; a bank's book, a branch at a time.
const DEFAULT_MAX_BOOK_SCAN: usize = 20_000;
/// Page size when the client gives no `first`.
const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest `first` a client may ask for; bigger pages belong to exports, not screens.
const DEFAULT_MAX_PAGE_SIZE: usize = 100;
/// A whole GraphQL request must finish within this; upstream timeouts are shorter.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The embedded database: a SQLite file under `./data/`, created on first run.
/// Access-audit rows recorded and not yet committed before a staff read waits for room:
/// about half a kilobyte each, and enough to absorb a slow SQLite commit (a WAL
/// checkpoint) at tens of thousands of audited reads a second without holding requests
/// back (docs/performance.md). The audit writer's own default is this one.
pub const DEFAULT_AUDIT_MAX_PENDING_ROWS: usize = 32_768;
const DEFAULT_DATABASE_URL: &str = "sqlite://data/c360.db";
/// Connections per hub process. Writes are short single statements, so a handful of
/// connections serve hundreds of concurrent requests; PostgreSQL's default limit of
/// 100 connections then allows about ten hub instances.
const DEFAULT_DB_MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a database connection before it is told
/// `STORE_UNAVAILABLE`: long enough to ride out a burst, short enough that a caller
/// learns of an outage within its own timeout.
const DEFAULT_DB_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// SQLite only: how long a writer waits for another writer's lock before giving up.
const DEFAULT_DB_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prefix of every Redis key and pub/sub channel, so that several deployments (or
/// test runs) can share one Redis.
const DEFAULT_REDIS_KEY_PREFIX: &str = "c360:";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `production` (the default) or `demo` (development conveniences).
    pub profile: Profile,
    pub server: ServerConfig,
    pub graphql: GraphqlConfig,
    pub connectors: ConnectorsConfig,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub redis: RedisConfig,
    pub events: EventsConfig,
    /// Change events from the bank's broker.
    pub feed: FeedConfig,
    pub auth: AuthConfig,
    pub access: AccessConfig,
    pub bi: BiConfig,
    pub snapshot: SnapshotConfig,
    pub insights: InsightsConfig,
    /// The front-office console on `/console` and its sign-in.
    pub console: ConsoleConfig,
    pub log: LogConfig,
    /// Span export, from the standard `OTEL_*` variables; never from a file.
    #[serde(skip)]
    pub otlp: Option<OtlpConfig>,
}

/// The CRM rules' thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InsightsConfig {
    /// Tiers, RFM, lifecycle, churn, offers and FX rates; the copy built into the
    /// binary is used when the file does not exist.
    pub rules: PathBuf,
}

impl Default for InsightsConfig {
    fn default() -> Self {
        InsightsConfig {
            rules: PathBuf::from("config/insights.toml"),
        }
    }
}

/// Roles and request-rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// The roles file; the copy built into the binary is used when it does not exist.
    pub policies: PathBuf,
    /// Requests per second one token subject may make (sustained); 0: no limit.
    pub subject_rate: u32,
    /// Requests one subject may make in a burst above the rate.
    pub subject_burst: u32,
    /// Requests per second one client application (`azp`, else the peer address)
    /// may make; 0: no limit.
    pub client_rate: u32,
    pub client_burst: u32,
    /// Access-audit rows recorded and not yet committed that the hub holds in memory
    /// (about half a kilobyte each); past that, staff reads wait for room, and are
    /// refused with 503 `AUDIT_UNAVAILABLE` at the request's deadline.
    pub audit_max_pending_rows: usize,
    /// Id of the key that seals new access-audit rows
    /// (`C360_ACCESS__AUDIT_CHAIN_KEY_ID`); rows name it, so keys can rotate.
    pub audit_chain_key_id: String,
    /// Access-audit chain keys by id, base64 of at least 32 bytes
    /// (`C360_ACCESS__AUDIT_CHAIN_KEYS__<ID>`): the current one, and every earlier one
    /// that sealed rows still kept, for `c360 audit verify`. Required outside the demo
    /// profile. Never logged.
    pub audit_chain_keys: KeysById,
}

/// Secrets by id, as configured; printed as their ids only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeysById(pub BTreeMap<String, String>);

impl KeysById {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

impl std::fmt::Debug for KeysById {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// What roles with `pseudonymous = true` in the policies see instead of customers
/// and amounts (docs/bi.md).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BiConfig {
    /// Base64 of at least 32 bytes (`C360_BI__PSEUDONYM_KEY`): the HMAC-SHA256 key
    /// pseudonyms are computed under. The production profile refuses to start without
    /// it; the demo derives a fixed, public development key. Never logged.
    pub pseudonym_key: Option<String>,
    /// Names the key and starts every pseudonym made under it, so that a new key with
    /// a new id changes every pseudonym visibly.
    pub pseudonym_key_id: String,
    /// Smallest group a pseudonymous role is shown figures for (k of k-anonymity).
    pub min_group_size: u32,
    /// Upper bounds of the amount bands, ascending decimal strings, in the amount's
    /// own currency.
    pub amount_bands: Vec<rust_decimal::Decimal>,
}

/// Ten is the group size banks' BI rules commonly ask for before a figure about
/// customers may leave the analytics team.
const DEFAULT_MIN_GROUP_SIZE: u32 = 10;

impl Default for BiConfig {
    fn default() -> Self {
        BiConfig {
            pseudonym_key: None,
            pseudonym_key_id: "P1".into(),
            min_group_size: DEFAULT_MIN_GROUP_SIZE,
            amount_bands: [10_000, 50_000, 100_000, 500_000, 1_000_000]
                .into_iter()
                .map(rust_decimal::Decimal::from)
                .collect(),
        }
    }
}

impl std::fmt::Debug for BiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BiConfig")
            .field("pseudonym_key", &redacted(&self.pseudonym_key))
            .field("pseudonym_key_id", &self.pseudonym_key_id)
            .field("min_group_size", &self.min_group_size)
            .field("amount_bands", &self.amount_bands)
            .finish()
    }
}

/// The cache tiers (entity L1 and L2, responses, persisted queries).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Entity tiers on or off (off: every read goes to the upstream).
    pub enabled: bool,
    /// Bytes the in-process entity tier may hold; 0 turns L1 off (Redis only).
    pub l1_max_bytes: u64,
    /// Whole-response tier on or off.
    pub response_enabled: bool,
    pub response_max_bytes: u64,
    /// Heaviest answer the response tier keeps (body, tags and replayed reads, as
    /// weighed against `response_max_bytes`); 0: up to the whole tier.
    pub response_max_entry_bytes: u64,
    /// Longest a response is kept, whatever its entities allow.
    #[serde(with = "humantime_serde")]
    pub response_max_ttl: Duration,
    /// How long a second instance waits for another to fill a key it is fetching.
    #[serde(with = "humantime_serde")]
    pub lock_ttl: Duration,
    /// How long Redis keeps tag sets: at least the longest stale window of any spec.
    #[serde(with = "humantime_serde")]
    pub tag_ttl: Duration,
    /// Base64 of 32 bytes: Redis values are sealed with AES-256-GCM when set
    /// (`C360_CACHE__ENCRYPTION_KEY`). Never logged.
    pub encryption_key: Option<String>,
    /// Id of `encryption_key`, stored with each value so that keys can rotate.
    pub encryption_key_id: String,
    /// Earlier keys by id: values sealed with them stay readable until they expire.
    pub previous_encryption_keys: BTreeMap<String, String>,
}

/// Redis, shared by every hub instance (entity L2, persisted queries, pub/sub for
/// subscriptions and cache invalidation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS); for a cluster, node URLs separated by commas.
    /// `REDIS_URL` sets it. None: one instance, in-process tiers and pub/sub only.
    pub url: Option<String>,
    /// The URL lists cluster nodes.
    pub cluster: bool,
    /// Prefix of every key, so that deployments can share a Redis.
    pub key_prefix: String,
    /// PEM certificate of the CA that signed the Redis servers' certificates, for
    /// `rediss://` to a Redis behind the bank's internal CA; unset: the public roots.
    pub ca_file: Option<PathBuf>,
    /// Budget of one Redis operation; past it, a miss (the hub never waits on Redis).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// `POST /events`: upstream change notifications that invalidate cached data.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Shared secret: requests carry `X-C360-Signature: sha256=<HMAC-SHA256 of the body>`
    /// or `Authorization: Bearer <secret>`. Unset: the endpoint refuses everything.
    pub secret: Option<String>,
    /// How far an event's `timestamp` may be from the hub's clock, in the past or the
    /// future; its `id` is remembered for as long as the body could be accepted, so a
    /// signed body captured once cannot be sent again.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

/// `[snapshot]`: the BI snapshot's sweep when `serve` runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotConfig {
    /// How often `serve` sweeps the book: a sweep starts when the last complete one
    /// is older than this (or none exists). Unset: never (run `c360 snapshot build`
    /// from the bank's scheduler instead). Hubs sharing a database sweep one at a time.
    #[serde(with = "humantime_serde")]
    pub schedule: Option<Duration>,
    /// Customers per page and per upstream batch call (1 to 100).
    pub batch: usize,
    /// Pages computed at once.
    pub concurrency: usize,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            schedule: None,
            batch: 100,
            concurrency: 4,
        }
    }
}

/// Five minutes: wider than the clock skew of NTP-synchronised hosts and a sender's
/// retries, narrow enough that remembering every event id of the window is cheap.
pub const DEFAULT_EVENTS_MAX_AGE: Duration = Duration::from_secs(300);

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            secret: None,
            max_age: DEFAULT_EVENTS_MAX_AGE,
        }
    }
}

/// Printed configurations (a log line, a panic) show that a secret is set, never it.
fn redacted<T>(secret: &Option<T>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("enabled", &self.enabled)
            .field("l1_max_bytes", &self.l1_max_bytes)
            .field("response_enabled", &self.response_enabled)
            .field("response_max_bytes", &self.response_max_bytes)
            .field("response_max_entry_bytes", &self.response_max_entry_bytes)
            .field("response_max_ttl", &self.response_max_ttl)
            .field("lock_ttl", &self.lock_ttl)
            .field("tag_ttl", &self.tag_ttl)
            .field("encryption_key", &redacted(&self.encryption_key))
            .field("encryption_key_id", &self.encryption_key_id)
            .field(
                "previous_encryption_keys",
                &self.previous_encryption_keys.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig")
            .field("secret", &redacted(&self.secret))
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// Bearer tokens: which keys may sign them and what they must say to be accepted.
///
/// Production deployments trust their identity provider's keys (`jwks_url`) or one
/// exported public key (`public_key_file`). The HS256 development key exists so that a
/// demo works without an identity provider; since anyone holding it can mint any role,
/// it is refused outside the demo profile.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` every token must carry: tokens from another issuer, even one whose keys we
    /// happen to trust, are not ours to accept.
    pub issuer: String,
    /// `aud` a token must name (one of its audiences), so that a token issued for
    /// another application of the bank cannot be replayed here.
    pub audience: String,
    /// The identity provider's JWKS (RS256/ES256 keys), so that its key rotations need
    /// no redeployment.
    pub jwks_url: Option<String>,
    /// Age after which the cached JWKS is refetched (in the background, when in use), so
    /// that withdrawn keys stop being trusted.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// Least time between two JWKS fetches: tokens naming unknown key ids trigger a
    /// refetch, and garbage ids must not let callers hammer the identity provider.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh: Duration,
    /// A PEM public key (RSA or EC), for issuers that publish no JWKS.
    pub public_key_file: Option<PathBuf>,
    /// HS256 development key (`C360_AUTH__DEV_SECRET`), demo profile only. Never logged.
    pub dev_secret: Option<String>,
    /// File holding the development key, for setups that keep secrets out of the
    /// environment. Demo profile only.
    pub dev_secret_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf`: the identity provider's clock and ours
    /// never agree exactly.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

/// Whoever prints the configuration (`{config:?}` in a log line or a panic) must not
/// learn the development key.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url)
            .field("jwks_refresh", &self.jwks_refresh)
            .field("jwks_min_refresh", &self.jwks_min_refresh)
            .field("public_key_file", &self.public_key_file)
            .field(
                "dev_secret",
                &self.dev_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("dev_secret_file", &self.dev_secret_file)
            .field("leeway", &self.leeway)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind; `127.0.0.1` keeps a development hub off the network.
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Deadline for one whole HTTP request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// On SIGTERM or Ctrl-C: how long in-flight requests may take to finish before
    /// the hub stops anyway (the access audit is written either way).
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlConfig {
    /// Most ids `customers(ids:)` takes.
    pub max_ids: usize,
    pub default_page_size: usize,
    pub max_page_size: usize,
    /// Serve the GraphiQL page on `GET /graphql` from browsers. Unset: on in the demo
    /// profile only; production refuses to start with it on ([`Config::graphiql`]).
    pub graphiql: Option<bool>,
    /// Schema introspection for every caller, whatever their role (roles with the
    /// `introspect` capability may always). Unset: open in the demo profile only;
    /// production refuses to start with it open ([`Config::open_introspection`]).
    pub introspection: Option<bool>,
    /// Deepest selection nesting accepted; the 360 query is 7 deep.
    pub max_depth: usize,
    /// Most fields one operation may select (async-graphql's complexity, one per
    /// field); the 360 query selects about 50.
    pub max_complexity: usize,
    /// Most aliased fields in one document: aliases are how one request asks for the
    /// same expensive field a thousand times.
    pub max_aliases: usize,
    /// An Apollo persisted-query manifest (`{"operations": [{"id", "body", …}]}`):
    /// when set, only its operations may run, by id or by identical text. Portals
    /// ship this way so that a stolen token cannot run arbitrary queries.
    pub allowlist: Option<PathBuf>,
    /// Roles the allowlist applies to; empty: every role.
    pub allowlist_roles: Vec<String>,
    /// Most customers one `segmentSummary` may look through; a bigger book must be
    /// summarised a branch at a time.
    pub max_book_scan: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Folder holding `core.toml`, `cards.toml`, `loans.toml` and `channels.toml`.
    /// When it does not exist, the specs built into the binary are used.
    pub dir: PathBuf,
    /// Per-system overrides of what the connector files say.
    pub core: ConnectorOverride,
    pub cards: ConnectorOverride,
    pub loans: ConnectorOverride,
    pub channels: ConnectorOverride,
}

/// Settings that operators change per deployment without editing a connector file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorOverride {
    pub base_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub retry_attempts: Option<u32>,
    /// Replaces the cache freshness of every endpoint of the system.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Option<Duration>,
    /// Replaces the stale window of every endpoint of the system.
    #[serde(with = "humantime_serde")]
    pub cache_stale: Option<Duration>,
}

/// The hub's own SQL database (interactions, consents, contact preferences).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/file.db` (created with its folder on first run, WAL mode) or
    /// `postgres://user@host/db`. `DATABASE_URL` in the environment overrides it.
    pub url: String,
    /// Most connections this hub process opens.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// Wait for a free (or new) connection before answering `STORE_UNAVAILABLE`.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// SQLite only: how long a write waits for the database lock.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log shippers, `auto` for the profile's choice.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info,c360=debug`; `RUST_LOG` wins when set.
    pub filter: String,
}

/// Which conveniences and guards apply: chosen by `C360_PROFILE` (which also adds
/// `config/<profile>.toml` to the layers) or the `profile` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Development conveniences: development tokens (`c360 token`, the built-in
    /// key), GraphiQL, open introspection, readable log lines. `c360 demo` always runs
    /// in it; anything else only when asked (`C360_PROFILE=demo`).
    Demo,
    /// A deployed hub: tokens from the identity provider only, no GraphiQL, no open
    /// introspection, JSON log lines. The default, so that a hub started without
    /// thinking about it is closed rather than open ([`Config::unsafe_for_production`]).
    #[default]
    Production,
}

impl Profile {
    /// Every profile, in the order error messages list them.
    pub const ALL: [Profile; 2] = [Profile::Demo, Profile::Production];

    /// The name `C360_PROFILE` and the `profile` key use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Demo => "demo",
            Profile::Production => "production",
        }
    }

    /// The profile of that exact name, if there is one.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 256 MiB of mapped entities, weighed as resident memory: a full profile (customer,
/// accounts, cards, loans, online banking) weighs about 5.0 kB, so 50,000 customers'
/// profiles take 250 MB (239 MiB) and fit with 7 % to spare. The tier only grows to
/// what is read: a hub whose customers read fewer profiles holds, and costs, less.
const DEFAULT_L1_BYTES: u64 = 256 * 1024 * 1024;
/// 32 MiB of responses: about 5,000 profile360 answers (6 KB each, tags included),
/// more than a branch network's screens open within the tier's one-minute life. What
/// the two tiers cost the hub under load: docs/performance.md, "Memory".
const DEFAULT_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// 128 KiB: a profile (about 6 KB) or a page of search results is kept; an answer
/// about a hundred customers (`customers(ids:)`, a book page: about 450 kB, mostly the
/// tags of its thousand records) is not. Measured on `c360 bench --scenario batch100
/// --mode warm --customers 20000` (release): such answers, each asked once, held the
/// hub 62 MB above the same run without the tier.
const DEFAULT_RESPONSE_ENTRY_BYTES: u64 = 128 * 1024;
/// A Redis answer slower than this is a miss: a cache that makes a screen wait is
/// worse than no cache.
const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            l1_max_bytes: DEFAULT_L1_BYTES,
            response_enabled: true,
            response_max_bytes: DEFAULT_RESPONSE_BYTES,
            response_max_entry_bytes: DEFAULT_RESPONSE_ENTRY_BYTES,
            response_max_ttl: Duration::from_secs(60),
            lock_ttl: Duration::from_secs(2),
            tag_ttl: Duration::from_secs(3 * 3600),
            encryption_key: None,
            encryption_key_id: "k1".into(),
            previous_encryption_keys: BTreeMap::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DEFAULT_DATABASE_URL.into(),
            max_connections: DEFAULT_DB_MAX_CONNECTIONS,
            min_connections: 0,
            acquire_timeout: DEFAULT_DB_ACQUIRE_TIMEOUT,
            busy_timeout: DEFAULT_DB_BUSY_TIMEOUT,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            cluster: false,
            ca_file: None,
            key_prefix: DEFAULT_REDIS_KEY_PREFIX.into(),
            timeout: DEFAULT_REDIS_TIMEOUT,
        }
    }
}

/// The demo hub's issuer; production sets the identity provider's.
const DEFAULT_AUTH_ISSUER: &str = "c360-dev";
const DEFAULT_AUTH_AUDIENCE: &str = "c360";
/// Identity providers rotate keys on the scale of days and publish the new key well
/// before using it; ten minutes bounds how long a withdrawn key is still trusted.
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(600);
/// At most two JWKS fetches a minute whatever callers send.
const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Clock skew between the identity provider and the hub that is still tolerated.
const DEFAULT_AUTH_LEEWAY: Duration = Duration::from_secs(30);

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: DEFAULT_AUTH_ISSUER.into(),
            audience: DEFAULT_AUTH_AUDIENCE.into(),
            jwks_url: None,
            jwks_refresh: DEFAULT_JWKS_REFRESH,
            jwks_min_refresh: DEFAULT_JWKS_MIN_REFRESH,
            public_key_file: None,
            dev_secret: None,
            dev_secret_file: None,
            leeway: DEFAULT_AUTH_LEEWAY,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        GraphqlConfig {
            max_ids: DEFAULT_MAX_IDS,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            graphiql: None,
            introspection: None,
            max_depth: DEFAULT_MAX_DEPTH,
            max_complexity: DEFAULT_MAX_COMPLEXITY,
            max_aliases: DEFAULT_MAX_ALIASES,
            allowlist: None,
            allowlist_roles: Vec::new(),
            max_book_scan: DEFAULT_MAX_BOOK_SCAN,
        }
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            policies: PathBuf::from("config/policies.toml"),
            subject_rate: DEFAULT_SUBJECT_RATE,
            subject_burst: DEFAULT_SUBJECT_BURST,
            client_rate: DEFAULT_CLIENT_RATE,
            client_burst: DEFAULT_CLIENT_BURST,
            audit_max_pending_rows: DEFAULT_AUDIT_MAX_PENDING_ROWS,
            audit_chain_key_id: "k1".into(),
            audit_chain_keys: KeysById::default(),
        }
    }
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        ConnectorsConfig {
            dir: PathBuf::from("connectors"),
            core: ConnectorOverride::default(),
            cards: ConnectorOverride::default(),
            loans: ConnectorOverride::default(),
            channels: ConnectorOverride::default(),
        }
    }
}

impl ConnectorsConfig {
    pub fn override_for(&self, system: crate::domain::System) -> &ConnectorOverride {
        use crate::domain::System;
        match system {
            System::Core => &self.core,
            System::Cards => &self.cards,
            System::Loans => &self.loans,
            System::Channels => &self.channels,
        }
    }

    pub fn override_mut(&mut self, system: crate::domain::System) -> &mut ConnectorOverride {
        use crate::domain::System;
        match system {
            System::Core => &mut self.core,
            System::Cards => &mut self.cards,
            System::Loans => &mut self.loans,
            System::Channels => &mut self.channels,
        }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON in every profile but `demo`: a deployed hub's logs go to a shipper, a
    /// demo's to a person at a terminal.
    Auto,
    /// Readable lines with the request's span fields (trace id included).
    Pretty,
    /// One JSON object per line, spans and their fields (trace id included) beside
    /// the message.
    Json,
}

impl LogFormat {
    /// `pretty` or `json`: what `auto` means in `profile`.
    pub fn resolve(self, profile: Profile) -> LogFormat {
        match self {
            LogFormat::Auto if profile == Profile::Demo => LogFormat::Pretty,
            LogFormat::Auto => LogFormat::Json,
            explicit => explicit,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            filter: "info".into(),
        }
    }
}

/// Why the configuration could not be loaded. Figment's message names the key and the
/// file (or environment variable) it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error(
        "C360_PROFILE '{given}' is not a profile: expected {}",
        Profile::ALL.map(Profile::as_str).join(" or ")
    )]
    UnknownProfile { given: String },
}

impl Config {
    /// Loads the layers from the current directory, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(Path::new("config"), file, std::env::vars())
    }

    /// [`Config::load`] in the demo profile whatever `C360_PROFILE` or the files say:
    /// for `c360 demo`, whose hub reads a simulated bank and signs its own tokens.
    pub fn load_demo(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_as(
            Path::new("config"),
            file,
            std::env::vars(),
            Some(Profile::Demo),
        )
    }

    /// [`Config::load`] with the config folder and environment given, for tests.
    pub fn load_from(
        config_dir: &Path,
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::load_as(config_dir, file, vars, None)
    }

    /// [`Config::load_from`], in `forced` when given (`C360_PROFILE` is then not read).
    pub fn load_as(
        config_dir: &Path,
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        forced: Option<Profile>,
    ) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(config_dir.join("default.toml")));
        let profile = match (forced, vars.get("C360_PROFILE")) {
            (Some(forced), _) => Some(forced),
            (None, None) => None,
            (None, Some(name)) => {
                Some(
                    Profile::parse(name).ok_or_else(|| ConfigError::UnknownProfile {
                        given: name.clone(),
                    })?,
                )
            }
        };
        if let Some(profile) = profile {
            figment = figment.merge(Toml::file(config_dir.join(format!("{profile}.toml"))));
        }
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile {
                    path: file.to_owned(),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut config: Config = figment
            .merge(conventional_env_layer(&vars))
            .merge(env_layer(&vars))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(profile) = profile {
            config.profile = profile;
        }
        config.otlp = OtlpConfig::from_vars(&vars)?;
        config
            .console
            .check()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if config.access.audit_max_pending_rows == 0 {
            return Err(ConfigError::Invalid(
                "access.audit_max_pending_rows must be at least 1: with no room, no staff \
                 read could be recorded"
                    .into(),
            ));
        }
        Ok(config)
    }
}

/// Whether `url` is `https://`, or `http://` to this machine (tests, a provider on the
/// same host): what a URL that sign-in or token keys come from must be, so that they
/// never cross the network in clear.
pub fn https_or_loopback(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// The conventional `DATABASE_URL` and `REDIS_URL`, which platforms (and developers)
/// set without knowing c360's own names. `C360_DATABASE__URL` and `C360_REDIS__URL`
/// still win, being more specific.
fn conventional_env_layer(vars: &BTreeMap<String, String>) -> Figment {
    let mut figment = Figment::new();
    for (name, path) in [("DATABASE_URL", "database.url"), ("REDIS_URL", "redis.url")] {
        if let Some(value) = vars.get(name).filter(|v| !v.trim().is_empty()) {
            figment = figment.merge(Serialized::default(path, value.trim()));
        }
    }
    figment
}

/// `C360_SECTION__FIELD=value` sets `section.field`. Only names with a double underscore
/// are configuration keys: single-underscore names such as `C360_CORE_URL` belong to
/// the connector files' `${VAR}` references, and `C360_TEST_*` to the test suite.
fn env_layer(vars: &BTreeMap<String, String>) -> Figment {
    let mut figment = Figment::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix("C360_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path = rest.to_lowercase().replace("__", ".");
        figment = figment.merge(Serialized::default(&path, parse_env_value(value)));
    }
    figment
}

/// Environment values are strings; numbers and booleans are recognised so that
/// `C360_SERVER__PORT=8080` sets a number.
fn parse_env_value(raw: &str) -> figment::value::Value {
    raw.parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_any_file() {
        let config = Config::load_from(Path::new("/nonexistent"), None, vars(&[])).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn environment_overrides_nested_keys_and_ignores_connector_urls() {
        let config = Config::load_from(
            Path::new("/nonexistent"),
            None,
            vars(&[
                ("C360_SERVER__PORT", "8080"),
                ("C360_CONNECTORS__CORE__TIMEOUT", "800ms"),
                ("C360_CORE_URL", "http://core.bank.local"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.port, 8080);
        assert_eq!(
            config.connectors.core.timeout,
            Some(Duration::from_millis(800))
        );
    }

    #[test]
    fn conventional_database_and_redis_urls_override_the_files() {
        let config = Config::load_from(
            Path::new("/nonexistent"),
            None,
            vars(&[
                ("DATABASE_URL", "postgres://c360@db/c360"),
                ("REDIS_URL", "redis://cache:6379"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database.url, "postgres://c360@db/c360");
        assert_eq!(config.redis.url.as_deref(), Some("redis://cache:6379"));

        let config = Config::load_from(
            Path::new("/nonexistent"),
            None,
            vars(&[
                ("DATABASE_URL", "postgres://c360@db/c360"),
                ("C360_DATABASE__URL", "postgres://c360@other/c360"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database.url, "postgres://c360@other/c360");
        assert_eq!(config.redis.url, None);
    }

    #[test]
    fn the_development_key_comes_from_the_environment() {
        let config = Config::load_from(
            Path::new("/nonexistent"),
            None,
            vars(&[
                ("C360_AUTH__DEV_SECRET", "team-dev-key"),
                ("C360_AUTH__LEEWAY", "1m"),
                ("C360_EVENTS__SECRET", "events-shared-secret"),
                (
                    "C360_FEED__URL",
                    "amqp://c360:broker-password@mq.bank.local/%2f",
                ),
                (
                    "C360_CACHE__ENCRYPTION_KEY",
                    "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(config.auth.dev_secret.as_deref(), Some("team-dev-key"));
        assert_eq!(config.auth.leeway, Duration::from_secs(60));
        let printed = format!("{config:?}");
        for secret in [
            "team-dev-key",
            "events-shared-secret",
            "broker-password",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Config::load_from(
            Path::new("/nonexistent"),
            None,
            vars(&[("C360_SERVER__PROT", "8080")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn the_shipped_default_file_matches_the_built_in_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let config = Config::load_from(&dir, None, vars(&[])).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn auto_log_format_is_readable_in_the_demo_and_json_elsewhere() {
        assert_eq!(LogFormat::Auto.resolve(Profile::Demo), LogFormat::Pretty);
        assert_eq!(
            LogFormat::Auto.resolve(Profile::Production),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::Pretty.resolve(Profile::Production),
            LogFormat::Pretty
        );
        assert_eq!(LogFormat::Json.resolve(Profile::Demo), LogFormat::Json);
        let refused = Config::load_from(
            Path::new("config"),
            None,
            vars(&[("C360_LOG__FORMAT", "xml")]),
        )
        .unwrap_err()
        .to_string();
        assert!(refused.contains("xml"), "{refused}");
    }

    #[test]
    fn an_unknown_profile_is_refused_naming_the_variable_and_the_profiles() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let refused = Config::load_from(&dir, None, vars(&[("C360_PROFILE", "staging")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "C360_PROFILE 'staging' is not a profile: expected demo or production"
        );
        let production =
            Config::load_from(&dir, None, vars(&[("C360_PROFILE", "production")])).unwrap();
        assert_eq!(production.profile, Profile::Production);
        assert_eq!(
            Config::load_from(&dir, None, vars(&[])).unwrap().profile,
            Profile::Production
        );
    }

    #[test]
    fn the_demo_command_runs_in_the_demo_profile_whatever_the_environment_says() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for env in [vars(&[]), vars(&[("C360_PROFILE", "production")])] {
            let config = Config::load_as(&dir, None, env, Some(Profile::Demo)).unwrap();
            assert_eq!(config.profile, Profile::Demo);
            assert!(config.graphiql());
        }
    }

    #[test]
    fn every_shipped_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml")
                // Not profiles: the roles file and the insight thresholds.
                && path
                    .file_stem()
                    .is_some_and(|s| !["default", "policies", "insights"].contains(&s.to_str().unwrap_or("")))
            {
                let profile = path.file_stem().unwrap().to_string_lossy().to_string();
                if let Err(e) = Config::load_from(&dir, None, vars(&[("C360_PROFILE", &profile)])) {
                    panic!("{}: {e}", path.display());
                }
            }
        }
    }
}
