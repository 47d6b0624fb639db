//! BI through GraphQL: `customerBook` pages over the whole book with batched upstream
//! calls, filters by segment, stays within the caller's scope; `segmentSummary` adds
//! the book up by segment.

use crate::common::*;
use serde_json::{json, Value};

const BOOK: &str = r#"query($filter: BookFilter, $first: Int, $after: String) {
  customerBook(filter: $filter, first: $first, after: $after) {
    edges { cursor node { customer { id branch } tier lifecycleStage churnLevel aum { amount currency } } }
    pageInfo { hasNextPage endCursor } resumeAfter } }"#;

fn ids(answer: &Value) -> Vec<String> {
    answer["data"]["customerBook"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|e| e["node"]["customer"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_book_pages_in_cif_order_with_batched_calls() {
    let app = TestApp::builder()
        .config(|c| {
            c.cache.enabled = false;
            c.cache.response_enabled = false;
        })
        .spawn()
        .await;
    app.reset_stats().await;
    let first = app.graphql(BOOK, json!({"first": 100})).await;
    assert!(first.get("errors").is_none(), "{first}");
    let page = ids(&first);
    assert_eq!(page.len(), 100);
    assert_eq!(page[0], "1000000001");
    assert_eq!(page[99], "1000000100");
    let calls = app.total_requests().await;
    assert!(
        calls <= 10,
        "a page of 100 customers costs a call per system and entity, not per customer: {calls} ({})",
        app.stats().await
    );
    let end = first["data"]["customerBook"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        first["data"]["customerBook"]["pageInfo"]["hasNextPage"],
        true
    );
    let second = app.graphql(BOOK, json!({"first": 50, "after": end})).await;
    let next = ids(&second);
    assert_eq!(next[0], "1000000101", "{second}");
    assert_eq!(next.len(), 50);
}

#[tokio::test]
async fn filters_and_scope_narrow_the_book_and_segments_add_up() {
    let app = TestApp::builder().spawn().await;
    let summary = app
        .graphql(
            "{ segmentSummary(groupBy: [TIER]) { key count aum { amount currency } } }",
            json!({}),
        )
        .await;
    assert!(summary.get("errors").is_none(), "{summary}");
    let segments = summary["data"]["segmentSummary"].as_array().unwrap();
    let total: i64 = segments.iter().map(|s| s["count"].as_i64().unwrap()).sum();
    assert_eq!(
        total, CUSTOMERS as i64,
        "every customer in one segment: {summary}"
    );
    let tiers = ["MASS", "GOLD", "PLATINUM", "DIAMOND", "PRIVATE"];
    for segment in segments {
        assert!(
            tiers.contains(&segment["key"][0].as_str().unwrap()),
            "{segment}"
        );
        assert_eq!(segment["aum"]["currency"], "CNY");
    }
    // A filtered page holds only that segment, and as many as the summary counts.
    let gold = segments
        .iter()
        .find(|s| s["key"][0] == "GOLD")
        .expect("some GOLD customers")["count"]
        .as_u64()
        .unwrap();
    let answer = app
        .graphql(BOOK, json!({"filter": {"tier": "GOLD"}, "first": 100}))
        .await;
    let edges = answer["data"]["customerBook"]["edges"].as_array().unwrap();
    assert_eq!(edges.len() as u64, gold.min(100), "{answer}");
    assert!(edges.iter().all(|e| e["node"]["tier"] == "GOLD"));

    // A branch manager's book is their branch.
    let branch = app.core_customer("1000000001").await["BRCH_NO"]
        .as_str()
        .unwrap()
        .to_owned();
    let manager = token_for("branch_manager", Some("M0001"), Some(&branch), None);
    let (_, theirs) = app
        .graphql_as(&manager, BOOK, json!({"first": 30}), &[])
        .await;
    let edges = theirs["data"]["customerBook"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty(), "{theirs}");
    assert!(edges
        .iter()
        .all(|e| e["node"]["customer"]["branch"] == branch.as_str()));
    // Tellers have no analytics.
    let teller = token_for("teller", Some("T0001"), Some(&branch), None);
    let (_, refused) = app
        .graphql_as(
            &teller,
            "{ segmentSummary(groupBy: [BRANCH]) { count } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(
        errors_with_code(&refused, "FORBIDDEN").len(),
        1,
        "{refused}"
    );
}

#[tokio::test]
async fn prospects_name_a_product_and_the_signal_behind_it() {
    let app = TestApp::builder().spawn().await;
    let answer = app
        .graphql(
            r#"{ prospects(first: 10) { edges { node { customer { id }
                prospect { reasonRule suggestedProduct reasons { rule detail inputs } } } }
                pageInfo { hasNextPage } } }"#,
            json!({}),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let edges = answer["data"]["prospects"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty(), "the sandbox has prospects: {answer}");
    for edge in edges {
        let prospect = &edge["node"]["prospect"];
        let rule = prospect["reasonRule"].as_str().unwrap();
        assert!(rule.starts_with("PROSPECT_"), "{prospect}");
        assert!(!prospect["suggestedProduct"].as_str().unwrap().is_empty());
        assert!(!prospect["reasons"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn prospects_leave_out_customers_who_refused_marketing() {
    let app = TestApp::builder().spawn().await;
    let query = r#"{ prospects(first: 20) { edges { node { customer { id } } } } }"#;
    let prospects = |answer: &Value| -> Vec<String> {
        answer["data"]["prospects"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|e| e["node"]["customer"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = prospects(&app.graphql(query, json!({})).await);
    assert!(before.len() >= 3, "the sandbox has prospects: {before:?}");
    let (quiet, withdrawn, kept) = (&before[0], &before[1], &before[2]);

    let staff = token_for("admin", Some("S0001"), Some("B001"), None);
    let (_, answer) = app
        .graphql_as(
            &staff,
            "mutation($input: ContactPreferencesInput!) { recordContactPreferences(input: $input) { doNotContact } }",
            json!({"input": {"customerId": quiet, "doNotContact": true, "source": "BRANCH"}}),
            &[],
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    for (customer, granted) in [(withdrawn, true), (withdrawn, false), (kept, true)] {
        let (_, answer) = app
            .graphql_as(
                &staff,
                "mutation($input: RecordConsentInput!) { recordConsent(input: $input) { id } }",
                json!({"input": {"customerId": customer, "purpose": "MARKETING", "channel": "WECHAT",
                    "granted": granted, "source": "BRANCH"}}),
                &[],
            )
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }

    let after = prospects(&app.graphql(query, json!({})).await);
    assert!(!after.contains(quiet), "do-not-contact: {after:?}");
    assert!(!after.contains(withdrawn), "marketing withdrawn: {after:?}");
    assert!(
        after.contains(kept),
        "a grant keeps the customer: {after:?}"
    );
}
