//! Caching in three tiers: whole responses ([`ResponseCache`]), mapped entities in
//! process (L1, moka) and in Redis (L2, shared by every hub instance).
//!
//! The entity tiers hold what one upstream endpoint answered for one key (a CIF, or
//! the hash of a list request), typed, with when it was fetched, until when it is
//! fresh, until when it may still be served stale, and its tags (the upstream records
//! it contains, `core:account:…`). A lookup goes L1 → L2 → upstream; concurrent
//! misses for one key share one upstream call (single flight), and with Redis a short
//! lock makes a second instance wait for the first instead of stampeding the
//! upstream. When the upstream fails, an entry past its freshness but within its stale
//! window is served, marked stale.

mod apq;
pub mod crypto;
mod documents;
mod entry;
mod local;
mod redis;
mod response;
mod scope;

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};
use futures::future::{BoxFuture, FutureExt, Shared};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use apq::{sha256_hex, PersistedQueries, PersistedQueryError};
pub use documents::{KnownDocument, ParsedDocuments, TooDeep};
pub use entry::{TagIter, Tags};
pub use local::{LocalCache, Tagged, Usage};
pub use redis::{RedisSettings, RedisTier};
pub use response::{Replay, ResponseCache, ResponseKey};
pub use scope::{Provenance, RequestScope, StaleWarning};

use crate::domain::System;
use crate::metrics::Metrics;

/// A short, stable hash for key names: 128 bits of SHA-256, hex.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..16])
}

/// How long an endpoint's answers are fresh, and how long past that they may still be
/// served when the upstream fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl: Duration,
    pub stale: Duration,
}

impl CachePolicy {
    pub const NONE: CachePolicy = CachePolicy {
        ttl: Duration::ZERO,
        stale: Duration::ZERO,
    };
}

/// What the entity cache needs of the error a fetch fails with. The cache passes
/// errors through untouched; it only makes one of its own for keys whose upstream
/// call was abandoned, and names the code of the failure when it serves a stale entry
/// instead.
pub trait FetchError: Clone + Send + Sync + 'static {
    /// The error for a key whose flight ended without it (a panicked fetch).
    fn abandoned(system: System, endpoint: &str) -> Self;
    /// The code logged when a stale entry is served in place of this error.
    fn code(&self) -> &'static str;
}

/// A value with where it came from: the upstream now, or a cache tier (and whether it
/// was past its freshness).
#[derive(Debug, Clone)]
pub struct Fetched<V> {
    pub value: Arc<V>,
    pub fetched_at: DateTime<Utc>,
    pub from_cache: bool,
    pub stale: bool,
    /// The upstream records it contains, for invalidating responses built from it.
    pub tags: Tags,
    /// How long it stays fresh from now (zero when stale or uncached).
    pub fresh_for: Duration,
}

/// Timing and tags of a cached value, as stored in both tiers.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    fetched_at: DateTime<Utc>,
    fresh_until: DateTime<Utc>,
    stale_until: DateTime<Utc>,
    tags: Arc<Vec<String>>,
}

impl Meta {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.fresh_until
    }

    fn usable(&self, now: DateTime<Utc>) -> bool {
        now < self.stale_until
    }
}

/// The Redis form of an entry.
#[derive(Serialize, Deserialize)]
struct Stored<V> {
    m: Meta,
    v: V,
}

use entry::L1Entry;

impl Tagged for L1Entry {
    fn tags(&self) -> impl Iterator<Item = &str> {
        self.tag_iter()
    }

    fn weight(&self) -> u32 {
        L1Entry::weight(self)
    }
}

impl L1Entry {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.fresh_until
    }

    fn usable(&self, now: DateTime<Utc>) -> bool {
        now < self.stale_until
    }

    /// The entry for `value` as fetched with `meta`, under `key`.
    fn of<V: Serialize>(key: &str, value: &V, meta: &Meta) -> Option<L1Entry> {
        L1Entry::new(
            key.len(),
            &meta.tags,
            value,
            meta.fetched_at,
            meta.fresh_until,
            meta.stale_until,
        )
    }

    /// The entry's value as a `Fetched`, or `None` when it does not parse as a `V`.
    fn fetched<V: DeserializeOwned>(&self, now: DateTime<Utc>, stale: bool) -> Option<Fetched<V>> {
        Some(Fetched {
            value: Arc::new(self.value::<V>()?),
            fetched_at: self.fetched_at,
            from_cache: true,
            stale,
            tags: self.tags(),
            fresh_for: fresh_for(self.fresh_until, now, stale),
        })
    }
}

/// The in-process tier: entries by `system:endpoint:key` (the key Redis uses, without
/// its prefix), shared with the tag index.
type L1 = LocalCache<Arc<str>, L1Entry>;

/// Names the records a cached value contains (`core:account:…`), from its key and
/// value.
pub type TagFn<V> = Arc<dyn Fn(&str, &V) -> Vec<String> + Send + Sync>;

/// What a flight (one upstream call for a set of keys) produced, per key.
type FlightResult = Arc<dyn Any + Send + Sync>;
type Flight = Shared<BoxFuture<'static, FlightResult>>;

/// The flights under way by key, and the invalidation generation: a count of the
/// invalidations so far, kept under the same lock. A flight started before an
/// invalidation must not put what it read into the tiers afterwards (it may have read
/// the record just before it changed), and a request that arrives after the
/// invalidation must not join it.
#[derive(Default)]
struct Flights {
    generation: u64,
    /// Each flight with the generation it started in.
    by_key: HashMap<String, (u64, Flight)>,
}
/// Per key: what a flight produced.
type PerKey<V, E> = HashMap<String, Result<Flown<V>, E>>;

/// A value a flight produced: fetched by this instance, or by another (found in
/// Redis while waiting on its lock), with the tags it went into L1 with.
struct Flown<V> {
    value: Arc<V>,
    meta: Meta,
    tags: Tags,
    from_cache: bool,
}

// By hand: deriving would require `V: Clone`, but only the `Arc` is cloned.
impl<V> Clone for Flown<V> {
    fn clone(&self) -> Self {
        Flown {
            value: self.value.clone(),
            meta: self.meta.clone(),
            tags: self.tags.clone(),
            from_cache: self.from_cache,
        }
    }
}

/// Entity cache settings, from `[cache]` and `[redis]`.
#[derive(Debug, Clone)]
pub struct EntitySettings {
    pub enabled: bool,
    pub l1_max_bytes: u64,
    /// How long a second instance waits for the first to fill a key.
    pub lock_ttl: Duration,
    /// How long tag sets live in Redis: the longest stale window.
    pub tag_ttl: Duration,
}

pub struct EntityCache {
    settings: EntitySettings,
    l1: Option<Arc<L1>>,
    l2: Option<Arc<RedisTier>>,
    flights: Arc<Mutex<Flights>>,
    prefix: String,
    metrics: Arc<Metrics>,
}

impl EntityCache {
    /// The tiers `settings` turn on, counting lookups, stale answers, evictions and
    /// invalidations into `metrics`.
    pub fn new(
        settings: EntitySettings,
        l2: Option<Arc<RedisTier>>,
        prefix: &str,
        metrics: Arc<Metrics>,
    ) -> EntityCache {
        let l1 = (settings.enabled && settings.l1_max_bytes > 0).then(|| {
            Arc::new(LocalCache::new(
                settings.l1_max_bytes,
                settings.tag_ttl.max(Duration::from_secs(60)),
                &metrics,
                "l1",
            ))
        });
        EntityCache {
            l2: if settings.enabled { l2 } else { None },
            l1,
            settings,
            flights: Arc::default(),
            prefix: prefix.to_owned(),
            metrics,
        }
    }

    /// What the in-process tier holds; `None` without it.
    pub fn l1_usage(&self) -> Option<Usage> {
        self.l1.as_ref().map(|l1| l1.usage())
    }

    /// The Redis key of an entry.
    fn key(&self, system: System, endpoint: &str, key: &str) -> String {
        format!("{}{}", self.prefix_of(system, endpoint), key)
    }

    /// The Redis key of an entry of `endpoint` without the entry's own key.
    fn prefix_of(&self, system: System, endpoint: &str) -> String {
        format!("{}e:{}", self.prefix, l1_key(system, endpoint, ""))
    }

    /// The value of `key` when the in-process tier holds it fresh, without waiting
    /// for anything: a read that can be answered from memory is answered at once,
    /// instead of joining a batch window and a task made for upstream calls. Anything
    /// else (absent, stale, another tier) is `None`, and the caller reads through
    /// [`EntityCache::read`] as usual.
    pub fn fresh_in_memory<V>(
        &self,
        system: System,
        endpoint: &str,
        policy: CachePolicy,
        key: &str,
    ) -> Option<Fetched<V>>
    where
        V: DeserializeOwned + Send + Sync + 'static,
    {
        if !self.settings.enabled || policy.ttl.is_zero() {
            return None;
        }
        let entry = self.l1.as_ref()?.get(&*l1_key(system, endpoint, key))?;
        let now = Utc::now();
        if !entry.fresh(now) {
            return None;
        }
        let fetched = entry.fetched(now, false)?;
        self.metrics
            .cache_lookups
            .with_label_values(&["l1", system.as_str(), "hit"])
            .inc();
        Some(fetched)
    }

    /// Reads `keys` of one endpoint through the tiers; `fetch` is called (once, for
    /// every key no tier has fresh and no other request is already fetching) with the
    /// keys to read from the upstream. `tags` names the records a value contains.
    pub async fn read<V, E, F, Fut>(
        &self,
        system: System,
        endpoint: &str,
        policy: CachePolicy,
        keys: &[String],
        tags: TagFn<V>,
        fetch: F,
    ) -> HashMap<String, Result<Fetched<V>, E>>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
        E: FetchError,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, Result<V, E>>, E>> + Send + 'static,
    {
        let now = Utc::now();
        if !self.settings.enabled || policy.ttl.is_zero() {
            return fetch_uncached(keys, tags, fetch, now).await;
        }
        let label = system.as_str();
        let mut out: HashMap<String, Result<Fetched<V>, E>> = HashMap::with_capacity(keys.len());
        // Served if the upstream fails.
        let mut stale: HashMap<String, Fetched<V>> = HashMap::new();
        // Each key not answered yet, with its L1 name (which also names its flight).
        let mut wanted: Vec<(String, String)> = Vec::new();

        // L1.
        for key in keys {
            let name = l1_key(system, endpoint, key);
            let entry = self.l1.as_ref().and_then(|l1| l1.get(&*name));
            let found = entry.and_then(|entry| {
                if entry.fresh(now) {
                    Some((entry.fetched(now, false)?, false))
                } else if entry.usable(now) {
                    Some((entry.fetched(now, true)?, true))
                } else {
                    None
                }
            });
            let result = match found {
                Some((fetched, false)) => {
                    out.insert(key.clone(), Ok(fetched));
                    "hit"
                }
                Some((fetched, true)) => {
                    stale.insert(key.clone(), fetched);
                    wanted.push((key.clone(), name));
                    "stale"
                }
                None => {
                    wanted.push((key.clone(), name));
                    "miss"
                }
            };
            self.metrics
                .cache_lookups
                .with_label_values(&["l1", label, result])
                .inc();
        }

        // L2, one MGET for everything L1 lacked.
        if let (Some(l2), false) = (&self.l2, wanted.is_empty()) {
            let names: Vec<String> = wanted
                .iter()
                .map(|(k, _)| self.key(system, endpoint, k))
                .collect();
            let values = l2.mget(&names).await;
            let mut still = Vec::new();
            for ((key, name), bytes) in wanted.into_iter().zip(values) {
                let stored = bytes.and_then(|b| serde_json::from_slice::<Stored<V>>(&b).ok());
                match stored {
                    Some(stored) if stored.m.fresh(now) => {
                        self.metrics
                            .cache_lookups
                            .with_label_values(&["l2", label, "hit"])
                            .inc();
                        let tags = self.put_l1(system, endpoint, &key, &stored.v, &stored.m);
                        let fetched = cached(Arc::new(stored.v), &stored.m, tags, now, false);
                        out.insert(key, Ok(fetched));
                    }
                    Some(stored) if stored.m.usable(now) => {
                        self.metrics
                            .cache_lookups
                            .with_label_values(&["l2", label, "stale"])
                            .inc();
                        stale.entry(key.clone()).or_insert_with(|| {
                            let tags = Tags::new(&stored.m.tags);
                            cached(Arc::new(stored.v), &stored.m, tags, now, true)
                        });
                        still.push((key, name));
                    }
                    _ => {
                        self.metrics
                            .cache_lookups
                            .with_label_values(&["l2", label, "miss"])
                            .inc();
                        still.push((key, name));
                    }
                }
            }
            wanted = still;
        }

        if wanted.is_empty() {
            return out;
        }

        // Upstream, one flight per key across concurrent requests.
        let fetched = self
            .fly(system, endpoint, policy, wanted, tags, fetch)
            .await;
        for (key, result) in fetched {
            let entry = match result {
                Ok(flown) => Ok(Fetched {
                    fresh_for: (flown.meta.fresh_until - now).to_std().unwrap_or_default(),
                    value: flown.value,
                    fetched_at: flown.meta.fetched_at,
                    from_cache: flown.from_cache,
                    stale: false,
                    tags: flown.tags,
                }),
                Err(error) => match stale.remove(&key) {
                    Some(fetched) => {
                        self.metrics.stale_served.with_label_values(&[label]).inc();
                        tracing::warn!(
                            system = label,
                            endpoint,
                            code = error.code(),
                            "upstream failed; serving a stale cache entry"
                        );
                        Ok(fetched)
                    }
                    None => Err(error),
                },
            };
            out.insert(key, entry);
        }
        out
    }

    /// Joins or starts the upstream calls for `wanted`.
    async fn fly<V, E, F, Fut>(
        &self,
        system: System,
        endpoint: &str,
        policy: CachePolicy,
        wanted: Vec<(String, String)>,
        tags: TagFn<V>,
        fetch: F,
    ) -> PerKey<V, E>
    where
        V: Serialize + DeserializeOwned + Send + Sync + 'static,
        E: FetchError,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, Result<V, E>>, E>> + Send + 'static,
    {
        let mut joined: Vec<Flight> = Vec::new();
        let mut mine: Vec<String> = Vec::new();
        let mut mine_named: Vec<String> = Vec::new();
        let mut keys: Vec<String> = Vec::with_capacity(wanted.len());
        let started = {
            let mut flights = self.flights.lock().expect("flight lock");
            let generation = flights.generation;
            for (key, name) in wanted {
                match flights.by_key.get(&name) {
                    Some((_, flight)) => {
                        if !joined.iter().any(|f| f.ptr_eq(flight)) {
                            joined.push(flight.clone());
                        }
                    }
                    None => {
                        mine.push(key.clone());
                        mine_named.push(name);
                    }
                }
                keys.push(key);
            }
            if mine.is_empty() {
                None
            } else {
                let job = FlightJob {
                    flights: self.flights.clone(),
                    generation,
                    flight_keys: mine_named.clone(),
                    policy,
                    keys: mine.clone(),
                    tags,
                    l1_key: l1_key(system, endpoint, ""),
                    l2_key: match &self.l2 {
                        Some(_) => self.prefix_of(system, endpoint),
                        None => String::new(),
                    },
                    l1: self.l1.clone(),
                    l2: self.l2.clone(),
                    lock_ttl: self.settings.lock_ttl,
                    tag_ttl: self.settings.tag_ttl,
                    error: std::marker::PhantomData,
                };
                // Spawned, so that a client hanging up does not abandon the others
                // waiting on this flight. Boxed first: the job's future holds the
                // whole upstream call, and spawning moves a future by value several
                // times on its way into the task.
                let handle = tokio::spawn(Box::pin(job.run(fetch)));
                let flight: Flight = async move {
                    match handle.await {
                        Ok(result) => result,
                        Err(_) => Arc::new(PerKey::<V, E>::new()) as FlightResult,
                    }
                }
                .boxed()
                .shared();
                for name in mine_named {
                    flights.by_key.insert(name, (generation, flight.clone()));
                }
                Some(flight)
            }
        };
        let mut results: PerKey<V, E> = HashMap::with_capacity(keys.len());
        if let Some(flight) = started {
            let result = flight.await;
            absorb(&result, &mut results);
        }
        for flight in joined {
            let result = flight.await;
            absorb(&result, &mut results);
        }
        // A key whose flight ended without it (a panicked job) is an error, not a hole.
        for key in keys {
            results
                .entry(key)
                .or_insert_with(|| Err(E::abandoned(system, endpoint)));
        }
        results
    }

    /// Puts `value` in L1 (when there is one); returns its tags, packed.
    fn put_l1<V: Serialize>(
        &self,
        system: System,
        endpoint: &str,
        key: &str,
        value: &V,
        meta: &Meta,
    ) -> Tags {
        hold(
            self.l1.as_deref(),
            &l1_key(system, endpoint, key),
            value,
            meta,
        )
    }

    /// Drops every entry carrying any of `tags` from L1 and, when `shared`, from Redis
    /// too. Returns (L1, L2) counts.
    pub async fn invalidate(&self, tags: &[String], shared: bool) -> (usize, usize) {
        let local = self.invalidate_local(tags);
        let remote = match (&self.l2, shared) {
            (Some(l2), true) => l2.invalidate_tags(tags).await,
            _ => 0,
        };
        self.metrics
            .cache_invalidations
            .with_label_values(&["l2"])
            .inc_by(remote as u64);
        (local, remote)
    }

    pub fn invalidate_local(&self, tags: &[String]) -> usize {
        {
            // First, so that no flight under way puts what it read before the change
            // into L1 after the entries below are gone, and no later request joins it.
            let mut flights = self.flights.lock().expect("flight lock");
            flights.generation += 1;
            flights.by_key.clear();
        }
        let dropped = self
            .l1
            .as_ref()
            .map(|l1| l1.invalidate_tags(tags))
            .unwrap_or(0);
        self.metrics
            .cache_invalidations
            .with_label_values(&["l1"])
            .inc_by(dropped as u64);
        dropped
    }
}

/// Collects what a flight produced. The job already put its values in L1, before it
/// left the flight map.
fn absorb<V: Send + Sync + 'static, E: FetchError>(result: &FlightResult, into: &mut PerKey<V, E>) {
    if let Some(map) = result.downcast_ref::<PerKey<V, E>>() {
        for (key, value) in map {
            into.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// The key of an entry in L1. Built piece by piece: formatting it (`format!`) cost
/// five times as much, and it is built for every key of every read.
fn l1_key(system: System, endpoint: &str, key: &str) -> String {
    joined(&[system.as_str(), ":", endpoint, ":", key])
}

/// `parts` end to end, in a string allocated once.
pub(crate) fn joined(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Puts `value` under `key` in `l1` (when there is one); returns its tags, packed (in
/// the entry's own block when it went in).
fn hold<V: Serialize>(l1: Option<&L1>, key: &str, value: &V, meta: &Meta) -> Tags {
    match l1.and_then(|l1| Some((l1, L1Entry::of(key, value, meta)?))) {
        Some((l1, entry)) => {
            let tags = entry.tags();
            l1.insert(Arc::from(key), entry);
            tags
        }
        None => Tags::new(&meta.tags),
    }
}

/// How long a value fresh until `fresh_until` stays fresh from `now` (zero when
/// served stale).
fn fresh_for(fresh_until: DateTime<Utc>, now: DateTime<Utc>, stale: bool) -> Duration {
    if stale {
        Duration::ZERO
    } else {
        (fresh_until - now).to_std().unwrap_or_default()
    }
}

fn cached<V>(
    value: Arc<V>,
    meta: &Meta,
    tags: Tags,
    now: DateTime<Utc>,
    stale: bool,
) -> Fetched<V> {
    Fetched {
        value,
        fetched_at: meta.fetched_at,
        from_cache: true,
        stale,
        tags,
        fresh_for: fresh_for(meta.fresh_until, now, stale),
    }
}

async fn fetch_uncached<V, E, F, Fut>(
    keys: &[String],
    tags: TagFn<V>,
    fetch: F,
    now: DateTime<Utc>,
) -> HashMap<String, Result<Fetched<V>, E>>
where
    E: Clone,
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<HashMap<String, Result<V, E>>, E>>,
{
    match fetch(keys.to_vec()).await {
        Ok(mut answer) => keys
            .iter()
            .filter_map(|key| {
                let result = answer.remove(key)?;
                Some((
                    key.clone(),
                    result.map(|value| Fetched {
                        tags: Tags::new(&tags(key, &value)),
                        value: Arc::new(value),
                        fetched_at: now,
                        from_cache: false,
                        stale: false,
                        fresh_for: Duration::ZERO,
                    }),
                ))
            })
            .collect(),
        Err(error) => keys
            .iter()
            .map(|k| (k.clone(), Err(error.clone())))
            .collect(),
    }
}

/// One upstream call for a set of keys, with the Redis lock dance and the writes.
struct FlightJob<V, E> {
    /// The flight map, from which the job removes its keys when done: whether or not
    /// the request that started it still waits, later requests must not join a
    /// finished flight.
    flights: Arc<Mutex<Flights>>,
    /// The invalidation generation the flight started in.
    generation: u64,
    flight_keys: Vec<String>,
    policy: CachePolicy,
    keys: Vec<String>,
    tags: TagFn<V>,
    /// The L1 key of `""`, to which a key is appended.
    l1_key: String,
    /// The Redis key of `""`, to which a key is appended.
    l2_key: String,
    l1: Option<Arc<L1>>,
    l2: Option<Arc<RedisTier>>,
    lock_ttl: Duration,
    tag_ttl: Duration,
    error: std::marker::PhantomData<fn() -> E>,
}

impl<V, E> FlightJob<V, E>
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: FetchError,
{
    async fn run<F, Fut>(self, fetch: F) -> FlightResult
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, Result<V, E>>, E>>,
    {
        // Every value is in L1 by now, before the job leaves the flight map, so that
        // no request arriving in between misses both and starts a second upstream call.
        let results = self.fetch_all(fetch).await;
        let mut flights = self.flights.lock().expect("flight lock");
        for key in &self.flight_keys {
            // A flight started after an invalidation may hold the key by now.
            if flights
                .by_key
                .get(key)
                .is_some_and(|(generation, _)| *generation == self.generation)
            {
                flights.by_key.remove(key);
            }
        }
        Arc::new(results)
    }

    /// Whether no invalidation happened since the flight started.
    fn still_current(&self) -> bool {
        self.flights.lock().expect("flight lock").generation == self.generation
    }

    /// A value for `key` as a flight produced it, put in L1 unless an invalidation
    /// came while it was read (it is still the answer of the requests that asked
    /// before the change).
    fn flown(&self, key: &str, value: V, meta: Meta, from_cache: bool) -> Flown<V> {
        let l1_key = joined(&[&self.l1_key, key]);
        let tags = {
            // The check and the insert under the lock an invalidation takes first.
            let flights = self.flights.lock().expect("flight lock");
            if flights.generation == self.generation {
                hold(self.l1.as_deref(), &l1_key, &value, &meta)
            } else {
                Tags::new(&meta.tags)
            }
        };
        Flown {
            tags,
            value: Arc::new(value),
            meta,
            from_cache,
        }
    }

    async fn fetch_all<F, Fut>(&self, fetch: F) -> PerKey<V, E>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, Result<V, E>>, E>>,
    {
        let mut results: PerKey<V, E> = HashMap::new();
        let mut to_fetch = self.keys.clone();
        let mut locks = Vec::new();
        if let Some(l2) = &self.l2 {
            let lock_names: Vec<String> = self
                .keys
                .iter()
                .map(|k| format!("{}{k}:lock", self.l2_key))
                .collect();
            let taken = l2.try_locks(&lock_names, self.lock_ttl).await;
            let (mut mine, mut theirs) = (Vec::new(), Vec::new());
            for ((key, lock), got) in self.keys.iter().zip(lock_names).zip(taken) {
                if got {
                    mine.push(key.clone());
                    locks.push(lock);
                } else {
                    theirs.push(key.clone());
                }
            }
            // Another instance is fetching these: wait for its answer in Redis.
            let deadline = tokio::time::Instant::now() + self.lock_ttl;
            while !theirs.is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let names: Vec<String> = theirs
                    .iter()
                    .map(|k| format!("{}{k}", self.l2_key))
                    .collect();
                let values = l2.mget(&names).await;
                let now = Utc::now();
                let mut waiting = Vec::new();
                for (key, bytes) in theirs.into_iter().zip(values) {
                    let stored = bytes.and_then(|b| serde_json::from_slice::<Stored<V>>(&b).ok());
                    match stored {
                        Some(stored) if stored.m.fresh(now) => {
                            let flown = self.flown(&key, stored.v, stored.m, true);
                            results.insert(key, Ok(flown));
                        }
                        _ => waiting.push(key),
                    }
                }
                theirs = waiting;
            }
            mine.extend(theirs);
            to_fetch = mine;
        }
        if !to_fetch.is_empty() {
            let now = Utc::now();
            let meta = |tags: Vec<String>| Meta {
                fetched_at: now,
                fresh_until: now + self.policy.ttl,
                stale_until: now + self.policy.ttl + self.policy.stale,
                tags: Arc::new(tags),
            };
            let mut writes = Vec::new();
            match fetch(to_fetch.clone()).await {
                Ok(mut answer) => {
                    for key in to_fetch {
                        match answer.remove(&key) {
                            Some(Ok(value)) => {
                                let stored = Stored {
                                    m: meta((self.tags)(&key, &value)),
                                    v: value,
                                };
                                if self.l2.is_some() {
                                    if let Ok(bytes) = serde_json::to_vec(&stored) {
                                        writes.push((
                                            format!("{}{key}", self.l2_key),
                                            bytes,
                                            self.policy.ttl + self.policy.stale,
                                            stored.m.tags.to_vec(),
                                        ));
                                    }
                                }
                                let flown = self.flown(&key, stored.v, stored.m, false);
                                results.insert(key, Ok(flown));
                            }
                            Some(Err(error)) => {
                                results.insert(key, Err(error));
                            }
                            None => {}
                        }
                    }
                }
                Err(error) => {
                    for key in to_fetch {
                        results.insert(key, Err(error.clone()));
                    }
                }
            }
            if let (Some(l2), true) = (&self.l2, self.still_current()) {
                l2.set_many(writes, self.tag_ttl).await;
            }
        }
        if let Some(l2) = &self.l2 {
            l2.release_locks(&locks).await;
        }
        results
    }
}

/// The bus channel on which invalidations reach every hub instance.
pub const INVALIDATE_CHANNEL: &str = "cache.invalidate";

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[derive(Debug, Clone)]
    struct Failed;

    impl FetchError for Failed {
        fn abandoned(_: System, _: &str) -> Self {
            Failed
        }

        fn code(&self) -> &'static str {
            "UPSTREAM_UNAVAILABLE"
        }
    }

    const POLICY: CachePolicy = CachePolicy {
        ttl: Duration::from_secs(60),
        stale: Duration::ZERO,
    };

    #[test]
    fn entry_keys_name_the_system_the_endpoint_and_the_key() {
        // The Redis keys of entries already written are made of these: a change of
        // shape would leave every entry of a running bank's Redis unread.
        assert_eq!(
            l1_key(System::Core, "accounts", "1000000001"),
            "core:accounts:1000000001"
        );
        assert_eq!(l1_key(System::Cards, "cards", ""), "cards:cards:");
    }

    fn tags() -> TagFn<String> {
        Arc::new(|key: &str, _: &String| vec![format!("core:customer:{key}")])
    }

    /// Reads key `1`, answering `value` after `hold` completes; counts the calls.
    async fn read(
        cache: &EntityCache,
        calls: &Arc<AtomicUsize>,
        value: &'static str,
        hold: impl Future<Output = ()> + Send + 'static,
    ) -> Fetched<String> {
        let calls = calls.clone();
        let mut answer = cache
            .read(
                System::Core,
                "customers",
                POLICY,
                &["1".to_owned()],
                tags(),
                move |keys| async move {
                    calls.fetch_add(1, SeqCst);
                    hold.await;
                    Ok::<_, Failed>(
                        keys.into_iter()
                            .map(|k| (k, Ok(value.to_owned())))
                            .collect(),
                    )
                },
            )
            .await;
        answer.remove("1").expect("key 1").expect("read")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fetch_in_flight_across_an_invalidation_does_not_undo_it() {
        let cache = Arc::new(EntityCache::new(
            EntitySettings {
                enabled: true,
                l1_max_bytes: 1 << 20,
                lock_ttl: Duration::from_secs(1),
                tag_ttl: Duration::from_secs(60),
            },
            None,
            "t:",
            Arc::new(Metrics::new()),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let before = {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                read(&cache, &calls, "before", async {
                    let _ = held.await;
                })
                .await
            })
        };
        while calls.load(SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The record changes while the first read is still on the wire.
        cache
            .invalidate(&["core:customer:1".to_owned()], true)
            .await;
        // A request after the change does not join the flight that started before it.
        let after = read(&cache, &calls, "after", async {}).await;
        assert_eq!(*after.value, "after");
        assert_eq!(calls.load(SeqCst), 2);
        // The first request gets what it read; the tier keeps the newer value.
        release.send(()).expect("the first read waits");
        let before = before.await.expect("the first read ends");
        assert_eq!(*before.value, "before");
        let again = read(&cache, &calls, "never read", async {}).await;
        assert_eq!(*again.value, "after", "the late flight overwrote the tier");
        assert!(again.from_cache);
        assert_eq!(calls.load(SeqCst), 2);
    }
}
