//! The access audit as a keyed hash chain: each row is sealed with an HMAC over its
//! content and the seal of the row before it, so that whoever can write the table but
//! does not hold the key can neither change a row, nor remove one, nor add one
//! without [`Walk`] (and `c360 audit verify`) naming the position.
//!
//! A row's seal is `hex(HMAC-SHA256(key[key_id], json))`, where `json` is the compact
//! JSON array `[prev_hash, seq, key_id, id, at, actor, role, branch, customer_id,
//! operation, fields_revealed, purpose, client, trace_id, acting_for]`, with `row_count`
//! appended for a bulk read (an export) only, so that every row sealed before the
//! column existed keeps its seal: unambiguous, and reproducible by an auditor's own
//! tool with the key. Keys rotate by id: a new id
//! becomes current, earlier ones stay configured so that the rows they sealed still
//! verify.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AccessRecord;
use crate::config::{AccessConfig, Profile};

/// The predecessor of the first chained row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key id the demo profile seals with when none is configured. Its key is derived
/// from a public string, so rows sealed with it prove nothing; a production hub does
/// not know it and reports such rows as sealed with an unknown key.
pub const DEMO_KEY_ID: &str = "demo-insecure";

/// Shorter keys would be weaker than the SHA-256 they key.
const MIN_KEY_BYTES: usize = 32;

/// The audit chain's keys by id, and which one seals new rows. Never printed.
#[derive(Clone)]
pub struct ChainKeys {
    current: String,
    /// Each key as an HMAC already keyed with it: keying hashes two blocks (the key
    /// padded with `ipad` and with `opad`), which every row's seal would otherwise
    /// repeat; a clone starts from there.
    keys: BTreeMap<String, Hmac<Sha256>>,
}

impl std::fmt::Debug for ChainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why the configured audit keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainKeyError {
    #[error(
        "access.audit_chain_keys.{id} is not set (C360_ACCESS__AUDIT_CHAIN_KEYS__{env}): the \
         access audit's current key (access.audit_chain_key_id = \"{id}\") is required \
         outside the demo profile"
    )]
    Missing { id: String, env: String },
    #[error(
        "access.audit_chain_keys.{id} (C360_ACCESS__AUDIT_CHAIN_KEYS__{env}) is not base64 of \
         at least {MIN_KEY_BYTES} bytes"
    )]
    Invalid { id: String, env: String },
}

impl ChainKeys {
    /// Keys from `access.audit_chain_keys` (base64), sealing with
    /// `access.audit_chain_key_id`. Outside the demo profile the current key must be
    /// configured; the demo falls back to [`DEMO_KEY_ID`].
    pub fn from_config(
        access: &AccessConfig,
        profile: Profile,
    ) -> Result<ChainKeys, ChainKeyError> {
        let mut keys = BTreeMap::new();
        for (id, encoded) in access.audit_chain_keys.iter() {
            let invalid = || ChainKeyError::Invalid {
                id: id.clone(),
                env: id.to_uppercase(),
            };
            let key = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| invalid())?;
            if key.len() < MIN_KEY_BYTES {
                return Err(invalid());
            }
            keys.insert(id.clone(), key);
        }
        let mut current = access.audit_chain_key_id.trim().to_owned();
        if !keys.contains_key(&current) {
            if profile != Profile::Demo {
                return Err(ChainKeyError::Missing {
                    env: current.to_uppercase(),
                    id: current,
                });
            }
            current = DEMO_KEY_ID.to_owned();
            keys.insert(current.clone(), demo_key());
        }
        Ok(ChainKeys::new(&current, keys))
    }

    /// Keys given directly, for tests and tools.
    pub fn new(current: &str, keys: BTreeMap<String, Vec<u8>>) -> ChainKeys {
        ChainKeys {
            current: current.to_owned(),
            keys: keys
                .into_iter()
                .map(|(id, key)| {
                    let keyed =
                        Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
                    (id, keyed)
                })
                .collect(),
        }
    }

    /// The id new rows are sealed under.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    fn key(&self, id: &str) -> Option<&Hmac<Sha256>> {
        self.keys.get(id)
    }

    /// The seal of a row at `seq` after `prev_hash`, under the current key.
    pub(in crate::store) fn seal(
        &self,
        prev_hash: &str,
        seq: i64,
        id: Uuid,
        record: &AccessRecord,
    ) -> String {
        let key = self
            .key(&self.current)
            .expect("the current key is configured");
        seal_with(key, prev_hash, seq, &self.current, id, record)
    }

    /// Whether a stored row matches its seal: `None` when its key id is unknown here.
    pub fn verifies(&self, row: &ChainedRow) -> Option<bool> {
        let key = self.key(&row.key_id)?;
        let Ok(stored) = hex::decode(&row.hash) else {
            return Some(false);
        };
        let mac = mac_with(
            key,
            &row.prev_hash,
            row.seq,
            &row.key_id,
            row.id,
            &row.record,
        );
        Some(mac.verify_slice(&stored).is_ok())
    }
}

/// Derived from a public string: anyone can recompute it, which is the point of
/// naming it insecure.
fn demo_key() -> Vec<u8> {
    Sha256::digest(b"c360 demo profile audit chain key: public, never for production").to_vec()
}

fn seal_with(
    key: &Hmac<Sha256>,
    prev_hash: &str,
    seq: i64,
    key_id: &str,
    id: Uuid,
    record: &AccessRecord,
) -> String {
    let seal = mac_with(key, prev_hash, seq, key_id, id, record)
        .finalize()
        .into_bytes();
    // `hex::encode` collects a char at a time; the slice form writes the 64 bytes.
    let mut text = [0u8; 64];
    hex::encode_to_slice(seal, &mut text).expect("64 hex digits for 32 bytes");
    String::from_utf8(text.to_vec()).expect("hex digits are ASCII")
}

fn mac_with(
    key: &Hmac<Sha256>,
    prev_hash: &str,
    seq: i64,
    key_id: &str,
    id: Uuid,
    r: &AccessRecord,
) -> Hmac<Sha256> {
    let canonical = (
        prev_hash,
        seq,
        key_id,
        id.to_string(),
        r.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        &r.actor,
        &r.role,
        &r.branch,
        r.customer_id.as_str(),
        &r.operation,
        &r.fields_revealed,
        &r.purpose,
        &r.client,
        &r.trace_id,
        &r.acting_for,
    );
    let bytes = match r.row_count {
        None => serde_json::to_vec(&canonical),
        Some(rows) => {
            let (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o) = canonical;
            serde_json::to_vec(&(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, rows))
        }
    }
    .expect("audit rows serialize");
    let mut mac = key.clone();
    mac.update(&bytes);
    mac
}

/// A chained row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedRow {
    pub seq: i64,
    pub id: Uuid,
    pub key_id: String,
    pub prev_hash: String,
    pub hash: String,
    pub record: AccessRecord,
}

/// The chain's end as the head table records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
    /// Rows without a position that the migration found (written before the chain).
    pub legacy_rows: i64,
}

/// What is wrong at a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The row does not match its seal, and the row after it links to it: it was
    /// there when its successor was written and has been changed since.
    Edited { seq: i64 },
    /// The row does not match its seal and nothing links to it: added (or replaced
    /// whole) by someone without the key.
    Inserted { seq: i64 },
    /// Rows are missing before `before`: it does not link to the last row that
    /// precedes it (`after`). `after + 1 ..= before - 1` are the missing positions
    /// when the positions were left alone; `before` is `None` when rows are missing
    /// at the end of the chain.
    Deleted { after: i64, before: Option<i64> },
    /// The row names a key this hub does not have: it cannot be checked.
    UnknownKey { seq: i64, key_id: String },
    /// Rows without a position (written before the chain existed, or added without
    /// one since): the migration found `expected`.
    Unpositioned { found: i64, expected: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Edited { seq } => write!(
                f,
                "position {seq}: edited (the row no longer matches its seal; the next row links to it)"
            ),
            ChainBreak::Inserted { seq } => write!(
                f,
                "position {seq}: inserted (its seal does not verify and no row links to it)"
            ),
            ChainBreak::Deleted {
                after,
                before: Some(before),
            } if before - after == 2 => write!(
                f,
                "position {}: deleted (position {before} does not link to position {after})",
                after + 1
            ),
            ChainBreak::Deleted {
                after,
                before: Some(before),
            } if before - after > 2 => write!(
                f,
                "positions {}-{}: deleted (position {before} does not link to position {after})",
                after + 1,
                before - 1
            ),
            ChainBreak::Deleted {
                after,
                before: Some(before),
            } => write!(
                f,
                "position {before}: rows deleted before it (it does not link to position {after})"
            ),
            ChainBreak::Deleted { after, before: None } => write!(
                f,
                "positions after {after}: deleted (the chain's head is further on)"
            ),
            ChainBreak::UnknownKey { seq, key_id } => write!(
                f,
                "position {seq}: unknown key id '{key_id}' (the row cannot be checked)"
            ),
            ChainBreak::Unpositioned { found, expected } => write!(
                f,
                "rows without a position: {found}, but {expected} existed before the chain"
            ),
        }
    }
}

impl ChainBreak {
    /// The position a report is sorted by.
    fn position(&self) -> i64 {
        match self {
            ChainBreak::Edited { seq }
            | ChainBreak::Inserted { seq }
            | ChainBreak::UnknownKey { seq, .. } => *seq,
            ChainBreak::Deleted { after, .. } => after + 1,
            ChainBreak::Unpositioned { .. } => 0,
        }
    }
}

/// The outcome of a walk along the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub rows: u64,
    /// First and last position checked.
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub key_ids: BTreeSet<String>,
    pub breaks: Vec<ChainBreak>,
}

/// Walks rows in position order and reports what is wrong, by position.
///
/// A row that does not match its seal is judged by the row after it: if that one
/// links to the bad row's seal, the bad row was there and was changed (edited); if it
/// links past it, the bad row was added (inserted). A row that matches its seal but
/// does not link to the last good row before it has lost its predecessors (deleted).
pub struct Walk<'k> {
    keys: &'k ChainKeys,
    /// The last row accepted as part of the chain: position and seal.
    last: Option<(i64, String)>,
    /// A row that does not match its seal, waiting for its successor's verdict.
    suspect: Option<ChainedRow>,
    report: ChainReport,
}

impl<'k> Walk<'k> {
    pub fn new(keys: &'k ChainKeys) -> Walk<'k> {
        Walk {
            keys,
            last: None,
            suspect: None,
            report: ChainReport::default(),
        }
    }

    pub fn push(&mut self, row: ChainedRow) {
        let report = &mut self.report;
        report.rows += 1;
        report.first.get_or_insert(row.seq);
        report.last = Some(report.last.map_or(row.seq, |l| l.max(row.seq)));
        report.key_ids.insert(row.key_id.clone());
        if let Some(suspect) = self.suspect.take() {
            let linked = row.prev_hash == suspect.hash;
            self.judge(suspect, linked);
        }
        match self.keys.verifies(&row) {
            Some(true) => {
                self.check_link(&row);
                self.last = Some((row.seq, row.hash));
            }
            Some(false) => self.suspect = Some(row),
            None => {
                self.report.breaks.push(ChainBreak::UnknownKey {
                    seq: row.seq,
                    key_id: row.key_id.clone(),
                });
                self.check_link(&row);
                self.last = Some((row.seq, row.hash));
            }
        }
    }

    /// Ends the walk. With the head (a walk to the end of the chain), a last bad row
    /// is judged by whether the head names it, and rows missing at the end show.
    pub fn finish(mut self, head: Option<&ChainHead>, unpositioned: Option<i64>) -> ChainReport {
        if let Some(suspect) = self.suspect.take() {
            let named = head.is_some_and(|h| h.seq == suspect.seq && h.hash == suspect.hash);
            self.judge(suspect, named);
        }
        if let Some(head) = head {
            let end = self.last.as_ref().map_or(0, |(seq, _)| *seq);
            if head.seq > end {
                self.report.breaks.push(ChainBreak::Deleted {
                    after: end,
                    before: None,
                });
            }
            if let Some(found) = unpositioned.filter(|found| *found != head.legacy_rows) {
                self.report.breaks.push(ChainBreak::Unpositioned {
                    found,
                    expected: head.legacy_rows,
                });
            }
        }
        self.report.breaks.sort_by_key(ChainBreak::position);
        self.report
    }

    /// Rules on a row that does not match its seal, once it is known whether a later
    /// row (or the head) links to it.
    fn judge(&mut self, suspect: ChainedRow, linked: bool) {
        if linked {
            self.report
                .breaks
                .push(ChainBreak::Edited { seq: suspect.seq });
            self.check_link(&suspect);
            self.last = Some((suspect.seq, suspect.hash));
        } else {
            self.report
                .breaks
                .push(ChainBreak::Inserted { seq: suspect.seq });
        }
    }

    fn check_link(&mut self, row: &ChainedRow) {
        if let Some((seq, hash)) = &self.last {
            if row.prev_hash != *hash {
                self.report.breaks.push(ChainBreak::Deleted {
                    after: *seq,
                    before: Some(row.seq),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::Cif;

    fn keys() -> ChainKeys {
        ChainKeys::new(
            "k2",
            [
                ("k1".to_owned(), vec![1; 32]),
                ("k2".to_owned(), vec![2; 32]),
            ]
            .into(),
        )
    }

    fn record(i: i64) -> AccessRecord {
        AccessRecord {
            at: DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(i),
            actor: "u-1".into(),
            acting_for: None,
            role: "teller".into(),
            branch: None,
            customer_id: Cif::parse("1000000001").unwrap(),
            operation: None,
            fields_revealed: vec![],
            purpose: None,
            client: None,
            trace_id: format!("trace-{i}"),
            row_count: None,
        }
    }

    /// Six rows: the first three sealed with k1, the rest after a rotation to k2.
    fn chain() -> (Vec<ChainedRow>, ChainHead) {
        let mut rows = Vec::new();
        let mut prev = GENESIS.to_owned();
        for seq in 1..=6 {
            let key_id = if seq <= 3 { "k1" } else { "k2" };
            let keys = ChainKeys {
                current: key_id.into(),
                ..keys()
            };
            let id = Uuid::now_v7();
            let hash = keys.seal(&prev, seq, id, &record(seq));
            rows.push(ChainedRow {
                seq,
                id,
                key_id: key_id.into(),
                prev_hash: prev.clone(),
                hash: hash.clone(),
                record: record(seq),
            });
            prev = hash;
        }
        let head = ChainHead {
            seq: 6,
            hash: prev,
            legacy_rows: 0,
        };
        (rows, head)
    }

    fn walk(rows: Vec<ChainedRow>, head: &ChainHead) -> ChainReport {
        let keys = keys();
        let mut walk = Walk::new(&keys);
        for row in rows {
            walk.push(row);
        }
        walk.finish(Some(head), Some(0))
    }

    #[test]
    fn an_untouched_chain_across_a_key_rotation_verifies() {
        let (rows, head) = chain();
        let report = walk(rows, &head);
        assert_eq!(report.breaks, []);
        assert_eq!(
            (report.rows, report.first, report.last),
            (6, Some(1), Some(6))
        );
        assert_eq!(report.key_ids, ["k1".to_owned(), "k2".to_owned()].into());
    }

    #[test]
    fn an_edited_row_is_named_by_position() {
        let (mut rows, head) = chain();
        rows[2].record.customer_id = Cif::parse("1000000002").unwrap();
        assert_eq!(walk(rows, &head).breaks, [ChainBreak::Edited { seq: 3 }]);
        let (mut rows, head) = chain();
        rows[5].record.trace_id = "another".into();
        assert_eq!(
            walk(rows, &head).breaks,
            [ChainBreak::Edited { seq: 6 }],
            "the last row: the head names its seal"
        );
    }

    #[test]
    fn deleted_rows_are_named_by_the_positions_around_them() {
        let (mut rows, head) = chain();
        rows.drain(2..4);
        assert_eq!(
            walk(rows, &head).breaks,
            [ChainBreak::Deleted {
                after: 2,
                before: Some(5)
            }]
        );
        let (mut rows, head) = chain();
        rows.truncate(4);
        assert_eq!(
            walk(rows, &head).breaks,
            [ChainBreak::Deleted {
                after: 4,
                before: None
            }]
        );
    }

    #[test]
    fn inserted_rows_are_named_at_the_end_in_the_middle_and_on_a_taken_position() {
        let forged = |seq: i64, prev: &str| {
            let wrong = ChainKeys::new("k2", [("k2".to_owned(), vec![9; 32])].into());
            let id = Uuid::now_v7();
            ChainedRow {
                seq,
                id,
                key_id: "k2".into(),
                prev_hash: prev.into(),
                hash: wrong.seal(prev, seq, id, &record(seq)),
                record: record(seq),
            }
        };
        let (mut rows, head) = chain();
        let last = rows[5].hash.clone();
        rows.push(forged(7, &last));
        assert_eq!(walk(rows, &head).breaks, [ChainBreak::Inserted { seq: 7 }]);

        let (mut rows, head) = chain();
        let third = rows[2].hash.clone();
        rows.insert(3, forged(4, &third));
        assert_eq!(walk(rows, &head).breaks, [ChainBreak::Inserted { seq: 4 }]);

        let (mut rows, head) = chain();
        let second = rows[1].hash.clone();
        rows.insert(2, forged(3, &second));
        assert_eq!(walk(rows, &head).breaks, [ChainBreak::Inserted { seq: 3 }]);
    }

    #[test]
    fn a_row_under_an_unknown_key_is_named_and_the_rest_still_checked() {
        let (rows, head) = chain();
        let only_k2 = ChainKeys::new("k2", [("k2".to_owned(), vec![2; 32])].into());
        let mut walk = Walk::new(&only_k2);
        for row in rows {
            walk.push(row);
        }
        let report = walk.finish(Some(&head), Some(0));
        assert_eq!(
            report.breaks,
            (1..=3)
                .map(|seq| ChainBreak::UnknownKey {
                    seq,
                    key_id: "k1".into()
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_current_key_is_required_outside_the_demo_and_named_with_its_variable() {
        let access = AccessConfig::default();
        let error = ChainKeys::from_config(&access, Profile::Production).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("access.audit_chain_keys.k1")
                && message.contains("C360_ACCESS__AUDIT_CHAIN_KEYS__K1"),
            "{message}"
        );
        let demo = ChainKeys::from_config(&access, Profile::Demo).unwrap();
        assert_eq!(demo.current_id(), DEMO_KEY_ID);

        let mut short = AccessConfig::default();
        short.audit_chain_keys.0.insert(
            "k1".into(),
            base64::engine::general_purpose::STANDARD.encode([1u8; 16]),
        );
        assert!(matches!(
            ChainKeys::from_config(&short, Profile::Production),
            Err(ChainKeyError::Invalid { .. })
        ));
        let mut good = AccessConfig::default();
        good.audit_chain_keys.0.insert(
            "k1".into(),
            base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
        );
        let keys = ChainKeys::from_config(&good, Profile::Production).unwrap();
        assert_eq!(keys.current_id(), "k1");
        assert!(
            !format!("{keys:?}").contains("AQEB"),
            "keys are never printed"
        );
    }
}
