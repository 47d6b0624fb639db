//! The access audit, end to end: every read of a customer by staff leaves a row
//! (actor, role, branch, CIF, operation, fields revealed, purpose, client, trace),
//! cache hits included; portal customers reading themselves do not; auditors read
//! the trail through `accessAudit`; nothing recorded is lost in a graceful shutdown.

use crate::common::*;
use serde_json::{json, Value};

const AUDIT: &str = r#"query Trail($customer: ID, $actor: String) {
  accessAudit(filter: {customerId: $customer, actor: $actor}, first: 100) {
    edges { node { at actor role branch customerId operation fieldsRevealed purpose client traceId } }
  }
}"#;

async fn trail(app: &TestApp, customer: Option<&str>, actor: Option<&str>) -> Vec<Value> {
    let auditor = token_for("auditor", Some("U0001"), None, None);
    let (status, answer) = app
        .graphql_as(
            &auditor,
            AUDIT,
            json!({"customer": customer, "actor": actor}),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["accessAudit"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Polls until the batched writer has written `n` rows for `actor`.
async fn wait_for_rows(app: &TestApp, actor: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let rows = trail(app, None, Some(actor)).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    trail(app, None, Some(actor)).await
}

async fn staff_reads_are_recorded_with_who_what_and_why(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let raw = app.core_customer("1000000001").await;
    let branch = raw["BRCH_NO"].as_str().unwrap();
    let teller = token_for("teller", Some("T0042"), Some(branch), None);
    let screen = "query Screen($ids: [ID!]!) { customers(ids: $ids) { id name } }";
    let ids = json!({"ids": ["1000000001", "1000000002"]});
    for _ in 0..2 {
        // The second is a response-tier hit: audited all the same.
        let (_, answer) = app
            .graphql_as(
                &teller,
                screen,
                ids.clone(),
                &[(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                )],
            )
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let rows = wait_for_rows(&app, "T0042", 4).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        assert_eq!(row["role"], "teller");
        assert_eq!(row["branch"], branch);
        assert_eq!(row["operation"], "Screen");
        assert_eq!(
            row["fieldsRevealed"],
            json!([]),
            "a teller sees masked data"
        );
        assert_eq!(row["client"], "c360-tests");
        assert_eq!(row["traceId"], "0af7651916cd43dd8448eb211c80319c");
        assert!(row["purpose"].is_null());
    }
    let customers: Vec<&str> = rows
        .iter()
        .map(|r| r["customerId"].as_str().unwrap())
        .collect();
    assert_eq!(customers.iter().filter(|c| **c == "1000000002").count(), 2);

    // An RM who states a purpose sees names in clear: the audit says which.
    let rm = token_for("relationship_manager", Some("S0420"), Some(branch), None);
    let (_, answer) = app
        .graphql_as(
            &rm,
            "query Reveal { customer(id: \"1000000001\") { name mobile idDocument { number } } }",
            json!({}),
            &[("x-c360-purpose", "complaint")],
        )
        .await;
    assert_eq!(
        answer["data"]["customer"]["name"], raw["CUST_NM"],
        "{answer}"
    );
    let rows = wait_for_rows(&app, "S0420", 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["fieldsRevealed"], json!(["name", "mobile"]));
    assert_eq!(rows[0]["purpose"], "COMPLAINT");
    assert_eq!(rows[0]["operation"], "Reveal");

    // A portal customer reading their own profile is not a staff access.
    let own = token_for("customer", None, None, Some("1000000001"));
    let (_, answer) = app
        .graphql_as(
            &own,
            "{ customer(id: \"1000000001\") { id } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(answer["data"]["customer"]["id"], "1000000001");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(trail(&app, None, Some("1000000001")).await.is_empty());

    // Only auditors read the trail.
    let answer = app.graphql(AUDIT, json!({})).await;
    assert_eq!(errors_with_code(&answer, "FORBIDDEN").len(), 1, "{answer}");
    let by_customer = trail(&app, Some("1000000001"), None).await;
    assert_eq!(by_customer.len(), 3, "two teller reads and the RM's");
}

async fn no_audit_row_is_lost_in_a_graceful_shutdown_under_load(db: TestDb) {
    let (app, stop, running) = TestApp::builder().database(&db).spawn_stoppable().await;
    let teller = token_for("teller", Some("T0007"), Some("110101"), None);
    let client = client_with(&teller);
    let url = format!("{}/graphql", app.hub);
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..16u64 {
        let (client, url) = (client.clone(), url.clone());
        load.spawn(async move {
            let mut answered = 0u64;
            for i in 0..40u64 {
                let cif = 1_000_000_001 + (worker * 40 + i) % 2_000;
                let body = json!({"query": "query Load($id: ID!) { customer(id: $id) { id } }", "variables": {"id": cif.to_string()}});
                match client.post(&url).json(&body).send().await {
                    Ok(response) if response.status() == 200 => {
                        let answer: Value = response.json().await.unwrap_or_default();
                        if answer["data"]["customer"]["id"].is_string() {
                            answered += 1;
                        }
                    }
                    _ => {}
                }
            }
            answered
        });
    }
    // Stop while requests are in flight.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    let mut answered = 0;
    while let Some(done) = load.join_next().await {
        answered += done.unwrap();
    }
    running.await.unwrap().unwrap();
    assert!(answered > 0, "some reads were answered before the stop");
    assert_eq!(
        count_rows(&db, "access_audit").await,
        answered as i64,
        "every answered read has its audit row once the hub has stopped"
    );
}

/// While the audit's database is away no staff read is answered: each is refused at
/// the request's deadline instead of hanging or being served unrecorded. The rows the
/// audit took (up to its bound) are written once the database is back, and reads are
/// served again.
async fn reads_the_audit_cannot_hold_are_refused_at_the_deadline(db: TestDb) {
    let app = TestApp::builder()
        .database(&db)
        .config(|config| {
            config.access.audit_max_pending_rows = 2;
            config.server.request_timeout = std::time::Duration::from_secs(1);
            config.database.busy_timeout = std::time::Duration::from_millis(100);
            config.database.acquire_timeout = std::time::Duration::from_millis(500);
        })
        .spawn()
        .await;
    let teller = token_for("teller", Some("T0099"), None, None);
    let read = |cif: &'static str| {
        let (app, teller) = (&app, &teller);
        async move {
            let query = "query Look($id: ID!) { customer(id: $id) { id } }";
            tokio::time::timeout(
                std::time::Duration::from_secs(15),
                app.graphql_as(teller, query, json!({"id": cif}), &[]),
            )
            .await
            .expect("the hub answers within the request's deadline")
        }
    };

    let outage = Outage::start(&db).await;
    for cif in ["1000000001", "1000000002", "1000000003"] {
        let (status, answer) = read(cif).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(
            errors_with_code(&answer, "AUDIT_UNAVAILABLE").len(),
            1,
            "{answer}"
        );
        assert!(answer.get("data").is_none(), "nothing is served: {answer}");
    }
    let metrics = app.metrics().await;
    let refused: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("c360_audit_refused_reads_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused >= 3, "the refusals are counted: {refused}");

    outage.end().await;
    let mut served = false;
    for _ in 0..100 {
        let (status, answer) = read("1000000003").await;
        if status == 200 {
            assert_eq!(answer["data"]["customer"]["id"], "1000000003", "{answer}");
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "reads are served again once the audit drains");
    let rows = wait_for_rows(&app, "T0099", 3).await;
    let mut customers: Vec<&str> = rows
        .iter()
        .map(|r| r["customerId"].as_str().unwrap())
        .collect();
    customers.sort_unstable();
    assert_eq!(
        customers,
        ["1000000001", "1000000002", "1000000003"],
        "the two rows taken during the outage, then the served read; the read that \
         found no room left none"
    );
}

on_both_backends!(
    staff_reads_are_recorded_with_who_what_and_why,
    no_audit_row_is_lost_in_a_graceful_shutdown_under_load,
    reads_the_audit_cannot_hold_are_refused_at_the_deadline,
);
