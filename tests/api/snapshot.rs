//! The BI snapshot: a sweep through the systems fills it, BI reads it (the same
//! answers the live book gave), a failed batch is recorded and recovered, and a sweep
//! killed half-way resumes from its checkpoint.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;
use c360::config::Config;
use c360::snapshot::SweepSettings;

on_both_backends!(
    the_snapshot_answers_as_the_live_book_did,
    a_failed_batch_is_recorded_reported_and_recovered,
    a_killed_sweep_resumes_from_its_checkpoint,
    hubs_sweep_on_their_schedule_one_at_a_time,
    segment_cells_add_up_to_the_rows_as_rows_change,
);

const SUMMARY: &str =
    r#"{ segmentSummary(groupBy: [TIER, BRANCH]) { key count aum { amount currency } asOf } }"#;

/// Segments without their `asOf`, by key.
fn segments(answer: &Value) -> Vec<(Value, Value, Value)> {
    assert!(answer["errors"].is_null(), "{answer}");
    let mut rows: Vec<(Value, Value, Value)> = answer["data"]["segmentSummary"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            (
                s["key"].clone(),
                s["count"].clone(),
                s["aum"]["amount"].clone(),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0.to_string());
    rows
}

async fn the_snapshot_answers_as_the_live_book_did(db: TestDb) {
    let app = TestApp::builder()
        .database(&db)
        .config(|c| c.server.request_timeout = Duration::from_secs(120))
        .spawn()
        .await;
    // No sweep yet: the book is read live from the systems.
    let live = app.graphql(SUMMARY, json!({})).await;
    let live = segments(&live);
    let counted: i64 = live.iter().map(|r| r.1.as_i64().unwrap()).sum();
    assert_eq!(counted, CUSTOMERS as i64);
    assert!(live.iter().any(|r| r.0.as_array().unwrap().len() == 2));

    let before = chrono::Utc::now();
    let report = sweep(&db, &app.sandbox, SweepSettings::default()).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(report.written, CUSTOMERS);
    assert_eq!(report.failed, 0);

    // Read from the snapshot now: no upstream call, the same segments and totals.
    app.reset_stats().await;
    let answer = app.graphql(SUMMARY, json!({})).await;
    assert_eq!(
        segments(&answer),
        live,
        "the snapshot disagrees with the live book"
    );
    assert_eq!(app.total_requests().await, 0, "{}", app.stats().await);
    for segment in answer["data"]["segmentSummary"].as_array().unwrap() {
        let as_of: chrono::DateTime<chrono::Utc> = segment["asOf"]
            .as_str()
            .unwrap()
            .parse()
            .expect("asOf is a time");
        assert!(as_of >= before - chrono::Duration::seconds(1), "{segment}");
    }

    // The book pages by CIF with keyset cursors, each entry with its row's time.
    let page = |after: Value| {
        let app = &app;
        async move {
            let answer = app
                .graphql(
                    "query($after: String) { customerBook(first: 7, after: $after) { edges { node { customer { id } tier aum { amount } asOf } } pageInfo { hasNextPage } resumeAfter } }",
                    json!({ "after": after }),
                )
                .await;
            assert!(answer["errors"].is_null(), "{answer}");
            answer["data"]["customerBook"].clone()
        }
    };
    let first = page(Value::Null).await;
    let second = page(first["resumeAfter"].clone()).await;
    let ids: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|p| p["edges"].as_array().unwrap().clone())
        .map(|e| e["node"]["customer"]["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=14)
        .map(|i| format!("{}", 1_000_000_000u64 + i))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(first["pageInfo"]["hasNextPage"], json!(true));
    assert!(first["edges"][0]["node"]["asOf"].is_string());

    let status = c360::snapshot_builder(&snapshot_config(&db, &app.sandbox))
        .await
        .unwrap()
        .store()
        .snapshot_status()
        .await
        .unwrap();
    assert_eq!(status.rows, CUSTOMERS as i64);
    assert!(status.last_complete.is_some());
    assert!(status.open_failures.is_empty());
}

async fn a_failed_batch_is_recorded_reported_and_recovered(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    app.set_fault(json!({"system": "cards", "error_rate": 1.0, "status": 503}))
        .await;
    let failing = sweep(
        &db,
        &app.sandbox,
        SweepSettings {
            retries: 0,
            max_pages: Some(2),
            ..SweepSettings::default()
        },
    )
    .await;
    assert_eq!(failing.written, 0, "{failing:?}");
    assert_eq!(failing.failed, 200, "both pages are reported as failed");
    assert!(!failing.complete);

    let builder = c360::snapshot_builder(&snapshot_config(&db, &app.sandbox))
        .await
        .unwrap();
    let status = builder.store().snapshot_status().await.unwrap();
    assert_eq!(status.open_failures.len(), 2, "{status:?}");
    assert!(
        status.open_failures[0].error.contains("cards"),
        "the failure names the system: {:?}",
        status.open_failures[0]
    );
    assert_eq!(status.rows, 0);

    // The systems are back: the next sweep writes the recorded batches first, then
    // walks on from where the first stopped.
    app.clear_faults().await;
    let recovered = sweep(&db, &app.sandbox, SweepSettings::default()).await;
    assert_eq!(recovered.recovered, 200, "{recovered:?}");
    assert!(recovered.complete);
    let status = builder.store().snapshot_status().await.unwrap();
    assert!(status.open_failures.is_empty(), "{status:?}");
    assert_eq!(status.rows, CUSTOMERS as i64);
}

async fn a_killed_sweep_resumes_from_its_checkpoint(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    // Slow enough that the sweep is still walking when it is killed.
    app.set_fault(json!({"system": "cards", "latency_ms": 150}))
        .await;
    let command = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_c360"));
        command
            .args(["snapshot", "build", "--concurrency", "1", "--lease", "2s"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("C360_PROFILE", "demo")
            .env("DATABASE_URL", &db.url)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for system in ["core", "cards", "loans", "channels"] {
            command.env(
                format!("C360_{}_URL", system.to_uppercase()),
                format!("{}/{system}/v1", app.sandbox),
            );
        }
        command
    };
    let builder = c360::snapshot_builder(&snapshot_config(&db, &app.sandbox))
        .await
        .unwrap();
    let mut first = command().spawn().expect("c360 snapshot build starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = builder.store().snapshot_status().await.unwrap();
        if status.latest_run.is_some_and(|run| run.done >= 300) {
            break;
        }
        assert!(Instant::now() < deadline, "the sweep wrote nothing in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().expect("killed");
    let _ = first.wait();
    let killed = builder.store().snapshot_status().await.unwrap();
    let at_kill = killed.latest_run.clone().unwrap();
    assert!(at_kill.finished_at.is_none());
    assert!(at_kill.checkpoint.is_some());
    assert!(killed.rows < CUSTOMERS as i64, "{killed:?}");

    app.clear_faults().await;
    // The killed sweep's lease runs out by itself; the second command waits for it.
    let second = command().output().expect("c360 snapshot build runs");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(stdout.contains("resumed from its checkpoint"), "{stdout}");
    assert!(stdout.contains("the whole book is done"), "{stdout}");
    let status = builder.store().snapshot_status().await.unwrap();
    assert_eq!(status.rows, CUSTOMERS as i64);
    let run = status.last_complete.expect("the sweep finished");
    assert_eq!(run.id, at_kill.id, "the same sweep was resumed");
    // Resumed, not started again: the rows counted across both runs are the book,
    // once (a page in flight at the kill was not counted, and was written again).
    assert_eq!(run.done, CUSTOMERS as i64);
}

async fn hubs_sweep_on_their_schedule_one_at_a_time(db: TestDb) {
    let scheduled = |c: &mut Config| c.snapshot.schedule = Some(Duration::from_secs(3600));
    let first = TestApp::builder()
        .database(&db)
        .config(scheduled)
        .spawn()
        .await;
    let _second = TestApp::builder()
        .database(&db)
        .sandbox(&first.sandbox)
        .config(scheduled)
        .spawn()
        .await;
    let store = c360::snapshot_builder(&snapshot_config(&db, &first.sandbox))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let status = store.store().snapshot_status().await.unwrap();
        if status.last_complete.is_some() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no hub swept the book: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status.rows, CUSTOMERS as i64);
    let run = status.latest_run.expect("a sweep");
    assert_eq!(run.id, status.last_complete.unwrap().id);
    assert_eq!(
        run.done, CUSTOMERS as i64,
        "one sweep, written once: {run:?}"
    );
    // BI now reads the snapshot the hubs filled, without calling the systems.
    first.reset_stats().await;
    let answer = first.graphql(SUMMARY, json!({})).await;
    let counted: i64 = segments(&answer)
        .iter()
        .map(|r| r.1.as_i64().unwrap())
        .sum();
    assert_eq!(counted, CUSTOMERS as i64);
    assert_eq!(first.total_requests().await, 0);
}

/// segmentSummary reads per-cell totals the database keeps as rows change
/// (migration 0010); grouped from the rows themselves (what a sweep still under way
/// or a relationship manager's book reads) they must say the same, after rows move
/// between cells and after a stale write that must change nothing.
async fn segment_cells_add_up_to_the_rows_as_rows_change(db: TestDb) {
    use c360::store::{SnapshotDimension, SnapshotFilter, SnapshotScope};
    let app = TestApp::builder().database(&db).spawn().await;
    assert!(
        sweep(&db, &app.sandbox, SweepSettings::default())
            .await
            .complete
    );
    let builder = c360::snapshot_builder(&snapshot_config(&db, &app.sandbox))
        .await
        .unwrap();
    let store = builder.store();
    let all = SnapshotScope {
        all: true,
        ..SnapshotScope::default()
    };
    let dimensions = [SnapshotDimension::Tier, SnapshotDimension::Branch];
    // A CIF past every customer: the same rows, grouped from the rows.
    let past_all = Some("9999999999");
    let compare = |filter: SnapshotFilter| {
        let all = all.clone();
        async move {
            let cells = store
                .snapshot_segments(&all, &filter, &dimensions, None)
                .await
                .unwrap();
            let rows = store
                .snapshot_segments(&all, &filter, &dimensions, past_all)
                .await
                .unwrap();
            let figures = |totals: &[c360::store::SegmentTotal]| {
                totals
                    .iter()
                    .map(|t| (t.key.clone(), t.count, t.aum_fen, t.deposits_fen))
                    .collect::<Vec<_>>()
            };
            assert_eq!(figures(&cells), figures(&rows), "{filter:?}");
            for (cell, row) in cells.iter().zip(&rows) {
                assert!(
                    cell.as_of <= row.as_of,
                    "a cell's time is never newer than its rows'"
                );
            }
            cells
        }
    };
    let before = compare(SnapshotFilter::default()).await;
    assert!(before.len() > 1, "{before:?}");

    let mut moved = store
        .snapshot_page(&all, &SnapshotFilter::default(), None, 5)
        .await
        .unwrap();
    let tiers = ["MASS", "GOLD", "PLATINUM", "DIAMOND", "PRIVATE"];
    let stale: Vec<_> = moved
        .iter()
        .map(|row| {
            let mut stale = row.clone();
            stale.tier = "PRIVATE".into();
            stale.aum_fen += 1;
            stale.computed_at -= chrono::Duration::days(1);
            stale
        })
        .collect();
    assert_eq!(store.put_snapshot_rows(&stale).await.unwrap(), 0);
    assert_eq!(
        compare(SnapshotFilter::default()).await,
        before,
        "a stale write changes nothing"
    );
    for (i, row) in moved.iter_mut().enumerate() {
        let at = tiers.iter().position(|t| *t == row.tier).unwrap();
        row.tier = tiers[(at + 1 + i) % tiers.len()].into();
        row.aum_fen += 12_345;
        row.deposits_fen -= 678;
        row.computed_at = chrono::Utc::now();
    }
    assert_eq!(store.put_snapshot_rows(&moved).await.unwrap(), 5);
    let after = compare(SnapshotFilter::default()).await;
    assert_ne!(after, before);
    let count = |cells: &[c360::store::SegmentTotal]| cells.iter().map(|c| c.count).sum::<i64>();
    assert_eq!(count(&after), count(&before), "rows moved, none added");
    let branch = moved[0].branch.clone();
    compare(SnapshotFilter {
        branch,
        tier: Some(moved[0].tier.clone()),
        ..SnapshotFilter::default()
    })
    .await;
}
