//! Writing the access audit before the answer leaves, without a commit per read.
//!
//! A request hands its audit rows to the [`AuditWriter`] and waits until the
//! transaction holding them has committed: an answered read is an audited read, even
//! if the process is killed a moment later. One task per writer commits the rows
//! that are waiting whenever no commit is in flight (group commit, as for
//! interactions): there is no timer, one read alone gets a commit of its own at once,
//! and under load the rows that arrive during a commit share the next one, so the
//! audit costs a commit per batch, not per read.
//!
//! Nothing is dropped. The rows recorded and not yet committed are bounded (waiting
//! for their batch, or held while the database refuses them), and a request whose
//! rows do not fit waits for room. A batch the database refuses stays at the head of
//! the line and is retried with backoff; its requests keep waiting, and are refused
//! at their deadline (`AUDIT_UNAVAILABLE`), while their rows are still written once
//! the database is back: the audit may hold a read that was refused in the end,
//! never an answered read it lacks. Retries write each row once: rows get their ids
//! on arrival and a batch sent again skips ids already stored. Logs carry counts and
//! error codes, never who read whom.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::store::{AccessRecord, ChainKeys, HeldConnection, Store, StoreError};

/// Most rows committed in one transaction: after an outage the backlog drains in
/// large commits, while each stays short enough not to hold SQLite's write lock for
/// long.
const MAX_WRITE_ROWS: usize = 4_096;

/// Longest the writer keeps one connection through a run of commits before handing it
/// back to the pool, which then applies its own lifetime and health checks to it.
const MAX_HOLD: Duration = Duration::from_secs(30);

/// How long a writer with nothing to commit keeps its connection before handing it
/// back. Under load the next rows arrive within a millisecond of a commit. Taking a
/// pooled connection again gives the writer whichever one has been idle longest, and
/// on SQLite a connection whose last write was not the latest drops its whole page
/// cache: at c64 two connections took turns, and each commit read about a hundred
/// pages back from the files.
const IDLE_HOLD: Duration = Duration::from_millis(250);

/// How an [`AuditWriter`] bounds its backlog and retries.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Rows recorded and not yet committed; past that, [`AuditWriter::record`] waits
    /// for room. About half a kilobyte of memory each. The default absorbs a slow
    /// SQLite commit (a WAL checkpoint) at tens of thousands of audited reads a second
    /// without holding requests back. A call with more rows than this waits until
    /// every other row is committed, then goes in whole.
    pub max_uncommitted_rows: usize,
    /// Wait before the first retry of a failed batch; doubled per failure.
    pub retry_initial: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            max_uncommitted_rows: crate::config::DEFAULT_AUDIT_MAX_PENDING_ROWS,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// The writer was closed: the rows were not recorded, so the read they describe must
/// not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the access audit is closed; the read cannot be recorded")]
pub struct AuditClosed;

enum Message {
    /// Rows, the room they took (fewer than the rows for a call larger than the
    /// bound), which the task gives back as rows are committed, and who to tell once
    /// they are.
    Records(Vec<AccessRecord>, u32, oneshot::Sender<()>),
    /// Answered once every row queued before it is committed.
    Flush(oneshot::Sender<()>),
    /// Like `Flush`, and the writer stops taking rows.
    Close(oneshot::Sender<()>),
}

/// The handle requests record audit rows through; clones share one writer task.
#[derive(Clone)]
pub struct AuditWriter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unbounded: `room` bounds the rows in it, and flushes wait for their answer.
    queue: mpsc::UnboundedSender<Message>,
    /// One permit per row that may be recorded and not yet committed.
    room: Arc<Semaphore>,
    /// The most permits one call takes: the bound itself.
    bound: u32,
    /// The hub's metrics: rows pending, written, and failed writes.
    metrics: Arc<Metrics>,
}

impl AuditWriter {
    /// Spawns the writer task on the current Tokio runtime; it seals rows with the
    /// current key of `keys` and counts into `metrics`.
    pub fn start(
        store: Store,
        keys: Arc<ChainKeys>,
        settings: AuditSettings,
        metrics: Arc<Metrics>,
    ) -> AuditWriter {
        let (queue, inbox) = mpsc::unbounded_channel();
        let bound = settings
            .max_uncommitted_rows
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        let room = Arc::new(Semaphore::new(bound as usize));
        let task = Task {
            store,
            keys,
            room: room.clone(),
            held: 0,
            settings,
            inbox,
            inbox_done: false,
            pending: VecDeque::new(),
            received: 0,
            written: 0,
            waiters: Vec::new(),
            inflight: None,
            inflight_rows: 0,
            connection: None,
            release_at: None,
            failures: 0,
            retry_at: None,
            metrics: metrics.clone(),
        };
        tokio::spawn(task.run());
        AuditWriter {
            inner: Arc::new(Inner {
                queue,
                room,
                bound,
                metrics,
            }),
        }
    }

    /// Writes rows and returns once they are committed; waits first for room while
    /// the rows not yet committed fill the bound. A caller that stops waiting (its
    /// deadline) leaves the rows to be committed all the same.
    pub async fn record(&self, records: Vec<AccessRecord>) -> Result<(), AuditClosed> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = records.len() as i64;
        let permits = u32::try_from(records.len())
            .unwrap_or(u32::MAX)
            .min(self.inner.bound);
        // The semaphore is never closed; the writer gives the room back as it commits.
        if let Ok(room) = self.inner.room.acquire_many(permits).await {
            room.forget();
        }
        self.inner.metrics.audit_rows_pending.add(rows);
        let (done, committed) = oneshot::channel();
        if self
            .inner
            .queue
            .send(Message::Records(records, permits, done))
            .is_err()
        {
            self.inner.room.add_permits(permits as usize);
            self.inner.metrics.audit_rows_pending.sub(rows);
            tracing::error!(rows, "access audit closed; rows refused");
            return Err(AuditClosed);
        }
        // Without an answer the task stopped before committing (the runtime is going
        // away): the rows are not known to be written.
        committed.await.map_err(|_| AuditClosed)
    }

    /// Returns once every row recorded before the call is committed (at once when the
    /// writer is closed: closing committed them).
    pub async fn flush(&self) {
        let (done, committed) = oneshot::channel();
        if self.inner.queue.send(Message::Flush(done)).is_ok() {
            Self::wait(committed).await;
        }
    }

    /// Commits everything recorded so far, on every clone of this writer, and stops
    /// the writer: later [`AuditWriter::record`] calls fail with [`AuditClosed`]. For
    /// graceful shutdown, after the server has stopped taking requests. Waits as long
    /// as the database refuses the rows; a caller that bounds the wait and gives up
    /// loses them, and the writer logs how many.
    pub async fn close(self) {
        let (done, committed) = oneshot::channel();
        if self.inner.queue.send(Message::Close(done)).is_ok() {
            Self::wait(committed).await;
        }
    }

    async fn wait(committed: oneshot::Receiver<()>) {
        if committed.await.is_err() {
            tracing::error!("access audit writer stopped before committing");
        }
    }
}

/// A commit in flight: it owns its rows and hands them back with the outcome, so a
/// failed batch can go back to the head of the line, and the connection it used
/// unless that failed.
type Commit = Pin<Box<dyn Future<Output = Committed> + Send>>;

struct Committed {
    batch: Vec<(Uuid, AccessRecord)>,
    outcome: Result<(), StoreError>,
    connection: Option<(HeldConnection, Instant)>,
}

struct Task {
    store: Store,
    keys: Arc<ChainKeys>,
    settings: AuditSettings,
    /// The writers' room, and how much of it the rows held here took.
    room: Arc<Semaphore>,
    held: u64,
    inbox: mpsc::UnboundedReceiver<Message>,
    /// The queue is closed and empty: no more rows will come.
    inbox_done: bool,
    /// Received, not yet committed, oldest first, with the ids they will be stored
    /// under.
    pending: VecDeque<(Uuid, AccessRecord)>,
    /// Rows received and rows committed since start: a caller (or a flush) waits
    /// until `written` reaches what `received` was once its rows were in.
    received: u64,
    written: u64,
    waiters: Vec<(u64, oneshot::Sender<()>)>,
    /// The batch being committed, and how many rows it holds.
    inflight: Option<Commit>,
    inflight_rows: usize,
    /// Kept between commits while rows keep coming (see [`HeldConnection`]), and since
    /// when.
    connection: Option<(HeldConnection, Instant)>,
    /// When a connection kept with nothing to commit goes back to the pool.
    release_at: Option<Instant>,
    /// Consecutive failed writes.
    failures: u32,
    retry_at: Option<Instant>,
    metrics: Arc<Metrics>,
}

impl Task {
    async fn run(mut self) {
        loop {
            let receiving = !self.inbox_done;
            let committing = self.inflight.is_some();
            let due = if committing { None } else { self.next_write() };
            let release = self
                .release_at
                .filter(|_| !committing && self.pending.is_empty() && self.connection.is_some());
            let inflight = &mut self.inflight;
            tokio::select! {
                message = self.inbox.recv(), if receiving => match message {
                    Some(message) => self.accept(message),
                    None => self.inbox_done = true,
                },
                done = async { inflight.as_mut().expect("guarded by `committing`").await },
                    if committing => self.committed(done),
                () = sleep_until(due), if due.is_some() => self.start_write(),
                () = sleep_until(release), if release.is_some() => {
                    self.connection = None;
                    self.release_at = None;
                }
            }
            if self.inbox_done && self.pending.is_empty() && self.inflight.is_none() {
                break;
            }
        }
        self.answer_waiters();
    }

    fn accept(&mut self, message: Message) {
        match message {
            Message::Records(records, permits, done) => {
                self.held += u64::from(permits);
                self.received += records.len() as u64;
                self.pending
                    .extend(records.into_iter().map(|r| (Uuid::now_v7(), r)));
                self.waiters.push((self.received, done));
            }
            Message::Flush(done) => {
                self.waiters.push((self.received, done));
                self.answer_waiters();
            }
            Message::Close(done) => {
                // Senders are refused from now on; what they queued before is still
                // received, then `recv` ends the loop.
                self.inbox.close();
                self.waiters.push((self.received, done));
                self.answer_waiters();
            }
        }
    }

    /// When to write next: after the backoff when failing, else at once whenever
    /// rows wait (every row has a caller waiting for it).
    fn next_write(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.retry_at.unwrap_or_else(Instant::now))
    }

    /// Takes the oldest rows (at most [`MAX_WRITE_ROWS`]) off the line and starts
    /// committing them.
    fn start_write(&mut self) {
        let count = self.pending.len().min(MAX_WRITE_ROWS);
        let batch: Vec<(Uuid, AccessRecord)> = self.pending.drain(..count).collect();
        let store = self.store.clone();
        let keys = self.keys.clone();
        // After a failure the head of the line may have been committed unseen.
        let sent_before = self.failures > 0;
        let held = self.connection.take();
        self.inflight_rows = count;
        self.inflight = Some(Box::pin(async move {
            let (mut connection, since) = match held {
                Some(held) => held,
                None => match store.hold_connection().await {
                    Ok(connection) => (connection, Instant::now()),
                    Err(e) => {
                        return Committed {
                            batch,
                            outcome: Err(e),
                            connection: None,
                        }
                    }
                },
            };
            let rows: Vec<(Uuid, &AccessRecord)> =
                batch.iter().map(|(id, record)| (*id, record)).collect();
            let outcome = store
                .append_access_with_ids(&mut connection, &keys, &rows, sent_before)
                .await;
            drop(rows);
            // A connection that failed goes back to the pool, which closes it if broken.
            let connection = outcome.is_ok().then_some((connection, since));
            Committed {
                batch,
                outcome,
                connection,
            }
        }));
    }

    fn committed(&mut self, done: Committed) {
        let Committed {
            batch,
            outcome,
            connection,
        } = done;
        self.inflight = None;
        self.inflight_rows = 0;
        // Kept for the next commit; an idle writer hands it back after `IDLE_HOLD`, so
        // that the pool can close at shutdown and reads get every connection.
        self.connection = connection.filter(|(_, since)| since.elapsed() < MAX_HOLD);
        self.release_at = Some(Instant::now() + IDLE_HOLD);
        let count = batch.len();
        match outcome {
            Ok(()) => {
                if self.failures > 0 {
                    tracing::info!(
                        rows = count,
                        failed_attempts = self.failures,
                        "access audit writes recovered"
                    );
                }
                self.written += count as u64;
                let freed = self.held.min(count as u64);
                self.held -= freed;
                self.room.add_permits(freed as usize);
                self.metrics.audit_rows_written.inc_by(count as u64);
                self.metrics.audit_rows_pending.sub(count as i64);
                self.failures = 0;
                self.retry_at = None;
                self.answer_waiters();
            }
            Err(error) => {
                // Back to the head of the line, in order: a flush waits for a count of
                // rows written in arrival order.
                for row in batch.into_iter().rev() {
                    self.pending.push_front(row);
                }
                self.failures = self.failures.saturating_add(1);
                let code = error.code().as_str();
                self.metrics
                    .audit_write_failures
                    .with_label_values(&[code])
                    .inc();
                let wait = self.backoff();
                self.retry_at = Some(Instant::now() + wait);
                let sqlstate = database_code(&error);
                let sqlstate = sqlstate.as_deref();
                let pending = self.pending.len();
                let attempt = self.failures;
                let retry_ms = wait.as_millis() as u64;
                if matches!(error, StoreError::Unavailable(_)) {
                    tracing::warn!(
                        rows = count,
                        pending,
                        attempt,
                        code,
                        sqlstate,
                        retry_ms,
                        "access audit write failed; retrying"
                    );
                } else {
                    tracing::error!(
                        rows = count,
                        pending,
                        attempt,
                        code,
                        sqlstate,
                        retry_ms,
                        "access audit write failed; retrying"
                    );
                }
            }
        }
    }

    /// Exponential from `retry_initial` to `retry_max`, with jitter so that hub
    /// instances recovering together do not retry in step.
    fn backoff(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        let base = self
            .settings
            .retry_initial
            .saturating_mul(1 << doublings)
            .min(self.settings.retry_max);
        base.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    fn answer_waiters(&mut self) {
        let written = self.written;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(target, _)| *target <= written);
        self.waiters = waiting;
        for (_, done) in ready {
            let _ = done.send(());
        }
    }
}

impl Drop for Task {
    /// Rows still here when the task ends were not committed: the runtime stopped
    /// before the writer was closed, or the close gave up waiting. Say how many.
    fn drop(&mut self) {
        let mut lost = self.pending.len() + self.inflight_rows;
        while let Ok(message) = self.inbox.try_recv() {
            if let Message::Records(records, _, _) = message {
                lost += records.len();
            }
        }
        if lost > 0 {
            self.metrics.audit_rows_pending.sub(lost as i64);
            tracing::error!(
                rows = lost,
                "access audit rows lost: the writer stopped before committing them"
            );
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// The database's own error code (SQLSTATE or SQLite result code), which names the
/// failure without quoting any value.
fn database_code(error: &StoreError) -> Option<String> {
    match error {
        StoreError::Unavailable(sqlx::Error::Database(db))
        | StoreError::Database(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}
