//! The BI snapshot: one row per customer (tier, stage, churn, AUM, holdings, RFM,
//! contact flags) with when each part was computed, and the sweeps that fill it
//! (docs/bi.md).
//!
//! Amounts are CNY in fen, as integers, so that `SUM` is exact in both engines (SQLite
//! has no decimal type, and would sum text as floating point). A row is replaced whole
//! by whoever computed it last from the newest data: an upsert whose data was read
//! before the stored row's (a sweep batch that read a customer before a change event
//! recomputed it) leaves the stored row alone.
//!
//! A sweep is a row of `snapshot_runs`: its checkpoint is the core page key after the
//! last page whose rows are written, so a sweep killed half-way resumes there. It is
//! held by a lease (owner, until when) so that one hub or command at a time runs it
//! when several share the database.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{bind_args, classify, now, on_pool, Arg, Backend, Conditions, Store, StoreError};

/// Columns of a snapshot row, in the order [`SnapshotRow`] binds them.
const COLUMNS: &str = "cif, party_id, branch, relationship_manager, tier, lifecycle_stage, \
    churn_level, churn_score, aum_fen, deposits_fen, loans_fen, credit_limit_fen, \
    credit_used_fen, deposit_products, card_products, loan_products, e_banking, payroll, \
    rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, marketing_refused, do_not_contact, \
    products_at, insights_at, consents_at, source_versions, computed_at, computed_by";
const WIDTH: usize = 30;

/// Failed batches listed by `c360 snapshot status` and retried by the next sweep.
const MAX_FAILURES_LISTED: i64 = 1_000;

/// One customer's row. Codes (tier, stage, churn level) are stored as their GraphQL
/// names; the store does not know the rules that produce them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotRow {
    pub cif: String,
    /// The lowest CIF among the person's CIFs: one value per person across the book.
    pub party_id: Option<String>,
    pub branch: Option<String>,
    pub relationship_manager: Option<String>,
    pub tier: String,
    pub lifecycle_stage: String,
    pub churn_level: String,
    pub churn_score: i32,
    pub aum_fen: i64,
    pub deposits_fen: i64,
    pub loans_fen: i64,
    pub credit_limit_fen: i64,
    pub credit_used_fen: i64,
    pub deposit_products: i32,
    pub card_products: i32,
    pub loan_products: i32,
    pub e_banking: bool,
    pub payroll: bool,
    pub rfm_recency: i32,
    pub rfm_frequency: i32,
    pub rfm_monetary: i32,
    pub rfm_segment: Option<String>,
    pub marketing_refused: bool,
    pub do_not_contact: bool,
    /// When the product systems' answers were fetched (the oldest of them).
    pub products_at: DateTime<Utc>,
    /// When tier, stage, churn and RFM were computed.
    pub insights_at: DateTime<Utc>,
    /// When consents and contact preferences were read.
    pub consents_at: DateTime<Utc>,
    /// Per system, when its answer was fetched (JSON object): the source versions.
    pub source_versions: String,
    /// When the reads this row comes from started: newer data wins an upsert.
    pub computed_at: DateTime<Utc>,
    /// `sweep:<run>` or `event`.
    pub computed_by: String,
}

/// Which customers a caller may see, as the access policy's scope rules say: any of
/// the set fields admits a row (`all` admits every row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotScope {
    pub all: bool,
    pub customer: Option<String>,
    pub branch: Option<String>,
    pub relationship_manager: Option<String>,
}

/// Conditions on a row, by stored code.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub branch: Option<String>,
    /// Only rows without a home branch (with `branch` unset).
    pub no_branch: bool,
    pub tier: Option<String>,
    pub lifecycle_stage: Option<String>,
    pub churn_level: Option<String>,
}

/// A dimension segments are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotDimension {
    Tier,
    LifecycleStage,
    Branch,
    ChurnLevel,
}

impl SnapshotDimension {
    fn expression(self) -> &'static str {
        match self {
            SnapshotDimension::Tier => "tier",
            SnapshotDimension::LifecycleStage => "lifecycle_stage",
            // The live book names a customer without a branch the same way.
            SnapshotDimension::Branch => "COALESCE(branch, 'NONE')",
            SnapshotDimension::ChurnLevel => "churn_level",
        }
    }

    /// The dimension in `snapshot_segments`, where a missing branch is stored
    /// `NONE` already.
    fn cell_column(self) -> &'static str {
        match self {
            SnapshotDimension::Tier => "tier",
            SnapshotDimension::LifecycleStage => "lifecycle_stage",
            SnapshotDimension::Branch => "branch",
            SnapshotDimension::ChurnLevel => "churn_level",
        }
    }
}

/// One segment's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTotal {
    pub key: Vec<String>,
    pub count: i64,
    pub aum_fen: i64,
    pub deposits_fen: i64,
    /// The oldest row of the segment was computed then.
    pub as_of: DateTime<Utc>,
}

/// A sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The core page key to go on from; `None` before the first page.
    pub checkpoint: Option<String>,
    pub done: i64,
    pub failed: i64,
}

/// A batch that failed after its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFailure {
    pub id: i64,
    pub run_id: i64,
    pub cifs: Vec<String>,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

/// What `c360 snapshot status` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStatus {
    pub rows: i64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    pub latest_run: Option<SnapshotRun>,
    /// The latest sweep that went through the whole book.
    pub last_complete: Option<SnapshotRun>,
    pub open_failures: Vec<SnapshotFailure>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    checkpoint: Option<String>,
    done: i64,
    failed: i64,
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
}

impl RunRow {
    fn run(self) -> SnapshotRun {
        SnapshotRun {
            id: self.id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            checkpoint: self.checkpoint,
            done: self.done,
            failed: self.failed,
        }
    }
}

const RUN_COLUMNS: &str =
    "id, started_at, finished_at, checkpoint, done, failed, lease_owner, lease_until";

#[derive(sqlx::FromRow)]
struct FailureRow {
    id: i64,
    run_id: i64,
    cifs: String,
    error: String,
    failed_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SegmentRow {
    k0: String,
    k1: Option<String>,
    k2: Option<String>,
    k3: Option<String>,
    count: i64,
    aum_fen: i64,
    deposits_fen: i64,
    as_of: String,
}

/// A time as SQL text both engines write the same way (RFC 3339, UTC), for
/// aggregates whose type the engine does not carry (SQLite's `MIN` of a text column).
fn time_text(backend: Backend, expression: &str) -> String {
    match backend {
        Backend::Sqlite => expression.to_owned(),
        Backend::Postgres => format!(
            "to_char(({expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        ),
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("snapshot time '{text}': {e}")))
}

/// The lock that serializes taking a sweep on PostgreSQL (SQLite's write lock does it
/// there): an arbitrary constant, the same for every hub.
const RUN_LOCK: i64 = 0x0C36_0510_0001;

impl SnapshotScope {
    /// Adds the scope to `c`; a scope that admits nothing admits no row.
    fn apply(&self, c: &mut Conditions) {
        if self.all {
            return;
        }
        let mut any = Vec::new();
        if let Some(cif) = &self.customer {
            any.push(format!("cif = {}", c.arg(Arg::Text(cif.clone()))));
        }
        if let Some(branch) = &self.branch {
            any.push(format!("branch = {}", c.arg(Arg::Text(branch.clone()))));
        }
        if let Some(staff) = &self.relationship_manager {
            any.push(format!(
                "relationship_manager = {}",
                c.arg(Arg::Text(staff.clone()))
            ));
        }
        if any.is_empty() {
            c.push("1 = 0".to_owned());
        } else {
            c.push(format!("({})", any.join(" OR ")));
        }
    }
}

impl SnapshotFilter {
    fn apply(&self, c: &mut Conditions) {
        for (column, value) in [
            ("branch", &self.branch),
            ("tier", &self.tier),
            ("lifecycle_stage", &self.lifecycle_stage),
            ("churn_level", &self.churn_level),
        ] {
            if let Some(value) = value {
                let p = c.arg(Arg::Text(value.clone()));
                c.push(format!("{column} = {p}"));
            }
        }
        if self.no_branch {
            c.push("branch IS NULL".to_owned());
        }
    }
}

/// The conditions of the rows `scope` and `filter` admit.
fn admitted(scope: &SnapshotScope, filter: &SnapshotFilter) -> Conditions {
    let mut c = Conditions::default();
    scope.apply(&mut c);
    filter.apply(&mut c);
    c
}

/// Binds a row's columns in [`COLUMNS`] order.
macro_rules! bind_row {
    ($query:expr, $r:expr) => {{
        let r: &SnapshotRow = $r;
        $query
            .bind(r.cif.as_str())
            .bind(r.party_id.as_deref())
            .bind(r.branch.as_deref())
            .bind(r.relationship_manager.as_deref())
            .bind(r.tier.as_str())
            .bind(r.lifecycle_stage.as_str())
            .bind(r.churn_level.as_str())
            .bind(r.churn_score)
            .bind(r.aum_fen)
            .bind(r.deposits_fen)
            .bind(r.loans_fen)
            .bind(r.credit_limit_fen)
            .bind(r.credit_used_fen)
            .bind(r.deposit_products)
            .bind(r.card_products)
            .bind(r.loan_products)
            .bind(r.e_banking)
            .bind(r.payroll)
            .bind(r.rfm_recency)
            .bind(r.rfm_frequency)
            .bind(r.rfm_monetary)
            .bind(r.rfm_segment.as_deref())
            .bind(r.marketing_refused)
            .bind(r.do_not_contact)
            .bind(r.products_at)
            .bind(r.insights_at)
            .bind(r.consents_at)
            .bind(r.source_versions.as_str())
            .bind(r.computed_at)
            .bind(r.computed_by.as_str())
    }};
}

fn upsert_sql() -> String {
    let placeholders: Vec<String> = (1..=WIDTH).map(|n| format!("${n}")).collect();
    let updates: Vec<String> = COLUMNS
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "cif")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO customer_snapshot ({COLUMNS}) VALUES ({}) ON CONFLICT (cif) DO UPDATE SET {}, \
         revision = customer_snapshot.revision + 1 \
         WHERE customer_snapshot.computed_at <= excluded.computed_at",
        placeholders.join(", "),
        updates.join(", ")
    )
}

impl Store {
    /// Writes `rows` in one transaction (one commit); returns how many were written
    /// (a row whose stored version was computed from newer data is kept).
    pub async fn put_snapshot_rows(&self, rows: &[SnapshotRow]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let sql = upsert_sql();
        let backend = self.backend();
        // Each row moves its segment cell's totals (the triggers of migration 0010),
        // and on PostgreSQL a cell stays locked until the commit: batches written at
        // once that took their cells in different orders deadlocked. In cell order,
        // every batch takes them in the same order (a row that changes cell also
        // touches its old one first, which is rare and then retried).
        let mut in_cell_order: Vec<&SnapshotRow> = rows.iter().collect();
        in_cell_order.sort_by(|a, b| {
            let cell = |r: &SnapshotRow| {
                (
                    r.tier.clone(),
                    r.branch.clone().unwrap_or_else(|| "NONE".to_owned()),
                    r.lifecycle_stage.clone(),
                    r.churn_level.clone(),
                )
            };
            cell(a).cmp(&cell(b)).then_with(|| a.cif.cmp(&b.cif))
        });
        on_pool!(self, p => {
            // On SQLite the write lock is taken at once: concurrent batches whose
            // deferred transactions each began by reading deadlocked on the upgrade
            // until the busy timeout.
            let mut tx = p.begin_with(backend.begin_write()).await.map_err(classify)?;
            let mut written = 0;
            for row in &in_cell_order {
                written += bind_row!(sqlx::query(&sql), row)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?
                    .rows_affected();
            }
            tx.commit().await.map_err(classify)?;
            Ok(written)
        })
    }

    /// The row of one customer.
    pub async fn snapshot_row(&self, cif: &str) -> Result<Option<SnapshotRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM customer_snapshot WHERE cif = $1");
        on_pool!(self, p => sqlx::query_as::<_, SnapshotRow>(&sql)
            .bind(cif)
            .fetch_optional(p)
            .await)
        .map_err(classify)
    }

    /// Counts and AUM per segment of `dimensions` (1 to 4) over the rows `scope` and
    /// `filter` admit, with CIFs up to `through` when given (the part of the book a
    /// sweep still under way has written).
    pub async fn snapshot_segments(
        &self,
        scope: &SnapshotScope,
        filter: &SnapshotFilter,
        dimensions: &[SnapshotDimension],
        through: Option<&str>,
    ) -> Result<Vec<SegmentTotal>, StoreError> {
        if dimensions.is_empty() || dimensions.len() > 4 {
            return Err(StoreError::Corrupt(
                "segments take 1 to 4 dimensions".to_owned(),
            ));
        }
        // The cells hold every row, grouped by every dimension a filter or a
        // branch scope can name; a book narrower than that (a relationship manager's,
        // or the part a first sweep has written) is grouped from its rows.
        let from_cells = through.is_none()
            && (scope.all || (scope.customer.is_none() && scope.relationship_manager.is_none()));
        // A cell stores a missing branch as `NONE`.
        let in_cells = SnapshotFilter {
            branch: filter
                .no_branch
                .then(|| "NONE".to_owned())
                .or_else(|| filter.branch.clone()),
            no_branch: false,
            ..filter.clone()
        };
        let mut c = admitted(scope, if from_cells { &in_cells } else { filter });
        if let Some(last) = through {
            let p = c.arg(Arg::Text(last.to_owned()));
            c.push(format!("cif <= {p}"));
        }
        let keys: Vec<String> = (0..4)
            .map(|i| match dimensions.get(i) {
                Some(d) if from_cells => format!("{} AS k{i}", d.cell_column()),
                Some(d) => format!("{} AS k{i}", d.expression()),
                None => format!("CAST(NULL AS TEXT) AS k{i}"),
            })
            .collect();
        let groups: Vec<String> = (0..dimensions.len()).map(|i| format!("k{i}")).collect();
        let sql = if from_cells {
            format!(
                "SELECT {}, CAST(SUM(customers) AS BIGINT) AS count, \
                 CAST(SUM(aum_fen) AS BIGINT) AS aum_fen, \
                 CAST(SUM(deposits_fen) AS BIGINT) AS deposits_fen, {} AS as_of \
                 FROM snapshot_segments {} GROUP BY {} HAVING SUM(customers) > 0 ORDER BY {}",
                keys.join(", "),
                time_text(self.backend(), "MIN(oldest)"),
                c.sql(),
                groups.join(", "),
                groups.join(", "),
            )
        } else {
            format!(
                "SELECT {}, COUNT(*) AS count, CAST(SUM(aum_fen) AS BIGINT) AS aum_fen, \
                 CAST(SUM(deposits_fen) AS BIGINT) AS deposits_fen, {} AS as_of \
                 FROM customer_snapshot {} GROUP BY {} ORDER BY {}",
                keys.join(", "),
                time_text(self.backend(), "MIN(computed_at)"),
                c.sql(),
                groups.join(", "),
                groups.join(", "),
            )
        };
        let args = &c.args;
        let rows: Vec<SegmentRow> = on_pool!(self, p => bind_args!(sqlx::query_as(&sql), args)
            .fetch_all(p)
            .await)
        .map_err(classify)?;
        rows.into_iter()
            .map(|r| {
                let key = [Some(r.k0), r.k1, r.k2, r.k3]
                    .into_iter()
                    .take(dimensions.len())
                    .map(Option::unwrap_or_default)
                    .collect();
                Ok(SegmentTotal {
                    key,
                    count: r.count,
                    aum_fen: r.aum_fen,
                    deposits_fen: r.deposits_fen,
                    as_of: parse_time(&r.as_of)?,
                })
            })
            .collect()
    }

    /// Up to `limit` rows in CIF order after `after`, as `scope` and `filter` admit:
    /// keyset paging, as fast on the millionth row as on the first.
    pub async fn snapshot_page(
        &self,
        scope: &SnapshotScope,
        filter: &SnapshotFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SnapshotRow>, StoreError> {
        let mut c = admitted(scope, filter);
        if let Some(after) = after {
            let p = c.arg(Arg::Text(after.to_owned()));
            c.push(format!("cif > {p}"));
        }
        let limit_at = c.arg(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT {COLUMNS} FROM customer_snapshot {} ORDER BY cif LIMIT {limit_at}",
            c.sql()
        );
        let args = &c.args;
        on_pool!(self, p => bind_args!(sqlx::query_as::<_, SnapshotRow>(&sql), args)
            .fetch_all(p)
            .await)
        .map_err(classify)
    }

    /// The home branches of the rows `scope` and `filter` admit, in order (`None`
    /// for rows without one): what a partitioned export walks, one branch at a time.
    pub async fn snapshot_branches(
        &self,
        scope: &SnapshotScope,
        filter: &SnapshotFilter,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let c = admitted(scope, filter);
        let sql = format!(
            "SELECT DISTINCT branch FROM customer_snapshot {} ORDER BY branch",
            c.sql()
        );
        let args = &c.args;
        on_pool!(self, p => bind_args!(sqlx::query_scalar::<_, Option<String>>(&sql), args)
            .fetch_all(p)
            .await)
        .map_err(classify)
    }

    /// Which of `cifs` have a row.
    pub async fn snapshot_holds(
        &self,
        cifs: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if cifs.is_empty() {
            return Ok(Default::default());
        }
        let mut c = Conditions::default();
        let placeholders: Vec<String> = cifs
            .iter()
            .map(|cif| c.arg(Arg::Text(cif.clone())))
            .collect();
        let sql = format!(
            "SELECT cif FROM customer_snapshot WHERE cif IN ({})",
            placeholders.join(", ")
        );
        let args = &c.args;
        let held: Vec<String> =
            on_pool!(self, p => bind_args!(sqlx::query_scalar::<_, String>(&sql), args)
            .fetch_all(p)
            .await)
            .map_err(classify)?;
        Ok(held.into_iter().collect())
    }

    /// Rows `scope` and `filter` admit, counted up to `at_most` when given.
    pub async fn snapshot_count(
        &self,
        scope: &SnapshotScope,
        filter: &SnapshotFilter,
        at_most: Option<usize>,
    ) -> Result<i64, StoreError> {
        let mut c = admitted(scope, filter);
        let sql = match at_most {
            // Whether a group reaches k needs k rows, not a count of the whole book
            // (a million rows took 400 ms on PostgreSQL, on every page of the book).
            Some(limit) => {
                let limit_at = c.arg(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
                format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM customer_snapshot {} LIMIT {limit_at}) AS admitted",
                    c.sql()
                )
            }
            None => format!("SELECT COUNT(*) FROM customer_snapshot {}", c.sql()),
        };
        let args = &c.args;
        on_pool!(self, p => bind_args!(sqlx::query_scalar::<_, i64>(&sql), args)
            .fetch_one(p)
            .await)
        .map_err(classify)
    }

    /// Takes the sweep to run for `owner`: the unfinished one (resumed from its
    /// checkpoint) unless another owner's lease on it is still running, else a new
    /// one. `None`: another owner is sweeping.
    pub async fn take_snapshot_run(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<SnapshotRun>, StoreError> {
        let backend = self.backend();
        let at = now();
        let until = at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let select = format!(
            "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1"
        );
        on_pool!(self, p => {
            let mut tx = p.begin_with(backend.begin_write()).await.map_err(classify)?;
            if backend == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(RUN_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            let open: Option<RunRow> = sqlx::query_as(&select)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let run = match open {
                Some(run)
                    if run.lease_owner.as_deref() != Some(owner)
                        && run.lease_until.is_some_and(|u| u > at) =>
                {
                    None
                }
                Some(run) => {
                    sqlx::query("UPDATE snapshot_runs SET lease_owner = $1, lease_until = $2 WHERE id = $3")
                        .bind(owner)
                        .bind(until)
                        .bind(run.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                    Some(run.run())
                }
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO snapshot_runs (started_at, lease_owner, lease_until) \
                         VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(at)
                    .bind(owner)
                    .bind(until)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                    Some(SnapshotRun {
                        id,
                        started_at: at,
                        finished_at: None,
                        checkpoint: None,
                        done: 0,
                        failed: 0,
                    })
                }
            };
            tx.commit().await.map_err(classify)?;
            Ok(run)
        })
    }

    /// Moves a sweep's checkpoint on, counts what the pages since held, and renews
    /// the lease. `false`: the lease was lost to another owner (it ran out), and this
    /// one must stop.
    pub async fn advance_snapshot_run(
        &self,
        run: i64,
        owner: &str,
        checkpoint: Option<&str>,
        done: i64,
        failed: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let until = now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let sql = "UPDATE snapshot_runs SET checkpoint = COALESCE($1, checkpoint), done = done + $2, failed = failed + $3, \
                   lease_until = $4 WHERE id = $5 AND lease_owner = $6 AND finished_at IS NULL";
        let updated = on_pool!(self, p => sqlx::query(sql)
            .bind(checkpoint)
            .bind(done)
            .bind(failed)
            .bind(until)
            .bind(run)
            .bind(owner)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(classify)?;
        Ok(updated == 1)
    }

    /// Marks a sweep finished and gives its lease up.
    pub async fn finish_snapshot_run(&self, run: i64, owner: &str) -> Result<(), StoreError> {
        self.settle_segment_ages().await?;
        let sql =
            "UPDATE snapshot_runs SET finished_at = $1, lease_owner = NULL, lease_until = NULL \
                   WHERE id = $2 AND lease_owner = $3";
        on_pool!(self, p => sqlx::query(sql)
            .bind(now())
            .bind(run)
            .bind(owner)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(classify)?;
        Ok(())
    }

    /// Sets each segment cell's `oldest` to its rows' oldest time exactly, and drops
    /// the cells no row is in any more. The triggers only ever move `oldest` back (a
    /// replaced row's time cannot be taken back without looking at the others), so a
    /// complete sweep, which has just rewritten every row, settles it. One grouping
    /// of the whole table: about a second at 1,000,000 rows.
    async fn settle_segment_ages(&self) -> Result<(), StoreError> {
        let settle = "UPDATE snapshot_segments AS g SET oldest = t.oldest FROM (\
             SELECT tier, COALESCE(branch, 'NONE') AS branch, lifecycle_stage, churn_level, \
             MIN(computed_at) AS oldest FROM customer_snapshot GROUP BY 1, 2, 3, 4) AS t \
             WHERE g.tier = t.tier AND g.branch = t.branch \
             AND g.lifecycle_stage = t.lifecycle_stage AND g.churn_level = t.churn_level";
        let empty = "DELETE FROM snapshot_segments WHERE customers = 0";
        on_pool!(self, p => sqlx::query(settle).execute(p).await.map(|_| ())).map_err(classify)?;
        on_pool!(self, p => sqlx::query(empty).execute(p).await.map(|_| ())).map_err(classify)?;
        Ok(())
    }

    /// Gives a sweep's lease up without finishing it (stopped by a signal): another
    /// owner may resume it at once.
    pub async fn release_snapshot_run(&self, run: i64, owner: &str) -> Result<(), StoreError> {
        let sql = "UPDATE snapshot_runs SET lease_owner = NULL, lease_until = NULL \
                   WHERE id = $1 AND lease_owner = $2";
        on_pool!(self, p => sqlx::query(sql)
            .bind(run)
            .bind(owner)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(classify)?;
        Ok(())
    }

    /// Records a batch that failed after its retries.
    pub async fn record_snapshot_failure(
        &self,
        run: i64,
        cifs: &[String],
        error: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO snapshot_failures (run_id, cifs, error, failed_at) VALUES ($1, $2, $3, $4)";
        let cifs = cifs.join(",");
        on_pool!(self, p => sqlx::query(sql)
            .bind(run)
            .bind(cifs.as_str())
            .bind(error)
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(classify)?;
        Ok(())
    }

    /// Failed batches not yet written by a later try, oldest first.
    pub async fn open_snapshot_failures(&self) -> Result<Vec<SnapshotFailure>, StoreError> {
        let sql = format!(
            "SELECT id, run_id, cifs, error, failed_at FROM snapshot_failures \
             WHERE resolved = FALSE ORDER BY id LIMIT {MAX_FAILURES_LISTED}"
        );
        let rows: Vec<FailureRow> =
            on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await).map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| SnapshotFailure {
                id: r.id,
                run_id: r.run_id,
                cifs: r.cifs.split(',').map(str::to_owned).collect(),
                error: r.error,
                failed_at: r.failed_at,
            })
            .collect())
    }

    /// Marks a failed batch written.
    pub async fn resolve_snapshot_failure(&self, id: i64) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("UPDATE snapshot_failures SET resolved = TRUE WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(classify)?;
        Ok(())
    }

    /// The latest sweep that went through the whole book, if any.
    pub async fn last_complete_snapshot_run(&self) -> Result<Option<SnapshotRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE finished_at IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        );
        let row: Option<RunRow> =
            on_pool!(self, p => sqlx::query_as(&sql).fetch_optional(p).await).map_err(classify)?;
        Ok(row.map(RunRow::run))
    }

    /// The sweep under way (or stopped half-way), if any.
    pub async fn open_snapshot_run(&self) -> Result<Option<SnapshotRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE finished_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        );
        let row: Option<RunRow> =
            on_pool!(self, p => sqlx::query_as(&sql).fetch_optional(p).await).map_err(classify)?;
        Ok(row.map(RunRow::run))
    }

    /// Rows, their age, the sweeps and what failed.
    pub async fn snapshot_status(&self) -> Result<SnapshotStatus, StoreError> {
        let sql = format!(
            "SELECT COUNT(*), {}, {} FROM customer_snapshot",
            time_text(self.backend(), "MIN(computed_at)"),
            time_text(self.backend(), "MAX(computed_at)"),
        );
        let (rows, oldest, newest): (i64, Option<String>, Option<String>) =
            on_pool!(self, p => sqlx::query_as(&sql).fetch_one(p).await).map_err(classify)?;
        let latest_sql =
            format!("SELECT {RUN_COLUMNS} FROM snapshot_runs ORDER BY id DESC LIMIT 1");
        let latest: Option<RunRow> =
            on_pool!(self, p => sqlx::query_as(&latest_sql).fetch_optional(p).await)
                .map_err(classify)?;
        Ok(SnapshotStatus {
            rows,
            oldest: oldest.as_deref().map(parse_time).transpose()?,
            newest: newest.as_deref().map(parse_time).transpose()?,
            latest_run: latest.map(RunRow::run),
            last_complete: self.last_complete_snapshot_run().await?,
            open_failures: self.open_snapshot_failures().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upsert_keeps_a_row_computed_from_newer_data() {
        let sql = upsert_sql();
        assert!(sql.contains("ON CONFLICT (cif) DO UPDATE SET party_id = excluded.party_id"));
        assert!(sql.ends_with("WHERE customer_snapshot.computed_at <= excluded.computed_at"));
        assert_eq!(sql.matches('$').count(), WIDTH);
    }

    #[test]
    fn a_scope_without_rules_admits_no_row() {
        let mut c = Conditions::default();
        SnapshotScope::default().apply(&mut c);
        assert_eq!(c.sql(), "WHERE 1 = 0");
        let mut c = Conditions::default();
        SnapshotScope {
            branch: Some("0101".into()),
            relationship_manager: Some("S1".into()),
            ..SnapshotScope::default()
        }
        .apply(&mut c);
        assert_eq!(c.sql(), "WHERE (branch = $1 OR relationship_manager = $2)");
    }
}
