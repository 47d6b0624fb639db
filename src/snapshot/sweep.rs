//! The sweep: core banking's customers in CIF order, a page at a time, each page's
//! rows computed and written, the checkpoint moved on in page order.
//!
//! Pages are computed a few at a time (`concurrency`) while the walk lists the next
//! ones, but the checkpoint only moves past a page once it and every page before it
//! are written, so a sweep killed at any moment resumes without a gap. A page that
//! fails is tried `retries` more times with a growing pause, then recorded in
//! `snapshot_failures` and counted; the next sweep tries recorded batches again
//! before it walks on. Nothing is skipped silently.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};

use super::{SnapshotBuilder, SnapshotError};
use crate::cache::RequestScope;
use crate::connectors::PageRequest;
use crate::domain::{Cif, Customer};

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Customers per page (and per upstream batch call): the systems take 100 keys.
    pub batch: usize,
    /// Pages computed at once.
    pub concurrency: usize,
    /// Further tries of a failed page before it is recorded.
    pub retries: u32,
    /// How long the lease lasts without a checkpoint; renewed with each one. A sweep
    /// killed without giving it up holds the snapshot this long.
    pub lease: Duration,
    /// How long to wait for another owner's lease to end before giving up (a killed
    /// sweep's lease runs out by itself; a live one is renewed and outlasts this).
    pub wait_for_lease: Duration,
    /// Who holds the lease: a hub instance or a command, for `snapshot status`.
    pub owner: String,
    /// Stop after this many pages (tests; `None` walks the whole book).
    pub max_pages: Option<usize>,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            batch: 100,
            concurrency: 4,
            retries: 2,
            lease: Duration::from_secs(30),
            wait_for_lease: Duration::ZERO,
            owner: format!(
                "pid-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            max_pages: None,
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub run: i64,
    /// The checkpoint it resumed from (`None`: from the start).
    pub resumed_from: Option<String>,
    /// Rows written by this invocation.
    pub written: u64,
    /// Customers of batches that failed after their retries (recorded).
    pub failed: u64,
    /// Batches recorded by earlier sweeps and written now.
    pub recovered: u64,
    /// Whether it went through the whole book (the run is finished).
    pub complete: bool,
    pub elapsed: Duration,
}

/// Where the sweep tells how far it is: a progress bar on a terminal, plain lines
/// otherwise (the command picks).
pub trait Progress: Send + Sync {
    /// The book's size when core says it, and how many were done before a resume.
    fn start(&self, total: Option<u64>, done_before: u64);
    fn advance(&self, written: u64, failed: u64);
    fn finish(&self, report: &SweepReport);
}

/// One page's outcome, in page order.
struct PageDone {
    next: Option<String>,
    written: u64,
    failed: u64,
}

async fn with_retries<T, F, Fut>(retries: u32, mut attempt: F) -> Result<T, SnapshotError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SnapshotError>>,
{
    let mut pause = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e @ SnapshotError::LeaseLost) => return Err(e),
            Err(e) if tries >= retries => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e.summary(), tries = tries + 1, "snapshot batch failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 4;
                tries += 1;
            }
        }
    }
}

/// A page's task, aborted when the sweep stops without waiting for it (its rows,
/// if written, are written again after the resume: the checkpoint is not past it).
struct PageTask(tokio::task::JoinHandle<Result<PageDone, SnapshotError>>);

impl Future for PageTask {
    type Output = Result<PageDone, SnapshotError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.unwrap_or(Err(SnapshotError::Abandoned)))
    }
}

impl Drop for PageTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Computes and writes one page; a page that keeps failing is recorded. A task of
/// its own: it holds the database's write lock while it writes, and must get on
/// with it whatever the walk is waiting for.
async fn page(
    builder: SnapshotBuilder,
    settings: SweepSettings,
    run: i64,
    customers: Vec<Customer>,
    next: Option<String>,
) -> Result<PageDone, SnapshotError> {
    let by = format!("sweep:{run}");
    let written = with_retries(settings.retries, || async {
        let rows = builder.rows(&customers, &by).await?;
        builder.store().put_snapshot_rows(&rows).await?;
        Ok(rows.len() as u64)
    })
    .await;
    match written {
        Ok(written) => Ok(PageDone {
            next,
            written,
            failed: 0,
        }),
        Err(e) => {
            let cifs: Vec<String> = customers.iter().map(|c| c.id.as_str().to_owned()).collect();
            tracing::error!(
                run,
                customers = cifs.len(),
                first = %cifs.first().map(String::as_str).unwrap_or(""),
                error = %e.summary(),
                "snapshot batch failed after its retries; recorded for the next sweep"
            );
            builder
                .store()
                .record_snapshot_failure(run, &cifs, &e.summary())
                .await?;
            Ok(PageDone {
                next,
                written: 0,
                failed: cifs.len() as u64,
            })
        }
    }
}

/// Tries the batches earlier sweeps recorded; returns the customers now written.
async fn recover(
    builder: &SnapshotBuilder,
    settings: &SweepSettings,
) -> Result<u64, SnapshotError> {
    let mut recovered = 0;
    for failure in builder.store().open_snapshot_failures().await? {
        let cifs: Vec<Cif> = failure
            .cifs
            .iter()
            .filter_map(|c| Cif::parse(c).ok())
            .collect();
        match with_retries(settings.retries, || builder.refresh(&cifs)).await {
            Ok(written) => {
                builder.store().resolve_snapshot_failure(failure.id).await?;
                recovered += written;
            }
            Err(e) => {
                tracing::warn!(failure = failure.id, error = %e.summary(), "a recorded snapshot batch failed again; kept for the next sweep");
            }
        }
    }
    Ok(recovered)
}

/// Runs (or resumes) the sweep until the book ends, `stop` completes, or
/// `settings.max_pages` pages are written. `None`: another owner holds the sweep.
pub async fn sweep(
    builder: &SnapshotBuilder,
    settings: &SweepSettings,
    progress: &dyn Progress,
    stop: impl Future<Output = ()>,
) -> Result<Option<SweepReport>, SnapshotError> {
    let started = Instant::now();
    let store = builder.store();
    let give_up = Instant::now() + settings.wait_for_lease;
    let run = loop {
        if let Some(run) = store
            .take_snapshot_run(&settings.owner, settings.lease)
            .await?
        {
            break run;
        }
        if Instant::now() >= give_up {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut report = SweepReport {
        run: run.id,
        resumed_from: run.checkpoint.clone(),
        ..SweepReport::default()
    };
    let result = walk(builder, settings, progress, stop, &run, &mut report).await;
    report.elapsed = started.elapsed();
    match result {
        Ok(()) => {
            if report.complete {
                store.finish_snapshot_run(run.id, &settings.owner).await?;
            } else {
                store.release_snapshot_run(run.id, &settings.owner).await?;
            }
            progress.finish(&report);
            Ok(Some(report))
        }
        Err(e) => {
            if !matches!(e, SnapshotError::LeaseLost) {
                // Best effort: the lease runs out by itself otherwise.
                let _ = store.release_snapshot_run(run.id, &settings.owner).await;
            }
            Err(e)
        }
    }
}

async fn walk(
    builder: &SnapshotBuilder,
    settings: &SweepSettings,
    progress: &dyn Progress,
    stop: impl Future<Output = ()>,
    run: &crate::store::SnapshotRun,
    report: &mut SweepReport,
) -> Result<(), SnapshotError> {
    let store = builder.store();
    report.recovered = recover(builder, settings).await?;
    let mut stop = pin!(stop);
    let mut key = run.checkpoint.clone();
    let mut listed_last = false;
    let mut pages = 0usize;
    let mut in_flight = FuturesOrdered::new();
    let mut started_progress = false;
    loop {
        // List the next page while there is room.
        let room = in_flight.len() < settings.concurrency.max(1);
        let more = !listed_last && settings.max_pages.is_none_or(|max| pages < max);
        if room && more {
            let request = PageRequest {
                limit: settings.batch,
                key: key.clone(),
            };
            let listed = tokio::select! {
                () = &mut stop => break,
                listed = with_retries(settings.retries, || async {
                    builder
                        .upstreams()
                        .customer_book(None, request.clone(), &RequestScope::new())
                        .await
                        .map_err(SnapshotError::Upstream)
                }) => listed?,
            };
            if !started_progress {
                progress.start(listed.total, run.done as u64);
                started_progress = true;
            }
            let next = listed.next_page_key.clone();
            listed_last = next.is_none();
            key = next.clone();
            pages += 1;
            let customers = listed.items.clone();
            in_flight.push_back(PageTask(tokio::spawn(page(
                builder.clone(),
                settings.clone(),
                run.id,
                customers,
                next,
            ))));
            continue;
        }
        // Wait for the oldest page, then move the checkpoint past it.
        let done = tokio::select! {
            () = &mut stop => break,
            done = in_flight.next() => done,
        };
        let Some(done) = done else {
            report.complete = listed_last;
            break;
        };
        let done = done?;
        report.written += done.written;
        report.failed += done.failed;
        progress.advance(done.written, done.failed);
        let kept = store
            .advance_snapshot_run(
                run.id,
                &settings.owner,
                done.next.as_deref(),
                done.written as i64,
                done.failed as i64,
                settings.lease,
            )
            .await?;
        if !kept {
            return Err(SnapshotError::LeaseLost);
        }
    }
    Ok(())
}
