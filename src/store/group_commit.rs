//! Interactions logged at the same moment share one statement and one commit.
//!
//! Each `logInteraction` used to be an `INSERT` of its own: a commit (an fsync), and
//! with sqlx's pool a second round trip for the ping it sends on every release. At 32
//! writes in flight against PostgreSQL the hub spent 94 % of a core for about 1,050
//! writes/s, a sixth of it in those pings, and the database's backends as much again.
//!
//! A writer task now takes the rows that are waiting whenever a statement slot is
//! free and writes them with one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING
//! id`. Each caller is answered once the statement holding its row has committed, so
//! nothing is acknowledged before it is durable. There is no timer: one request at a
//! time gets a statement of one row at once, and batches grow only while earlier
//! statements are in flight.
//!
//! A statement fails as a whole. When a batch of several rows fails, each row is tried
//! again on its own, so that one row the database refuses fails alone and a batch
//! whose commit was lost (the connection dropped) finds the rows it did write: a row
//! skipped on its retry is looked up by its key or its id by the caller.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::future::join_all;
use prometheus::Histogram;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::{classify, on_pool, values_sql, Backend, Pool, StoreError};
use crate::domain::Interaction;

/// Most rows in one statement (20 parameters each). Statements are cut to a power of
/// two rows, so that each backend has seven statement texts, prepared once per
/// connection and then taken from its statement cache.
const MAX_ROWS: usize = 64;

/// Calls that may wait for the writer; past that, callers wait for room.
const QUEUE_CAPACITY: usize = 4_096;

/// The columns one row binds, in order.
pub(super) const INSERT_COLUMNS: &str = "id, customer_id, channel, type, direction, occurred_at, \
    recorded_at, staff_id, branch_id, subject, notes, outcome, satisfaction, follow_up_at, \
    products, updated_at, revision, idempotency_key, fingerprint, recorded_by";
const INSERT_WIDTH: usize = 20;

/// A new interaction as it is stored: the record, its retry key and the fingerprint of
/// the request it came with.
pub(super) struct NewRow {
    pub interaction: Interaction,
    /// The product codes as the JSON text the column holds.
    pub products: String,
    pub key: Option<String>,
    pub fingerprint: Option<String>,
}

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// Stored by this statement.
    Inserted,
    /// A row with its idempotency key, or its id, was already there.
    Skipped,
}

struct Pending {
    row: NewRow,
    answer: oneshot::Sender<Result<Written, StoreError>>,
}

/// The handle requests write through; the task stops when the last handle is dropped,
/// after the rows it has taken are written.
#[derive(Clone)]
pub(super) struct InteractionWriter {
    queue: mpsc::Sender<Pending>,
}

impl InteractionWriter {
    /// Starts the writer task on the current runtime. SQLite takes one statement at a
    /// time (it has one writer anyway; more would only wait on its lock); PostgreSQL
    /// gets a few, so that commits overlap and its own group commit joins their fsyncs,
    /// while the pool keeps connections for reads. `rows_per_statement` observes the
    /// size of every statement that commits.
    pub(super) fn start(pool: Pool, rows_per_statement: Histogram) -> InteractionWriter {
        let in_flight = match pool {
            Pool::Sqlite(_) => 1,
            Pool::Postgres(_) => 4,
        };
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(
            Target {
                pool,
                rows_per_statement,
            },
            waiting,
            in_flight,
        ));
        InteractionWriter { queue }
    }

    /// Writes one row; answers once the statement that holds it has committed.
    pub(super) async fn write(&self, row: NewRow) -> Result<Written, StoreError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        self.queue
            .send(Pending { row, answer })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// What the writer task holds: the pool, without the handle that keeps it running,
/// and the hub's histogram of rows per statement.
struct Target {
    pool: Pool,
    rows_per_statement: Histogram,
}

async fn run(target: Target, mut queue: mpsc::Receiver<Pending>, in_flight: usize) {
    let target = Arc::new(target);
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(pending) => waiting.push_back(pending),
                None => break,
            }
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        // Everything that arrived while the slots were busy goes into this statement.
        while waiting.len() < MAX_ROWS {
            match queue.try_recv() {
                Ok(pending) => waiting.push_back(pending),
                Err(_) => break,
            }
        }
        let batch: Vec<Pending> = waiting.drain(..statement_rows(waiting.len())).collect();
        let target = target.clone();
        tokio::spawn(async move {
            write_batch(&target, batch).await;
            drop(slot);
        });
    }
}

/// Rows in the next statement: the largest power of two that `waiting` fills, at most
/// [`MAX_ROWS`].
fn statement_rows(waiting: usize) -> usize {
    let rows = waiting.min(MAX_ROWS);
    if rows == 0 {
        0
    } else {
        1 << rows.ilog2()
    }
}

async fn write_batch(target: &Target, batch: Vec<Pending>) {
    let rows: Vec<&NewRow> = batch.iter().map(|p| &p.row).collect();
    match insert(target, &rows).await {
        Ok(inserted) => {
            for pending in batch {
                let written = if inserted.contains(&pending.row.interaction.id) {
                    Written::Inserted
                } else {
                    Written::Skipped
                };
                let _ = pending.answer.send(Ok(written));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.answer.send(Err(error));
            }
        }
        Err(error) => {
            tracing::warn!(
                rows = batch.len(),
                code = error.code().as_str(),
                "a batch of interactions failed; writing its rows one by one"
            );
            join_all(batch.into_iter().map(|pending| async move {
                let written = insert(target, &[&pending.row]).await.map(|inserted| {
                    if inserted.is_empty() {
                        Written::Skipped
                    } else {
                        Written::Inserted
                    }
                });
                let _ = pending.answer.send(written);
            }))
            .await;
        }
    }
}

/// Binds one [`NewRow`] to a statement of [`insert_sql`], in [`INSERT_COLUMNS`] order;
/// a macro so that the same text binds to either backend's query type.
macro_rules! bind_row {
    ($query:expr, $row:expr) => {{
        let row: &NewRow = $row;
        let i = &row.interaction;
        $query
            .bind(i.id)
            .bind(i.customer_id.as_str())
            .bind(i.channel.as_str())
            .bind(i.kind.as_str())
            .bind(i.direction.as_str())
            .bind(i.occurred_at)
            .bind(i.recorded_at)
            .bind(i.staff_id.as_str())
            .bind(i.branch_id.as_str())
            .bind(i.subject.as_str())
            .bind(i.notes.as_deref())
            .bind(i.outcome.map(|o| o.as_str()))
            .bind(i.satisfaction.map(i32::from))
            .bind(i.follow_up_at)
            .bind(row.products.as_str())
            .bind(i.updated_at)
            .bind(i.revision)
            .bind(row.key.as_deref())
            .bind(row.fingerprint.as_deref())
            .bind(i.recorded_by.as_deref())
    }};
}
pub(super) use bind_row;

/// One statement for `rows`; returns the ids it stored.
async fn insert(target: &Target, rows: &[&NewRow]) -> Result<HashSet<Uuid>, StoreError> {
    let sql = insert_sql(target.pool.backend(), rows.len());
    let ids: Vec<Uuid> = on_pool!(target, p => {
        let mut query = sqlx::query_scalar(&sql);
        for row in rows {
            query = bind_row!(query, row);
        }
        query.fetch_all(p).await
    })
    .map_err(classify)?;
    target.rows_per_statement.observe(rows.len() as f64);
    Ok(ids.into_iter().collect())
}

/// `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING RETURNING id` for `rows` rows. The
/// conflict may be on the idempotency key (a retry, or two requests with one key in
/// one statement) or on the id (a row whose earlier statement committed although its
/// answer was lost).
pub(super) fn insert_sql(backend: Backend, rows: usize) -> String {
    let values = values_sql(backend, rows, INSERT_WIDTH, |_, p| p);
    format!(
        "INSERT INTO interactions ({INSERT_COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING RETURNING id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_the_largest_power_of_two_waiting_up_to_the_bound() {
        let sizes: Vec<usize> = [0, 1, 2, 3, 5, 8, 31, 63, 64, 65, 1000]
            .into_iter()
            .map(statement_rows)
            .collect();
        assert_eq!(sizes, [0, 1, 2, 2, 4, 8, 16, 32, 64, 64, 64]);
    }

    #[test]
    fn placeholders_are_numbered_per_row_on_postgres_and_anonymous_on_sqlite() {
        let pg = insert_sql(Backend::Postgres, 2);
        assert!(pg.contains("($1, $2,"), "{pg}");
        assert!(pg.contains("$20), ($21,"), "{pg}");
        assert!(
            pg.ends_with("$40) ON CONFLICT DO NOTHING RETURNING id"),
            "{pg}"
        );
        let sqlite = insert_sql(Backend::Sqlite, 1);
        assert_eq!(sqlite.matches('?').count(), INSERT_WIDTH);
        assert_eq!(INSERT_COLUMNS.split(',').count(), INSERT_WIDTH);
    }
}
