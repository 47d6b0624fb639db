//! The database going away: writes fail with `STORE_UNAVAILABLE` (never a false
//! success), reads of the four upstream systems keep working, and the hub recovers by
//! itself when the database returns, without a restart. On SQLite the outage is
//! another process holding the write lock; on PostgreSQL the test database stops
//! accepting connections and its sessions are terminated.

use std::time::{Duration, Instant};

use crate::common::{interaction_input, Outage, TestApp, TestDb};
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
        })
        .spawn()
        .await;
    let cif = "1000000401";
    app.log_ok(interaction_input(cif, "before the outage"), None)
        .await;

    let outage = Outage::start(&db).await;
    let answer = app
        .log(interaction_input(cif, "during the outage"), None)
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "STORE_UNAVAILABLE",
        "{answer}"
    );
    assert!(answer["data"].is_null(), "no false success: {answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.to_lowercase().contains("sqlite") && !message.contains("SQL"),
        "{message}"
    );

    // The upstream systems still answer; only the hub's own records are missing.
    let profile = app.graphql(PROFILE, json!({"id": cif})).await;
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
        let answer = app
            .log(interaction_input(cif, "after the outage"), None)
            .await;
        if answer.get("errors").is_none() {
            break answer;
        }
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "STORE_UNAVAILABLE"
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
