//! An answered read is an audited read, and the audit says so verifiably: a hub
//! killed with SIGKILL under load leaves no answered staff read without its row, and
//! `c360 audit verify` (the binary, as an operator runs it) names by position each
//! row edited, deleted or inserted behind the hub's back, and each row sealed with a
//! key it does not hold.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::common::process::C360Process;
use crate::common::{TestApp, TestDb};
use c360::config::DatabaseConfig;
use c360::metrics::Metrics;
use c360::store::{AccessFilter, Store};

on_both_backends!(
    answered_reads_keep_their_audit_rows_through_kill_9,
    verify_passes_an_untouched_chain_and_checks_a_range,
    verify_names_edited_deleted_and_inserted_rows_by_position,
    verify_follows_a_key_rotation_and_names_rows_under_an_unknown_key,
);

const PROFILE: &str = r#"query Profile($id: ID!) { customer(id: $id) { id name } }"#;

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

/// The environment `c360` runs with: this test's database and the given keys, in
/// the production profile (so that no development key stands in).
fn env(db: &TestDb, current: &str, keys: &[(&str, u8)]) -> Vec<(String, String)> {
    let mut vars = vec![
        ("C360_PROFILE".to_owned(), "production".to_owned()),
        ("DATABASE_URL".to_owned(), db.url.clone()),
        (
            "C360_ACCESS__AUDIT_CHAIN_KEY_ID".to_owned(),
            current.to_owned(),
        ),
    ];
    for (id, byte) in keys {
        vars.push((
            format!("C360_ACCESS__AUDIT_CHAIN_KEYS__{}", id.to_uppercase()),
            key(*byte),
        ));
    }
    vars
}

/// `c360 audit verify <args>`: its exit status and what it printed.
fn verify(vars: &[(String, String)], args: &[&str]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c360"));
    command
        .args(["audit", "verify"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("C360_CONFIG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("c360 audit verify runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// A hub on `db` sealing with key `current` of `keys`, as the tests' staff reads it.
async fn hub(db: &TestDb, current: &str, keys: &[(&str, u8)]) -> TestApp {
    let current = current.to_owned();
    let keys: Vec<(String, String)> = keys
        .iter()
        .map(|(id, byte)| (id.to_string(), key(*byte)))
        .collect();
    TestApp::builder()
        .database(db)
        .config(move |config| {
            config.access.audit_chain_key_id = current;
            config.access.audit_chain_keys.0.extend(keys);
        })
        .spawn()
        .await
}

/// `count` audited reads (the test harness reads as an admin), one customer each.
async fn read_customers(app: &TestApp, from: u64, count: u64) {
    for i in from..from + count {
        let answer = app
            .graphql(PROFILE, json!({"id": (1_000_000_000 + i).to_string()}))
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
}

/// Runs `sql` on the test's database directly, as someone with write access to the
/// table (and the rights to lift its append-only triggers) would.
async fn tamper(db: &TestDb, statements: &[&str]) {
    if db.backend == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        for sql in statements {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

/// The statements that let `tamper` change and remove rows.
fn lift_triggers(db: &TestDb) -> Vec<&'static str> {
    if db.backend == "postgres" {
        vec!["ALTER TABLE access_audit DISABLE TRIGGER access_audit_append_only"]
    } else {
        vec![
            "DROP TRIGGER access_audit_no_update",
            "DROP TRIGGER access_audit_no_delete",
        ]
    }
}

/// Copies the row at `from` to a new row at `seq`, linked after `after`, with a
/// made-up seal: what someone without the key can add.
fn forge_row(db: &TestDb, from: i64, seq: i64, after: i64) -> String {
    let id = if db.backend == "postgres" {
        format!("'{}'", uuid::Uuid::now_v7())
    } else {
        format!("x'{}'", uuid::Uuid::now_v7().simple())
    };
    format!(
        "INSERT INTO access_audit (id, at, actor, role, branch, customer_id, operation, \
         fields_revealed, purpose, client, trace_id, hash, seq, key_id, prev_hash) \
         SELECT {id}, at, 'U9999', role, branch, customer_id, operation, fields_revealed, \
         purpose, client, trace_id, '{}', {seq}, key_id, \
         (SELECT hash FROM access_audit WHERE seq = {after}) \
         FROM access_audit WHERE seq = {from}",
        "ab".repeat(32)
    )
}

async fn verify_passes_an_untouched_chain_and_checks_a_range(db: TestDb) {
    let app = hub(&db, "k1", &[("k1", 1)]).await;
    read_customers(&app, 1, 8).await;
    let vars = env(&db, "k1", &[("k1", 1)]);
    let (ok, printed) = verify(&vars, &[]);
    assert!(ok, "an untouched chain verifies:\n{printed}");
    assert!(
        printed.contains("access audit intact: 8 rows checked, positions 1-8, key ids: k1"),
        "{printed}"
    );
    let (ok, printed) = verify(&vars, &["--from", "3", "--to", "5"]);
    assert!(ok, "{printed}");
    assert!(
        printed.contains("3 rows checked, positions 3-5"),
        "{printed}"
    );
    let (ok, printed) = verify(&env(&db, "k1", &[("k1", 2)]), &[]);
    assert!(!ok, "another key with the same id does not verify the rows");
    assert!(printed.contains("position 1: "), "{printed}");
}

async fn verify_names_edited_deleted_and_inserted_rows_by_position(db: TestDb) {
    let app = hub(&db, "k1", &[("k1", 1)]).await;
    read_customers(&app, 1, 10).await;
    let vars = env(&db, "k1", &[("k1", 1)]);
    assert!(verify(&vars, &[]).0, "intact before anyone tampers");

    let mut setup = lift_triggers(&db);
    setup.push("UPDATE access_audit SET actor = 'U0042' WHERE seq = 3");
    tamper(&db, &setup).await;
    let (ok, printed) = verify(&vars, &[]);
    assert!(!ok, "an edit fails the check:\n{printed}");
    assert!(printed.contains("position 3: edited"), "{printed}");

    tamper(&db, &["DELETE FROM access_audit WHERE seq = 6"]).await;
    let (ok, printed) = verify(&vars, &[]);
    assert!(!ok);
    assert!(printed.contains("position 3: edited"), "{printed}");
    assert!(printed.contains("position 6: deleted"), "{printed}");

    tamper(&db, &[&forge_row(&db, 8, 11, 10)]).await;
    let (ok, printed) = verify(&vars, &[]);
    assert!(!ok);
    assert!(printed.contains("position 11: inserted"), "{printed}");

    tamper(&db, &[&forge_row(&db, 4, 5, 4)]).await;
    let (ok, printed) = verify(&vars, &[]);
    assert!(!ok);
    assert!(printed.contains("position 5: inserted"), "{printed}");
    assert!(
        !printed.contains("position 5: edited") && !printed.contains("position 4:"),
        "the genuine rows around the forged one stand:\n{printed}"
    );

    let (ok, printed) = verify(&vars, &["--from", "7", "--to", "10"]);
    assert!(ok, "a range clear of the damage verifies:\n{printed}");

    tamper(&db, &["DELETE FROM access_audit WHERE seq >= 9"]).await;
    let (_, printed) = verify(&vars, &[]);
    assert!(
        printed.contains("positions after 8: deleted"),
        "rows cut from the end show against the chain's head:\n{printed}"
    );
}

async fn verify_follows_a_key_rotation_and_names_rows_under_an_unknown_key(db: TestDb) {
    let before = hub(&db, "k1", &[("k1", 1)]).await;
    read_customers(&before, 1, 3).await;
    let after = hub(&db, "k2", &[("k1", 1), ("k2", 2)]).await;
    read_customers(&after, 4, 3).await;

    let (ok, printed) = verify(&env(&db, "k2", &[("k1", 1), ("k2", 2)]), &[]);
    assert!(ok, "rows under the old and the new key verify:\n{printed}");
    assert!(
        printed.contains("6 rows checked, positions 1-6, key ids: k1, k2"),
        "{printed}"
    );
    let (ok, printed) = verify(&env(&db, "k2", &[("k2", 2)]), &[]);
    assert!(!ok, "rows whose key is gone cannot be vouched for");
    for seq in 1..=3 {
        assert!(
            printed.contains(&format!("position {seq}: unknown key id 'k1'")),
            "{printed}"
        );
    }
    assert!(!printed.contains("position 4:"), "{printed}");
}

/// Reads the audit rows' trace ids straight from the database the hub left behind.
async fn audited_traces(db: &TestDb) -> Vec<String> {
    let store = Store::connect(
        &DatabaseConfig {
            url: db.url.clone(),
            ..DatabaseConfig::default()
        },
        &Metrics::new(),
    )
    .await
    .expect("the database the hub left");
    store
        .access_records(&AccessFilter::default(), 1_000_000, None)
        .await
        .expect("the audit reads back")
        .records
        .into_iter()
        .map(|row| row.record.trace_id)
        .collect()
}

/// Sixteen staff sessions read customers as fast as the hub answers; the hub is
/// killed (SIGKILL: no shutdown, no flush) in the middle. Every read that was
/// answered with data has its audit row in the database afterwards.
async fn answered_reads_keep_their_audit_rows_through_kill_9(db: TestDb) {
    let vars = env(&db, "k1", &[("k1", 1)]);
    let mut demo_env: Vec<(&str, String)> = vars
        .iter()
        .filter(|(name, _)| name != "C360_PROFILE")
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    demo_env.push(("C360_ACCESS__SUBJECT_RATE", "0".into()));
    demo_env.push(("C360_ACCESS__CLIENT_RATE", "0".into()));
    let demo = C360Process::demo(&[], &demo_env);
    let url = format!("{}/graphql", demo.hub());
    let token = demo.token("teller");
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let sessions: Vec<_> = (0..16u64)
        .map(|session| {
            let (client, url, token, answered) =
                (client.clone(), url.clone(), token.clone(), answered.clone());
            tokio::spawn(async move {
                for n in 0u64.. {
                    let trace = format!("{:016x}{:016x}", 0xc360_0000 + session, n + 1);
                    let cif = 1_000_000_001 + (session * 613 + n * 7) % 10_000;
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                        .json(&json!({"query": PROFILE, "variables": {"id": cif.to_string()}}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != 200 {
                        continue;
                    }
                    let Ok(body) = response.json::<Value>().await else {
                        break;
                    };
                    if body["data"]["customer"]["id"].is_string() {
                        answered.lock().unwrap().push(trace);
                    }
                }
            })
        })
        .collect();
    // Under way: a few hundred reads answered, more in flight.
    for _ in 0..600 {
        if answered.lock().unwrap().len() >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed = Command::new("kill")
        .args(["-KILL", &demo.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    for session in sessions {
        session.await.unwrap();
    }
    drop(demo);

    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= 100,
        "the hub was under load when killed: {} reads answered",
        answered.len()
    );
    let audited: std::collections::HashSet<String> =
        audited_traces(&db).await.into_iter().collect();
    let missing: Vec<&String> = answered.iter().filter(|t| !audited.contains(*t)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered reads have no audit row, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let (ok, printed) = verify(&vars, &[]);
    assert!(ok, "the chain a killed hub leaves verifies:\n{printed}");
}
