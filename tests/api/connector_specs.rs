//! Connector spec errors are found at start, naming file, key and problem; an upstream
//! answer that does not fit the mapping fails its source with the path.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use c360::config::Config;
use serde::Deserialize;
use serde_json::json;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors")
}

/// A copy of the shipped connector folder with one file edited.
fn edited(file: &str, from: &str, to: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    for entry in std::fs::read_dir(shipped()).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == file {
            assert!(text.contains(from), "{from} not in {file}");
            text = text.replace(from, to);
        }
        std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
    }
    dir
}

mod tempdir {
    /// A temporary folder removed on drop.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "c360-test-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[tokio::test]
async fn the_hub_refuses_to_start_with_a_broken_spec_and_says_where() {
    let dir = edited(
        "cards.toml",
        "kind = \"/cardType\"",
        "kind = { from = \"/cardType\", map = { D = \"DEBT\" } }",
    );
    let mut config = Config {
        profile: c360::config::Profile::Demo,
        ..Config::default()
    };
    config.server.port = 0;
    config.connectors.dir = dir.path().to_owned();
    let error = match c360::App::build(config).await {
        Ok(_) => panic!("a broken spec must stop the start"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(
            "cards.toml: endpoints.cards.fields.kind.map.D: 'DEBT' is not one of DEBIT, CREDIT"
        ),
        "{error}"
    );
}

#[test]
fn c360_check_prints_every_problem_with_file_and_key() {
    let dir = edited("loans.toml", "max_batch = 100", "max_batch = 0");
    let config_dir = tempdir::Dir::new();
    let config = config_dir.path().join("c360.toml");
    std::fs::write(
        &config,
        format!(
            "[connectors]\ndir = {:?}\n",
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["--config", config.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loans.toml: max_batch: must be at least 1"),
        "{stderr}"
    );

    let config_ok = config_dir.path().join("ok.toml");
    std::fs::write(
        &config_ok,
        format!(
            "[connectors]\ndir = {:?}\n",
            shipped().display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_c360"))
        .args(["--config", config_ok.to_str().unwrap(), "check"])
        .env("C360_PROFILE", "demo")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn an_answer_that_does_not_fit_the_mapping_fails_that_source_with_the_path() {
    let dir = edited(
        "loans.toml",
        "overdue_days = { from = \"/overdue_days\", default = 0 }",
        "overdue_days = \"/loan_type\"",
    );
    let app = TestApp::builder()
        .config(|config| config.connectors.dir = dir.path().to_owned())
        .spawn()
        .await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    assert!(answer["data"]["customer"]["loans"].is_null(), "{answer}");
    assert!(answer["data"]["customer"]["cards"].is_array());
    let errors = errors_with_code(&answer, "UPSTREAM_BAD_RESPONSE");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["source"], "loans");
    let path = errors[0]["extensions"]["path"].as_str().unwrap();
    assert!(
        path.contains("/loan_type") && path.contains("overdue_days"),
        "{path}"
    );
}

#[test]
fn core_relationships_party_and_activity_map_onto_the_domain_types() {
    use c360::domain::{Activity, PartyMembers, Relationship, RelationshipKind, System};
    use std::time::Duration;

    let mut config = Config {
        profile: c360::config::Profile::Demo,
        ..Config::default()
    };
    config.connectors.dir = shipped();
    let specs = c360::connectors::load(&config.connectors, &|_| None).unwrap();
    let core = specs.iter().find(|s| s.system == System::Core).unwrap();
    let endpoint = |name: &str| &core.endpoints[name];
    assert_eq!(
        endpoint("relationships").cache.ttl,
        Duration::from_secs(300)
    );
    assert_eq!(endpoint("party").cache.stale, Duration::from_secs(3_600));
    assert_eq!(endpoint("activity").cache.ttl, Duration::from_secs(180));

    let relationship = endpoint("relationships")
        .mapping
        .apply(
            &json!({"CUST_NO":"1000000007","REL_CUST_NO":"1000000012","REL_TYP":"09",
            "SHR_PCT":"35.50","EFF_DT":"20210304"}),
        )
        .unwrap();
    let relationship = Relationship::deserialize(relationship).unwrap();
    assert_eq!(relationship.kind, RelationshipKind::Shareholder);
    assert_eq!(relationship.share.unwrap().to_string(), "35.50");
    assert_eq!(relationship.since.unwrap().to_string(), "2021-03-04");

    let party = endpoint("party")
        .mapping
        .apply(&json!({"CUST_NO":"1000000007","CERT_VRFY":"1",
            "MBR_LIST":[{"CUST_NO":"1000000007"},{"CUST_NO":"1000000311"}]}))
        .unwrap();
    let party = PartyMembers::deserialize(party).unwrap();
    assert_eq!(party.members.len(), 2);
    assert_eq!(party.members[1].as_str(), "1000000311");

    let activity = endpoint("activity")
        .mapping
        .apply(&json!({"CUST_NO":"1000000007","STAT_DT":"20261127",
            "MON_AVG_BAL_LIST":[{"STAT_MON":"202606","AVG_BAL":"12345678901.23"},{"STAT_MON":"202607","AVG_BAL":"0.10"}],
            "TXN_CNT_12M":120,"TXN_CNT_90D":30,"TXN_CNT_PRE_90D":31,"LAST_TXN_DT":"20261126",
            "PAYROLL_MON_CNT":12,"INFLOW_AMT_90D":"30000.00","OTH_BANK_OUT_AMT_30D":"0.00",
            "CA_MIN_BAL_90D":"51234.56"}))
        .unwrap();
    let activity = Activity::deserialize(activity).unwrap();
    assert_eq!(
        activity.monthly_average_balances[0].to_string(),
        "12345678901.23",
        "no float on the way"
    );
    assert_eq!(activity.transactions_12m, 120);
    assert!(activity.last_payroll_on.is_none() && activity.card_last_used_on.is_none());

    let error = endpoint("party")
        .mapping
        .apply(&json!({"CUST_NO":"1000000007","MBR_LIST":[{"CUST_NO":"1000000007"},{"NO":"x"}]}))
        .unwrap_err();
    assert_eq!(error.field, "members[1]");
    assert_eq!(error.pointer, "/MBR_LIST/1/CUST_NO");
}

#[test]
fn a_list_of_values_needs_json_pointers() {
    let dir = edited(
        "core.toml",
        "members = { from = \"/MBR_LIST\", each = \"/CUST_NO\" }",
        "members = { from = \"/MBR_LIST\", each = \"CUST_NO\", fields = { id = \"/x\" } }",
    );
    let mut config = Config {
        profile: c360::config::Profile::Demo,
        ..Config::default()
    };
    config.connectors.dir = dir.path().to_owned();
    let errors = c360::connectors::load(&config.connectors, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("endpoints.party.fields.members.each: 'CUST_NO' is not a JSON pointer"),
        "{errors}"
    );
    assert!(
        errors
            .contains("endpoints.party.fields.members.fields: not used for a list of values field"),
        "{errors}"
    );
}
