//! The access audit: who read which customer, as what, and which personal data they
//! saw in clear (docs/domain.md#purpose-and-audit). Rows are only ever added: there is
//! no update or delete here, and the migrations refuse both in the database.
//!
//! Rows arrive in batches from [`crate::auth::AuditWriter`], so a batch is written
//! with multi-row `INSERT`s in one transaction: one commit (one fsync on SQLite) per
//! batch instead of per row. Each row is sealed into a keyed hash chain
//! ([`super::chain`]): the transaction first locks the chain's head (one row), so
//! batches from every hub instance sharing the database take consecutive positions
//! in one order, at the cost of one lock per batch rather than per row.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(super) mod chain;

use super::{
    bind_args, classify, new_id, on_connection, on_pool, values_sql, Arg, Backend, Conditions,
    HeldConnection, Store, StoreError,
};
use crate::domain::Cif;
use chain::{ChainHead, ChainKeys, ChainReport, ChainedRow, Walk};

/// Columns one row binds in the `INSERT`.
const INSERT_COLUMNS: &str = "id, at, actor, role, branch, customer_id, operation, \
    fields_revealed, purpose, client, trace_id, hash, seq, key_id, prev_hash, acting_for, \
    row_count";
const INSERT_WIDTH: usize = 17;
/// The 1-based position of `fields_revealed` among them: JSON, typed by the backend.
const FIELDS_COLUMN: usize = 8;

/// The chain's head, read in a transaction from [`Backend::begin_write`]. SQLite
/// already holds the write lock, and a plain read is enough: `UPDATE … RETURNING`
/// there builds and drops a temporary table per statement (about 10,000
/// instructions of each audited read). PostgreSQL takes the row's lock with a write.
fn head_for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT seq, hash FROM access_audit_head WHERE id = 1",
        Backend::Postgres => {
            "UPDATE access_audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash"
        }
    }
}

/// Most rows per `INSERT` statement. A batch is written as statements of this many
/// rows and then of the powers of two below it, so that only eight statement texts
/// exist: each is prepared once and then comes from the statement cache. Statements
/// as wide as the bound-parameter limit (2,730 rows) were tried first: every batch
/// size was a new statement to parse, and binding cost grew with the square of the
/// width (see [`insert_sql`]); under load on SQLite a commit then took seconds.
const ROWS_PER_STATEMENT: usize = 128;

/// The statement sizes a batch of `rows` rows is written in, largest first.
fn statement_sizes(rows: usize) -> impl Iterator<Item = usize> {
    let full = rows / ROWS_PER_STATEMENT;
    let rest = rows % ROWS_PER_STATEMENT;
    std::iter::repeat_n(ROWS_PER_STATEMENT, full).chain(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1usize << bit)
            .filter(move |size| rest & size != 0),
    )
}

/// One read of one customer's data by a member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// When the data was read; kept to the microsecond, like every stored time.
    pub at: DateTime<Utc>,
    /// The token subject.
    pub actor: String,
    /// The staff member a write was recorded for, when the actor acted for a
    /// colleague (`act_for_staff`).
    pub acting_for: Option<String>,
    pub role: String,
    pub branch: Option<String>,
    pub customer_id: Cif,
    /// The GraphQL operation name, when the client gave one.
    pub operation: Option<String>,
    /// Classes of personal data shown unmasked (`NAME`, `ID_NUMBER`, …); empty when
    /// everything was masked.
    pub fields_revealed: Vec<String>,
    /// The reason given for the read (`SERVICE`, `COMPLAINT`, …).
    pub purpose: Option<String>,
    /// The application that obtained the token.
    pub client: Option<String>,
    /// Ties the row to the request's logs and traces.
    pub trace_id: String,
    /// A bulk read (an export of the BI snapshot): how many customers' rows it
    /// answered. `None` for a read of the one customer `customer_id` names.
    pub row_count: Option<i64>,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccess {
    /// UUIDv7, assigned when the hub received the record.
    pub id: Uuid,
    /// The row's seal as written (a plain SHA-256 on rows from before the chain).
    pub hash: String,
    /// Where the row sits in the chain; `None` on rows written before it existed.
    pub link: Option<Link>,
    pub record: AccessRecord,
}

/// A row's place in the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: i64,
    pub key_id: String,
    pub prev_hash: String,
}

impl StoredAccess {
    /// Whether the row still matches the seal it was written with under its key: false
    /// when someone changed it in the database, when it was sealed with a key `keys`
    /// does not hold, and on rows from before the chain. Whether its neighbours are
    /// still there is [`Store::verify_access_chain`]'s question.
    pub fn is_intact(&self, keys: &ChainKeys) -> bool {
        self.chained()
            .is_some_and(|row| keys.verifies(&row) == Some(true))
    }

    fn chained(&self) -> Option<ChainedRow> {
        let link = self.link.as_ref()?;
        Some(ChainedRow {
            seq: link.seq,
            id: self.id,
            key_id: link.key_id.clone(),
            prev_hash: link.prev_hash.clone(),
            hash: self.hash.clone(),
            record: self.record.clone(),
        })
    }

    /// Where a page that ends with this row continues.
    pub fn cursor(&self) -> AccessCursor {
        AccessCursor {
            at: self.record.at,
            id: self.id,
        }
    }
}

/// Which audit rows a query covers; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessFilter {
    pub customer_id: Option<Cif>,
    pub actor: Option<String>,
    /// Read at or after.
    pub from: Option<DateTime<Utc>>,
    /// Read before.
    pub to: Option<DateTime<Utc>>,
}

impl AccessFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(cif) = &self.customer_id {
            let p = c.arg(Arg::Text(cif.as_str().to_owned()));
            c.push(format!("customer_id = {p}"));
        }
        if let Some(actor) = &self.actor {
            let p = c.arg(Arg::Text(actor.clone()));
            c.push(format!("actor = {p}"));
        }
        if let Some(from) = self.from {
            let p = c.arg(Arg::Time(from));
            c.push(format!("at >= {p}"));
        }
        if let Some(to) = self.to {
            let p = c.arg(Arg::Time(to));
            c.push(format!("at < {p}"));
        }
        c
    }
}

/// Where a page of the audit starts: after the row with this time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// One page of the audit, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPage {
    pub records: Vec<StoredAccess>,
    /// Whether rows follow the last one of this page.
    pub has_next_page: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    role: String,
    branch: Option<String>,
    customer_id: String,
    operation: Option<String>,
    fields_revealed: String,
    purpose: Option<String>,
    client: Option<String>,
    trace_id: String,
    hash: String,
    seq: Option<i64>,
    key_id: Option<String>,
    prev_hash: Option<String>,
    acting_for: Option<String>,
    row_count: Option<i64>,
}

impl Row {
    fn into_domain(self) -> Result<StoredAccess, StoreError> {
        let link = match (self.seq, self.key_id, self.prev_hash) {
            (Some(seq), Some(key_id), Some(prev_hash)) => Some(Link {
                seq,
                key_id,
                prev_hash,
            }),
            _ => None,
        };
        Ok(StoredAccess {
            id: self.id,
            hash: self.hash,
            link,
            record: AccessRecord {
                at: self.at,
                actor: self.actor,
                acting_for: self.acting_for,
                role: self.role,
                branch: self.branch,
                customer_id: Cif::parse(&self.customer_id)
                    .map_err(|e| StoreError::Corrupt(format!("access_audit.customer_id: {e}")))?,
                operation: self.operation,
                fields_revealed: serde_json::from_str(&self.fields_revealed)
                    .map_err(|e| StoreError::Corrupt(format!("fields_revealed: {e}")))?,
                purpose: self.purpose,
                client: self.client,
                trace_id: self.trace_id,
                row_count: self.row_count,
            },
        })
    }
}

/// A row ready to bind: the record with its time cut to microseconds (so the seal
/// matches what the database gives back), its JSON, its place in the chain and its
/// seal.
struct Prepared {
    id: Uuid,
    record: AccessRecord,
    fields: String,
    seq: i64,
    prev_hash: String,
    hash: String,
}

impl Prepared {
    /// The row at `seq`, after the row sealed `prev_hash`.
    fn new(
        keys: &ChainKeys,
        seq: i64,
        prev_hash: String,
        id: Uuid,
        record: &AccessRecord,
    ) -> Prepared {
        let mut record = record.clone();
        record.at = crate::domain::to_micros(record.at);
        Prepared {
            id,
            fields: serde_json::to_string(&record.fields_revealed).expect("names serialize"),
            hash: keys.seal(&prev_hash, seq, id, &record),
            seq,
            prev_hash,
            record,
        }
    }
}

/// Ids of a batch looked up at once when it is sent again.
const IDS_PER_LOOKUP: usize = 500;

impl std::str::FromStr for ChainBound {
    type Err = String;

    fn from_str(raw: &str) -> Result<ChainBound, String> {
        let raw = raw.trim();
        if let Ok(seq) = raw.parse::<i64>() {
            return Ok(ChainBound::Position(seq));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|at| ChainBound::Time(at.with_timezone(&Utc)))
            .map_err(|_| format!("'{raw}' is neither a position nor an RFC 3339 time"))
    }
}

/// Rows read per statement by a walk along the chain.
const WALK_PAGE: i64 = 2_000;

/// Where a walk along the chain starts or ends: a position, or a time of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainBound {
    Position(i64),
    Time(DateTime<Utc>),
}

impl Store {
    /// Writes a batch of audit rows, all or none, with new ids, sealed under the
    /// current key of `keys` at the end of the chain.
    pub async fn append_access(
        &self,
        keys: &ChainKeys,
        records: &[AccessRecord],
    ) -> Result<(), StoreError> {
        let rows: Vec<(Uuid, &AccessRecord)> = records.iter().map(|r| (new_id(), r)).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut connection = self.hold_connection().await?;
        self.append_access_with_ids(&mut connection, keys, &rows, false)
            .await
    }

    /// [`Store::append_access`] on a held connection, with ids chosen by the caller.
    /// `sent_before` says the batch may have been committed already (a failure whose
    /// outcome is unknown: the connection dropped during the commit): its rows already
    /// stored are then looked up and left out, so each row is written, and takes a
    /// position, once.
    pub(crate) async fn append_access_with_ids(
        &self,
        connection: &mut HeldConnection,
        keys: &ChainKeys,
        rows: &[(Uuid, &AccessRecord)],
        sent_before: bool,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        on_connection!(connection, c => {
            let mut tx = sqlx::Connection::begin_with(&mut **c, backend.begin_write())
                .await
                .map_err(classify)?;
            // The head is read under a lock held to the commit, so that the batch's
            // positions are ours: SQLite's write lock, taken by the transaction's
            // start; on PostgreSQL the head's row lock, taken by a write.
            let (mut seq, mut prev_hash): (i64, String) = sqlx::query_as(head_for_update(backend))
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
            let mut stored = std::collections::HashSet::new();
            if sent_before {
                for chunk in rows.chunks(IDS_PER_LOOKUP) {
                    let sql = format!(
                        "SELECT id FROM access_audit WHERE id IN {}",
                        values_sql(backend, 1, chunk.len(), |_, p| p)
                    );
                    let mut query = sqlx::query_scalar::<_, Uuid>(&sql);
                    for (id, _) in chunk {
                        query = query.bind(*id);
                    }
                    stored.extend(query.fetch_all(&mut *tx).await.map_err(classify)?);
                }
            }
            let prepared: Vec<Prepared> = rows
                .iter()
                .filter(|(id, _)| !stored.contains(id))
                .map(|(id, record)| {
                    seq += 1;
                    let row = Prepared::new(keys, seq, prev_hash.clone(), *id, record);
                    prev_hash.clone_from(&row.hash);
                    row
                })
                .collect();
            let mut rest = prepared.as_slice();
            let statements: Vec<(&str, &[Prepared])> = statement_sizes(prepared.len())
                .map(|size| {
                    let (chunk, after) = rest.split_at(size);
                    rest = after;
                    (statement(backend, size), chunk)
                })
                .collect();
            for (sql, chunk) in &statements {
                let mut query = sqlx::query(sql);
                for row in chunk.iter() {
                    let r = &row.record;
                    query = query
                        .bind(row.id)
                        .bind(r.at)
                        .bind(r.actor.as_str())
                        .bind(r.role.as_str())
                        .bind(r.branch.as_deref())
                        .bind(r.customer_id.as_str())
                        .bind(r.operation.as_deref())
                        .bind(row.fields.as_str())
                        .bind(r.purpose.as_deref())
                        .bind(r.client.as_deref())
                        .bind(r.trace_id.as_str())
                        .bind(row.hash.as_str())
                        .bind(row.seq)
                        .bind(keys.current_id())
                        .bind(row.prev_hash.as_str())
                        .bind(r.acting_for.as_deref())
                        .bind(r.row_count);
                }
                query.execute(&mut *tx).await.map_err(classify)?;
            }
            sqlx::query("UPDATE access_audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(prev_hash.as_str())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)
        })
    }

    /// Audit rows matching `filter`, newest first, after `after`; at most `first`.
    /// Keyset paging on (at, id), so rows written while an auditor pages never shift
    /// the pages not read yet.
    pub async fn access_records(
        &self,
        filter: &AccessFilter,
        first: usize,
        after: Option<AccessCursor>,
    ) -> Result<AccessPage, StoreError> {
        let (sql, conditions) = list_sql(self.backend(), filter, after, first + 1);
        let args = &conditions.args;
        let rows: Vec<Row> =
            on_pool!(self, p => bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)
                .map_err(classify)?;
        let mut records = rows
            .into_iter()
            .map(Row::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        let has_next_page = records.len() > first;
        records.truncate(first);
        Ok(AccessPage {
            records,
            has_next_page,
        })
    }
    /// Walks the chain from `from` to `to` (positions inclusive; times select the
    /// rows read at or after `from` and before `to`) and reports every break by
    /// position. Without `to`, the walk also checks the chain's end against its head
    /// (rows missing at the end, a bad last row); over the whole chain, it also counts
    /// the rows without a position. Reads one snapshot, so hubs may keep writing.
    pub async fn verify_access_chain(
        &self,
        keys: &ChainKeys,
        from: Option<ChainBound>,
        to: Option<ChainBound>,
    ) -> Result<ChainReport, StoreError> {
        let backend = self.backend();
        let columns = format!(
            "id, at, actor, role, branch, customer_id, operation, {} AS fields_revealed, \
             purpose, client, trace_id, hash, seq, key_id, prev_hash, acting_for, row_count",
            backend.json_text("fields_revealed")
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await.map_err(classify)?;
            if backend == Backend::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let (head_seq, head_hash, legacy_rows): (i64, String, i64) = sqlx::query_as(
                "SELECT seq, hash, legacy_rows FROM access_audit_head WHERE id = 1",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
            let first = match from {
                None => i64::MIN,
                Some(ChainBound::Position(seq)) => seq,
                Some(ChainBound::Time(at)) => sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT MIN(seq) FROM access_audit WHERE at >= $1",
                )
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?
                .unwrap_or(i64::MAX),
            };
            let last = match to {
                None => i64::MAX,
                Some(ChainBound::Position(seq)) => seq,
                Some(ChainBound::Time(at)) => sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT MAX(seq) FROM access_audit WHERE at < $1",
                )
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?
                .unwrap_or(i64::MIN),
            };
            let mut walk = Walk::new(keys);
            let mut after: Option<(i64, Uuid)> = None;
            loop {
                let keyset = if after.is_some() { "AND (seq, id) > ($3, $4)" } else { "" };
                let sql = format!(
                    "SELECT {columns} FROM access_audit \
                     WHERE seq IS NOT NULL AND seq >= $1 AND seq <= $2 {keyset} \
                     ORDER BY seq, id LIMIT {WALK_PAGE}"
                );
                let mut query = sqlx::query_as::<_, Row>(&sql).bind(first).bind(last);
                if let Some((seq, id)) = after {
                    query = query.bind(seq).bind(id);
                }
                let rows = query.fetch_all(&mut *tx).await.map_err(classify)?;
                let full = rows.len() as i64 == WALK_PAGE;
                for row in rows {
                    let (seq, id) = (row.seq.unwrap_or_default(), row.id);
                    after = Some((seq, id));
                    walk.push(chained(row));
                }
                if !full {
                    break;
                }
            }
            let unpositioned = if from.is_none() && to.is_none() {
                Some(
                    sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM access_audit WHERE seq IS NULL",
                    )
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?,
                )
            } else {
                None
            };
            let head = ChainHead {
                seq: head_seq,
                hash: head_hash,
                legacy_rows,
            };
            Ok(walk.finish(to.is_none().then_some(&head), unpositioned))
        })
    }
}

/// A row of the chain as the walk sees it. A row whose content this build cannot
/// read back (a customer id that is not a CIF, a list of classes that is not JSON)
/// was not written by the hub: it keeps its place and seal, which its stand-in
/// content does not match.
fn chained(row: Row) -> ChainedRow {
    let (seq, key_id, prev_hash, hash) = (
        row.seq.unwrap_or_default(),
        row.key_id.clone().unwrap_or_default(),
        row.prev_hash.clone().unwrap_or_default(),
        row.hash.clone(),
    );
    let id = row.id;
    match row.into_domain() {
        Ok(stored) => ChainedRow {
            seq,
            id,
            key_id,
            prev_hash,
            hash,
            record: stored.record,
        },
        Err(_) => ChainedRow {
            seq,
            id,
            key_id,
            prev_hash,
            hash,
            record: AccessRecord::unreadable(),
        },
    }
}

impl AccessRecord {
    /// Stands in for a stored row that cannot be read back; no seal matches it.
    fn unreadable() -> AccessRecord {
        AccessRecord {
            at: DateTime::<Utc>::UNIX_EPOCH,
            actor: String::new(),
            acting_for: None,
            role: String::new(),
            branch: None,
            customer_id: Cif::parse("0000000000").expect("ten digits"),
            operation: None,
            fields_revealed: Vec::new(),
            purpose: None,
            client: None,
            trace_id: String::new(),
            row_count: None,
        }
    }
}

/// `INSERT … VALUES (…), (…), …` for `rows` rows, skipping rows whose id is stored.
///
/// On SQLite, `OR IGNORE` rather than `ON CONFLICT (id) DO NOTHING`: a statement that
/// could abort half-way inside a transaction makes SQLite copy every page it changes
/// to a statement journal first: a quarter of the SQLite thread's time under the
/// `search` benchmark. The two skip the same rows here: every `NOT NULL` column is
/// bound from a field that cannot be empty, and the id is the only unique key.
/// The `INSERT` of `rows` rows, one of [`statement_sizes`]'s, built once per backend
/// and size. Built per batch, a statement's text took a string per placeholder (2,176
/// in a statement of 128 rows), about 5,000 instructions per audited read.
fn statement(backend: Backend, rows: usize) -> &'static str {
    const SIZES: usize = ROWS_PER_STATEMENT.trailing_zeros() as usize + 1;
    static TEXTS: [[OnceLock<String>; SIZES]; 2] =
        [const { [const { OnceLock::new() }; SIZES] }; 2];
    debug_assert!(rows.is_power_of_two() && rows <= ROWS_PER_STATEMENT);
    let by_backend = match backend {
        Backend::Sqlite => &TEXTS[0],
        Backend::Postgres => &TEXTS[1],
    };
    by_backend[rows.trailing_zeros() as usize].get_or_init(|| insert_sql(backend, rows))
}

fn insert_sql(backend: Backend, rows: usize) -> String {
    let values = values_sql(backend, rows, INSERT_WIDTH, |column, p| {
        if column == FIELDS_COLUMN {
            backend.json_value(&p)
        } else {
            p
        }
    });
    match backend {
        Backend::Sqlite => {
            format!("INSERT OR IGNORE INTO access_audit ({INSERT_COLUMNS}) VALUES {values}")
        }
        Backend::Postgres => format!(
            "INSERT INTO access_audit ({INSERT_COLUMNS}) VALUES {values} \
             ON CONFLICT (id) DO NOTHING"
        ),
    }
}

/// The statement of [`Store::access_records`] and its arguments.
fn list_sql(
    backend: Backend,
    filter: &AccessFilter,
    after: Option<AccessCursor>,
    limit: usize,
) -> (String, Conditions) {
    let mut conditions = filter.conditions();
    if let Some(cursor) = after {
        let t = conditions.arg(Arg::Time(cursor.at));
        let id = conditions.arg(Arg::Id(cursor.id));
        conditions.push(format!("(at, id) < ({t}, {id})"));
    }
    let where_sql = conditions.sql();
    let limit_at = conditions.arg(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT id, at, actor, role, branch, customer_id, operation, {} AS fields_revealed, \
         purpose, client, trace_id, hash, seq, key_id, prev_hash, acting_for, row_count FROM access_audit {where_sql} \
         ORDER BY at DESC, id DESC LIMIT {limit_at}",
        backend.json_text("fields_revealed"),
    );
    (sql, conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GENESIS;

    fn record() -> AccessRecord {
        AccessRecord {
            at: "2026-11-27T08:30:00.123456789Z".parse().unwrap(),
            actor: "u-1001".into(),
            acting_for: None,
            role: "RM".into(),
            branch: Some("B001".into()),
            customer_id: Cif::parse("1000000001").unwrap(),
            operation: Some("Profile".into()),
            fields_revealed: vec!["NAME".into(), "MOBILE".into()],
            purpose: Some("SERVICE".into()),
            client: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            row_count: None,
        }
    }

    fn keys() -> ChainKeys {
        ChainKeys::new("k1", [("k1".to_owned(), (0u8..32).collect())].into())
    }

    /// The seal an auditor's own tool computes (here Python's `json.dumps(row,
    /// separators=(",", ":"))` and `hmac.new(key, row, hashlib.sha256)`), so stored
    /// rows stay checkable whatever the hub's code does to get there.
    #[test]
    fn the_seal_is_hmac_sha256_of_the_compact_json_array_of_the_link_and_the_row() {
        let id: Uuid = "0190c3c4-7d1e-7000-8000-000000000001".parse().unwrap();
        assert_eq!(
            Prepared::new(
                &keys(),
                1,
                GENESIS.into(),
                id,
                &AccessRecord {
                    acting_for: Some("S0002".into()),
                    ..record()
                }
            )
            .hash,
            "adb8a8c719e5d21ac4e9bc0723f71e53d8fbbdb5b251349be06671dc8a7608fb"
        );
    }

    #[test]
    fn the_seal_covers_the_row_count_of_a_bulk_read() {
        let id: Uuid = "0190c3c4-7d1e-7000-8000-000000000001".parse().unwrap();
        let one = Prepared::new(&keys(), 1, GENESIS.into(), id, &record()).hash;
        let bulk = |rows| AccessRecord {
            row_count: Some(rows),
            ..record()
        };
        let many = Prepared::new(&keys(), 1, GENESIS.into(), id, &bulk(3_000)).hash;
        let more = Prepared::new(&keys(), 1, GENESIS.into(), id, &bulk(3_001)).hash;
        assert_ne!(one, many);
        assert_ne!(many, more);
    }

    #[test]
    fn the_seal_covers_every_field_the_link_and_the_stored_time() {
        let id = new_id();
        let prepared = Prepared::new(&keys(), 7, GENESIS.into(), id, &record());
        assert_eq!(prepared.record.at.timestamp_subsec_nanos(), 123_456_000);
        let stored = StoredAccess {
            id,
            hash: prepared.hash.clone(),
            link: Some(Link {
                seq: 7,
                key_id: "k1".into(),
                prev_hash: GENESIS.into(),
            }),
            record: prepared.record.clone(),
        };
        assert!(stored.is_intact(&keys()));
        let mut changed = stored.clone();
        changed.record.fields_revealed.pop();
        assert!(!changed.is_intact(&keys()));
        let mut moved = stored.clone();
        moved.link.as_mut().unwrap().seq = 8;
        assert!(!moved.is_intact(&keys()));
        let mut relinked = stored.clone();
        relinked.link.as_mut().unwrap().prev_hash = "1".repeat(64);
        assert!(!relinked.is_intact(&keys()));
        let other_key = ChainKeys::new("k1", [("k1".to_owned(), vec![7; 32])].into());
        assert!(
            !stored.is_intact(&other_key),
            "another key does not verify it"
        );
        let unknown = ChainKeys::new("k2", [("k2".to_owned(), (0u8..32).collect())].into());
        assert!(
            !stored.is_intact(&unknown),
            "nor does a hub without its key id"
        );
    }

    #[test]
    fn inserts_number_rows_consecutively_and_type_json_per_backend() {
        let sql = insert_sql(Backend::Postgres, 2);
        assert!(sql.contains("CAST($8 AS jsonb)") && sql.contains("CAST($25 AS jsonb)"));
        assert!(sql.ends_with("($18, $19, $20, $21, $22, $23, $24, CAST($25 AS jsonb), $26, $27, $28, $29, $30, $31, $32, $33, $34) ON CONFLICT (id) DO NOTHING"));
        let sqlite = insert_sql(Backend::Sqlite, 2);
        assert!(!sqlite.contains("CAST") && !sqlite.contains('$'));
        assert_eq!(sqlite.matches('?').count(), 2 * INSERT_WIDTH);
    }

    #[test]
    fn batches_are_written_in_a_few_fixed_statement_sizes() {
        let sizes = |rows| statement_sizes(rows).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(128), vec![128]);
        assert_eq!(sizes(300), vec![128, 128, 32, 8, 4]);
        assert_eq!(sizes(4_096).len(), 32);
        assert!((1..5_000).all(|rows| sizes(rows).iter().sum::<usize>() == rows));
        let distinct: std::collections::HashSet<usize> = (1..5_000).flat_map(sizes).collect();
        assert_eq!(distinct.len(), 8);
    }

    #[test]
    fn each_statement_text_is_built_once_per_backend_and_size() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for size in statement_sizes(2 * ROWS_PER_STATEMENT - 1) {
                let first = statement(backend, size);
                assert_eq!(first, insert_sql(backend, size));
                assert!(std::ptr::eq(first, statement(backend, size)));
            }
        }
        assert_ne!(
            statement(Backend::Sqlite, 4),
            statement(Backend::Postgres, 4)
        );
    }

    /// The writer re-sends a batch whose commit it did not see answered: rows already
    /// stored are skipped, the others written, each once and at consecutive positions
    /// (a skipped row taking a position would read as a deleted row).
    #[tokio::test]
    async fn a_batch_sent_again_writes_only_the_rows_not_stored() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::connect(
            &crate::config::DatabaseConfig {
                url: format!("sqlite://{}/c360.db", folder.path().display()),
                ..Default::default()
            },
            &crate::metrics::Metrics::new(),
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
        let records: Vec<AccessRecord> = (0..3)
            .map(|i| AccessRecord {
                trace_id: format!("trace-{i}"),
                row_count: None,
                ..record()
            })
            .collect();
        let ids: Vec<Uuid> = records.iter().map(|_| new_id()).collect();
        let rows: Vec<(Uuid, &AccessRecord)> = ids.iter().copied().zip(&records).collect();
        let mut connection = store.hold_connection().await.unwrap();
        store
            .append_access_with_ids(&mut connection, &keys(), &rows[..2], false)
            .await
            .unwrap();
        store
            .append_access_with_ids(&mut connection, &keys(), &rows, true)
            .await
            .unwrap();
        let stored = store
            .access_records(&AccessFilter::default(), 10, None)
            .await
            .unwrap()
            .records;
        let mut traces: Vec<&str> = stored.iter().map(|r| r.record.trace_id.as_str()).collect();
        traces.sort_unstable();
        assert_eq!(traces, ["trace-0", "trace-1", "trace-2"]);
        assert!(stored.iter().all(|row| row.is_intact(&keys())));
        let report = store
            .verify_access_chain(&keys(), None, None)
            .await
            .unwrap();
        assert_eq!(report.breaks, []);
        assert_eq!(
            (report.rows, report.first, report.last),
            (3, Some(1), Some(3))
        );
    }
}
