//! How an entity sits in the in-process tier: its tags and its value as JSON, in one
//! allocation, weighed by what it holds resident.
//!
//! Held as typed values (a `String` per field, every `Option<Money>` reserved whether
//! set or not), with the tags as a `Vec<String>` and the tag index holding a copy of
//! the entry's key per tag, one full profile (customer, accounts, cards, loans, online
//! banking: five entries) took 8.3 kB of heap in 114 allocations for 1.9 kB of JSON,
//! and was weighed at 12 kB (four times its JSON with its timestamps and tags): a
//! 64 MiB tier held about 5,500 profiles. As one block of JSON and tags per entry,
//! with keys shared by the index, the same profile takes 4.6 kB in 48 allocations
//! (a counting allocator over 5,000 sandbox customers; docs/performance.md, "Memory").
//! Most of what is left is moka's own (about 220 bytes per entry) and the JSON.
//!
//! A read parses the value back (about 2 kB of JSON per profile): the resolvers use
//! the typed value, and the parse is what holding a profile in half the memory costs.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Resident bytes of an entry beyond its key's and its block's text: moka's own nodes
/// (about 220 bytes in seven allocations), the entry's fields in moka's, the key's and
/// the block's allocation headers, and the allocator's rounding up to its size
/// classes. With [`TAG_BYTES`], a profile weighs 5.0 kB for the 4.6 kB of heap it was
/// measured to take.
const ENTRY_BYTES: usize = 440;
/// Resident bytes of one tag in the tag index: its slot (a hash and a shared key) at
/// the map's usual load.
const TAG_BYTES: usize = 48;

/// The tags of a value, packed: each tag's length (four bytes, little-endian), then
/// its text. An entry's tags share its block, so handing them to a request costs a
/// reference count.
#[derive(Clone)]
pub struct Tags {
    packed: Arc<[u8]>,
    end: usize,
}

impl Tags {
    pub fn new(tags: &[String]) -> Tags {
        let mut packed = Vec::with_capacity(packed_len(tags));
        pack(tags, &mut packed);
        let end = packed.len();
        Tags {
            packed: packed.into(),
            end,
        }
    }

    pub fn iter(&self) -> TagIter<'_> {
        TagIter(&self.packed[..self.end])
    }

    pub fn is_empty(&self) -> bool {
        self.end == 0
    }
}

impl std::fmt::Debug for Tags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

pub struct TagIter<'a>(&'a [u8]);

impl<'a> Iterator for TagIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (tag, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        // Packed from `&str`s only, so always text.
        std::str::from_utf8(tag).ok()
    }
}

fn packed_len(tags: &[String]) -> usize {
    tags.iter().map(|t| 4 + t.len()).sum()
}

fn pack(tags: &[String], into: &mut Vec<u8>) {
    for tag in tags {
        into.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        into.extend_from_slice(tag.as_bytes());
    }
}

/// One entity in the in-process tier.
#[derive(Clone)]
pub struct L1Entry {
    /// The tags (packed as [`Tags`]), then the value in MessagePack, structs as arrays.
    /// JSON took a fifth of a profile360 answered from this tier to read back (finding
    /// each member by name, scanning every string for escapes); MessagePack writes no
    /// member names and gives each string its length. The entry never leaves the
    /// process, so it needs no names to survive a change of the types: the Redis tier
    /// keeps JSON.
    block: Arc<[u8]>,
    value_at: usize,
    pub fetched_at: DateTime<Utc>,
    pub fresh_until: DateTime<Utc>,
    pub stale_until: DateTime<Utc>,
    weight: u32,
}

impl L1Entry {
    /// The entry for `value` under a key of `key_len` bytes; `None` when the value
    /// does not serialize (it is then not held, and read again next time).
    pub fn new<V: Serialize>(
        key_len: usize,
        tags: &[String],
        value: &V,
        fetched_at: DateTime<Utc>,
        fresh_until: DateTime<Utc>,
        stale_until: DateTime<Utc>,
    ) -> Option<L1Entry> {
        let mut block = Vec::with_capacity(packed_len(tags) + 256);
        pack(tags, &mut block);
        let value_at = block.len();
        rmp_serde::encode::write(&mut block, value).ok()?;
        let block: Arc<[u8]> = block.into();
        Some(L1Entry {
            weight: weight(key_len, block.len(), tags.len()),
            block,
            value_at,
            fetched_at,
            fresh_until,
            stale_until,
        })
    }

    /// The value, parsed; `None` when it is not a `V` (the entry is then a miss).
    pub fn value<V: DeserializeOwned>(&self) -> Option<V> {
        rmp_serde::from_slice(&self.block[self.value_at..]).ok()
    }

    pub fn tags(&self) -> Tags {
        Tags {
            packed: self.block.clone(),
            end: self.value_at,
        }
    }

    pub fn tag_iter(&self) -> TagIter<'_> {
        TagIter(&self.block[..self.value_at])
    }

    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// Resident bytes of an entry: its key, its block, and what moka and the tag index
/// spend on it, so that `cache.l1_max_bytes` is what an operator reads it as: memory.
fn weight(key_len: usize, block_len: usize, tags: usize) -> u32 {
    (key_len + block_len + ENTRY_BYTES + TAG_BYTES * tags).min(u32::MAX as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_back_as_packed_even_with_separators_in_them() {
        let tags = vec![
            "core:customer:1000000001".to_owned(),
            String::new(),
            "core:account:a\nb:c".to_owned(),
        ];
        let packed = Tags::new(&tags);
        assert_eq!(packed.iter().collect::<Vec<_>>(), tags);
        let now = Utc::now();
        let entry = L1Entry::new(10, &tags, &vec![1, 2, 3], now, now, now).unwrap();
        assert_eq!(entry.tags().iter().collect::<Vec<_>>(), tags);
        assert_eq!(entry.tag_iter().count(), 3);
        assert_eq!(entry.value::<Vec<i32>>(), Some(vec![1, 2, 3]));
        assert_eq!(entry.value::<Vec<String>>(), None, "not a list of strings");
    }

    /// Every domain type an upstream answers comes back from an entry as it went in,
    /// fully populated and with only its required fields: amounts and rates to the last
    /// digit, dates, enums, nested lists.
    #[test]
    fn every_domain_type_comes_back_as_it_went_in() {
        use crate::domain::fields::{samples::object, Entity};
        use crate::domain::*;
        fn round_trip<T>(entity: Entity)
        where
            T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            for required_only in [false, true] {
                let value: T = serde_json::from_value(object(entity.fields(), required_only))
                    .unwrap_or_else(|e| panic!("{entity}: {e}"));
                let now = Utc::now();
                let entry = L1Entry::new(20, &[], &vec![&value], now, now, now).unwrap();
                assert_eq!(entry.value::<Vec<T>>(), Some(vec![value]), "{entity}");
            }
        }
        round_trip::<Customer>(Entity::Customer);
        round_trip::<Account>(Entity::Account);
        round_trip::<Transaction>(Entity::Transaction);
        round_trip::<Card>(Entity::Card);
        round_trip::<Loan>(Entity::Loan);
        round_trip::<OnlineUser>(Entity::OnlineUser);
        round_trip::<LoginEvent>(Entity::LoginEvent);
        round_trip::<Relationship>(Entity::Relationship);
        round_trip::<PartyMembers>(Entity::Party);
        round_trip::<Activity>(Entity::Activity);
    }
}
