//! The database going away: writes fail (never a false success), a staff read is
//! refused rather than answered without its audit row, a customer's own read of the
//! four upstream systems keeps working, and the hub recovers by itself when the
//! database returns, without a restart. On SQLite the outage is
//! another process holding the write lock; on PostgreSQL the test database stops
//! accepting connections and its sessions are terminated.

use std::time::{Duration, Instant};

use crate::common::{interaction_input, token_for, Outage, TestApp, TestDb, LOG_INTERACTION};
use serde_json::{json, Value};

on_both_backends!(writes_fail_cleanly_while_the_database_is_away_and_recover_after);

const PROFILE: &str = r#"query($id: ID!) {
  customer(id: $id) {
    name accounts { number } cards { kind }
    interactions(first: 5) { edges { node { id } } }
  }
}"#;

async fn writes_fail_cleanly_while_the_database_is_away_and_recover_after(db: TestDb) {
    let app: TestApp = TestApp::builder()
        .database(&db)
        .config(|config| {
            config.database.acquire_timeout = Duration::from_secs(1);
            config.database.busy_timeout = Duration::from_millis(300);
            config.server.request_timeout = Duration::from_secs(3);
        })
        .spawn()
        .await;
    let cif = "1000000401";
    app.log_ok(interaction_input(cif, "before the outage"), None)
        .await;

    let outage = Outage::start(&db).await;
    // The staff member and branch the input names, as the token must say.
    let admin = token_for("admin", Some("S0001"), Some("B001"), None);
    // Each contact is sent under a key of its own, as a client that retries does: an
    // attempt whose write committed but whose answer was refused (the audit not yet
    // back) is not written twice by the retry.
    let log = |subject: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.graphql_as(
                &admin,
                LOG_INTERACTION,
                json!({"input": interaction_input(cif, subject), "key": subject.replace(' ', "-")}),
                &[],
            )
            .await
        }
    };
    // The write fails, and the customer lookup it made cannot be audited: the whole
    // answer is refused at the deadline, with no data that could pass for a success.
    let (status, answer) = log("during the outage").await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "AUDIT_UNAVAILABLE",
        "{answer}"
    );
    assert!(answer["data"].is_null(), "no false success: {answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.to_lowercase().contains("sqlite") && !message.contains("SQL"),
        "{message}"
    );

    // A staff read is not answered without its audit row.
    let (status, refused) = app
        .graphql_as(&admin, PROFILE, json!({"id": cif}), &[])
        .await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused.get("data").is_none() || refused["data"].is_null(),
        "{refused}"
    );

    // The customer's own read is not audited: the upstream systems still answer, only
    // the hub's own records are missing.
    let own = token_for("customer", None, None, Some(cif));
    let (status, profile) = app.graphql_as(&own, PROFILE, json!({"id": cif}), &[]).await;
    assert_eq!(status, 200, "{profile}");
    let customer = &profile["data"]["customer"];
    assert!(customer["name"].is_string(), "{profile}");
    assert!(customer["accounts"].is_array(), "{profile}");
    assert!(customer["cards"].is_array(), "{profile}");
    if db.backend == "postgres" {
        assert_eq!(customer["interactions"], Value::Null, "{profile}");
        assert_eq!(
            profile["errors"][0]["extensions"]["code"], "STORE_UNAVAILABLE",
            "{profile}"
        );
        assert_eq!(
            profile["errors"][0]["path"],
            json!(["customer", "interactions"])
        );
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.hub))
        .send()
        .await
        .unwrap();
    if db.backend == "postgres" {
        assert_eq!(ready.status(), 503, "not ready while the database is away");
    }

    outage.end().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let (_, answer) = log("after the outage").await;
        if answer.get("errors").is_none() {
            break answer;
        }
        let code = &answer["errors"][0]["extensions"]["code"];
        assert!(
            code == "STORE_UNAVAILABLE" || code == "AUDIT_UNAVAILABLE",
            "{answer}"
        );
        assert!(
            Instant::now() < deadline,
            "the pool did not recover: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        recovered["data"]["logInteraction"]["subject"],
        "after the outage"
    );
    let profile = app.graphql(PROFILE, json!({"id": cif})).await;
    assert_eq!(
        profile["data"]["customer"]["interactions"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "before and after, nothing from during: {profile}"
    );
    let ready = app
        .client
        .get(format!("{}/readyz", app.hub))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
