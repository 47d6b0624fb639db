//! The access audit: who read which customer, as what, and which personal data they
//! saw in clear (docs/domain.md#purpose-and-audit). Rows are only ever added: there is
//! no update or delete here, and the migrations refuse both in the database.
//!
//! Rows arrive in batches from [`crate::auth::AuditWriter`], so a batch is written
//! with multi-row `INSERT`s in one transaction: one commit (one fsync on SQLite) per
//! batch instead of per row. Each row carries a SHA-256 of its canonical fields; a
//! per-row hash rather than a chain, so that concurrent writers (several hub
//! instances) never wait on each other for the previous row.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    bind_all_as, classify, new_id, on_connection, on_pool, values_sql, Arg, Backend, Conditions,
    HeldConnection, Store, StoreError,
};
use crate::domain::Cif;

/// Columns one row binds in the `INSERT`.
const INSERT_COLUMNS: &str = "id, at, actor, role, branch, customer_id, operation, \
    fields_revealed, purpose, client, trace_id, hash";
const INSERT_WIDTH: usize = 12;
/// The 1-based position of `fields_revealed` among them: JSON, typed by the backend.
const FIELDS_COLUMN: usize = 8;

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
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccess {
    /// UUIDv7, assigned when the hub received the record.
    pub id: Uuid,
    /// SHA-256 (hex) of the canonical fields, as written.
    pub hash: String,
    pub record: AccessRecord,
}

impl StoredAccess {
    /// Whether the row still has the content it was written with: false when someone
    /// changed it in the database (triggers aside) without recomputing the hash.
    pub fn is_intact(&self) -> bool {
        row_hash(self.id, &self.record) == self.hash
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
}

impl Row {
    fn into_domain(self) -> Result<StoredAccess, StoreError> {
        Ok(StoredAccess {
            id: self.id,
            hash: self.hash,
            record: AccessRecord {
                at: self.at,
                actor: self.actor,
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
            },
        })
    }
}

/// SHA-256 over the row's fields as a JSON array in column order: unambiguous (no
/// separator a value could contain) and reproducible by any auditor's tool.
///
/// Serialized from a tuple, which serde writes as that array, without building a JSON
/// tree first: every read by staff writes a row.
fn row_hash(id: Uuid, r: &AccessRecord) -> String {
    let canonical = (
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
    );
    let bytes = serde_json::to_vec(&canonical).expect("audit rows serialize");
    hex::encode(Sha256::digest(&bytes))
}

/// A row ready to bind: the record with its time cut to microseconds (so the hash
/// matches what the database gives back), its JSON and its hash.
struct Prepared {
    id: Uuid,
    record: AccessRecord,
    fields: String,
    hash: String,
}

impl Prepared {
    fn new(id: Uuid, record: &AccessRecord) -> Prepared {
        let mut record = record.clone();
        record.at = crate::domain::to_micros(record.at);
        Prepared {
            id,
            fields: serde_json::to_string(&record.fields_revealed).expect("names serialize"),
            hash: row_hash(id, &record),
            record,
        }
    }
}

impl Store {
    /// Writes a batch of audit rows, all or none, with new ids.
    pub async fn append_access(&self, records: &[AccessRecord]) -> Result<(), StoreError> {
        let rows: Vec<(Uuid, &AccessRecord)> = records.iter().map(|r| (new_id(), r)).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut connection = self.hold_connection().await?;
        self.append_access_with_ids(&mut connection, &rows).await
    }

    /// [`Store::append_access`] on a held connection, with ids chosen by the caller: a
    /// batch retried after a failure whose outcome is unknown (the connection dropped
    /// during the commit) writes each row once, because rows already stored are
    /// skipped by id.
    pub(crate) async fn append_access_with_ids(
        &self,
        connection: &mut HeldConnection,
        rows: &[(Uuid, &AccessRecord)],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let prepared: Vec<Prepared> = rows.iter().map(|(id, r)| Prepared::new(*id, r)).collect();
        let backend = self.backend();
        let mut rest = prepared.as_slice();
        let statements: Vec<(String, &[Prepared])> = statement_sizes(prepared.len())
            .map(|size| {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                (insert_sql(backend, size), chunk)
            })
            .collect();
        on_connection!(connection, c => {
            let mut tx = sqlx::Connection::begin(&mut **c).await.map_err(classify)?;
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
                        .bind(row.hash.as_str());
                }
                query.execute(&mut *tx).await.map_err(classify)?;
            }
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
            on_pool!(self, p => bind_all_as(sqlx::query_as(&sql), args).fetch_all(p).await)
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
}

/// `INSERT … VALUES (…), (…), …` for `rows` rows, skipping rows whose id is stored.
///
/// On SQLite, `OR IGNORE` rather than `ON CONFLICT (id) DO NOTHING`: a statement that
/// could abort half-way inside a transaction makes SQLite copy every page it changes
/// to a statement journal first: a quarter of the SQLite thread's time under the
/// `search` benchmark. The two skip the same rows here: every `NOT NULL` column is
/// bound from a field that cannot be empty, and the id is the only unique key.
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
         purpose, client, trace_id, hash FROM access_audit {where_sql} \
         ORDER BY at DESC, id DESC LIMIT {limit_at}",
        backend.json_text("fields_revealed"),
    );
    (sql, conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord {
        AccessRecord {
            at: "2026-11-27T08:30:00.123456789Z".parse().unwrap(),
            actor: "u-1001".into(),
            role: "RM".into(),
            branch: Some("B001".into()),
            customer_id: Cif::parse("1000000001").unwrap(),
            operation: Some("Profile".into()),
            fields_revealed: vec!["NAME".into(), "MOBILE".into()],
            purpose: Some("SERVICE".into()),
            client: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        }
    }

    /// The hash an auditor's own tool computes (here Python's `json.dumps(row,
    /// separators=(",", ":"))` and `hashlib.sha256`), so stored rows stay checkable
    /// whatever the hub's code does to get there.
    #[test]
    fn the_hash_is_sha256_of_the_compact_json_array_of_the_row() {
        let id: Uuid = "0190c3c4-7d1e-7000-8000-000000000001".parse().unwrap();
        assert_eq!(
            Prepared::new(id, &record()).hash,
            "84684ddb49c7fb073c08868f62b5df1839da41e0191cde9851cb4c5f0656b566"
        );
    }

    #[test]
    fn the_hash_covers_every_field_and_the_stored_time() {
        let id = new_id();
        let prepared = Prepared::new(id, &record());
        assert_eq!(prepared.record.at.timestamp_subsec_nanos(), 123_456_000);
        let stored = StoredAccess {
            id,
            hash: prepared.hash.clone(),
            record: prepared.record.clone(),
        };
        assert!(stored.is_intact());
        let mut changed = stored.clone();
        changed.record.fields_revealed.pop();
        assert!(!changed.is_intact());
        let mut moved = stored.clone();
        moved.record.branch = None;
        assert!(!moved.is_intact());
        assert_ne!(Prepared::new(new_id(), &record()).hash, prepared.hash);
    }

    #[test]
    fn inserts_number_rows_consecutively_and_type_json_per_backend() {
        let sql = insert_sql(Backend::Postgres, 2);
        assert!(sql.contains("CAST($8 AS jsonb)") && sql.contains("CAST($20 AS jsonb)"));
        assert!(sql.ends_with("($13, $14, $15, $16, $17, $18, $19, CAST($20 AS jsonb), $21, $22, $23, $24) ON CONFLICT (id) DO NOTHING"));
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

    /// The writer re-sends a batch whose commit it did not see answered: rows already
    /// stored are skipped, the others written, each once.
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
                ..record()
            })
            .collect();
        let ids: Vec<Uuid> = records.iter().map(|_| new_id()).collect();
        let rows: Vec<(Uuid, &AccessRecord)> = ids.iter().copied().zip(&records).collect();
        let mut connection = store.hold_connection().await.unwrap();
        store
            .append_access_with_ids(&mut connection, &rows[..2])
            .await
            .unwrap();
        store
            .append_access_with_ids(&mut connection, &rows)
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
        assert!(stored.iter().all(StoredAccess::is_intact));
    }
}
