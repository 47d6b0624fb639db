//! `c360 token`: the printed token is accepted by the verifier the demo builds from the
//! same configuration, and the command refuses to mint outside the demo profile, which
//! it is in only when told (`C360_PROFILE=demo`).

use std::process::{Command, Output};

use c360::auth::Verifier;
use c360::config::{AuthConfig, Profile};

fn c360_token(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c360"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .envs(env.iter().copied())
        .arg("token")
        .args(args)
        .output()
        .unwrap()
}

fn printed_token(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let token = stdout.trim();
    assert_eq!(token.split('.').count(), 3, "{stdout}");
    token.to_owned()
}

#[tokio::test]
async fn the_demo_accepts_the_printed_staff_token() {
    let output = c360_token(
        &["--role", "teller", "--staff", "S001", "--branch", "B0101"],
        &[("C360_PROFILE", "demo")],
    );
    let token = printed_token(&output);
    let verifier = Verifier::new(&AuthConfig::default(), Profile::Demo).unwrap();
    let identity = verifier.verify(&token).await.unwrap();
    assert_eq!(identity.subject, "S001");
    assert_eq!(identity.role, "teller");
    assert_eq!(identity.staff_id.as_deref(), Some("S001"));
    assert_eq!(identity.branch.as_deref(), Some("B0101"));
    assert_eq!(identity.customer, None);
}

#[tokio::test]
async fn customer_tokens_name_the_cif_and_use_the_configured_key() {
    let output = c360_token(
        &[
            "--role",
            "customer",
            "--customer",
            "1000000007",
            "--client",
            "mobile-app",
            "--ttl",
            "15m",
        ],
        &[
            ("C360_PROFILE", "demo"),
            ("C360_AUTH__DEV_SECRET", "a-team-shared-dev-key"),
        ],
    );
    let token = printed_token(&output);
    let built_in = Verifier::new(&AuthConfig::default(), Profile::Demo).unwrap();
    assert!(
        built_in.verify(&token).await.is_err(),
        "signed with the configured key"
    );
    let config = AuthConfig {
        dev_secret: Some("a-team-shared-dev-key".into()),
        ..AuthConfig::default()
    };
    let identity = Verifier::new(&config, Profile::Demo)
        .unwrap()
        .verify(&token)
        .await
        .unwrap();
    assert_eq!(identity.subject, "1000000007");
    assert_eq!(identity.customer.unwrap().as_str(), "1000000007");
    assert_eq!(identity.client.as_deref(), Some("mobile-app"));
}

#[test]
fn tokens_are_refused_outside_the_demo_profile() {
    let output = c360_token(&["--role", "teller"], &[("C360_PROFILE", "production")]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("demo profile only"), "{stderr}");
}

/// `c360 token --role admin` with nothing else set used to print an admin token that
/// any hub started without a profile accepted.
#[test]
fn without_a_profile_no_token_is_minted_and_the_message_says_how_to_get_one() {
    let output = c360_token(&["--role", "admin"], &[]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token printed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'production'"), "{stderr}");
    assert!(stderr.contains("C360_PROFILE=demo"), "{stderr}");
}

#[test]
fn the_customer_must_be_a_cif() {
    let output = c360_token(
        &["--role", "customer", "--customer", "12345"],
        &[("C360_PROFILE", "demo")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--customer must be a 10-digit CIF"),
        "{stderr}"
    );
}
