//! The response tier: a whole serialized response, served without parsing or
//! executing anything, for the same operation and the same caller view.
//!
//! The key is the hash of the document, the operation name, the variables and the
//! viewer's cache key (role, scope, masking profile), so no caller is ever served
//! another view's answer. The document's part is its own SHA-256, kept with the parsed
//! document ([`super::KnownDocument::digest`]): hashing a profile360 document's 600
//! bytes again on every request was about 30,000 instructions of a warm answer. Each entry carries the tags of every entity it contains
//! and lives as long as the shortest-lived of them.
//!
//! An answer is only as good as the policies and connector mappings that produced it,
//! so a reload drops the whole tier ([`ResponseCache::clear`]). Keys carry the tier's
//! generation: a request that was already running under the old configuration when it
//! was dropped does not put its answer back.
//!
//! A change event drops the answers carrying its tags, but a request that read the
//! old record before the event and finishes after it would store that old answer
//! again, to be served for up to a minute. Keys therefore also carry the tier's
//! invalidation count when the request began, and the tier remembers which tags were
//! invalidated at which count ([`Invalidated`]): an answer carrying a tag invalidated
//! since its request began is not stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use foldhash::HashMap;
use sha2::{Digest, Sha256};

use super::local::{LocalCache, Tagged, Usage};
use crate::metrics::Metrics;

/// What identifies a response, within one generation of the tier.
#[derive(Debug, Clone)]
pub struct ResponseKey {
    hash: [u8; 32],
    generation: u64,
    /// The tier's invalidation count when the request began; not part of the
    /// identity (two requests for the same answer share an entry).
    began: u64,
}

impl PartialEq for ResponseKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.generation == other.generation
    }
}

impl Eq for ResponseKey {}

impl std::hash::Hash for ResponseKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
        self.generation.hash(state);
    }
}

/// SHA-256 of a document's text.
pub type DocumentDigest = [u8; 32];

impl ResponseKey {
    /// The digest a document's text stands for in keys.
    pub fn document_digest(query: &str) -> DocumentDigest {
        Sha256::digest(query.as_bytes()).into()
    }

    /// The key in a tier's first generation; [`ResponseCache::key`] gives the key in
    /// its current one.
    pub fn new(
        query: &str,
        operation_name: Option<&str>,
        variables: &str,
        view: &str,
    ) -> ResponseKey {
        Self::of_document(
            &Self::document_digest(query),
            operation_name,
            variables,
            view,
        )
    }

    /// [`ResponseKey::new`] for a document whose digest is known.
    pub fn of_document(
        document: &DocumentDigest,
        operation_name: Option<&str>,
        variables: &str,
        view: &str,
    ) -> ResponseKey {
        let mut hasher = Sha256::new();
        hasher.update(document);
        for part in [operation_name.unwrap_or(""), variables, view] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        ResponseKey {
            hash: hasher.finalize().into(),
            generation: 0,
            began: 0,
        }
    }
}

/// Estimates the resident bytes of what a response read (see [`ResponseCache`]'s
/// `R`), counted in its entry's weight.
pub type WeighReads<R> = fn(&R) -> usize;

/// Resident bytes of one tag of an entry: the entry's own `String` and the tag
/// index's. Calibrated when the index held a key `String` and a set of response keys
/// per tag; it now holds a hash and, for most tags, one key inline, so this
/// over-weighs: the tier keeps fewer answers than its budget would allow, never more
/// memory. Measured on `c360 bench --scenario batch100 --mode warm --customers 20000
/// --sandbox-process --sandbox-customers 1000000` (release): each answer carries about
/// a thousand tags, and the tier weighed at 96 bytes a tag (doubled) held about 470 KB
/// of resident memory per entry for 50 KB of body.
const TAG_RESIDENT_BYTES: usize = 448;

struct Entry<R> {
    body: Bytes,
    reads: Arc<R>,
    /// What `reads` weighs, from the cache's [`WeighReads`].
    reads_bytes: usize,
    tags: Arc<Vec<String>>,
    expires: Instant,
    fetched_at: DateTime<Utc>,
}

impl<R> Clone for Entry<R> {
    fn clone(&self) -> Self {
        Entry {
            body: self.body.clone(),
            reads: self.reads.clone(),
            reads_bytes: self.reads_bytes,
            tags: self.tags.clone(),
            expires: self.expires,
            fetched_at: self.fetched_at,
        }
    }
}

/// A stored answer, as a hit hands it out.
pub struct Replay<R> {
    pub body: Bytes,
    pub reads: Arc<R>,
    /// When the oldest data in the answer was fetched from its system (the answer's
    /// `Age` counts from it).
    pub fetched_at: DateTime<Utc>,
    /// How much longer the answer is kept.
    pub fresh_for: Duration,
}

impl<R: Send + Sync + 'static> Tagged for Entry<R> {
    fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(String::as_str)
    }

    fn weight(&self) -> u32 {
        // The body as it is sent, each tag (see TAG_RESIDENT_BYTES), each replayed
        // read a CIF and a set of classes, the key and moka's bookkeeping. An answer
        // about many customers weighs mostly its tags.
        let estimate =
            self.body.len() + TAG_RESIDENT_BYTES * self.tags.len() + self.reads_bytes + 512;
        estimate.min(u32::MAX as usize) as u32
    }
}

/// Whole answers, each kept with `R`: what it read (for the hub, each customer with
/// the classes it showed in clear), because a hit must write the same access audit as
/// the execution it replays. The tier does not look into `R`; the app that builds it
/// says what one weighs.
pub struct ResponseCache<R> {
    entries: LocalCache<ResponseKey, Entry<R>>,
    weigh_reads: WeighReads<R>,
    max_entry_bytes: u64,
    max_ttl: Duration,
    /// Bumped by [`ResponseCache::clear`]; keys made before it neither hit nor store.
    generation: AtomicU64,
    invalidated: Mutex<Invalidated>,
    /// [`Invalidated::count`], readable without the lock when a key is made.
    invalidations: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Tags remembered at most: past it the tier forgets them all and refuses answers
/// from every request that began before (see [`Invalidated::floor`]). A bank's feed
/// at a thousand events a second, three tags each, forgets every twenty seconds or
/// so, and then only the answers of requests running at that instant go unstored.
const REMEMBERED_TAGS: usize = 65_536;

/// Which tags were invalidated when, counted in invalidations.
#[derive(Default)]
struct Invalidated {
    count: u64,
    /// The count at each tag's latest invalidation.
    tags: HashMap<String, u64>,
    /// Requests that began before this count store nothing: the tags invalidated
    /// before it were forgotten.
    floor: u64,
}

impl Invalidated {
    /// Whether an answer carrying `tags`, from a request that began at `began`, may
    /// be stored: none of its tags was invalidated since.
    fn admits(&self, began: u64, tags: &[String]) -> bool {
        if began == self.count {
            return true;
        }
        began >= self.floor
            && tags
                .iter()
                .all(|tag| self.tags.get(tag).is_none_or(|at| *at <= began))
    }

    fn record(&mut self, tags: &[String]) -> u64 {
        self.count += 1;
        if self.tags.len() + tags.len() > REMEMBERED_TAGS {
            self.tags.clear();
            self.floor = self.count;
        }
        for tag in tags {
            self.tags.insert(tag.clone(), self.count);
        }
        self.count
    }
}

impl<R: Send + Sync + 'static> ResponseCache<R> {
    /// At most `max_bytes` in all, and no single answer weighing more than
    /// `max_entry_bytes` (0: the whole tier); lookups, stores and invalidations count
    /// into `metrics`.
    pub fn new(
        max_bytes: u64,
        max_entry_bytes: u64,
        max_ttl: Duration,
        weigh_reads: WeighReads<R>,
        metrics: Arc<Metrics>,
    ) -> ResponseCache<R> {
        ResponseCache {
            weigh_reads,
            entries: LocalCache::new(
                max_bytes,
                max_ttl.max(Duration::from_secs(1)),
                &metrics,
                "response",
            ),
            max_entry_bytes: if max_entry_bytes == 0 {
                max_bytes
            } else {
                max_entry_bytes.min(max_bytes)
            },
            max_ttl,
            generation: AtomicU64::new(0),
            invalidated: Mutex::default(),
            invalidations: AtomicU64::new(0),
            metrics,
        }
    }

    /// The key of a request in the tier's current generation (see [`ResponseKey::new`]).
    pub fn key(
        &self,
        document: &DocumentDigest,
        operation_name: Option<&str>,
        variables: &str,
        view: &str,
    ) -> ResponseKey {
        ResponseKey {
            generation: self.generation.load(Ordering::Acquire),
            began: self.invalidations.load(Ordering::Acquire),
            ..ResponseKey::of_document(document, operation_name, variables, view)
        }
    }

    fn current(&self, key: &ResponseKey) -> bool {
        key.generation == self.generation.load(Ordering::Acquire)
    }

    /// Drops every answer, and makes the keys of requests still running miss and
    /// store nothing: what a reload of the policies or the connectors calls.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
        self.metrics
            .response_cache
            .with_label_values(&["cleared"])
            .inc();
    }

    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }

    /// What the tier holds.
    pub fn usage(&self) -> Usage {
        self.entries.usage()
    }

    pub fn get(&self, key: &ResponseKey) -> Option<Replay<R>> {
        let found = if self.current(key) {
            self.entries.get(key)
        } else {
            None
        };
        let now = Instant::now();
        match found {
            Some(entry) if entry.expires > now => {
                self.metrics
                    .response_cache
                    .with_label_values(&["hit"])
                    .inc();
                Some(Replay {
                    fresh_for: entry.expires - now,
                    body: entry.body,
                    reads: entry.reads,
                    fetched_at: entry.fetched_at,
                })
            }
            Some(_) => {
                self.entries.expire(key);
                self.metrics
                    .response_cache
                    .with_label_values(&["miss"])
                    .inc();
                None
            }
            None => {
                self.metrics
                    .response_cache
                    .with_label_values(&["miss"])
                    .inc();
                None
            }
        }
    }

    /// Keeps an answer for `ttl` (at most the tier's `max_ttl`), its oldest data
    /// fetched at `fetched_at`. Returns how long it is kept, or `None` when it is not.
    pub fn insert(
        &self,
        key: ResponseKey,
        body: Bytes,
        reads: Arc<R>,
        tags: Vec<String>,
        ttl: Duration,
        fetched_at: DateTime<Utc>,
    ) -> Option<Duration> {
        if !self.current(&key) {
            self.metrics
                .response_cache
                .with_label_values(&["superseded"])
                .inc();
            return None;
        }
        let ttl = ttl.min(self.max_ttl);
        let entry = Entry {
            body,
            reads_bytes: (self.weigh_reads)(&reads),
            reads,
            tags: Arc::new(tags),
            expires: Instant::now() + ttl,
            fetched_at,
        };
        // An answer about many records (a hundred customers' products carry about a
        // thousand tags, 450 kB of weight) is rarely asked again word for word, is
        // dropped by a change to any of its records, and would push out a hundred
        // screens' answers. The entity tier still serves what it was built from.
        if u64::from(entry.weight()) > self.max_entry_bytes {
            self.metrics
                .response_cache
                .with_label_values(&["too_large"])
                .inc();
            return None;
        }
        {
            // Held across the check and the insert: an invalidation either is seen
            // here or comes after the entry is in, and drops it.
            let invalidated = self.invalidated.lock().expect("invalidation lock");
            if !invalidated.admits(key.began, &entry.tags) {
                drop(invalidated);
                self.metrics
                    .response_cache
                    .with_label_values(&["superseded"])
                    .inc();
                return None;
            }
            self.entries.insert(key, entry);
        }
        self.metrics
            .response_cache
            .with_label_values(&["stored"])
            .inc();
        Some(ttl)
    }

    /// Drops every response containing any of `tags`, and keeps requests already
    /// running from storing an answer that carries one of them.
    pub fn invalidate(&self, tags: &[String]) -> usize {
        {
            let mut invalidated = self.invalidated.lock().expect("invalidation lock");
            let count = invalidated.record(tags);
            self.invalidations.store(count, Ordering::Release);
        }
        let dropped = self.entries.invalidate_tags(tags);
        self.metrics
            .cache_invalidations
            .with_label_values(&["response"])
            .inc_by(dropped as u64);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_view_variables_and_operation() {
        let base = ResponseKey::new("{ a }", None, "{}", "anonymous");
        assert_eq!(base, ResponseKey::new("{ a }", None, "{}", "anonymous"));
        assert_ne!(base, ResponseKey::new("{ a }", None, "{}", "role:teller"));
        assert_ne!(
            base,
            ResponseKey::new("{ a }", None, "{\"x\":1}", "anonymous")
        );
        assert_ne!(
            base,
            ResponseKey::new("{ a }", Some("A"), "{}", "anonymous")
        );
        // Boundaries are length-prefixed: moving text between parts changes the key.
        assert_ne!(
            ResponseKey::new("a", Some("b"), "", "c"),
            ResponseKey::new("a", None, "b", "c")
        );
        assert_ne!(
            ResponseKey::new("ab", None, "", "c"),
            ResponseKey::new("a", None, "b", "c")
        );
        assert_eq!(
            base,
            ResponseKey::of_document(
                &ResponseKey::document_digest("{ a }"),
                None,
                "{}",
                "anonymous"
            ),
            "a digest kept with the document gives the same key"
        );
    }

    #[test]
    fn a_hit_says_when_its_data_was_fetched_and_how_long_it_is_kept() {
        let cache: ResponseCache<()> =
            ResponseCache::new(1 << 20, 0, Duration::from_secs(60), |_| 0, Arc::default());
        let key = ResponseKey::new("q", None, "", "v");
        let fetched_at = Utc::now() - chrono::Duration::seconds(20);
        let kept = cache.insert(
            key.clone(),
            Bytes::from_static(b"{}"),
            Arc::default(),
            vec![],
            Duration::from_secs(600),
            fetched_at,
        );
        assert_eq!(kept, Some(Duration::from_secs(60)), "at most max_ttl");
        let hit = cache.get(&key).unwrap();
        assert_eq!(hit.fetched_at, fetched_at);
        assert!(hit.fresh_for <= Duration::from_secs(60));
        assert!(hit.fresh_for > Duration::from_secs(59));
    }

    #[test]
    fn an_answer_heavier_than_the_entry_limit_is_not_kept() {
        let cache: ResponseCache<()> = ResponseCache::new(
            1 << 20,
            16 * 1024,
            Duration::from_secs(60),
            |_| 0,
            Arc::default(),
        );
        let small = ResponseKey::new("small", None, "", "v");
        let large = ResponseKey::new("large", None, "", "v");
        let tags = |n: usize| (0..n).map(|i| format!("core:account:{i}")).collect();
        // 10 tags: about 5 kB of weight; 100 tags: about 45 kB.
        cache.insert(
            small.clone(),
            Bytes::from_static(b"{}"),
            Arc::default(),
            tags(10),
            Duration::from_secs(30),
            Utc::now(),
        );
        cache.insert(
            large.clone(),
            Bytes::from_static(b"{}"),
            Arc::default(),
            tags(100),
            Duration::from_secs(30),
            Utc::now(),
        );
        assert!(cache.get(&small).is_some());
        assert!(cache.get(&large).is_none());
    }

    #[test]
    fn an_invalidated_tag_drops_only_its_responses_and_entries_expire() {
        let cache: ResponseCache<()> =
            ResponseCache::new(1 << 20, 0, Duration::from_secs(60), |_| 0, Arc::default());
        let one = ResponseKey::new("1", None, "", "v");
        let two = ResponseKey::new("2", None, "", "v");
        cache.insert(
            one.clone(),
            Bytes::from_static(b"one"),
            Arc::default(),
            vec!["core:account:A".into()],
            Duration::from_secs(30),
            Utc::now(),
        );
        cache.insert(
            two.clone(),
            Bytes::from_static(b"two"),
            Arc::default(),
            vec!["core:account:B".into()],
            Duration::from_secs(30),
            Utc::now(),
        );
        assert_eq!(cache.invalidate(&["core:account:A".into()]), 1);
        assert!(cache.get(&one).is_none());
        assert_eq!(cache.get(&two).unwrap().body, Bytes::from_static(b"two"));
        let short = ResponseKey::new("3", None, "", "v");
        cache.insert(
            short.clone(),
            Bytes::from_static(b"x"),
            Arc::default(),
            vec![],
            Duration::ZERO,
            Utc::now(),
        );
        assert!(
            cache.get(&short).is_none(),
            "a zero time to live is never served"
        );
    }

    #[test]
    fn an_answer_read_before_an_invalidation_of_its_records_is_not_stored() {
        let cache: ResponseCache<()> =
            ResponseCache::new(1 << 20, 0, Duration::from_secs(60), |_| 0, Arc::default());
        let store = |key: &ResponseKey, tag: &str| {
            cache.insert(
                key.clone(),
                Bytes::from_static(b"old"),
                Arc::default(),
                vec![tag.to_owned()],
                Duration::from_secs(30),
                Utc::now(),
            )
        };
        let digest = ResponseKey::document_digest("q");
        let running = cache.key(&digest, None, "", "v");
        let other = cache.key(&digest, None, "", "w");
        cache.invalidate(&["core:account:A".into()]);
        assert_eq!(
            store(&running, "core:account:A"),
            None,
            "read before the event"
        );
        assert!(cache.get(&cache.key(&digest, None, "", "v")).is_none());
        assert!(
            store(&other, "core:account:B").is_some(),
            "an answer about other records is kept"
        );
        let after = cache.key(&digest, None, "", "v");
        assert!(store(&after, "core:account:A").is_some(), "read after it");
        assert!(cache.get(&after).is_some());
    }

    #[test]
    fn forgetting_tags_refuses_every_answer_begun_before() {
        let cache: ResponseCache<()> =
            ResponseCache::new(1 << 30, 0, Duration::from_secs(60), |_| 0, Arc::default());
        let digest = ResponseKey::document_digest("q");
        let running = cache.key(&digest, None, "", "v");
        cache.invalidate(&["core:account:A".into()]);
        let many: Vec<String> = (0..REMEMBERED_TAGS).map(|i| format!("t:{i}")).collect();
        cache.invalidate(&many);
        let stored = cache.insert(
            running,
            Bytes::from_static(b"old"),
            Arc::default(),
            vec!["core:account:Z".into()],
            Duration::from_secs(30),
            Utc::now(),
        );
        assert_eq!(stored, None, "its tags may have been among those forgotten");
    }
}
