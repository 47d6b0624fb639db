//! The sweep on a schedule, inside `c360 serve` (`[snapshot] schedule`).
//!
//! Every hub sharing a database runs this loop; the sweep's lease lets one of them
//! sweep at a time, and a hub that stops mid-sweep leaves the checkpoint for whichever
//! hub finds the sweep due next.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;

use super::{sweep, Progress, SnapshotBuilder, SweepReport, SweepSettings};

/// Longest pause between two looks at whether a sweep is due.
const LOOK_EVERY: Duration = Duration::from_secs(60);
/// How often a running sweep logs how far it is.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// Progress as log lines.
struct Logged {
    state: Mutex<(u64, u64, Instant)>,
}

impl Progress for Logged {
    fn start(&self, total: Option<u64>, done_before: u64) {
        tracing::info!(total, done_before, "snapshot sweep started");
    }

    fn advance(&self, written: u64, failed: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += written;
        state.1 += failed;
        if state.2.elapsed() >= LOG_EVERY {
            state.2 = Instant::now();
            tracing::info!(
                written = state.0,
                failed = state.1,
                "snapshot sweep under way"
            );
        }
    }

    fn finish(&self, report: &SweepReport) {
        tracing::info!(
            run = report.run,
            written = report.written,
            failed = report.failed,
            recovered = report.recovered,
            complete = report.complete,
            seconds = report.elapsed.as_secs(),
            "snapshot sweep stopped"
        );
    }
}

/// Sweeps whenever the last complete sweep started more than `every` ago (or there is
/// none), until `stopping` turns true; a sweep under way then stops at its next page
/// and is resumed later from its checkpoint.
pub fn schedule(
    builder: SnapshotBuilder,
    every: Duration,
    settings: SweepSettings,
    mut stopping: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let due = match builder.store().last_complete_snapshot_run().await {
                Ok(Some(run)) => (Utc::now() - run.started_at)
                    .to_std()
                    .is_ok_and(|age| age >= every),
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whether a snapshot sweep is due");
                    false
                }
            };
            if due {
                let progress = Logged {
                    state: Mutex::new((0, 0, Instant::now())),
                };
                let mut stop = stopping.clone();
                let stopped = async move {
                    let _ = stop.wait_for(|down| *down).await;
                };
                match sweep(&builder, &settings, &progress, stopped).await {
                    Ok(Some(_)) => {}
                    Ok(None) => tracing::debug!("another hub holds the snapshot sweep"),
                    Err(e) => tracing::warn!(error = %e.summary(), "snapshot sweep failed"),
                }
            }
            tokio::select! {
                _ = stopping.wait_for(|down| *down) => return,
                () = tokio::time::sleep(every.min(LOOK_EVERY)) => {}
            }
        }
    });
}
