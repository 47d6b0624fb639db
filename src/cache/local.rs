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
//! one entry carries, that entry's key inline. Two tags with the same hash share a
//! bucket: invalidating one then also drops the other's entries, a cache miss and
//! never a stale read.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::metrics::Metrics;

/// What an entry weighs against the byte budget, and its tags.
pub trait Tagged {
    fn tags(&self) -> &[String];
    fn weight(&self) -> u32;
}

pub struct LocalCache<K, V> {
    entries: Cache<K, V>,
    index: Arc<Mutex<TagIndex<K>>>,
}

/// Entry keys by tag hash.
struct TagIndex<K> {
    hasher: RandomState,
    keys: HashMap<u64, Keys<K>>,
}

/// The keys of the entries carrying one tag (or tags with one hash).
enum Keys<K> {
    One(K),
    Many(HashSet<K>),
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
                let both = HashSet::from([only.clone(), key.clone()]);
                *keys = Keys::Many(both);
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
    /// Evictions count into `metrics` under tier `l1`.
    pub fn new(max_bytes: u64, max_age: Duration, metrics: &Metrics) -> Self {
        let index: Arc<Mutex<TagIndex<K>>> = Arc::new(Mutex::new(TagIndex {
            hasher: RandomState::new(),
            keys: HashMap::new(),
        }));
        let listener_index = index.clone();
        let evictions = metrics.cache_evictions.clone();
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &K, value: &V| value.weight())
            .time_to_live(max_age)
            .eviction_listener(move |key: Arc<K>, value: V, cause: RemovalCause| {
                // A replaced entry's key was just indexed under the new value's tags;
                // tags only the old value had stay as harmless extra pointers.
                if cause == RemovalCause::Replaced {
                    return;
                }
                if cause.was_evicted() {
                    evictions.with_label_values(&["l1"]).inc();
                }
                let mut index = listener_index.lock().expect("tag index lock");
                for tag in value.tags() {
                    index.remove(tag, &*key);
                }
            })
            .build();
        LocalCache { entries, index }
    }

    pub fn get(&self, key: &K) -> Option<V> {
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

    pub fn remove(&self, key: &K) {
        self.entries.invalidate(key);
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
        for key in &keys {
            self.entries.invalidate(key);
        }
        keys.len()
    }

    /// Drops every entry: none inserted before is served again.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Entries currently held (after pending maintenance).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
        fn tags(&self) -> &[String] {
            &self.tags
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
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new());
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
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new());
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.len();
        assert_eq!(cache.invalidate_tags(&["core:account:A".into()]), 1);
        assert!(cache.get(&"accounts").is_none());
    }

    #[test]
    fn a_tag_many_entries_carry_drops_them_all_once_each() {
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new());
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
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60), &Metrics::new());
        cache.insert("a", item(&["core:customer:1"], 10));
        cache.insert("b", item(&["core:customer:1"], 10));
        cache.remove(&"a");
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
        let cache = LocalCache::new(1_000, Duration::from_secs(60), &Metrics::new());
        for i in 0..100 {
            cache.insert(i, item(&["t"], 100));
        }
        assert!(
            cache.len() <= 10,
            "{} entries of 100 bytes in 1,000",
            cache.len()
        );
    }
}
