//! Fail closed: a hub started without a profile is a production hub, and a production
//! hub refuses to start with a door around the token check (no identity-provider key,
//! a development key, GraphiQL, open introspection), naming each setting to fix.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::process::C360Process;
use crate::common::{AUDIT_KEY, PSEUDONYM_KEY};
use c360::config::{Config, Profile};

/// Longest a refused start may take; a hub that is still running by then has started.
const REFUSAL_WAIT: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// What a finished `c360` command printed.
struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `c360 <args>` with only `env` (no inherited `C360_*` or `DATABASE_URL`) in an
/// empty folder, and waits for it to exit. A command that is still running after
/// [`REFUSAL_WAIT`] (a hub that started) is killed and the test fails.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let folder = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_c360"))
        .current_dir(folder.path())
        .env_clear()
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("c360 starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > REFUSAL_WAIT {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "c360 {} was still running after {REFUSAL_WAIT:?} instead of refusing:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    Finished {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn serve_without_a_profile_or_a_key_refuses_to_start_and_names_the_settings() {
    let serve = run_to_exit(&["serve", "--port", "0"], &[]);
    assert!(!serve.success);
    assert!(!serve.stdout.contains("c360 hub:"), "{}", serve.stdout);
    for named in [
        "production profile refuses to start",
        "auth.jwks_url (C360_AUTH__JWKS_URL)",
        "auth.public_key_file (C360_AUTH__PUBLIC_KEY_FILE)",
    ] {
        assert!(serve.stderr.contains(named), "{named}: {}", serve.stderr);
    }
}

#[test]
fn serve_refuses_a_shared_secret_graphiql_and_open_introspection_naming_each_once() {
    let pem = fixture("rsa_public.pem");
    let serve = run_to_exit(
        &["serve", "--port", "0"],
        &[
            ("C360_AUTH__PUBLIC_KEY_FILE", &pem),
            (
                "C360_AUTH__DEV_SECRET",
                "c360-demo-development-key-public-never-use-outside-demo",
            ),
            ("C360_GRAPHQL__GRAPHIQL", "true"),
            ("C360_GRAPHQL__INTROSPECTION", "true"),
        ],
    );
    assert!(!serve.success);
    for env in [
        "C360_AUTH__DEV_SECRET",
        "C360_GRAPHQL__GRAPHIQL",
        "C360_GRAPHQL__INTROSPECTION",
    ] {
        assert_eq!(
            serve.stderr.matches(&format!("({env})")).count(),
            1,
            "{env} named once:\n{}",
            serve.stderr
        );
    }
    assert!(
        !serve.stderr.contains("C360_AUTH__JWKS_URL"),
        "the PEM key is a real key source:\n{}",
        serve.stderr
    );
    assert!(serve.stderr.contains("HS256"), "{}", serve.stderr);

    let secret_file = run_to_exit(
        &["serve", "--port", "0"],
        &[
            ("C360_PROFILE", "production"),
            ("C360_AUTH__PUBLIC_KEY_FILE", &pem),
            ("C360_AUTH__DEV_SECRET_FILE", &fixture("README.md")),
        ],
    );
    assert!(!secret_file.success);
    assert!(
        secret_file
            .stderr
            .contains("auth.dev_secret_file (C360_AUTH__DEV_SECRET_FILE)"),
        "{}",
        secret_file.stderr
    );
}

/// Every way of starting a hub goes through `App::build`: a library user who builds
/// one from the built-in configuration gets the same refusal as `c360 serve`.
#[tokio::test]
async fn app_build_refuses_the_built_in_configuration() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.port = 0;
    config.database.url = format!("sqlite://{}/c360.db", data.path().display());
    let refused = match c360::App::build(config.clone()).await {
        Ok(_) => panic!("a hub with no identity-provider key started"),
        Err(error) => error.to_string(),
    };
    assert!(refused.contains("C360_AUTH__JWKS_URL"), "{refused}");
    assert!(
        !data.path().join("c360.db").exists(),
        "refused before the database was touched"
    );

    config.auth.public_key_file = Some(fixture("rsa_public.pem").into());
    config.graphql.graphiql = Some(true);
    let refused = match c360::App::build(config).await {
        Ok(_) => panic!("a production hub started with GraphiQL on"),
        Err(error) => error.to_string(),
    };
    assert!(
        refused.contains("graphql.graphiql (C360_GRAPHQL__GRAPHIQL)"),
        "{refused}"
    );
    assert!(!refused.contains("C360_AUTH__JWKS_URL"), "{refused}");
}

fn rs256(role: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = std::fs::read(fixture("rsa_private.pem")).unwrap();
    encode(
        &Header::new(Algorithm::RS256),
        &json!({"sub": "S0001", "role": role, "staff_id": "S0001", "branch_id": "110101",
            "iss": "c360-dev", "aud": "c360", "iat": now, "exp": now + 600}),
        &EncodingKey::from_rsa_pem(&key).unwrap(),
    )
    .unwrap()
}

async fn post(client: &reqwest::Client, url: &str, token: &str, query: &str) -> (u16, Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `c360 serve` given only a PEM public key: the development tokens `c360 token`
/// mints are refused, and neither GraphiQL nor introspection is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_started_with_only_a_pem_key_is_closed_to_development_tokens() {
    let refused = run_to_exit(&["token", "--role", "admin"], &[]);
    assert!(
        !refused.success,
        "minted without a profile: {}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("C360_PROFILE=demo"),
        "{}",
        refused.stderr
    );
    let minted = run_to_exit(&["token", "--role", "admin"], &[("C360_PROFILE", "demo")]);
    assert!(minted.success, "{}", minted.stderr);
    let dev_token = minted.stdout.trim().to_owned();

    let data = tempfile::tempdir().unwrap();
    let env = [
        ("C360_AUTH__PUBLIC_KEY_FILE", fixture("rsa_public.pem")),
        ("C360_ACCESS__AUDIT_CHAIN_KEYS__K1", AUDIT_KEY.to_owned()),
        ("C360_BI__PSEUDONYM_KEY", PSEUDONYM_KEY.to_owned()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/c360.db", data.path().display()),
        ),
    ];
    let hub = C360Process::start(&["serve", "--port", "0"], &env, |line| {
        line.starts_with("c360 hub:")
    });
    let url = format!("{}/graphql", hub.url("c360 hub:", "/graphql"));
    let client = reqwest::Client::new();

    let (status, answer) = post(&client, &url, &dev_token, "{ __typename }").await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = post(&client, &url, &rs256("admin"), "{ __typename }").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["__typename"], "Query", "{answer}");

    let (_, answer) = post(
        &client,
        &url,
        &rs256("teller"),
        "{ __schema { queryType { name } } }",
    )
    .await;
    assert!(answer["data"].is_null(), "{answer}");
    assert!(answer["errors"].is_array(), "{answer}");

    let page = client
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let html = page
        .headers()
        .get("content-type")
        .is_some_and(|t| t.to_str().unwrap_or("").starts_with("text/html"));
    assert!(!html, "GraphiQL is served in production");
    hub.stop();
}

#[test]
fn check_prints_the_profile_and_every_relaxed_setting() {
    let production = run_to_exit(&["check"], &[]);
    assert!(!production.success, "{}", production.stdout);
    assert!(
        production.stdout.contains("profile: production"),
        "{}",
        production.stdout
    );
    assert!(
        production
            .stderr
            .contains("auth.jwks_url (C360_AUTH__JWKS_URL)"),
        "{}",
        production.stderr
    );

    let demo = run_to_exit(&["check"], &[("C360_PROFILE", "demo")]);
    assert!(demo.success, "{}", demo.stderr);
    assert!(demo.stdout.contains("profile: demo"), "{}", demo.stdout);
    for relaxed in [
        "built-in development key",
        "graphql.graphiql (C360_GRAPHQL__GRAPHIQL)",
        "graphql.introspection (C360_GRAPHQL__INTROSPECTION)",
    ] {
        assert!(demo.stdout.contains(relaxed), "{relaxed}: {}", demo.stdout);
    }

    let pem = fixture("rsa_public.pem");
    let closed = run_to_exit(
        &["check"],
        &[
            ("C360_AUTH__PUBLIC_KEY_FILE", &pem),
            ("C360_ACCESS__AUDIT_CHAIN_KEYS__K1", AUDIT_KEY),
            ("C360_BI__PSEUDONYM_KEY", PSEUDONYM_KEY),
            ("C360_ACCESS__CLIENT_RATE", "0"),
        ],
    );
    assert!(closed.success, "{}", closed.stderr);
    assert!(
        closed
            .stdout
            .contains("access.client_rate (C360_ACCESS__CLIENT_RATE)"),
        "reported, not refused: {}",
        closed.stdout
    );
    assert!(!closed.stdout.contains("graphiql"), "{}", closed.stdout);
}

#[test]
fn the_demo_profile_is_asked_for_not_assumed() {
    let config = Config::load_from(Path::new("/nonexistent"), None, Vec::new()).unwrap();
    assert_eq!(config.profile, Profile::Production);
}
