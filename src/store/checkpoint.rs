//! SQLite's WAL checkpoints, run beside the writers instead of inside their commits.
//!
//! With SQLite's automatic checkpoint, the commit that takes the WAL past 1,000 pages
//! copies them into the database file and `fsync`s it before it returns. Under audited
//! reads (each dirties an index leaf) that is about one commit in ten, and every caller
//! queued behind the one writer waits for it: warm `profile360` at c64 had p99 at 2.5
//! times p50, against 1.6 with the checkpoint off or with PostgreSQL.
//!
//! So the pool's connections never checkpoint (`wal_autocheckpoint = 0`), and a task
//! with a connection of its own does:
//!
//! - Every [`PASS_EVERY`], a `PASSIVE` checkpoint copies what the WAL holds into the
//!   database file while writers go on appending. When it has copied every frame, the
//!   next commit starts the WAL over from its beginning. Readers look only at frames
//!   not yet copied, so the passes also keep reads short.
//! - Under steady writes a pass never quite catches up (a commit lands while it
//!   copies), and the WAL would grow for as long as the load lasts. Once it holds
//!   [`RESTART_AT_PAGES`], the task runs a `RESTART` checkpoint, which makes writers
//!   wait while it copies what the last pass left and syncs the file (25 to 35 ms at
//!   10,000 audited reads a second), and has the next commit start the WAL over.
//!
//! Both were chosen by measurement (warm `profile360`, c64, 10 s; docs/performance.md).
//! With a restart at 64 MiB of WAL (about once a second under that load), passes every
//! 100 ms gave p99 at 2.1 to 2.25 times p50, every 300 ms 2.0 to 2.3, every second 1.85
//! to 2.0; passes every second with a restart at 256 MiB gave 1.7 to 1.75. Each pass
//! and each restart `fsync`s the database file, on the same disk as the commits'
//! `fsync`s of the WAL, so fewer and larger ones disturb the commits less; a page
//! changed many times between two is copied once.
//!
//! The task stops when the last [`Store`](super::Store) handle is dropped; closing its
//! connection lets SQLite checkpoint and remove the WAL when it is the last one.

use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// How often a passive checkpoint runs. An idle WAL costs a pass a few reads of the
/// shared index.
const PASS_EVERY: Duration = Duration::from_secs(1);

/// WAL pages (of 4 KiB) past which writers are made to wait for a full checkpoint and a
/// restart of the WAL: the WAL file grows to 256 MiB at most, under a load that keeps
/// every pass from catching up; under lighter loads the passes keep it small.
const RESTART_AT_PAGES: i64 = 65_536;

/// Longest a restart waits for the write lock, and then for readers to leave the WAL.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Keeps the checkpoint task running; dropping it stops the task.
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: oneshot::Sender<()>,
}

impl Checkpointer {
    /// Starts the task on the current runtime, over a connection of its own to the file
    /// `options` name.
    pub(super) fn start(options: SqliteConnectOptions, metrics: &Metrics) -> Checkpointer {
        Checkpointer::every(options, Counts::of(metrics), PASS_EVERY, RESTART_AT_PAGES)
    }

    fn every(
        options: SqliteConnectOptions,
        counts: Counts,
        period: Duration,
        restart_at: i64,
    ) -> Checkpointer {
        let (stop, mut stopped) = oneshot::channel();
        tokio::spawn(async move {
            let mut connection = None;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                if let Err(error) = pass(&options, &mut connection, &counts, restart_at).await {
                    // The next pass opens a new connection; the WAL only grows meanwhile.
                    tracing::warn!(%error, "SQLite WAL checkpoint failed");
                    connection = None;
                }
            }
            if let Some(connection) = connection {
                let _ = connection.close().await;
            }
        });
        Checkpointer { _stop: stop }
    }
}

/// What the task reports to `/metrics`.
#[derive(Clone)]
struct Counts {
    wal_pages: IntGauge,
    restarts: IntCounterVec,
}

impl Counts {
    fn of(metrics: &Metrics) -> Counts {
        Counts {
            wal_pages: metrics.sqlite_wal_pages.clone(),
            restarts: metrics.sqlite_wal_restarts.clone(),
        }
    }
}

/// One passive checkpoint, and a restarting one when the WAL has grown too long.
async fn pass(
    options: &SqliteConnectOptions,
    connection: &mut Option<SqliteConnection>,
    counts: &Counts,
    restart_at: i64,
) -> Result<(), sqlx::Error> {
    let connection = match connection {
        Some(connection) => connection,
        // A restart holds the write lock while it waits for readers of the WAL to
        // finish: a short wait, so that a long read (an export) makes writers wait that
        // long at most, and the restart is tried again a pass later.
        None => connection.insert(options.clone().busy_timeout(RESTART_WAIT).connect().await?),
    };
    let wal = checkpoint(connection, "PASSIVE").await?;
    counts.wal_pages.set(wal.pages);
    if wal.pages >= restart_at {
        let restarted = checkpoint(connection, "RESTART").await?;
        let outcome = if restarted.busy { "busy" } else { "restarted" };
        counts.restarts.with_label_values(&[outcome]).inc();
        if restarted.busy {
            tracing::info!(
                pages = restarted.pages,
                "the SQLite WAL did not restart: a reader held it; trying again in a pass"
            );
        } else {
            tracing::debug!(pages = wal.pages, "restarted the SQLite WAL");
        }
    }
    Ok(())
}

/// What `PRAGMA wal_checkpoint` reports.
struct Wal {
    /// The checkpoint could not finish: another connection held a lock it needed.
    busy: bool,
    /// Frames in the WAL.
    pages: i64,
}

async fn checkpoint(connection: &mut SqliteConnection, mode: &str) -> Result<Wal, sqlx::Error> {
    let (busy, pages, _copied): (i64, i64, i64) =
        sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
            .fetch_one(connection)
            .await?;
    Ok(Wal {
        busy: busy != 0,
        pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteJournalMode, SqlitePool, SqlitePoolOptions};
    use std::str::FromStr;

    /// A database in WAL mode with the automatic checkpoint off, as the store opens it,
    /// and a table to write to.
    async fn database(folder: &std::path::Path) -> (SqliteConnectOptions, SqlitePool) {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(folder.join("c360.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        (options, pool)
    }

    /// A commit of 16 KiB: about five pages of WAL.
    async fn write(pool: &SqlitePool) {
        sqlx::query("INSERT INTO t (v) VALUES (?)")
            .bind(vec![7u8; 16 * 1024])
            .execute(pool)
            .await
            .unwrap();
    }

    fn restarts(metrics: &Metrics) -> u64 {
        metrics
            .sqlite_wal_restarts
            .with_label_values(&["restarted"])
            .get()
    }

    /// With the automatic checkpoint off, only the passes keep the WAL from growing for
    /// as long as writes go on: a pass that copied every frame lets the next commit
    /// start the WAL over, and one that finds it past the bound restarts it.
    #[tokio::test]
    async fn passes_restart_the_wal_so_it_stays_bounded() {
        let folder = tempfile::tempdir().unwrap();
        let (options, pool) = database(folder.path()).await;
        let metrics = Metrics::new();
        let counts = Counts::of(&metrics);
        let mut connection = None;
        let mut longest = 0;
        for commit in 1..=400 {
            write(&pool).await;
            if commit % 10 == 0 {
                pass(&options, &mut connection, &counts, 64).await.unwrap();
            }
            let wal = std::fs::metadata(folder.path().join("c360.db-wal")).unwrap();
            longest = longest.max(wal.len());
        }
        assert!(
            longest < 2 * 1024 * 1024,
            "the WAL grew to {longest} bytes; 400 commits without a checkpoint make about 10 MiB"
        );
        assert!(restarts(&metrics) > 0, "no restart counted");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 400);
    }

    /// The task runs the passes by itself, and reports them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_task_checkpoints_on_its_own() {
        let folder = tempfile::tempdir().unwrap();
        let (options, pool) = database(folder.path()).await;
        let metrics = Metrics::new();
        let _task =
            Checkpointer::every(options, Counts::of(&metrics), Duration::from_millis(5), 64);
        for _ in 0..40 {
            write(&pool).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while restarts(&metrics) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(restarts(&metrics) > 0, "no restart within 30 s");
    }
}
