//! Exports of the BI snapshot (`GET /export`, `c360 export`): an identified export
//! adds up to `segmentSummary` (CSV, and Parquet read back with pyarrow), a
//! pseudonymous role's export holds pseudonyms and amount bands only, every export is
//! one audit row with its row count, and a bad request names its parameter.

use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::common::*;
use c360::config::Config;
use c360::snapshot::SweepSettings;
use c360::store::{AccessFilter, Store};

on_both_backends!(
    an_admin_export_adds_up_to_the_segment_summary_and_is_audited_once,
    a_bi_analyst_export_is_deidentified_and_refused_below_k,
);

/// A hub over a snapshot of the whole book.
async fn swept(db: &TestDb) -> TestApp {
    let app = TestApp::builder()
        .database(db)
        .config(|c| c.server.request_timeout = Duration::from_secs(120))
        .spawn()
        .await;
    let report = sweep(db, &app.sandbox, SweepSettings::default()).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(report.written, CUSTOMERS);
    app
}

/// `GET /export` with `token`: status, headers and body.
async fn export(
    app: &TestApp,
    token: &str,
    query: &str,
) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
    let response = app
        .bare
        .get(format!("{}/export?{query}", app.hub))
        .bearer_auth(token)
        .send()
        .await
        .expect("hub answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.expect("a body"))
}

/// Customers and AUM of the whole book, as `segmentSummary` answers.
async fn summary(app: &TestApp) -> (u64, Decimal) {
    let answer = app
        .graphql(
            "{ segmentSummary(groupBy: [TIER]) { count aum { amount } } }",
            json!({}),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let mut count = 0u64;
    let mut aum = Decimal::ZERO;
    for segment in answer["data"]["segmentSummary"].as_array().unwrap() {
        count += segment["count"].as_u64().unwrap();
        aum += segment["aum"]["amount"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap();
    }
    (count, aum)
}

/// CSV as a header and records.
fn csv_rows(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

/// Reads a Parquet file or Hive-partitioned directory with pyarrow: rows, the type of
/// `aum`, the AUM total (exact, as Python decimals) and the column names. pyarrow
/// must be installed (`.ci/run` installs it); a test without it fails, never skips.
fn pyarrow_read(path: &Path) -> Value {
    const SCRIPT: &str = r#"
import decimal, json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
total = sum((v for v in table.column("aum").to_pylist()), decimal.Decimal(0))
print(json.dumps({
    "rows": table.num_rows,
    "aum_type": str(table.schema.field("aum").type),
    "as_of_type": str(table.schema.field("as_of").type),
    "aum": str(total),
    "columns": table.column_names,
}))
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "pyarrow could not read {} (install it: pip install pyarrow): {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

async fn audit_store(db: &TestDb) -> Store {
    let store = Store::connect(
        &c360::config::DatabaseConfig {
            url: db.url.clone(),
            ..Default::default()
        },
        &c360::metrics::Metrics::new(),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// The audit rows of exports, oldest first: role, operation and row count.
async fn export_audits(db: &TestDb) -> Vec<(String, String, Option<i64>)> {
    let store = audit_store(db).await;
    let page = store
        .access_records(&AccessFilter::default(), 100_000, None)
        .await
        .expect("read the audit");
    let mut rows: Vec<(String, String, Option<i64>)> = page
        .records
        .into_iter()
        .filter_map(|r| {
            let operation = r.record.operation.clone()?;
            operation.starts_with("export ").then(|| {
                assert_eq!(
                    r.record.customer_id.as_str(),
                    c360::export::BULK_READ_CUSTOMER
                );
                (r.record.role.clone(), operation, r.record.row_count)
            })
        })
        .collect();
    rows.reverse();
    rows
}

async fn an_admin_export_adds_up_to_the_segment_summary_and_is_audited_once(db: TestDb) {
    let app = swept(&db).await;
    let (count, aum) = summary(&app).await;
    assert_eq!(count, CUSTOMERS);

    // CSV: every customer once, amounts exact, the AUM total the summary's.
    let (status, headers, body) = export(&app, &admin_token(), "format=csv").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"customer-snapshot-"));
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    assert_eq!(
        headers["x-c360-export-rows"],
        CUSTOMERS.to_string().as_str()
    );
    let (columns, rows) = csv_rows(&body);
    assert_eq!(rows.len() as u64, CUSTOMERS);
    let at = |name: &str| columns.iter().position(|c| c == name).expect(name);
    let total: Decimal = rows
        .iter()
        .map(|r| r[at("aum")].parse::<Decimal>().expect("an exact amount"))
        .sum();
    assert_eq!(total, aum, "CSV AUM against segmentSummary");
    assert_eq!(rows[0][at("customer_id")], "1000000001");
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r[at("customer_id")].as_str()).collect();
    assert_eq!(ids.len() as u64, CUSTOMERS, "each customer once");

    // A branch manager exports their branch only: the scope of their token.
    let branch = rows[0][at("branch")].clone();
    let in_branch = rows.iter().filter(|r| r[at("branch")] == branch).count();
    let manager = token_for("branch_manager", Some("M0001"), Some(&branch), None);
    let (status, _, body) = export(&app, &manager, "format=csv").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (_, scoped) = csv_rows(&body);
    assert_eq!(scoped.len(), in_branch);
    assert!(scoped.iter().all(|r| r[at("branch")] == branch));

    // One audit row for the whole export, with its row count.
    let audits = export_audits(&db).await;
    assert_eq!(
        audits,
        vec![
            (
                "admin".to_owned(),
                "export csv".to_owned(),
                Some(CUSTOMERS as i64)
            ),
            (
                "branch_manager".to_owned(),
                "export csv".to_owned(),
                Some(in_branch as i64)
            ),
        ]
    );

    // Parquet over HTTP: one file, DECIMAL(20,2) and UTC microsecond timestamps.
    let (status, headers, body) = export(&app, &admin_token(), "format=parquet").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("book.parquet");
    std::fs::write(&file, &body).unwrap();
    let read = pyarrow_read(&file);
    assert_eq!(read["rows"], json!(CUSTOMERS), "{read}");
    assert_eq!(read["aum_type"], "decimal128(20, 2)", "{read}");
    assert_eq!(read["as_of_type"], "timestamp[us, tz=UTC]", "{read}");
    assert_eq!(
        read["aum"].as_str().unwrap().parse::<Decimal>().unwrap(),
        aum
    );

    // The CLI: a Hive-partitioned directory, one partition per branch.
    let out = dir.path().join("book");
    let request = c360::commands::ExportRequest {
        format: "parquet".into(),
        filter: Vec::new(),
        role: "admin".into(),
        branch: None,
        staff: None,
        out: out.clone(),
    };
    c360::commands::export(&snapshot_config(&db, &app.sandbox), &request)
        .await
        .expect("c360 export runs");
    let partitions: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(partitions.len() > 1, "{partitions:?}");
    assert!(
        partitions.iter().all(|p| p.starts_with("branch=")),
        "{partitions:?}"
    );
    assert!(out.join(&partitions[0]).join("part-0.parquet").is_file());
    let read = pyarrow_read(&out);
    assert_eq!(read["rows"], json!(CUSTOMERS), "{read}");
    assert!(
        read["columns"]
            .as_array()
            .unwrap()
            .contains(&json!("branch")),
        "{read}"
    );
    assert_eq!(
        read["aum"].as_str().unwrap().parse::<Decimal>().unwrap(),
        aum
    );

    let audits = export_audits(&db).await;
    assert_eq!(audits.len(), 4, "{audits:?}");
    for audit in &audits[2..] {
        assert_eq!(audit.1, "export parquet");
        assert_eq!(audit.2, Some(CUSTOMERS as i64));
    }
    // The chain still verifies with the bulk reads in it.
    let keys =
        c360::store::ChainKeys::from_config(&Config::default().access, c360::config::Profile::Demo)
            .expect("the demo chain key");
    let report = audit_store(&db)
        .await
        .verify_access_chain(&keys, None, None)
        .await
        .expect("the chain is read");
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);

    // Bad requests name their parameter and are not audited.
    let (status, _, body) = export(&app, &admin_token(), "format=xlsx").await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["errors"][0]["extensions"]["field"], "format",
        "{error}"
    );
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{error}"
    );
    let (status, _, body) = export(&app, &admin_token(), "format=csv&tier=PLATINUMX").await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["errors"][0]["extensions"]["field"], "tier", "{error}");
    let (status, _, _) = export(&app, "not-a-token", "format=csv").await;
    assert_eq!(status, 401);
    assert_eq!(export_audits(&db).await.len(), 4);
}

async fn a_bi_analyst_export_is_deidentified_and_refused_below_k(db: TestDb) {
    let app = swept(&db).await;
    let analyst = token_for("bi_analyst", Some("A0042"), None, None);
    let (status, _, body) = export(&app, &analyst, "format=csv").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body.to_vec()).unwrap();
    let (columns, rows) = csv_rows(text.as_bytes());
    assert_eq!(rows.len() as u64, CUSTOMERS);
    for cif in (1..=CUSTOMERS).map(|i| format!("{}", 1_000_000_000 + i)) {
        assert!(!text.contains(&cif), "CIF {cif} in a de-identified export");
    }
    assert!(!columns.iter().any(|c| c == "aum"), "{columns:?}");
    let at = |name: &str| columns.iter().position(|c| c == name).expect(name);
    for row in &rows {
        assert!(row[at("customer_id")].starts_with("DEV-"), "{row:?}");
        assert!(BANDS.contains(&row[at("aum_band")].as_str()), "{row:?}");
        assert!(
            BANDS.contains(&row[at("deposits_band")].as_str()),
            "{row:?}"
        );
    }

    // Parquet: the bands are text, no decimal column is left.
    let (status, _, body) = export(&app, &analyst, "format=parquet").await;
    assert_eq!(status, 200);
    assert!(!String::from_utf8_lossy(&body).contains("1000000001"));

    // Fewer than k customers: refused, naming the filter, and not audited.
    let (status, _, body) = export(&app, &analyst, "format=csv&branch=9999").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["errors"][0]["extensions"]["field"], "filter",
        "{error}"
    );

    // A role that may not read the book may not export it.
    let teller = token_for("teller", Some("T0001"), Some("B001"), None);
    let (status, _, body) = export(&app, &teller, "format=csv").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));

    let audits = export_audits(&db).await;
    assert_eq!(
        audits,
        vec![
            (
                "bi_analyst".to_owned(),
                "export csv".to_owned(),
                Some(CUSTOMERS as i64)
            ),
            (
                "bi_analyst".to_owned(),
                "export parquet".to_owned(),
                Some(CUSTOMERS as i64)
            ),
        ]
    );
}

/// A role the allowlist covers runs the manifest's operations and nothing else: a
/// token lifted from a portal exports nothing either.
#[tokio::test]
async fn a_role_the_allowlist_covers_gets_no_export() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        json!({"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "book-v1", "name": "Book", "type": "query",
                "body": "query Book { segmentSummary(groupBy: [TIER]) { count } }"}]})
        .to_string(),
    )
    .unwrap();
    let app = TestApp::builder()
        .config(move |config| {
            config.graphql.allowlist = Some(manifest);
            config.graphql.allowlist_roles = vec!["bi_analyst".into()];
        })
        .spawn()
        .await;
    let analyst = token_for("bi_analyst", Some("A0042"), None, None);
    let (status, _, body) = export(&app, &analyst, "format=csv").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "OPERATION_NOT_ALLOWED",
        "{error}"
    );
    // A role the allowlist does not cover exports as before.
    let (status, _, body) = export(&app, &admin_token(), "format=csv").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
