//! De-identified BI: a pseudonymous role (`bi_analyst`) is shown keyed pseudonyms
//! instead of CIFs, amounts in bands, and no group of fewer than `k` customers; it
//! cannot look customers up by CIF; the access audit still names the real CIF.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Base64 of 32 bytes each: two keys, as a rotation would configure them.
const KEY_A: &str = PSEUDONYM_KEY;
const KEY_B: &str = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";

/// A hub that gives whole-book summaries time on a loaded test machine.
fn patient<'a>() -> TestAppBuilder<'a> {
    TestApp::builder().config(|c| c.server.request_timeout = Duration::from_secs(120))
}

/// The home branch of the first customer: summaries over one branch keep the tests
/// light on a machine that runs many at once.
async fn home_branch(app: &TestApp) -> String {
    app.core_customer("1000000001").await["BRCH_NO"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn analyst() -> String {
    token_for("bi_analyst", Some("A0042"), None, None)
}

/// Every CIF in a text: ten digits starting `1000`, not part of a longer number.
fn cifs_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &text[start..i];
        if run.len() == 10 && run.starts_with("1000") {
            found.insert(run.to_owned());
        }
    }
    found
}

const BOOK_IDS: &str = r#"query($first: Int) { customerBook(first: $first) {
    edges { node { customer { id } } } } }"#;

fn book_ids(answer: &Value) -> Vec<String> {
    answer["data"]["customerBook"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|e| e["node"]["customer"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_analyst_never_sees_a_cif_anywhere_it_can_reach() {
    let app = patient().spawn().await;
    let token = analyst();
    let queries = [
        r#"{ customerBook(first: 25) { edges { cursor node {
              tier lifecycleStage churnLevel aum { band currency }
              customer { id branch
                relationships { kind relatedId related { id } }
                household { members { relation customer { id } } }
                party { id customers { id } }
                interactions(first: 5) { edges { node { id customerId } } }
                consents { customerId }
              } } }
            pageInfo { endCursor } resumeAfter } }"#,
        r#"{ prospects(first: 25) { edges { cursor node { customer { id } prospect { reasonRule reasons { rule detail inputs } } } } } }"#,
        r#"{ segmentSummary(groupBy: [TIER, CHURN_LEVEL], filter: {branch: "BRANCH"}) { key count isOther foldedGroups aum { band currency } } }"#,
        r#"{ interactions(first: 50) { edges { node { id customerId } } } }"#,
    ];
    let branch = home_branch(&app).await;
    let mut pseudonyms = 0;
    for query in queries {
        let query = query.replace("BRANCH", &branch);
        let (status, answer) = app.graphql_as(&token, &query, json!({}), &[]).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["data"].is_object(), "{answer}");
        let text = answer.to_string();
        let cifs = cifs_in(&text);
        assert!(cifs.is_empty(), "CIFs {cifs:?} in {answer}");
        pseudonyms += text.matches("\"DEV-").count();
    }
    assert!(pseudonyms >= 25, "customers appear under pseudonyms");

    // The same query as an admin does carry CIFs: the scan finds what it looks for.
    let admin = app.graphql(BOOK_IDS, json!({"first": 5})).await;
    assert_eq!(cifs_in(&admin.to_string()).len(), 5, "{admin}");
}

#[tokio::test]
async fn a_pseudonym_is_stable_under_one_key_and_changes_with_the_key() {
    let with_key = |key: &'static str, id: &'static str| {
        TestApp::builder().config(move |c| {
            c.bi.pseudonym_key = Some(key.into());
            c.bi.pseudonym_key_id = id.into();
        })
    };
    let app = with_key(KEY_A, "P1").spawn().await;
    let token = analyst();
    let (_, first) = app
        .graphql_as(&token, BOOK_IDS, json!({"first": 10}), &[])
        .await;
    let (_, again) = app
        .graphql_as(&token, BOOK_IDS, json!({"first": 10}), &[])
        .await;
    let ids = book_ids(&first);
    assert_eq!(ids.len(), 10);
    assert_eq!(ids, book_ids(&again), "stable for the same key");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        10,
        "one per customer"
    );
    for id in &ids {
        assert!(
            id.starts_with("P1-"),
            "the key id opens the pseudonym: {id}"
        );
        assert!(cifs_in(id).is_empty(), "{id}");
    }
    // The hub itself, restarted with the same key, gives the same pseudonyms.
    let restarted = with_key(KEY_A, "P1").spawn().await;
    let (_, same) = restarted
        .graphql_as(&token, BOOK_IDS, json!({"first": 10}), &[])
        .await;
    assert_eq!(book_ids(&same), ids);

    let rotated = with_key(KEY_B, "P2").spawn().await;
    let (_, after) = rotated
        .graphql_as(&token, BOOK_IDS, json!({"first": 10}), &[])
        .await;
    let new_ids = book_ids(&after);
    assert_eq!(new_ids.len(), 10);
    for (old, new) in ids.iter().zip(&new_ids) {
        assert!(new.starts_with("P2-"), "{new}");
        assert_ne!(old[3..], new[3..], "a new key changes every pseudonym");
    }
}

#[tokio::test]
async fn an_analyst_cannot_look_customers_up_by_cif() {
    let app = TestApp::builder().spawn().await;
    let token = analyst();
    for (query, argument) in [
        (r#"{ customer(id: "1000000001") { id } }"#, "id"),
        (r#"{ customers(ids: ["1000000001"]) { id } }"#, "ids"),
        (
            r#"{ interactions(filter: {customerId: "1000000001"}) { edges { node { id } } } }"#,
            "filter.customerId",
        ),
    ] {
        let (_, answer) = app.graphql_as(&token, query, json!({}), &[]).await;
        let refused = errors_with_code(&answer, "FORBIDDEN");
        assert_eq!(refused.len(), 1, "{answer}");
        assert_eq!(refused[0]["extensions"]["field"], argument, "{answer}");
        assert!(answer["data"].is_null(), "{answer}");
    }
}

#[tokio::test]
async fn an_analyst_sees_amounts_as_bands() {
    let app = TestApp::builder().spawn().await;
    let query = r#"{ customerBook(first: 20) { edges { node {
        aum { amount band currency }
        customer { accounts { balance { amount band currency } } }
    } } } }"#;
    let (_, banded) = app.graphql_as(&analyst(), query, json!({}), &[]).await;
    let admin = app.graphql(query, json!({})).await;
    assert!(admin.get("errors").is_none(), "{admin}");
    let edges = banded["data"]["customerBook"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{banded}"));
    assert_eq!(edges.len(), 20, "{banded}");
    let mut amounts = 0;
    for (edge, clear) in edges
        .iter()
        .zip(admin["data"]["customerBook"]["edges"].as_array().unwrap())
    {
        let mut pairs = vec![(&edge["node"]["aum"], &clear["node"]["aum"])];
        for (account, clear_account) in edge["node"]["customer"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(clear["node"]["customer"]["accounts"].as_array().unwrap())
        {
            pairs.push((&account["balance"], &clear_account["balance"]));
        }
        for (money, clear) in pairs {
            amounts += 1;
            assert!(money["amount"].is_null(), "{money}");
            let band = money["band"].as_str().unwrap();
            assert!(BANDS.contains(&band), "{band}");
            assert_eq!(money["currency"], clear["currency"]);
            // The band is the one the exact amount falls in.
            assert_eq!(clear["band"], band, "{clear}");
            assert!(clear["amount"].is_string(), "{clear}");
        }
    }
    let refused = errors_with_code(&banded, "FORBIDDEN");
    assert_eq!(refused.len(), amounts, "one refusal per amount: {banded}");
    assert!(refused.iter().all(|e| e["extensions"]["field"] == "amount"));
    assert!(
        !banded.to_string().contains(
            admin["data"]["customerBook"]["edges"][0]["node"]["aum"]["amount"]
                .as_str()
                .unwrap()
        ),
        "no exact AUM anywhere"
    );
}

const SEGMENTS: &str = r#"query($groupBy: [SegmentDimension!]!, $filter: BookFilter) {
  segmentSummary(groupBy: $groupBy, filter: $filter) {
    key count isOther foldedGroups aum { amount band } } }"#;

fn rows(answer: &Value) -> Vec<Value> {
    answer["data"]["segmentSummary"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .clone()
}

#[tokio::test]
async fn an_analyst_sees_no_segment_smaller_than_k_and_is_told_what_was_folded() {
    let app = patient().spawn().await;
    let branch = home_branch(&app).await;
    let dims = json!({"groupBy": ["TIER", "LIFECYCLE_STAGE", "CHURN_LEVEL"],
                      "filter": {"branch": branch}});
    let staff = rows(&app.graphql(SEGMENTS, dims.clone()).await);
    let in_branch: i64 = staff.iter().map(|r| r["count"].as_i64().unwrap()).sum();
    let small: Vec<&Value> = staff
        .iter()
        .filter(|r| r["count"].as_i64().unwrap() < 10)
        .collect();
    assert!(
        !small.is_empty(),
        "the sandbox has segments under 10 customers"
    );
    assert!(staff.iter().all(|r| r["isOther"] == false));

    let (_, answer) = app.graphql_as(&analyst(), SEGMENTS, dims, &[]).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let analyst_rows = rows(&answer);
    for row in &analyst_rows {
        assert!(row["count"].as_i64().unwrap() >= 10, "{row}");
    }
    let total: i64 = analyst_rows
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, in_branch, "folded, not dropped");
    let others: Vec<&Value> = analyst_rows
        .iter()
        .filter(|r| r["isOther"] == true)
        .collect();
    assert_eq!(others.len(), 1, "{answer}");
    assert_eq!(others[0]["key"], json!(["OTHER", "OTHER", "OTHER"]));
    assert!(others[0]["foldedGroups"].as_i64().unwrap() >= small.len() as i64);
    // Segments large enough keep their exact totals (a sum over at least k customers).
    let by_key: BTreeMap<String, &Value> =
        staff.iter().map(|r| (r["key"].to_string(), r)).collect();
    for row in analyst_rows.iter().filter(|r| r["isOther"] == false) {
        let clear = by_key[&row["key"].to_string()];
        assert_eq!(row["count"], clear["count"]);
        assert_eq!(row["aum"]["amount"], clear["aum"]["amount"]);
    }
}

#[tokio::test]
async fn an_analyst_may_not_page_through_a_group_smaller_than_k() {
    let app = patient().spawn().await;
    let branch = home_branch(&app).await;
    let staff = rows(
        &app.graphql(
            SEGMENTS,
            json!({"groupBy": ["TIER", "LIFECYCLE_STAGE"], "filter": {"branch": branch}}),
        )
        .await,
    );
    let pick = |small: bool| {
        staff
            .iter()
            .find(|r| {
                let n = r["count"].as_i64().unwrap();
                if small {
                    (1..10).contains(&n)
                } else {
                    n >= 10
                }
            })
            .map(|r| json!({"branch": branch, "tier": r["key"][0], "lifecycleStage": r["key"][1]}))
            .expect("the sandbox has such a segment")
    };
    let book = r#"query($filter: BookFilter) { customerBook(filter: $filter, first: 20) {
        edges { node { tier customer { branch } } } } }"#;
    let (small, large) = (pick(true), pick(false));
    let token = analyst();

    let admin = app.graphql(book, json!({"filter": small})).await;
    let seen = admin["data"]["customerBook"]["edges"].as_array().unwrap();
    assert!(
        (1..10).contains(&seen.len()),
        "staff page through it: {admin}"
    );

    let (_, refused) = app
        .graphql_as(&token, book, json!({"filter": small}), &[])
        .await;
    let errors = errors_with_code(&refused, "FORBIDDEN");
    assert_eq!(errors.len(), 1, "{refused}");
    assert_eq!(errors[0]["extensions"]["field"], "filter");
    assert!(refused["data"].is_null(), "{refused}");

    let (_, allowed) = app
        .graphql_as(&token, book, json!({"filter": large}), &[])
        .await;
    assert!(allowed.get("errors").is_none(), "{allowed}");
    assert!(!allowed["data"]["customerBook"]["edges"]
        .as_array()
        .unwrap()
        .is_empty());

    // The same filter summarised: one OTHER row would be the group itself, so no.
    let (_, summary) = app
        .graphql_as(
            &token,
            SEGMENTS,
            json!({"groupBy": ["TIER"], "filter": small}),
            &[],
        )
        .await;
    assert_eq!(
        errors_with_code(&summary, "FORBIDDEN").len(),
        1,
        "{summary}"
    );
}

const TRAIL: &str = r#"query($actor: String) {
  accessAudit(filter: {actor: $actor}, first: 100) { edges { node { customerId role } } } }"#;

#[tokio::test]
async fn the_audit_names_the_real_cif_of_what_an_analyst_read() {
    let app = TestApp::builder().spawn().await;
    let (_, answer) = app
        .graphql_as(&analyst(), BOOK_IDS, json!({"first": 3}), &[])
        .await;
    let shown = book_ids(&answer);
    assert_eq!(shown.len(), 3, "{answer}");
    assert!(shown.iter().all(|id| cifs_in(id).is_empty()), "{shown:?}");

    let auditor = token_for("auditor", Some("U0001"), None, None);
    let mut recorded = BTreeSet::new();
    for _ in 0..100 {
        let (_, trail) = app
            .graphql_as(&auditor, TRAIL, json!({"actor": "A0042"}), &[])
            .await;
        recorded = trail["data"]["accessAudit"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{trail}"))
            .iter()
            .map(|e| {
                assert_eq!(e["node"]["role"], "bi_analyst");
                e["node"]["customerId"].as_str().unwrap().to_owned()
            })
            .collect();
        if recorded.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected: BTreeSet<String> = ["1000000001", "1000000002", "1000000003"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(recorded, expected, "the bank knows whom the analyst read");
}
