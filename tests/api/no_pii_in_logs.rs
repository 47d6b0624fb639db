//! The hub's logs never hold personal data: a `c360 demo` process is run at debug
//! level through unmasked reads, searches by name, mobile and ID number, contact
//! logging, failing upstreams and refused tokens, and its whole output is searched
//! for the sandbox's names, ID numbers, mobiles, card and account numbers.

use crate::common::process::C360Process;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_names_id_numbers_mobiles_or_card_numbers() {
    let data = tempfile::tempdir().unwrap();
    let demo = C360Process::demo(
        &[
            "--customers",
            "200",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[("RUST_LOG", "debug".into())],
    );
    let (hub, sandbox) = (demo.hub(), demo.sandbox());
    let token = |role: &str| demo.token(role);
    let client = reqwest::Client::new();
    let gql = |token: String, query: &'static str, variables: Value| {
        let client = client.clone();
        let url = format!("{hub}/graphql");
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
            .get(format!("{sandbox}/core/v1/customers/{cif}"))
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
        .post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({"system": "core", "error_rate": 1.0, "status": 503}))
        .send()
        .await
        .unwrap();
    gql(admin.clone(), search, json!({"m": showcase_mobile})).await;
    gql(admin.clone(), full, json!({"id": "1000000004"})).await;
    client
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await
        .unwrap();
    gql(
        token("teller"),
        "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }",
        json!({"input": {"customerId": "1000000001", "channel": "BRANCH", "type": "SERVICE",
            "direction": "INBOUND",
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
        .post(format!("{hub}/graphql"))
        .bearer_auth(format!("{showcase_id}.{showcase_mobile}.x"))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();

    let logs = demo.stop();
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
