//! Reloading connectors and policies without a restart (what SIGHUP runs): a valid
//! change takes effect for the next request; a bad file is refused with its name and
//! the problem, and the hub keeps running as it was.

use std::path::Path;

use crate::common::*;
use serde_json::json;

const PROFILE: &str = "query($id: ID!) { customer(id: $id) { id mobile cards { number } } }";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[tokio::test]
async fn policies_and_connectors_reload_when_valid_and_stay_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policies = dir.path().join("policies.toml");
    std::fs::copy(root.join("config/policies.toml"), &policies).unwrap();
    let connectors = dir.path().join("connectors");
    copy_dir(&root.join("connectors"), &connectors);
    let app = TestApp::builder()
        .config(|config| {
            config.access.policies = policies.clone();
            config.connectors.dir = connectors.clone();
            config.cache.response_enabled = false;
        })
        .spawn()
        .await;
    let reloader = &app.reloader;
    let teller = token_for("teller", Some("T0001"), Some("110101"), None);
    let ask = || app.graphql_as(&teller, PROFILE, json!({"id": "1000000001"}), &[]);

    let (_, before) = ask().await;
    assert!(before["data"]["customer"]["mobile"].is_string(), "{before}");

    // Compliance denies tellers the mobile number: in force after the reload.
    let text = std::fs::read_to_string(&policies).unwrap();
    // Tellers come first in the file: the first deny list is theirs.
    let denied = text.replacen(
        "\"Query.interactionStats\",",
        "\"Query.interactionStats\", \"Customer.mobile\",",
        1,
    );
    assert_ne!(
        denied, text,
        "the teller's deny list is where this test expects it"
    );
    std::fs::write(&policies, &denied).unwrap();
    reloader.reload().await.expect("a valid change reloads");
    let (_, after) = ask().await;
    assert!(after["data"]["customer"]["mobile"].is_null(), "{after}");
    assert_eq!(errors_with_code(&after, "FORBIDDEN").len(), 1, "{after}");

    // A typo in a field name is refused, naming the file and the field.
    std::fs::write(
        &policies,
        denied.replacen("Customer.mobile", "Customer.mobil", 1),
    )
    .unwrap();
    let error = reloader.reload().await.unwrap_err().to_string();
    assert!(error.contains("policies.toml"), "{error}");
    assert!(error.contains("Customer.mobil"), "{error}");
    let (_, still) = ask().await;
    assert!(
        still["data"]["customer"]["mobile"].is_null(),
        "the last good policy stays"
    );

    // A broken connector file is refused too, and reads go on.
    std::fs::write(&policies, &denied).unwrap();
    let cards = connectors.join("cards.toml");
    let good = std::fs::read_to_string(&cards).unwrap();
    std::fs::write(
        &cards,
        good.replacen("timeout = \"3s\"", "timeout = \"soon\"", 1),
    )
    .unwrap();
    let error = reloader.reload().await.unwrap_err().to_string();
    assert!(error.contains("cards.toml"), "{error}");
    let (_, reads) = ask().await;
    assert!(reads["data"]["customer"]["cards"].is_array(), "{reads}");
}

#[tokio::test]
async fn a_reload_drops_answers_cached_under_the_old_policies() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policies = dir.path().join("policies.toml");
    std::fs::copy(root.join("config/policies.toml"), &policies).unwrap();
    let app = TestApp::builder()
        .config(|config| {
            config.access.policies = policies.clone();
            config.cache.response_enabled = true;
        })
        .spawn()
        .await;
    let teller = token_for("teller", Some("T0001"), Some("110101"), None);
    let ask = || app.graphql_as(&teller, PROFILE, json!({"id": "1000000001"}), &[]);
    let (_, first) = ask().await;
    assert!(first["data"]["customer"]["mobile"].is_string(), "{first}");
    let (_, cached) = ask().await;
    assert_eq!(cached, first);
    let hits =
        |metrics: &str| sample(metrics, "c360_response_cache_total{result=\"hit\"}").unwrap_or(0.0);
    assert!(
        hits(&app.metrics().await) >= 1.0,
        "the teller's answer is served from the response tier"
    );

    let text = std::fs::read_to_string(&policies).unwrap();
    let denied = text.replacen(
        "\"Query.interactionStats\",",
        "\"Query.interactionStats\", \"Customer.mobile\",",
        1,
    );
    assert_ne!(denied, text);
    std::fs::write(&policies, &denied).unwrap();
    app.reloader.reload().await.expect("a valid change reloads");

    let (_, after) = ask().await;
    assert!(
        after["data"]["customer"]["mobile"].is_null(),
        "not replayed from the tier: {after}"
    );
    assert_eq!(errors_with_code(&after, "FORBIDDEN").len(), 1, "{after}");
}
