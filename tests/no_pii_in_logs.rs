//! The hub's logs never hold personal data: a `c360 demo` process is run at debug
//! level through unmasked reads, searches by name, mobile and ID number, contact
//! logging, failing upstreams and refused tokens, and its whole output is searched
//! for the sandbox's names, ID numbers, mobiles, card and account numbers.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

struct Demo {
    child: std::process::Child,
    hub: String,
    sandbox: String,
    tokens: Vec<(String, String)>,
    /// Everything the process printed after its banner.
    rest: std::sync::mpsc::Receiver<String>,
    banner: String,
}

fn start_demo(data: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_c360"))
        .args([
            "demo",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--customers",
            "200",
        ])
        .args(["--latency", "none", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("c360 demo starts");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let tx_err = tx.clone();
    std::thread::spawn(move || {
        let mut all = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut all);
        let _ = tx_err.send(all);
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let mut hub = String::new();
    let mut sandbox = String::new();
    let mut tokens = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 {
        banner.push_str(&line);
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("GraphQL:") {
            hub = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/graphql")
                .into();
        } else if let Some(rest) = trimmed.strip_prefix("Sandbox:") {
            let url = rest.split_whitespace().next().unwrap();
            sandbox = url.split("/{").next().unwrap().into();
        } else if let Some((role, token)) = trimmed.split_once(' ') {
            let token = token.trim();
            if token.starts_with("eyJ") {
                tokens.push((role.to_owned(), token.to_owned()));
            }
        }
        if trimmed.starts_with("-d ") {
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        let _ = tx.send(all);
    });
    assert!(!hub.is_empty() && !sandbox.is_empty(), "banner:\n{banner}");
    Demo {
        child,
        hub,
        sandbox,
        tokens,
        rest: rx,
        banner,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_names_id_numbers_mobiles_or_card_numbers() {
    let data = tempfile::tempdir().unwrap();
    let mut demo = start_demo(data.path());
    let token = |role: &str| {
        demo.tokens
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("demo prints a {role} token:\n{}", demo.banner))
    };
    let client = reqwest::Client::new();
    let gql = |token: String, query: &'static str, variables: Value| {
        let client = client.clone();
        let url = format!("{}/graphql", demo.hub);
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("x-c360-purpose", "SERVICE")
                .json(&json!({"query": query, "variables": variables}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };

    // The secrets to look for: straight from the sandbox.
    let mut secrets: Vec<String> = Vec::new();
    for cif in ["1000000001", "1000000002", "1000000003"] {
        let record: Value = client
            .get(format!("{}/core/v1/customers/{cif}", demo.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for key in ["CUST_NM", "CERT_NO", "MOB_NO", "EMAIL"] {
            if let Some(value) = record["body"][key].as_str() {
                secrets.push(value.to_owned());
            }
        }
    }
    let full = "query($id: ID!) { customer(id: $id) { name mobile email address idDocument { number } accounts { number } cards { number linkedAccount } } }";
    let admin = token("admin");
    for cif in ["1000000001", "1000000002", "1000000003"] {
        let answer = gql(admin.clone(), full, json!({"id": cif})).await;
        let customer = &answer["data"]["customer"];
        assert!(customer["name"].is_string(), "{answer}");
        for pointer in ["/accounts/0/number", "/cards/0/number"] {
            if let Some(number) = customer.pointer(pointer).and_then(Value::as_str) {
                assert!(
                    !number.contains('*'),
                    "admin with a purpose sees numbers in clear"
                );
                secrets.push(number.to_owned());
            }
        }
    }
    let showcase_name = secrets[0].clone();
    let showcase_id = secrets[1].clone();
    let showcase_mobile = secrets[2].clone();
    let search = "query($n: String, $m: String, $i: String) { searchCustomers(name: $n, mobile: $m, idNumber: $i) { edges { node { id } } } }";
    gql(admin.clone(), search, json!({"n": showcase_name})).await;
    gql(admin.clone(), search, json!({"m": showcase_mobile})).await;
    gql(admin.clone(), search, json!({"i": showcase_id})).await;
    // Upstream failures, refused reads and bad input are logged: still no values.
    client
        .post(format!("{}/_sandbox/faults", demo.sandbox))
        .json(&json!({"system": "core", "error_rate": 1.0, "status": 503}))
        .send()
        .await
        .unwrap();
    gql(admin.clone(), search, json!({"m": showcase_mobile})).await;
    gql(admin.clone(), full, json!({"id": "1000000004"})).await;
    client
        .delete(format!("{}/_sandbox/faults", demo.sandbox))
        .send()
        .await
        .unwrap();
    gql(
        token("teller"),
        "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }",
        json!({"input": {"customerId": "1000000001", "channel": "BRANCH", "type": "SERVICE",
            "direction": "INBOUND", "staffId": "T0001", "branchId": "B001",
            "subject": format!("asked about {showcase_mobile}")}}),
    )
    .await;
    gql(token("customer"), full, json!({"id": "1000000002"})).await;
    gql(
        token("admin"),
        search,
        json!({"m": format!("{showcase_mobile}{showcase_mobile}")}),
    )
    .await;
    client
        .post(format!("{}/graphql", demo.hub))
        .bearer_auth(format!("{showcase_id}.{showcase_mobile}.x"))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();

    let _ = demo.child.kill();
    let _ = demo.child.wait();
    let mut logs = String::new();
    for _ in 0..2 {
        logs.push_str(
            &demo
                .rest
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_default(),
        );
    }
    assert!(
        logs.contains("upstream call"),
        "the run logged at debug level:\n{}",
        &logs[..logs.len().min(2000)]
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the logs hold personal data ({} characters, starting {:?})",
            secret.chars().count(),
            secret.chars().take(2).collect::<String>()
        );
    }
}
