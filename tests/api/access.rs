//! Who may see what, end to end over HTTP: every role of `config/policies.toml`
//! against the full customer query (visible, masked, forbidden), portal customers
//! locked to their own CIF on every path, and the response tier keeping views apart.

use crate::common::*;
use c360::auth::{mask, Personal, Policies, Purpose, RolePolicy, ScopeRule};
use serde_json::{json, Value};

const SHOWCASE: &str = "1000000001";

/// Everything a screen can ask of a customer, personal fields included.
const FULL: &str = r#"query Full($id: ID!) {
  customer(id: $id) {
    id name idDocument { type number } mobile email address birthDate branch relationshipManager
    accounts { number }
    cards { number linkedAccount }
    loans { id outstanding { amount } }
    onlineBanking { userId }
    interactions(first: 5) { edges { node { id subject notes staffId history { field } } } }
    consents { purpose channel granted }
  }
}"#;

/// One field of [`FULL`]'s answer: where it is, the field whose denial hides it, and
/// the class of personal data it holds.
struct Probe {
    pointer: &'static str,
    denied_by: &'static [(&'static str, &'static str)],
    class: Option<Personal>,
}

fn probes() -> Vec<Probe> {
    use Personal::*;
    let p = |pointer, denied_by, class| Probe {
        pointer,
        denied_by,
        class,
    };
    vec![
        p("/name", &[("Customer", "name")], Some(Name)),
        p(
            "/idDocument/number",
            &[("Customer", "idDocument")],
            Some(IdNumber),
        ),
        p("/mobile", &[("Customer", "mobile")], Some(Mobile)),
        p("/email", &[("Customer", "email")], Some(Email)),
        p("/address", &[("Customer", "address")], Some(Address)),
        p("/birthDate", &[("Customer", "birthDate")], Some(BirthDate)),
        p("/branch", &[("Customer", "branch")], None),
        p(
            "/relationshipManager",
            &[("Customer", "relationshipManager")],
            None,
        ),
        p(
            "/accounts/0/number",
            &[("Customer", "accounts"), ("Account", "number")],
            Some(AccountNumber),
        ),
        p(
            "/cards/0/number",
            &[("Customer", "cards"), ("Card", "number")],
            Some(AccountNumber),
        ),
        p("/loans/0/id", &[("Customer", "loans")], None),
        p(
            "/onlineBanking/userId",
            &[("Customer", "onlineBanking")],
            None,
        ),
        p(
            "/interactions/edges/0/node/subject",
            &[("Customer", "interactions"), ("Interaction", "subject")],
            None,
        ),
        p(
            "/interactions/edges/0/node/notes",
            &[("Customer", "interactions"), ("Interaction", "notes")],
            None,
        ),
        p(
            "/interactions/edges/0/node/staffId",
            &[("Customer", "interactions"), ("Interaction", "staffId")],
            None,
        ),
        p(
            "/interactions/edges/0/node/history",
            &[("Customer", "interactions"), ("Interaction", "history")],
            None,
        ),
        p("/consents", &[("Customer", "consents")], None),
    ]
}

/// The shipped policies as the hub applies them: checked against the schema, each
/// role's denied classes turned into the fields that carry them.
async fn applied_policies() -> Policies {
    let mut policies = Policies::load(std::path::Path::new("config/policies.toml")).unwrap();
    policies
        .check_against(&c360::graphql::schema_fields(&c360::graphql::bare_schema()).await)
        .unwrap();
    policies
}

/// The JSON pointer of a denied field, from a probe's pointer: the prefix up to the
/// denied field's name.
fn denied_pointer(probe: &Probe, field: &str) -> String {
    let mut out = String::new();
    for part in probe.pointer.split('/').skip(1) {
        out.push('/');
        out.push_str(part);
        if part == field {
            break;
        }
    }
    out
}

fn error_path(pointer: &str) -> Value {
    let mut path = vec![json!("customer")];
    for part in pointer.split('/').skip(1) {
        path.push(match part.parse::<u64>() {
            Ok(i) => json!(i),
            Err(_) => json!(part),
        });
    }
    Value::Array(path)
}

fn shows_in_clear(policy: &RolePolicy, class: Personal, purpose: bool) -> bool {
    policy.unmasked.contains(class) || (purpose && policy.unmask_with_purpose.contains(class))
}

/// A token for `role` that its scope lets read the showcase customer (when the role
/// reads customers at all).
fn token_reaching_showcase(role: &str, branch: &str, book: Option<&str>) -> String {
    match role {
        "customer" => token_for("customer", None, None, Some(SHOWCASE)),
        "relationship_manager" => {
            token_for(role, Some(book.unwrap_or("S9999")), Some(branch), None)
        }
        _ => token_for(role, Some("X0001"), Some(branch), None),
    }
}

#[tokio::test]
async fn every_role_sees_the_full_query_as_its_policy_says() {
    let app = TestApp::builder().spawn().await;
    let policies = applied_policies().await;
    let raw = app.core_customer(SHOWCASE).await;
    let branch = raw["BRCH_NO"].as_str().unwrap().to_owned();
    let book = raw["RM_NO"].as_str().map(str::to_owned);
    // Something in every part of the answer: a contact with notes, a consent.
    app.log_ok(
        with(
            interaction_input(SHOWCASE, "card upgrade"),
            json!({"notes": "prefers calls after six"}),
        ),
        None,
    )
    .await;

    // The reference: an admin who states a purpose sees everything in clear, and
    // what it sees is what core banking holds.
    let (status, reference) = app
        .graphql_as(
            &admin_token(),
            FULL,
            json!({"id": SHOWCASE}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(reference.get("errors").is_none(), "{reference}");
    let reference = reference["data"]["customer"].clone();
    assert_eq!(reference["name"], raw["CUST_NM"]);
    assert_eq!(reference["idDocument"]["number"], raw["CERT_NO"]);
    assert_eq!(reference["mobile"], raw["MOB_NO"]);
    for pointer in [
        "/name",
        "/mobile",
        "/accounts/0/number",
        "/cards/0/number",
        "/loans/0/id",
    ] {
        assert!(
            reference.pointer(pointer).is_some_and(|v| !v.is_null()),
            "the showcase customer has {pointer} (reference: {reference})"
        );
    }

    let mut checked = 0;
    for role in policies.role_names() {
        let policy = policies.role(role).unwrap();
        let token = token_reaching_showcase(role, &branch, book.as_deref());
        for purpose in [None, Some(Purpose::Service)] {
            let headers: Vec<(&str, &str)> = purpose
                .map(|p| vec![("x-c360-purpose", p.as_str())])
                .unwrap_or_default();
            let (status, answer) = app
                .graphql_as(&token, FULL, json!({"id": SHOWCASE}), &headers)
                .await;
            assert_eq!(status, 200, "{role}: {answer}");
            if policy.pseudonymous {
                // A de-identified role may not look a customer up by CIF (tests/api/bi.rs).
                assert!(answer["data"]["customer"].is_null(), "{role}: {answer}");
                let refused = errors_with_code(&answer, "FORBIDDEN");
                assert_eq!(refused.len(), 1, "{role}: {answer}");
                assert_eq!(refused[0]["extensions"]["field"], "id", "{role}: {answer}");
                continue;
            }
            if policy.scope.is_empty() {
                assert!(answer["data"]["customer"].is_null(), "{role}: {answer}");
                assert_eq!(
                    errors_with_code(&answer, "FORBIDDEN").len(),
                    1,
                    "{role}: {answer}"
                );
                continue;
            }
            let customer = &answer["data"]["customer"];
            assert_eq!(customer["id"], SHOWCASE, "{role}: {answer}");
            for probe in probes() {
                let denied = probe.denied_by.iter().find(|(t, f)| policy.denies(t, f));
                let seen = customer.pointer(probe.pointer);
                let Some(expected) = reference.pointer(probe.pointer) else {
                    continue;
                };
                let context = format!("{role} (purpose {purpose:?}) {}", probe.pointer);
                match (denied, probe.class) {
                    (Some((_, field)), _) => {
                        let pointer = denied_pointer(&probe, field);
                        assert!(
                            customer.pointer(&pointer).is_none_or(Value::is_null),
                            "{context}: denied, yet {seen:?}"
                        );
                        let path = error_path(&pointer);
                        assert!(
                            errors_with_code(&answer, "FORBIDDEN")
                                .iter()
                                .any(|e| e["path"] == path),
                            "{context}: a FORBIDDEN error at {path}: {answer}"
                        );
                    }
                    (None, Some(class))
                        if !expected.is_null()
                            && !shows_in_clear(policy, class, purpose.is_some()) =>
                    {
                        let masked = mask(class, expected.as_str().unwrap());
                        assert_eq!(seen, Some(&json!(masked)), "{context}: masked");
                        assert_ne!(seen, Some(expected), "{context}: not in clear");
                    }
                    (None, _) => assert_eq!(seen, Some(expected), "{context}: visible"),
                }
                checked += 1;
            }
            // Nothing is refused beyond what the policy denies.
            for error in answer["errors"].as_array().into_iter().flatten() {
                assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{role}: {error}");
            }
        }
    }
    assert!(checked > 100, "the matrix covered {checked} cells");
}

#[tokio::test]
async fn a_staff_member_outside_the_customers_branch_and_book_is_refused() {
    let app = TestApp::builder().spawn().await;
    let raw = app.core_customer(SHOWCASE).await;
    let branch = raw["BRCH_NO"].as_str().unwrap();
    let elsewhere = if branch == "110101" {
        "310101"
    } else {
        "110101"
    };
    for role in ["branch_manager", "relationship_manager"] {
        let token = token_for(role, Some("S9999"), Some(elsewhere), None);
        let (status, answer) = app
            .graphql_as(&token, FULL, json!({"id": SHOWCASE}), &[])
            .await;
        assert_eq!(status, 200);
        assert!(answer["data"]["customer"].is_null(), "{role}: {answer}");
        assert_eq!(errors_with_code(&answer, "FORBIDDEN").len(), 1, "{answer}");
        assert!(
            !answer.to_string().contains(raw["MOB_NO"].as_str().unwrap()),
            "no data leaks with the refusal"
        );
        let home = token_for(role, Some("S9999"), Some(branch), None);
        let (_, answer) = app
            .graphql_as(&home, FULL, json!({"id": SHOWCASE}), &[])
            .await;
        assert_eq!(
            answer["data"]["customer"]["id"], SHOWCASE,
            "{role}: {answer}"
        );
    }
}

/// A customer that is not the showcase, with an interaction of their own.
const OTHER: &str = "1000000002";

#[tokio::test]
async fn a_portal_customer_cannot_reach_another_cif_by_any_path() {
    let app = TestApp::builder().spawn().await;
    let other = app.core_customer(OTHER).await;
    let other_name = other["CUST_NM"].as_str().unwrap().to_owned();
    let logged = app
        .log_ok(interaction_input(OTHER, "someone else's visit"), None)
        .await;
    let own = token_for("customer", None, None, Some(SHOWCASE));
    let ask = |query: &'static str, variables: Value| {
        let app = &app;
        let own = own.clone();
        async move { app.graphql_as(&own, query, variables, &[]).await }
    };
    let refused = |answer: &Value, what: &str| {
        assert!(
            !errors_with_code(answer, "FORBIDDEN").is_empty(),
            "{what}: FORBIDDEN expected: {answer}"
        );
        let text = answer.to_string();
        assert!(!text.contains(&other_name), "{what}: the other name leaked");
        assert!(
            !text.contains("someone else"),
            "{what}: the other contact leaked"
        );
    };

    let (_, own_profile) = ask(
        "query($id: ID!) { customer(id: $id) { id accounts { number } interactions { edges { node { subject } } } } }",
        json!({"id": SHOWCASE}),
    )
    .await;
    assert_eq!(
        own_profile["data"]["customer"]["id"], SHOWCASE,
        "{own_profile}"
    );

    let (_, answer) = ask(
        "query($id: ID!) { customer(id: $id) { id name accounts { number } } }",
        json!({"id": OTHER}),
    )
    .await;
    refused(&answer, "customer(id)");
    assert!(answer["data"]["customer"].is_null());

    let (_, answer) = ask(
        "query($ids: [ID!]!) { customers(ids: $ids) { id name } }",
        json!({"ids": [SHOWCASE, OTHER]}),
    )
    .await;
    refused(&answer, "customers(ids)");
    assert_eq!(answer["data"]["customers"][0]["id"], SHOWCASE);
    assert!(answer["data"]["customers"][1].is_null());

    let (_, answer) = ask(
        "query($name: String) { searchCustomers(name: $name) { edges { node { id name } } } }",
        json!({"name": other_name}),
    )
    .await;
    refused(&answer, "searchCustomers");

    let (_, answer) = ask(
        "query($id: ID!) { interactions(filter: {customerId: $id}) { edges { node { subject } } } }",
        json!({"id": OTHER}),
    )
    .await;
    refused(&answer, "interactions(filter)");

    let (_, answer) = ask(
        "query($id: ID!) { interaction(id: $id) { subject } }",
        json!({"id": logged["id"]}),
    )
    .await;
    refused(&answer, "interaction(id)");

    let (_, answer) = ask(
        "mutation($input: RecordConsentInput!) { recordConsent(input: $input) { id } }",
        json!({"input": {"customerId": OTHER, "purpose": "MARKETING", "channel": "SMS",
            "granted": false, "source": "INTERNET_BANKING"}}),
    )
    .await;
    refused(&answer, "recordConsent");

    let (_, answer) = ask(
        "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { id } }",
        json!({"input": interaction_input(OTHER, "x")}),
    )
    .await;
    refused(&answer, "logInteraction");

    for (query, variables) in [
        (
            "subscription($id: ID!) { customerChanged(id: $id) { id } }",
            json!({"id": OTHER}),
        ),
        (
            "subscription($id: ID) { interactionLogged(customerId: $id) { id subject } }",
            json!({"id": OTHER}),
        ),
        (
            "subscription { interactionLogged { id subject } }",
            json!({}),
        ),
    ] {
        let mut socket = ws_subscribe_as(&app.ws_url(), &own, query, variables).await;
        let message = ws_next(&mut socket, std::time::Duration::from_secs(5))
            .await
            .expect("an answer");
        // The subscription's field fails: one answer with the refusal, no data.
        assert!(message["payload"]["data"].is_null(), "{query}: {message}");
        assert_eq!(
            message["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{query}: {message}"
        );
    }
}

#[tokio::test]
async fn cached_responses_are_never_served_to_another_view() {
    let app = TestApp::builder().spawn().await;
    let raw = app.core_customer(SHOWCASE).await;
    let branch = raw["BRCH_NO"].as_str().unwrap();
    let mobile = raw["MOB_NO"].as_str().unwrap();
    let query = "query($id: ID!) { customer(id: $id) { id mobile } }";
    let unmasking = token_for("admin", Some("A0001"), Some(branch), None);
    let (_, clear) = app
        .graphql_as(
            &unmasking,
            query,
            json!({"id": SHOWCASE}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert_eq!(clear["data"]["customer"]["mobile"], mobile);
    // The same operation from a masked view, then from an out-of-scope view, right
    // after: neither gets the cached clear answer.
    let (_, masked) = app
        .graphql_as(&unmasking, query, json!({"id": SHOWCASE}), &[])
        .await;
    assert_eq!(
        masked["data"]["customer"]["mobile"],
        mask(Personal::Mobile, mobile)
    );
    let teller = token_for("teller", Some("T0001"), Some(branch), None);
    let (_, teller_view) = app
        .graphql_as(
            &teller,
            query,
            json!({"id": SHOWCASE}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert_eq!(
        teller_view["data"]["customer"]["mobile"],
        mask(Personal::Mobile, mobile),
        "a teller's purpose reveals nothing"
    );
    let outsider = token_for("branch_manager", Some("M0001"), Some("999999"), None);
    let (_, refused) = app
        .graphql_as(&outsider, query, json!({"id": SHOWCASE}), &[])
        .await;
    assert!(refused["data"]["customer"].is_null(), "{refused}");
    // And a second identical request from the first view is a hit with the same answer.
    app.reset_stats().await;
    let (_, again) = app
        .graphql_as(
            &unmasking,
            query,
            json!({"id": SHOWCASE}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert_eq!(again, clear);
    assert_eq!(app.total_requests().await, 0);
}

#[tokio::test]
async fn the_policy_scope_rules_are_the_documented_ones() {
    // The matrix above derives expectations from the file; this pins the file's
    // essentials so that a careless edit cannot quietly widen a role.
    let policies = applied_policies().await;
    let role = |name: &str| policies.role(name).unwrap().clone();
    assert_eq!(role("customer").scope, vec![ScopeRule::SelfOnly]);
    assert_eq!(role("branch_manager").scope, vec![ScopeRule::Branch]);
    assert!(role("auditor").scope.is_empty());
    assert!(role("customer").denies("Interaction", "notes"));
    assert!(role("bi_analyst").denies("Customer", "idDocument"));
    assert!(role("risk_officer").denies("Customer", "accounts"));
    for name in policies.role_names() {
        assert!(
            !role(name).unmasked.contains(Personal::IdNumber),
            "{name}: ID numbers are never in clear without a stated purpose"
        );
    }
}

#[tokio::test]
async fn transfer_counterparties_are_masked_like_names() {
    let app = TestApp::builder().spawn().await;
    let query = "query($id: ID!) { customer(id: $id) { accounts { transactions(first: 50) { edges { node { id counterparty } } } } } }";
    let counterparties = |answer: &Value| -> Vec<(String, String)> {
        answer["data"]["customer"]["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| {
                a["transactions"]["edges"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|e| {
                Some((
                    e["node"]["id"].as_str()?.to_owned(),
                    e["node"]["counterparty"].as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let (_, clear) = app
        .graphql_as(
            &admin_token(),
            query,
            json!({"id": SHOWCASE}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    let clear = counterparties(&clear);
    assert!(!clear.is_empty(), "the showcase customer has transfers");
    let teller = token_for("teller", Some("T0001"), Some("110101"), None);
    let (_, masked) = app
        .graphql_as(&teller, query, json!({"id": SHOWCASE}), &[])
        .await;
    let masked = counterparties(&masked);
    assert_eq!(masked.len(), clear.len());
    for ((id, name), (masked_id, shown)) in clear.iter().zip(&masked) {
        // Core banking's transaction id starts with the account number.
        assert_eq!(masked_id, &mask(Personal::AccountNumber, id));
        assert_eq!(shown, &mask(Personal::Name, name));
        assert_ne!(shown, name, "{name} shown in clear to a teller");
    }
}

#[tokio::test]
async fn a_denied_field_is_refused_however_the_document_reaches_it() {
    // Documents that name no denied field run without the per-field policy check; one
    // that reaches a denied field through an alias inside an inline fragment inside a
    // named fragment must still be refused at that field, and only there.
    let app = TestApp::builder().spawn().await;
    let teller = token_for("teller", Some("T0001"), Some("B001"), None);
    let hidden = r#"query Hidden($id: ID!) { customer(id: $id) { id ...More } }
        fragment More on Customer { status ... on Customer { view: insights { tier } } }"#;
    let (status, answer) = app
        .graphql_as(&teller, hidden, json!({"id": SHOWCASE}), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["customer"]["id"], SHOWCASE, "{answer}");
    assert!(answer["data"]["customer"]["status"].is_string(), "{answer}");
    assert_eq!(answer["data"]["customer"]["view"], Value::Null, "{answer}");
    let errors = answer["errors"].as_array().expect("an error for the view");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(errors[0]["path"], json!(["customer", "view"]));

    // The same document without the denied field answers in full.
    let plain = r#"query Plain($id: ID!) { customer(id: $id) { id ...More } }
        fragment More on Customer { status ... on Customer { view: branch } }"#;
    let (status, answer) = app
        .graphql_as(&teller, plain, json!({"id": SHOWCASE}), &[])
        .await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer}");
    assert!(answer["data"]["customer"]["view"].is_string(), "{answer}");

    // A field named like a denied one on a type where it is allowed (the teller is
    // denied Query.interactions, not Customer.interactions) still answers.
    let timeline = r#"query Timeline($id: ID!) { customer(id: $id) {
        interactions(first: 1) { edges { node { id } } } } }"#;
    let (status, answer) = app
        .graphql_as(&teller, timeline, json!({"id": SHOWCASE}), &[])
        .await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer}");
    assert!(answer["data"]["customer"]["interactions"]["edges"].is_array());
}
