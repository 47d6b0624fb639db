//! An in-process tagged cache (moka), bounded in entries and bytes, used for both the
//! entity tier (L1) and the response tier.
//!
//! Each entry knows its tags (`core:customer:1000000001`, `core:account:…`); a tag
//! index finds every entry to drop when one upstream record changes. Entries carry
//! their own expiry: moka evicts by size, this module by time.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;

/// What an entry weighs against the byte budget, and its tags.
pub trait Tagged {
    fn tags(&self) -> &[String];
    fn weight(&self) -> u32;
}

pub struct LocalCache<K, V> {
    entries: Cache<K, V>,
    index: Arc<Mutex<HashMap<String, HashSet<K>>>>,
}

impl<K, V> LocalCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Tagged + Clone + Send + Sync + 'static,
{
    /// At most `max_bytes` of entries (by weight); anything older than `max_age` goes,
    /// whatever its own expiry, so that the cache never keeps a value forever.
    pub fn new(max_bytes: u64, max_age: Duration) -> Self {
        let index: Arc<Mutex<HashMap<String, HashSet<K>>>> = Arc::default();
        let listener_index = index.clone();
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
                    crate::metrics::CACHE_EVICTIONS
                        .with_label_values(&["l1"])
                        .inc();
                }
                let mut index = listener_index.lock().expect("tag index lock");
                for tag in value.tags() {
                    if let Some(keys) = index.get_mut(tag) {
                        keys.remove(&key);
                        if keys.is_empty() {
                            index.remove(tag);
                        }
                    }
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
                index.entry(tag.clone()).or_default().insert(key.clone());
            }
        }
        self.entries.insert(key, value);
    }

    pub fn remove(&self, key: &K) {
        self.entries.invalidate(key);
    }

    /// Drops every entry carrying any of `tags`; returns how many were dropped.
    pub fn invalidate_tags(&self, tags: &[String]) -> usize {
        let keys: Vec<K> = {
            let index = self.index.lock().expect("tag index lock");
            tags.iter()
                .filter_map(|tag| index.get(tag))
                .flat_map(|keys| keys.iter().cloned())
                .collect()
        };
        for key in &keys {
            self.entries.invalidate(key);
        }
        keys.len()
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
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60));
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
        let cache = LocalCache::new(1 << 20, Duration::from_secs(60));
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.insert("accounts", item(&["core:account:A"], 10));
        cache.len();
        assert_eq!(cache.invalidate_tags(&["core:account:A".into()]), 1);
        assert!(cache.get(&"accounts").is_none());
    }

    #[test]
    fn the_byte_budget_bounds_the_cache() {
        let cache = LocalCache::new(1_000, Duration::from_secs(60));
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
