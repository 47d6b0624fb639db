//! The access audit on both backends: rows read back as written (newest first,
//! filtered, keyset-paged, sealed, append-only); the writer answers only once rows
//! are committed and loses nothing under concurrency, across a database outage, or at
//! close; and the audit is not readable over GraphQL without the auditor role.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{errors_with_code, Outage, TestApp, TestDb};
use c360::auth::{AuditClosed, AuditSettings, AuditWriter};
use c360::config::DatabaseConfig;
use c360::domain::Cif;
use c360::metrics::Metrics;
use c360::store::{AccessFilter, AccessRecord, ChainKeys, Store, StoredAccess};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::Connection;

on_both_backends!(
    rows_read_back_newest_first_as_written,
    filters_narrow_by_customer_actor_and_period,
    keyset_pages_cover_every_row_once,
    a_batch_larger_than_one_statement_is_written_whole,
    the_audit_refuses_updates_and_deletes,
    recording_returns_once_the_rows_are_committed,
    an_idle_writer_hands_its_connection_back_to_a_pool_of_one,
    ten_thousand_rows_from_fifty_tasks_are_all_there_after_close,
    rows_recorded_during_an_outage_are_written_once_after_it,
    recording_waits_while_uncommitted_rows_fill_the_bound,
    the_audit_is_forbidden_without_the_auditor_role,
);

/// The chain key the tests seal with.
fn keys() -> ChainKeys {
    ChainKeys::new("t1", [("t1".to_owned(), vec![7; 32])].into())
}

fn writer(store: &Store, settings: AuditSettings, metrics: Arc<Metrics>) -> AuditWriter {
    AuditWriter::start(store.clone(), Arc::new(keys()), settings, metrics)
}

fn intact(row: &StoredAccess) -> bool {
    row.is_intact(&keys())
}

fn base() -> DateTime<Utc> {
    "2026-11-27T00:00:00Z".parse().unwrap()
}

fn record(cif: &str, actor: &str, at: DateTime<Utc>, trace: &str) -> AccessRecord {
    AccessRecord {
        at,
        actor: actor.to_owned(),
        acting_for: None,
        role: "RM".to_owned(),
        branch: Some("B001".to_owned()),
        customer_id: Cif::parse(cif).unwrap(),
        operation: Some("Profile".to_owned()),
        fields_revealed: vec!["NAME".to_owned(), "MOBILE".to_owned()],
        purpose: Some("SERVICE".to_owned()),
        client: Some("teller-desktop".to_owned()),
        trace_id: trace.to_owned(),
        row_count: None,
    }
}

async fn store(db: &TestDb) -> Store {
    store_with(db, DatabaseConfig::default()).await
}

async fn store_with(db: &TestDb, config: DatabaseConfig) -> Store {
    let store = Store::connect(
        &DatabaseConfig {
            url: db.url.clone(),
            ..config
        },
        &Metrics::new(),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A store that gives up quickly while the database is away, so that outage tests see
/// failures in milliseconds.
async fn impatient_store(db: &TestDb) -> Store {
    store_with(
        db,
        DatabaseConfig {
            acquire_timeout: Duration::from_secs(1),
            busy_timeout: Duration::from_millis(200),
            ..DatabaseConfig::default()
        },
    )
    .await
}

/// A writer that retries quickly.
fn quick_retries() -> AuditSettings {
    AuditSettings {
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        ..AuditSettings::default()
    }
}

/// Every row matching `filter`, newest first.
async fn all(store: &Store, filter: &AccessFilter) -> Vec<StoredAccess> {
    let page = store
        .access_records(filter, 100_000, None)
        .await
        .expect("read the audit");
    assert!(!page.has_next_page);
    page.records
}

fn traces(rows: &[StoredAccess]) -> Vec<&str> {
    rows.iter().map(|r| r.record.trace_id.as_str()).collect()
}

async fn rows_read_back_newest_first_as_written(db: TestDb) {
    let store = store(&db).await;
    let mut masked = record("1000000002", "u-2", base(), "t-masked");
    masked.branch = None;
    masked.operation = None;
    masked.fields_revealed = Vec::new();
    masked.purpose = None;
    masked.client = None;
    let precise = record(
        "1000000001",
        "u-1",
        "2026-11-27T01:00:00.123456789Z".parse().unwrap(),
        "t-precise",
    );
    let middle = record(
        "1000000001",
        "u-1",
        base() + TimeDelta::minutes(30),
        "t-mid",
    );
    store
        .append_access(&keys(), &[masked.clone(), precise.clone(), middle.clone()])
        .await
        .expect("append");
    store
        .append_access(&keys(), &[])
        .await
        .expect("an empty batch");

    let rows = all(&store, &AccessFilter::default()).await;
    assert_eq!(traces(&rows), ["t-precise", "t-mid", "t-masked"]);
    assert!(rows.iter().all(intact));
    assert_eq!(rows[2].record, masked);
    assert_eq!(rows[1].record, middle);
    let mut stored_precise = precise.clone();
    stored_precise.at = "2026-11-27T01:00:00.123456Z".parse().unwrap();
    assert_eq!(rows[0].record, stored_precise, "kept to the microsecond");
    assert_eq!(rows[0].id.get_version_num(), 7);
}

async fn filters_narrow_by_customer_actor_and_period(db: TestDb) {
    let store = store(&db).await;
    let rows: Vec<AccessRecord> = (0..12)
        .map(|i| {
            record(
                &format!("100000000{}", i % 3),
                &format!("u-{}", i % 2),
                base() + TimeDelta::hours(i),
                &format!("t{i}"),
            )
        })
        .collect();
    store.append_access(&keys(), &rows).await.unwrap();
    let cif = |s: &str| Some(Cif::parse(s).unwrap());

    let customer = AccessFilter {
        customer_id: cif("1000000001"),
        ..AccessFilter::default()
    };
    assert_eq!(
        traces(&all(&store, &customer).await),
        ["t10", "t7", "t4", "t1"]
    );

    let actor = AccessFilter {
        actor: Some("u-0".into()),
        ..AccessFilter::default()
    };
    assert_eq!(
        traces(&all(&store, &actor).await),
        ["t10", "t8", "t6", "t4", "t2", "t0"]
    );

    // `from` is inclusive, `to` exclusive.
    let period = AccessFilter {
        from: Some(base() + TimeDelta::hours(3)),
        to: Some(base() + TimeDelta::hours(6)),
        ..AccessFilter::default()
    };
    assert_eq!(traces(&all(&store, &period).await), ["t5", "t4", "t3"]);

    let everything = AccessFilter {
        customer_id: cif("1000000001"),
        actor: Some("u-1".into()),
        from: Some(base() + TimeDelta::hours(2)),
        to: Some(base() + TimeDelta::hours(8)),
    };
    assert_eq!(traces(&all(&store, &everything).await), ["t7"]);

    let nobody = AccessFilter {
        customer_id: cif("1000000009"),
        ..AccessFilter::default()
    };
    assert!(all(&store, &nobody).await.is_empty());
}

async fn keyset_pages_cover_every_row_once(db: TestDb) {
    let store = store(&db).await;
    // Many rows share a time: the id breaks the tie, so no page boundary drops one.
    let rows: Vec<AccessRecord> = (0..25)
        .map(|i| {
            record(
                "1000000001",
                "u-1",
                base() + TimeDelta::seconds(i / 4),
                &format!("t{i}"),
            )
        })
        .collect();
    store.append_access(&keys(), &rows).await.unwrap();
    let filter = AccessFilter::default();
    let everything = all(&store, &filter).await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.access_records(&filter, 7, after).await.unwrap();
        pages += 1;
        assert!(page.records.len() <= 7);
        if pages == 1 {
            // A newer row written while the auditor pages does not shift later pages.
            store
                .append_access(
                    &keys(),
                    &[record(
                        "1000000001",
                        "u-1",
                        base() + TimeDelta::hours(1),
                        "late",
                    )],
                )
                .await
                .unwrap();
        }
        after = page.records.last().map(StoredAccess::cursor);
        seen.extend(page.records);
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, everything, "each row once, newest first");
    for pair in seen.windows(2) {
        assert!(
            (pair[0].record.at, pair[0].id) > (pair[1].record.at, pair[1].id),
            "strictly newest first"
        );
    }
    let first = store.access_records(&filter, 1, None).await.unwrap();
    assert_eq!(traces(&first.records), ["late"]);
    assert!(first.has_next_page);
}

async fn a_batch_larger_than_one_statement_is_written_whole(db: TestDb) {
    let store = store(&db).await;
    // More rows than fit SQLite's bound-parameter limit in one statement.
    let rows: Vec<AccessRecord> = (0..5_000)
        .map(|i| record("1000000001", "u-1", base(), &format!("t{i}")))
        .collect();
    store
        .append_access(&keys(), &rows)
        .await
        .expect("a large batch");
    assert_eq!(all(&store, &AccessFilter::default()).await.len(), 5_000);

    if db.backend == "postgres" {
        // PostgreSQL refuses NUL in text: a bad row in the second statement undoes
        // the first, since a batch is one transaction.
        let mut bad = rows.clone();
        bad[4_999].trace_id = "bad\0row".into();
        assert!(store.append_access(&keys(), &bad).await.is_err());
        assert_eq!(all(&store, &AccessFilter::default()).await.len(), 5_000);
    }
}

async fn the_audit_refuses_updates_and_deletes(db: TestDb) {
    let store = store(&db).await;
    store
        .append_access(&keys(), &[record("1000000001", "u-1", base(), "t")])
        .await
        .unwrap();
    let statements = [
        "UPDATE access_audit SET actor = 'someone else'",
        "DELETE FROM access_audit",
    ];
    for sql in statements {
        let refused = if db.backend == "postgres" {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap_err()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap_err()
        };
        assert!(
            refused.to_string().contains("append-only"),
            "{sql}: {refused}"
        );
    }
    if db.backend == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let refused = sqlx::query("TRUNCATE access_audit")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    let rows = all(&store, &AccessFilter::default()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.actor, "u-1");
}

/// An answered read is an audited read: when `record` returns, its rows are in the
/// database, not in a queue that a crash would lose.
/// The writer keeps its connection between commits (on SQLite another connection would
/// have to read the changed pages back), but not once rows stop coming: with a pool of
/// one connection, reads still get it.
async fn an_idle_writer_hands_its_connection_back_to_a_pool_of_one(db: TestDb) {
    let store = store_with(
        &db,
        DatabaseConfig {
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            ..DatabaseConfig::default()
        },
    )
    .await;
    let writer = writer(&store, AuditSettings::default(), Arc::default());
    for round in 0..3 {
        for i in 0..5 {
            writer
                .record(vec![record(
                    "1000000001",
                    "u-1",
                    base(),
                    &format!("{round}-{i}"),
                )])
                .await
                .unwrap();
        }
        let started = std::time::Instant::now();
        let rows = all(&store, &AccessFilter::default()).await;
        assert_eq!(rows.len(), 5 * (round + 1));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a read waited {:?} for the writer's connection",
            started.elapsed()
        );
    }
    writer.close().await;
}

async fn recording_returns_once_the_rows_are_committed(db: TestDb) {
    let store = store(&db).await;
    let writer = writer(&store, AuditSettings::default(), Arc::default());
    for i in 0..3 {
        let trace = format!("read-{i}");
        writer
            .record(vec![record("1000000001", "u-1", base(), &trace)])
            .await
            .unwrap();
        let rows = all(&store, &AccessFilter::default()).await;
        assert!(
            traces(&rows).contains(&trace.as_str()),
            "row {trace} is committed when record returns"
        );
    }
    let clone = writer.clone();
    writer.close().await;
    assert_eq!(
        clone
            .record(vec![record("1000000002", "u-2", base(), "too late")])
            .await,
        Err(AuditClosed),
        "a closed audit refuses rows instead of dropping them"
    );
    assert_eq!(all(&store, &AccessFilter::default()).await.len(), 3);
}

async fn ten_thousand_rows_from_fifty_tasks_are_all_there_after_close(db: TestDb) {
    let store = store(&db).await;
    let writer = writer(&store, AuditSettings::default(), Arc::default());
    let tasks: Vec<_> = (0..50)
        .map(|task| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while n < 200 {
                    // Requests record one to four customers each.
                    let take = (1 + (task + n) % 4).min(200 - n);
                    let rows = (n..n + take)
                        .map(|i| {
                            record(
                                &format!("{}", 1_000_000_001 + task),
                                &format!("u-{task}"),
                                base() + TimeDelta::milliseconds(i as i64),
                                &format!("{task}-{i}"),
                            )
                        })
                        .collect();
                    writer.record(rows).await.unwrap();
                    n += take;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    writer.close().await;

    let rows = all(&store, &AccessFilter::default()).await;
    assert_eq!(rows.len(), 10_000);
    let distinct: HashSet<&str> = traces(&rows).into_iter().collect();
    assert_eq!(distinct.len(), 10_000);
    assert!(rows.iter().all(intact));
}

fn failed_writes(metrics: &Metrics) -> u64 {
    ["STORE_UNAVAILABLE", "INTERNAL"]
        .iter()
        .map(|code| {
            metrics
                .audit_write_failures
                .with_label_values(&[*code])
                .get()
        })
        .sum()
}

async fn rows_recorded_during_an_outage_are_written_once_after_it(db: TestDb) {
    let store = impatient_store(&db).await;
    let metrics = Arc::new(Metrics::new());
    let writer = writer(&store, quick_retries(), metrics.clone());
    writer
        .record(vec![record("1000000001", "u-1", base(), "before")])
        .await
        .unwrap();
    assert_eq!(failed_writes(&metrics), 0, "the first row went in at once");

    let outage = Outage::start(&db).await;
    let during: Vec<AccessRecord> = (0..10)
        .map(|i| record("1000000001", "u-1", base(), &format!("during-{i}")))
        .collect();
    // Each read waits for its row: none is answered while the database is away.
    let waiting: Vec<_> = during
        .iter()
        .map(|row| {
            let (writer, row) = (writer.clone(), row.clone());
            tokio::spawn(async move { writer.record(vec![row]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        waiting.iter().all(|task| !task.is_finished()),
        "no record returns while the database refuses writes"
    );
    assert!(failed_writes(&metrics) > 0, "failed attempts are counted");
    assert_eq!(
        metrics.audit_rows_pending.get(),
        10,
        "the backlog is visible"
    );

    outage.end().await;
    for task in waiting {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the writer recovers by itself")
            .unwrap()
            .unwrap();
    }
    writer.close().await;
    let rows = all(&store, &AccessFilter::default()).await;
    let mut written: Vec<&str> = traces(&rows);
    written.sort_unstable();
    let mut expected: Vec<String> = during.iter().map(|r| r.trace_id.clone()).collect();
    expected.push("before".into());
    expected.sort_unstable();
    assert_eq!(written, expected, "every row, each once");
    assert_eq!(metrics.audit_rows_written.get(), 11);
    assert_eq!(metrics.audit_rows_pending.get(), 0);
}

async fn recording_waits_while_uncommitted_rows_fill_the_bound(db: TestDb) {
    let store = impatient_store(&db).await;
    let metrics = Arc::new(Metrics::new());
    let writer = writer(
        &store,
        AuditSettings {
            max_uncommitted_rows: 4,
            ..quick_retries()
        },
        metrics.clone(),
    );
    let rows = |from: usize, count: usize| -> Vec<AccessRecord> {
        (from..from + count)
            .map(|i| record("1000000001", "u-1", base(), &format!("row-{i}")))
            .collect()
    };

    let outage = Outage::start(&db).await;
    let first = tokio::spawn({
        let writer = writer.clone();
        async move { writer.record(rows(0, 4)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        metrics.audit_rows_pending.get(),
        4,
        "rows within the bound are taken while the database is away"
    );
    let fifth = tokio::spawn({
        let writer = writer.clone();
        async move { writer.record(rows(4, 1)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !fifth.is_finished() && !first.is_finished(),
        "nothing is acknowledged while the database refuses the rows"
    );
    assert_eq!(
        metrics.audit_rows_pending.get(),
        4,
        "a row past the bound waits for room instead of being held"
    );

    outage.end().await;
    for task in [first, fifth] {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("room comes back as the held rows are committed")
            .unwrap()
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), writer.record(rows(5, 6)))
        .await
        .expect("a call larger than the bound still goes in, whole")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), writer.close())
        .await
        .expect("the writer drains at close");
    let mut written = traces(&all(&store, &AccessFilter::default()).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    written.sort_unstable();
    let mut expected: Vec<String> = (0..11).map(|i| format!("row-{i}")).collect();
    expected.sort_unstable();
    assert_eq!(written, expected, "every row, each once");
}

const ACCESS_AUDIT: &str = r#"query Audit($filter: AccessAuditFilter, $first: Int) {
  accessAudit(filter: $filter, first: $first) {
    edges { cursor node { id at actor role branch customerId operation fieldsRevealed purpose client traceId } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

async fn the_audit_is_forbidden_without_the_auditor_role(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let store = store(&db).await;
    let writer = writer(&store, AuditSettings::default(), Arc::default());
    writer
        .record(vec![record(
            "1000000001",
            "u-1",
            base(),
            "secret-trace-0001",
        )])
        .await
        .unwrap();
    writer.close().await;
    assert_eq!(all(&store, &AccessFilter::default()).await.len(), 1);

    for (filter, first) in [
        (json!({"customerId": "1000000001"}), json!(10)),
        (json!(null), json!(null)),
        // Refused before the input is looked at.
        (json!({"customerId": "not-a-cif"}), json!(0)),
    ] {
        let answer = app
            .graphql(ACCESS_AUDIT, json!({"filter": filter, "first": first}))
            .await;
        assert_eq!(errors_with_code(&answer, "FORBIDDEN").len(), 1, "{answer}");
        assert!(answer["data"].is_null(), "{answer}");
        assert!(!answer.to_string().contains("secret-trace"), "{answer}");
    }

    let metrics = app.metrics().await;
    for name in [
        "c360_audit_rows_written_total",
        "c360_audit_write_failures_total",
        "c360_audit_rows_pending",
    ] {
        assert!(metrics.contains(name), "{name} exported");
    }
}
