//! Interactions: logging (idempotent), updating (with a change row per changed
//! field), the timeline and cross-customer lists (keyset paged), and statistics
//! computed in SQL.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::group_commit::{NewRow, Written};
use super::{
    bind_all, bind_all_as, classify, decode, fingerprint, new_id, now, on_pool, Arg, Backend,
    Conditions, IdempotencyKey, Store, StoreError,
};
use crate::domain::{
    Cif, Interaction, InteractionChange, InteractionChannel, InteractionDimension,
    InteractionOutcome, InteractionType, InteractionUpdate, NewInteraction,
};

/// Most groups `interactionStats` returns: STAFF × DAY over a year is already large;
/// anything bigger is an export, not a screen.
pub const MAX_STAT_GROUPS: i64 = 10_000;

const COLUMNS: &str = "id, customer_id, channel, type, direction, occurred_at, recorded_at, \
    staff_id, branch_id, subject, notes, outcome, satisfaction, follow_up_at, products, \
    updated_at, revision";

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
        let at = now();
        let interaction = Interaction {
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
        };
        let print = key.map(|_| fingerprint(new));
        let products = serde_json::to_string(&new.products).expect("codes serialize");
        let written = self
            .interactions
            .write(NewRow {
                interaction: interaction.clone(),
                products,
                key: key.map(|k| k.as_str().to_owned()),
                fingerprint: print.clone(),
            })
            .await?;
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
        if row.fingerprint != print {
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

    /// What an earlier request with `key` logged, if any: `Ok(Some)` when it was the
    /// same request (a retry), [`StoreError::Conflict`] when it was not. Lets a retry
    /// be answered before any other check, as it was the first time.
    pub async fn logged_with_key(
        &self,
        new: &NewInteraction,
        key: &IdempotencyKey,
    ) -> Result<Option<Interaction>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS}, fingerprint FROM interactions WHERE idempotency_key = $1");
        let row: Option<KeyedRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(key.as_str())
            .fetch_optional(p)
            .await)
        .map_err(classify)?;
        match row {
            None => Ok(None),
            Some(row) if row.fingerprint.as_deref() == Some(fingerprint(new).as_str()) => {
                row.row.into_domain().map(Some)
            }
            Some(_) => Err(StoreError::Conflict {
                key: key.as_str().to_owned(),
            }),
        }
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
                     old_value, new_value, changed_at, changed_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(new_id())
                .bind(id)
                .bind(next.revision)
                .bind(*field)
                .bind(old.as_deref())
                .bind(new.as_deref())
                .bind(at)
                .bind(&update.staff_id)
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
        let sql = "SELECT revision, field, old_value, new_value, changed_at, changed_by \
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
            on_pool!(self, p => bind_all_as(sqlx::query_as(&sql), args).fetch_all(p).await)
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
            let rows = bind_all(sqlx::query(&explain), args)
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
            let rows = bind_all(sqlx::query(&sql), args)
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
