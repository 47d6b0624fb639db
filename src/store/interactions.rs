//! Interactions: logging (idempotent), updating (with a change row per changed
//! field), the timeline and cross-customer lists (keyset paged), and statistics
//! computed in SQL.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::group_commit::{bind_row, NewRow, Written};
use super::{
    bind_args, classify, decode, fingerprint, new_id, now, on_pool, Arg, Backend, Conditions,
    IdempotencyKey, Store, StoreError,
};
use crate::domain::{
    marketing_refusal, Cif, ContactChannel, ContactReason, Interaction, InteractionChange,
    InteractionChannel, InteractionDimension, InteractionOutcome, InteractionType,
    InteractionUpdate, NewInteraction,
};

/// Most groups `interactionStats` returns: STAFF × DAY over a year is already large;
/// anything bigger is an export, not a screen.
pub const MAX_STAT_GROUPS: i64 = 10_000;

const COLUMNS: &str = "id, customer_id, channel, type, direction, occurred_at, recorded_at, \
    staff_id, branch_id, subject, notes, outcome, satisfaction, follow_up_at, products, \
    updated_at, revision, recorded_by";

/// A stored interaction as the database returns it.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    customer_id: String,
    channel: String,
    #[sqlx(rename = "type")]
    kind: String,
    direction: String,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    staff_id: String,
    branch_id: String,
    subject: String,
    notes: Option<String>,
    outcome: Option<String>,
    satisfaction: Option<i32>,
    follow_up_at: Option<DateTime<Utc>>,
    products: String,
    updated_at: DateTime<Utc>,
    revision: i32,
    recorded_by: Option<String>,
}

impl Row {
    fn into_domain(self) -> Result<Interaction, StoreError> {
        Ok(Interaction {
            id: self.id,
            customer_id: Cif::parse(&self.customer_id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            channel: decode(&self.channel)?,
            kind: decode(&self.kind)?,
            direction: decode(&self.direction)?,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            staff_id: self.staff_id,
            branch_id: self.branch_id,
            subject: self.subject,
            notes: self.notes,
            outcome: self.outcome.as_deref().map(decode).transpose()?,
            satisfaction: self.satisfaction.map(|n| n as u8),
            follow_up_at: self.follow_up_at,
            products: serde_json::from_str(&self.products)
                .map_err(|e| StoreError::Corrupt(format!("products: {e}")))?,
            updated_at: self.updated_at,
            revision: self.revision,
            recorded_by: self.recorded_by,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyedRow {
    #[sqlx(flatten)]
    row: Row,
    fingerprint: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    revision: i32,
    field: String,
    old_value: Option<String>,
    new_value: Option<String>,
    changed_at: DateTime<Utc>,
    changed_by: String,
    recorded_by: Option<String>,
}

/// What became of a MARKETING contact: logged (or replayed), or refused with the
/// reason the customer's choices give.
#[derive(Debug, Clone)]
pub enum MarketingLog {
    Logged(Box<Logged>),
    Refused(ContactReason),
}

/// What `logInteraction` did.
#[derive(Debug, Clone)]
pub struct Logged {
    pub interaction: Interaction,
    /// True when an earlier request with the same idempotency key had stored it.
    pub replayed: bool,
}

/// Which interactions a list or statistic covers. Empty lists and `None` mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionFilter {
    pub customer_id: Option<Cif>,
    pub channels: Vec<InteractionChannel>,
    pub types: Vec<InteractionType>,
    pub outcome: Option<InteractionOutcome>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    pub branch_id: Option<String>,
    pub staff_id: Option<String>,
    /// Only open follow-ups (a follow-up time, and an outcome that leaves something
    /// to do, or none) due at or before this time.
    pub follow_up_due_by: Option<DateTime<Utc>>,
}

impl InteractionFilter {
    fn conditions(&self) -> Conditions {
        let mut c = Conditions::default();
        if let Some(cif) = &self.customer_id {
            let p = c.arg(Arg::Text(cif.as_str().to_owned()));
            c.push(format!("customer_id = {p}"));
        }
        c.any_of("channel", self.channels.iter().map(|x| x.as_str()));
        c.any_of("type", self.types.iter().map(|x| x.as_str()));
        if let Some(outcome) = self.outcome {
            let p = c.arg(Arg::Text(outcome.as_str().to_owned()));
            c.push(format!("outcome = {p}"));
        }
        if let Some(from) = self.from {
            let p = c.arg(Arg::Time(from));
            c.push(format!("occurred_at >= {p}"));
        }
        if let Some(to) = self.to {
            let p = c.arg(Arg::Time(to));
            c.push(format!("occurred_at < {p}"));
        }
        if let Some(branch) = &self.branch_id {
            let p = c.arg(Arg::Text(branch.clone()));
            c.push(format!("branch_id = {p}"));
        }
        if let Some(staff) = &self.staff_id {
            let p = c.arg(Arg::Text(staff.clone()));
            c.push(format!("staff_id = {p}"));
        }
        if let Some(due) = self.follow_up_due_by {
            let p = c.arg(Arg::Time(due));
            let open: Vec<String> = InteractionOutcome::ALL
                .iter()
                .filter(|o| o.is_open())
                .map(|o| format!("'{}'", o.as_str()))
                .collect();
            c.push(format!(
                "follow_up_at IS NOT NULL AND follow_up_at <= {p} AND (outcome IS NULL OR outcome IN ({}))",
                open.join(", ")
            ));
        }
        c
    }
}

/// Where a page of a timeline starts: after the item with this time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at: DateTime<Utc>,
    pub id: Uuid,
}

/// One group of `interactionStats`.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionStat {
    /// One value per dimension, in the order asked.
    pub key: Vec<String>,
    pub count: i64,
    pub average_satisfaction: Option<f64>,
}

impl Store {
    /// Stores a new interaction, or, when `key` was seen before, returns what that
    /// request stored (and writes nothing) if the request is the same, and
    /// [`StoreError::Conflict`] if it is not. Concurrent duplicates are settled by the
    /// unique index on the key: exactly one row is written.
    pub async fn log_interaction(
        &self,
        new: &NewInteraction,
        key: Option<&IdempotencyKey>,
    ) -> Result<Logged, StoreError> {
        let row = new_row(new, key, now());
        let interaction = row.interaction.clone();
        let written = self.interactions.write(row).await?;
        self.settle(interaction, written, key, new).await
    }

    /// What became of `interaction` once its insert ran: stored, or skipped because
    /// its key (a retry, or a different request reusing the key) or its id (a row
    /// whose first answer was lost) was there already.
    pub(super) async fn settle(
        &self,
        interaction: Interaction,
        written: Written,
        key: Option<&IdempotencyKey>,
        new: &NewInteraction,
    ) -> Result<Logged, StoreError> {
        if written == Written::Inserted {
            return Ok(Logged {
                interaction,
                replayed: false,
            });
        }
        let Some(key) = key else {
            // Without a key only the id can have collided: this very row, stored by a
            // statement whose answer was lost before the retry that skipped it.
            return match self.interaction(interaction.id).await? {
                Some(stored) => Ok(Logged {
                    interaction: stored,
                    replayed: false,
                }),
                None => Err(StoreError::Corrupt(
                    "an insert without idempotency key wrote nothing".into(),
                )),
            };
        };
        let sql =
            format!("SELECT {COLUMNS}, fingerprint FROM interactions WHERE idempotency_key = $1");
        let row: KeyedRow = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(key.as_str())
            .fetch_one(p)
            .await)
        .map_err(classify)?;
        if row.fingerprint.as_deref() != Some(fingerprint(new).as_str()) {
            return Err(StoreError::Conflict {
                key: key.as_str().to_owned(),
            });
        }
        let stored = row.row.into_domain()?;
        // This request's own row, found by its key after its first answer was lost,
        // is no replay of someone else's: its event has not gone out yet.
        let replayed = stored.id != interaction.id;
        Ok(Logged {
            interaction: stored,
            replayed,
        })
    }

    /// Logs a MARKETING contact on `channel` unless the customer's consent or contact
    /// preferences refuse it, deciding and inserting in one transaction that a
    /// consent or preference change for the same customer cannot interleave with
    /// (see [`super::consents`]: both take the customer's contact lock before they
    /// read the clock). So the contact's `recorded_at` and the consent history agree:
    /// no contact is stored after a withdrawal that had committed, and a withdrawal
    /// that commits later is recorded later. A retry under `key` gets the first
    /// answer, even where consent has been withdrawn since.
    ///
    /// These rows skip the group commit: its statement holds other callers' rows,
    /// and the check must share a transaction with its own.
    pub async fn log_marketing(
        &self,
        new: &NewInteraction,
        channel: ContactChannel,
        key: Option<&IdempotencyKey>,
    ) -> Result<MarketingLog, StoreError> {
        let backend = self.backend();
        let by_key =
            format!("SELECT {COLUMNS}, fingerprint FROM interactions WHERE idempotency_key = $1");
        let insert = super::group_commit::insert_sql(backend, 1);
        let print = fingerprint(new);
        let (row, written) = on_pool!(self, p => {
            let mut tx = p.begin_with(backend.begin_write()).await.map_err(classify)?;
            super::consents::contact_lock!(tx, backend, &new.customer_id);
            if let Some(key) = key {
                let earlier: Option<KeyedRow> = sqlx::query_as(&by_key)
                    .bind(key.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
                if let Some(earlier) = earlier {
                    tx.rollback().await.map_err(classify)?;
                    if earlier.fingerprint.as_deref() != Some(print.as_str()) {
                        return Err(StoreError::Conflict {
                            key: key.as_str().to_owned(),
                        });
                    }
                    return Ok(MarketingLog::Logged(Box::new(Logged {
                        interaction: earlier.row.into_domain()?,
                        replayed: true,
                    })));
                }
            }
            let (consents, preferences) = super::consents::contact_state!(tx, &new.customer_id);
            if let Some(reason) = marketing_refusal(&consents, preferences.as_ref(), channel) {
                tx.rollback().await.map_err(classify)?;
                return Ok(MarketingLog::Refused(reason));
            }
            let row = new_row(new, key, now());
            let stored: Option<Uuid> = bind_row!(sqlx::query_scalar(&insert), &row)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            let written = if stored.is_some() {
                Written::Inserted
            } else {
                Written::Skipped
            };
            (row, written)
        });
        self.settle(row.interaction, written, key, new)
            .await
            .map(|logged| MarketingLog::Logged(Box::new(logged)))
    }

    pub async fn interaction(&self, id: Uuid) -> Result<Option<Interaction>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM interactions WHERE id = $1");
        let row: Option<Row> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)
                .map_err(classify)?;
        row.map(Row::into_domain).transpose()
    }

    /// Applies `update` in one transaction: the row is locked first (SQLite: the
    /// write lock), then read, then changed, with one `interaction_changes` row per
    /// changed field. An update that changes nothing writes nothing.
    pub async fn update_interaction(
        &self,
        id: Uuid,
        update: &InteractionUpdate,
    ) -> Result<Interaction, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM interactions WHERE id = $1");
        let at = now();
        on_pool!(self, p => {
            let mut tx = p.begin().await.map_err(classify)?;
            let locked = sqlx::query("UPDATE interactions SET revision = revision WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?
                .rows_affected();
            if locked == 0 {
                return Err(StoreError::NotFound {
                    what: format!("interaction {id}"),
                });
            }
            let current: Row = sqlx::query_as(&select)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
            let current = current.into_domain()?;
            let changes = update.changes(&current);
            if changes.is_empty() {
                tx.rollback().await.map_err(classify)?;
                return Ok(current);
            }
            let mut next = update.apply(&current);
            next.revision = current.revision + 1;
            next.updated_at = at;
            sqlx::query(
                "UPDATE interactions SET outcome = $1, notes = $2, follow_up_at = $3, \
                 updated_at = $4, revision = $5 WHERE id = $6",
            )
            .bind(next.outcome.map(|o| o.as_str()))
            .bind(next.notes.as_deref())
            .bind(next.follow_up_at)
            .bind(next.updated_at)
            .bind(next.revision)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            for (field, old, new) in &changes {
                sqlx::query(
                    "INSERT INTO interaction_changes (id, interaction_id, revision, field, \
                     old_value, new_value, changed_at, changed_by, recorded_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(new_id())
                .bind(id)
                .bind(next.revision)
                .bind(*field)
                .bind(old.as_deref())
                .bind(new.as_deref())
                .bind(at)
                .bind(&update.staff_id)
                .bind(update.recorded_by.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(next)
        })
    }

    /// Every change made to an interaction, oldest first.
    pub async fn interaction_history(
        &self,
        id: Uuid,
    ) -> Result<Vec<InteractionChange>, StoreError> {
        let sql =
            "SELECT revision, field, old_value, new_value, changed_at, changed_by, recorded_by \
                   FROM interaction_changes WHERE interaction_id = $1 ORDER BY revision, field";
        let rows: Vec<ChangeRow> =
            on_pool!(self, p => sqlx::query_as(sql).bind(id).fetch_all(p).await)
                .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| InteractionChange {
                revision: r.revision,
                field: r.field,
                old_value: r.old_value,
                new_value: r.new_value,
                changed_at: r.changed_at,
                changed_by: r.changed_by,
                recorded_by: r.recorded_by,
            })
            .collect())
    }

    /// Interactions matching `filter`, newest first, starting after `after`; at most
    /// `limit`. Keyset paging on (occurred_at, id): rows inserted while a client pages
    /// never shift the pages it has not read yet, so nothing is seen twice or skipped.
    pub async fn interactions(
        &self,
        filter: &InteractionFilter,
        after: Option<TimelineCursor>,
        limit: usize,
    ) -> Result<Vec<Interaction>, StoreError> {
        let (sql, conditions) = list_sql(filter, after, limit);
        let args = &conditions.args;
        let rows: Vec<Row> =
            on_pool!(self, p => bind_args!(sqlx::query_as(&sql), args).fetch_all(p).await)
                .map_err(classify)?;
        rows.into_iter().map(Row::into_domain).collect()
    }

    /// The database's plan for [`Store::interactions`] with these arguments, as text
    /// (`EXPLAIN`): for operators checking index use, and for the test that proves the
    /// timeline query uses its index.
    pub async fn explain_interactions(
        &self,
        filter: &InteractionFilter,
        after: Option<TimelineCursor>,
        limit: usize,
    ) -> Result<String, StoreError> {
        let (sql, conditions) = list_sql(filter, after, limit);
        let explain = match self.backend() {
            Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Backend::Postgres => format!("EXPLAIN {sql}"),
        };
        let args = &conditions.args;
        on_pool!(self, p => {
            use sqlx::Row as _;
            let rows = bind_args!(sqlx::query(&explain), args)
                .fetch_all(p)
                .await
                .map_err(classify)?;
            let column = usize::from(self.backend() == Backend::Sqlite) * 3;
            rows.iter()
                .map(|row| row.try_get::<String, _>(column).map_err(classify))
                .collect::<Result<Vec<_>, _>>()
                .map(|lines| lines.join("\n"))
        })
    }

    /// Counts and average satisfaction per group, computed by the database.
    pub async fn interaction_stats(
        &self,
        group_by: &[InteractionDimension],
        filter: &InteractionFilter,
    ) -> Result<Vec<InteractionStat>, StoreError> {
        let backend = self.backend();
        let keys: Vec<String> = group_by
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{} AS k{i}", dimension(backend, *d)))
            .collect();
        let names: Vec<String> = (0..group_by.len()).map(|i| format!("k{i}")).collect();
        let conditions = filter.conditions();
        let sql = format!(
            "SELECT {}, COUNT(*) AS n, AVG(CAST(satisfaction AS DOUBLE PRECISION)) AS average \
             FROM interactions {} GROUP BY {} ORDER BY {} LIMIT {MAX_STAT_GROUPS}",
            keys.join(", "),
            conditions.sql(),
            names.join(", "),
            names.join(", "),
        );
        let args = &conditions.args;
        let width = group_by.len();
        on_pool!(self, p => {
            use sqlx::Row as _;
            let rows = bind_args!(sqlx::query(&sql), args)
                .fetch_all(p)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    let key = (0..width)
                        .map(|i| row.try_get::<String, _>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(classify)?;
                    Ok(InteractionStat {
                        key,
                        count: row.try_get::<i64, _>(width).map_err(classify)?,
                        average_satisfaction: row
                            .try_get::<Option<f64>, _>(width + 1)
                            .map_err(classify)?,
                    })
                })
                .collect()
        })
    }
}

/// The row `new` is stored as, recorded at `at`.
pub(super) fn new_row(
    new: &NewInteraction,
    key: Option<&IdempotencyKey>,
    at: DateTime<Utc>,
) -> NewRow {
    NewRow {
        interaction: Interaction {
            id: new_id(),
            customer_id: new.customer_id.clone(),
            channel: new.channel,
            kind: new.kind,
            direction: new.direction,
            occurred_at: new.occurred_at.unwrap_or(at),
            recorded_at: at,
            staff_id: new.staff_id.clone(),
            branch_id: new.branch_id.clone(),
            subject: new.subject.clone(),
            notes: new.notes.clone(),
            outcome: new.outcome,
            satisfaction: new.satisfaction,
            follow_up_at: new.follow_up_at,
            products: new.products.clone(),
            updated_at: at,
            revision: 0,
            recorded_by: new.recorded_by.clone(),
        },
        products: serde_json::to_string(&new.products).expect("codes serialize"),
        key: key.map(|k| k.as_str().to_owned()),
        fingerprint: key.map(|_| fingerprint(new)),
    }
}

/// The statement of [`Store::interactions`] and its arguments.
fn list_sql(
    filter: &InteractionFilter,
    after: Option<TimelineCursor>,
    limit: usize,
) -> (String, Conditions) {
    let mut conditions = filter.conditions();
    if let Some(cursor) = after {
        let t = conditions.arg(Arg::Time(cursor.occurred_at));
        let id = conditions.arg(Arg::Id(cursor.id));
        conditions.push(format!("(occurred_at, id) < ({t}, {id})"));
    }
    let where_sql = conditions.sql();
    let limit_at = conditions.arg(Arg::Int(limit as i64));
    let sql = format!(
        "SELECT {COLUMNS} FROM interactions {where_sql} ORDER BY occurred_at DESC, id DESC LIMIT {limit_at}"
    );
    (sql, conditions)
}

/// The SQL expression a dimension groups by; never null, so every key is a string.
fn dimension(backend: Backend, d: InteractionDimension) -> String {
    match d {
        InteractionDimension::Channel => "channel".into(),
        InteractionDimension::Type => "type".into(),
        InteractionDimension::Outcome => "COALESCE(outcome, 'NONE')".into(),
        InteractionDimension::Branch => "branch_id".into(),
        InteractionDimension::Staff => "staff_id".into(),
        InteractionDimension::Day => backend.local_day("occurred_at"),
        InteractionDimension::Month => backend.local_month("occurred_at"),
    }
}
