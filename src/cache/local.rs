//! An in-process tagged cache (moka), bounded in entries and bytes, used for both the
//! entity tier (L1) and the response tier.
//!
//! Each entry knows its tags (`core:customer:1000000001`, `core:account:…`); a tag
//! index finds every entry to drop when one upstream record changes. Entries carry
//! their own expiry: moka evicts by size, this module by time.
//!
//! The index grows with every tag of every entry: a warm hub holds about a hundred
//! thousand. Keyed by the tag's text and holding a set per tag, it was the largest single
//! allocation site of a warm batch100 run (heaptrack, system allocator: 37 MB of a
//! 134 MB heap peak). It now holds a tag's 64-bit hash and, for the usual tag that
//! one entry carries, that entry's key inline (for the entity tier an `Arc<str>`, so
//! a reference count rather than a copy of the text). Two tags with the same hash share
//! a bucket: invalidating one then also drops the other's entries, a cache miss and
//! never a stale read.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::{HashMap, HashMapExt, HashSet};
use moka::notification::RemovalCause;
use moka::sync::Cache;
use prometheus::IntCounter;

use crate::metrics::Metrics;

/// What an entry weighs against the byte budget, and its tags.
pub trait Tagged {
    fn tags(&self) -> impl Iterator<Item = &str>;
    fn weight(&self) -> u32;
}

pub struct LocalCache<K, V> {
    entries: Cache<K, V, foldhash::fast::RandomState>,
    index: Arc<Mutex<TagIndex<K>>>,
    evicted: Evictions,
}

/// Entries gone before their time, by why: `cache.l1_max_bytes` too small shows as
/// `size`, a tier that outlives its entries as `expiry`, change events as
/// `invalidation`. An entry replaced by a newer value of its key is none of these.
#[derive(Clone)]
struct Evictions {
    size: IntCounter,
    expiry: IntCounter,
    invalidation: IntCounter,
}

impl Evictions {
    fn new(metrics: &Metrics, tier: &str) -> Evictions {
        let cause = |cause: &str| metrics.cache_evictions.with_label_values(&[tier, cause]);
        Evictions {
            size: cause("size"),
            expiry: cause("expiry"),
            invalidation: cause("invalidation"),
        }
    }
}

/// Entry keys by tag hash. Hashed with foldhash, seeded per index: a tag is hashed
/// for every entry written and every entry evicted, and SipHash cost about 4,000
/// instructions of a cold profile360. A collision (no more likely to be arranged with
/// one than with the other, tags being the upstreams' record ids) only drops an
/// entry early.
struct TagIndex<K> {
    hasher: foldhash::fast::RandomState,
    keys: HashMap<u64, Keys<K>>,
}

/// The keys of the entries carrying one tag (or tags with one hash). The set is
/// boxed: nearly every tag has one entry, and each slot of the index is as wide as
/// this.
enum Keys<K> {
    One(K),
    #[allow(
        clippy::box_collection,
        reason = "unboxed, the set's 48 bytes would widen every slot of the index"
    )]
    Many(Box<HashSet<K>>),
}

impl<K: Hash + Eq + Clone> TagIndex<K> {
    fn add(&mut self, tag: &str, key: &K) {
        let hash = self.hasher.hash_one(tag);
        let Some(keys) = self.keys.get_mut(&hash) else {
            self.keys.insert(hash, Keys::One(key.clone()));
            return;
        };
        match keys {
            Keys::One(only) if only == key => {}
            Keys::One(only) => {
                let both = HashSet::from_iter([only.clone(), key.clone()]);
                *keys = Keys::Many(Box::new(both));
            }
            Keys::Many(set) => {
                set.insert(key.clone());
            }
        }
    }

    fn remove(&mut self, tag: &str, key: &K) {
        let hash = self.hasher.hash_one(tag);
        let emptied = match self.keys.get_mut(&hash) {
            None => false,
            Some(Keys::One(only)) => only == key,
            Some(Keys::Many(set)) => {
                set.remove(key);
                set.is_empty()
            }
        };
        if emptied {
            self.keys.remove(&hash);
        }
    }

    fn keys_of(&self, tag: &str, out: &mut Vec<K>) {
        match self.keys.get(&self.hasher.hash_one(tag)) {
            None => {}
            Some(Keys::One(only)) => out.push(only.clone()),
            Some(Keys::Many(set)) => out.extend(set.iter().cloned()),
        }
    }
}

impl<K, V> LocalCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Tagged + Clone + Send + Sync + 'static,
{
    /// At most `max_bytes` of entries (by weight); anything older than `max_age` goes,
    /// whatever its own expiry, so that the cache never keeps a value forever.
    /// Evictions count into `metrics` under `tier`, by cause.
    pub fn new(max_bytes: u64, max_age: Duration, metrics: &Metrics, tier: &str) -> Self {
        let index: Arc<Mutex<TagIndex<K>>> = Arc::new(Mutex::new(TagIndex {
            hasher: foldhash::fast::RandomState::default(),
            keys: HashMap::new(),
        }));
        let listener_index = index.clone();
        let evicted = Evictions::new(metrics, tier);
        let counted = evicted.clone();
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &K, value: &V| value.weight())
            .time_to_live(max_age)
            .eviction_listener(move |key: Arc<K>, value: V, cause: RemovalCause| {
                // A replaced entry's key was just indexed under the new value's tags;
                // tags only the old value had stay as harmless extra pointers.
                match cause {
                    RemovalCause::Replaced => return,
                    RemovalCause::Size => counted.size.inc(),
                    RemovalCause::Expired => counted.expiry.inc(),
                    // Counted where they are made: a removal knows why.
                    RemovalCause::Explicit => {}
                }
                let mut index = listener_index.lock().expect("tag index lock");
                for tag in value.tags() {
                    index.remove(tag, &*key);
                }
            })
            .build_with_hasher(foldhash::fast::RandomState::default());
        LocalCache {
            entries,
            index,
            evicted,
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key)
    }

    pub fn insert(&self, key: K, value: V) {
        {
            let mut index = self.index.lock().expect("tag index lock");
            for tag in value.tags() {
                index.add(tag, &key);
            }
        }
        self.entries.insert(key, value);
    }

    /// Drops an entry found past its own expiry (counted as `expiry`).
    pub fn expire<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.entries.remove(key).is_some() {
            self.evicted.expiry.inc();
        }
    }

    /// Drops every entry carrying any of `tags`; returns how many were dropped.
    pub fn invalidate_tags(&self, tags: &[String]) -> usize {
        let mut keys: Vec<K> = Vec::new();
        {
            let index = self.index.lock().expect("tag index lock");
            for tag in tags {
                index.keys_of(tag, &mut keys);
            }
        }
        // An entry carrying two of the tags (or tags sharing a hash) is listed twice.
        let keys: HashSet<K> = keys.into_iter().collect();
        let dropped = keys
            .iter()
            .filter(|key| self.entries.remove(*key).is_some())
            .count();
        self.evicted.invalidation.inc_by(dropped as u64);
        dropped
    }

    /// Drops every entry: none inserted before is served again.
    pub fn clear(&self) {
        self.entries.run_pending_tasks();
        self.evicted.invalidation.inc_by(self.entries.entry_count());
        self.entries.invalidate_all();
    }

    /// Entries currently held (after pending maintenance).
    pub fn len(&self) -> u64 {
        self.usage().entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries held and their summed weight, after pending maintenance (moka's counts
    /// lag its inserts and evictions until then).
    pub fn usage(&self) -> Usage {
        self.entries.run_pending_tasks();
        Usage {
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
        }
    }
}

/// What a tier holds: entries, and their weight (estimated resident bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Item {
        tags: Vec<String>,
        size: u32,
    }

    impl Tagged for Item {
        fn tags(&self) -> impl Iterator<Item = &str> {
            self.tags.iter().map(String::as_str)
        }
        fn weight(&self) -> u32 {
            self.size
        }
    }

    fn item(tags: &[&str], size: u32) -> Item {
        Item {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            size,
        }
    }

    #[test]
    fn invalidating_a_tag_drops_exactly_the_entries_carrying_it() {
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new(), "l1");
        cache.insert("customer", item(&["core:customer:1"], 10));
        cache.insert("accounts", item(&["core:customer:1", "core:account:A"], 10));
        cache.insert("other", item(&["core:customer:2"], 10));
        assert_eq!(cache.invalidate_tags(&["core:account:A".into()]), 1);
        assert!(cache.get(&"accounts").is_none());
        assert!(cache.get(&"customer").is_some());
        assert!(cache.get(&"other").is_some());
    }

    #[test]
    fn replacing_an_entry_keeps_it_invalidatable() {
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new(), "l1");
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.len();
        assert_eq!(cache.invalidate_tags(&["core:account:A".into()]), 1);
        assert!(cache.get(&"accounts").is_none());
    }

    #[test]
    fn a_tag_many_entries_carry_drops_them_all_once_each() {
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new(), "l1");
        for key in ["profile-a", "profile-b", "profile-c"] {
            cache.insert(key, item(&["core:customer:1", "core:account:A"], 10));
        }
        cache.insert("other", item(&["core:customer:2"], 10));
        // Both tags name all three entries: each is dropped and counted once.
        let tags = ["core:customer:1".into(), "core:account:A".into()];
        assert_eq!(cache.invalidate_tags(&tags), 3);
        for key in ["profile-a", "profile-b", "profile-c"] {
            assert!(cache.get(&key).is_none(), "{key}");
        }
        assert!(cache.get(&"other").is_some());
    }

    #[test]
    fn an_entry_removed_leaves_the_others_of_its_tag_invalidatable() {
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new(), "l1");
        cache.insert("a", item(&["core:customer:1"], 10));
        cache.insert("b", item(&["core:customer:1"], 10));
        cache.expire(&"a");
        cache.len();
        assert_eq!(cache.invalidate_tags(&["core:customer:1".into()]), 1);
        assert!(cache.get(&"b").is_none());
        // Once every entry of a tag is gone, so is the tag: nothing is left to drop.
        cache.len();
        assert_eq!(cache.invalidate_tags(&["core:customer:1".into()]), 0);
        assert!(cache.index.lock().unwrap().keys.is_empty());
    }

    #[test]
    fn the_byte_budget_bounds_the_cache() {
        let cache = LocalCache::new(1_000, Duration::from_secs(60), &Metrics::new(), "l1");
        for i in 0..100 {
            cache.insert(i, item(&["t"], 100));
        }
        assert!(
            cache.len() <= 10,
            "{} entries of 100 bytes in 1,000",
            cache.len()
        );
    }

    #[test]
    fn evictions_are_counted_by_cause() {
        let metrics = Metrics::new();
        let count = |cause: &str| {
            metrics
                .cache_evictions
                .with_label_values(&["l1", cause])
                .get()
        };

        let small = LocalCache::new(1_000, Duration::from_secs(60), &metrics, "l1");
        for i in 0..100 {
            small.insert(i, item(&["t"], 100));
        }
        small.len();
        assert!(count("size") >= 90, "{} for lack of room", count("size"));

        let short = LocalCache::new(1 << 20, Duration::from_millis(50), &metrics, "l1");
        short.insert(1, item(&["core:customer:1"], 10));
        short.insert(2, item(&["core:customer:2"], 10));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(short.len(), 0);
        assert_eq!(count("expiry"), 2);

        let sizes = count("size");
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &metrics, "l1");
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.insert("cards", item(&["cards:card:C"], 10));
        assert_eq!(cache.invalidate_tags(&["core:account:A".into()]), 1);
        cache.len();
        assert_eq!(count("invalidation"), 1, "a replaced value is not counted");
        assert_eq!(count("size"), sizes);
        assert_eq!(count("expiry"), 2);
        assert!(metrics
            .render()
            .contains("\nc360_cache_evictions_total{cause=\"invalidation\",tier=\"l1\"} 1\n"));
    }
}
