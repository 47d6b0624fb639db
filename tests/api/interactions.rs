//! Interactions end to end, on SQLite and on PostgreSQL: logging with validation and
//! idempotency, concurrent load, updates with history, the timeline's keyset paging
//! under concurrent inserts, cross-customer lists and statistics.

use std::collections::{BTreeSet, HashSet};

use crate::common::{
    errors_with_code, interaction_input, policies_granting, sample, token_for, with, TestApp,
    TestDb,
};
use chrono::{Duration, SubsecRound, Utc};
use futures::future::join_all;
use serde_json::{json, Value};

on_both_backends!(
    logging_checks_each_field_and_names_it,
    a_logged_contact_is_on_the_customer_timeline,
    a_retry_with_the_same_key_returns_the_first_result_and_writes_nothing,
    concurrent_duplicates_of_one_key_write_exactly_one_row,
    a_thousand_concurrent_logs_are_all_stored_once,
    updates_keep_who_changed_what,
    timeline_paging_is_stable_under_concurrent_inserts,
    lists_across_customers_filter_by_branch_staff_period_and_follow_ups,
    stats_are_grouped_in_sql_with_beijing_days,
);

const TIMELINE: &str = r#"query Timeline($id: ID!, $first: Int, $after: String, $filter: TimelineFilter) {
  customer(id: $id) {
    interactions(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id subject occurredAt channel outcome } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"#;

async fn timeline_page(app: &TestApp, cif: &str, first: i32, after: Option<&str>) -> Value {
    let answer = app
        .graphql(TIMELINE, json!({"id": cif, "first": first, "after": after}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["customer"]["interactions"].clone()
}

fn field_error(answer: &Value) -> (&str, &str) {
    let error = &answer["errors"][0];
    (
        error["extensions"]["code"].as_str().unwrap_or_default(),
        error["extensions"]["field"].as_str().unwrap_or_default(),
    )
}

async fn logging_checks_each_field_and_names_it(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let base = interaction_input("1000000001", "Card replacement");
    let future = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let cases = [
        (json!({"satisfaction": 6}), "satisfaction"),
        (json!({"satisfaction": 0}), "satisfaction"),
        (json!({"occurredAt": future}), "occurredAt"),
        (json!({"subject": "x".repeat(201)}), "subject"),
        (json!({"subject": "   "}), "subject"),
        (json!({"notes": "n".repeat(4001)}), "notes"),
        (json!({"staffId": "S 1"}), "staffId"),
        (json!({"customerId": "12345"}), "customerId"),
        (
            json!({"followUpAt": (Utc::now() - Duration::days(400)).to_rfc3339()}),
            "followUpAt",
        ),
    ];
    for (change, field) in cases {
        let answer = app.log(with(base.clone(), change.clone()), None).await;
        assert_eq!(
            field_error(&answer),
            ("BAD_USER_INPUT", field),
            "{change}: {answer}"
        );
        assert!(answer["data"].is_null(), "nothing returned: {answer}");
    }
    // A CIF core banking does not know (the test bank has 3,000 customers).
    let answer = app
        .log(
            with(base.clone(), json!({"customerId": "1000009999"})),
            None,
        )
        .await;
    assert_eq!(
        field_error(&answer),
        ("NOT_FOUND", "customerId"),
        "{answer}"
    );
    // Enums are checked by the schema, naming the argument.
    let answer = app
        .log(with(base.clone(), json!({"channel": "FAX"})), None)
        .await;
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("channel") || message.contains("FAX"),
        "{answer}"
    );
    assert!(answer["data"].is_null(), "{answer}");
    let page = timeline_page(&app, "1000000001", 10, None).await;
    assert_eq!(page["edges"], json!([]), "no refused contact was stored");
}

async fn a_logged_contact_is_on_the_customer_timeline(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let occurred = (Utc::now() - Duration::minutes(30)).to_rfc3339();
    let stored = (chrono::DateTime::parse_from_rfc3339(&occurred).unwrap()).trunc_subsecs(6);
    let logged = app
        .log_ok(
            with(
                interaction_input("1000000002", "Mortgage advice"),
                json!({
                    "channel": "CALL_CENTER", "type": "ADVICE", "occurredAt": occurred,
                    "notes": "Wants a 20-year term", "products": ["MORTGAGE"],
                    "outcome": "PENDING",
                }),
            ),
            None,
        )
        .await;
    assert_eq!(logged["customerId"], "1000000002");
    assert_eq!(logged["type"], "ADVICE");
    assert_eq!(logged["products"], json!(["MORTGAGE"]));
    assert_eq!(logged["revision"], 0);
    let id = logged["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let page = timeline_page(&app, "1000000002", 10, None).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 1);
    assert_eq!(page["edges"][0]["node"]["id"], id);
    assert_eq!(page["edges"][0]["node"]["subject"], "Mortgage advice");

    let answer = app
        .graphql(
            "query($id: ID!) { interaction(id: $id) { id notes occurredAt } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        answer["data"]["interaction"]["notes"],
        "Wants a 20-year term"
    );
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(
            answer["data"]["interaction"]["occurredAt"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        stored,
        "occurredAt round-trips (UTC, to the microsecond)"
    );
}

async fn a_retry_with_the_same_key_returns_the_first_result_and_writes_nothing(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let input = with(
        interaction_input("1000000003", "Lost card"),
        json!({"occurredAt": (Utc::now() - Duration::minutes(5)).to_rfc3339()}),
    );
    let first = app.log_ok(input.clone(), Some("retry-key-1")).await;
    let again = app.log_ok(input.clone(), Some("retry-key-1")).await;
    assert_eq!(first, again, "the retry gets the first result");

    let different = app
        .log(
            with(input.clone(), json!({"subject": "Stolen card"})),
            Some("retry-key-1"),
        )
        .await;
    assert_eq!(
        errors_with_code(&different, "CONFLICT").len(),
        1,
        "{different}"
    );

    let bad_key = app.log(input.clone(), Some("has space")).await;
    assert_eq!(field_error(&bad_key), ("BAD_USER_INPUT", "idempotencyKey"));

    let page = timeline_page(&app, "1000000003", 10, None).await;
    assert_eq!(
        page["edges"].as_array().unwrap().len(),
        1,
        "one row: {page}"
    );
}

async fn concurrent_duplicates_of_one_key_write_exactly_one_row(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let input = with(
        interaction_input("1000000004", "Complaint about fees"),
        json!({"type": "COMPLAINT", "occurredAt": (Utc::now() - Duration::minutes(1)).to_rfc3339()}),
    );
    let answers =
        join_all((0..25).map(|_| app.log(input.clone(), Some("same-key-concurrently")))).await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|a| {
            assert!(a.get("errors").is_none(), "{a}");
            a["data"]["logInteraction"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every duplicate got the one row");
    let page = timeline_page(&app, "1000000004", 50, None).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 1);
}

async fn a_thousand_concurrent_logs_are_all_stored_once(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let statements = |text: &str| {
        let count = sample(text, "c360_interaction_rows_per_statement_count").unwrap();
        let rows = sample(text, "c360_interaction_rows_per_statement_sum").unwrap();
        (count, rows)
    };
    let answers = join_all((0..1000).map(|i| {
        let cif = format!("{}", 1_000_000_001 + (i % 50));
        let input = with(
            interaction_input(&cif, &format!("load {i}")),
            json!({"staffId": "LOAD1000"}),
        );
        let key = format!("load-{i}");
        let app = &app;
        async move { app.log(input, Some(&key)).await }
    }))
    .await;
    let mut ids = HashSet::new();
    for answer in &answers {
        assert!(answer.get("errors").is_none(), "{answer}");
        ids.insert(
            answer["data"]["logInteraction"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 1000, "1,000 distinct rows acknowledged");
    // Concurrent writes share statements (and commits). The histogram is this hub's
    // own: the thousand rows, each counted in the statement that wrote it.
    let (count, rows) = statements(&app.metrics().await);
    assert_eq!(rows, 1000.0, "{rows} rows written");
    assert!(
        count < rows,
        "{count} statements for {rows} rows: concurrent writes did not share statements"
    );

    // Read everything back through the cross-customer list: each subject exactly once.
    let mut subjects = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let answer = app
            .graphql(
                "query($after: String) { interactions(filter: {staffId: \"LOAD1000\"}, first: 100, after: $after) {
                   edges { node { id subject } } pageInfo { hasNextPage endCursor } } }",
                json!({"after": after}),
            )
            .await;
        let page = &answer["data"]["interactions"];
        for edge in page["edges"].as_array().expect("a page") {
            subjects.push(edge["node"]["subject"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(subjects.len(), 1000, "no row doubled or missing");
    let distinct: BTreeSet<&String> = subjects.iter().collect();
    assert_eq!(distinct.len(), 1000);

    let stats = app
        .graphql(
            "{ interactionStats(groupBy: [STAFF], filter: {staffId: \"LOAD1000\"}) { key count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        stats["data"]["interactionStats"],
        json!([{"key": ["LOAD1000"], "count": 1000}])
    );
}

const UPDATE: &str = r#"mutation Update($id: ID!, $input: UpdateInteractionInput!) {
  updateInteraction(id: $id, input: $input) {
    id outcome notes followUpAt revision updatedAt
    history { revision field oldValue newValue changedAt changedBy recordedBy }
  }
}"#;

/// Runs `updateInteraction` as the staff member its input names.
async fn update(app: &TestApp, variables: Value) -> Value {
    let token = token_for(
        "admin",
        variables["input"]["staffId"].as_str(),
        Some("B001"),
        None,
    );
    let (status, answer) = app.graphql_as(&token, UPDATE, variables, &[]).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn updates_keep_who_changed_what(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let follow_up = (Utc::now() + Duration::days(2)).to_rfc3339();
    let logged = app
        .log_ok(
            with(
                interaction_input("1000000005", "Loan enquiry"),
                json!({"outcome": "PENDING", "followUpAt": follow_up}),
            ),
            None,
        )
        .await;
    let id = logged["id"].as_str().unwrap();

    let first = update(&app, json!({"id": id, "input": {"staffId": "S0002", "outcome": "RESOLVED", "notes": "Sent the rate sheet"}}),
        )
        .await;
    let updated = &first["data"]["updateInteraction"];
    assert_eq!(updated["outcome"], "RESOLVED", "{first}");
    assert_eq!(updated["revision"], 1);
    let history = updated["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "one row per changed field: {first}");
    let outcome = history.iter().find(|h| h["field"] == "outcome").unwrap();
    assert_eq!(outcome["oldValue"], "PENDING");
    assert_eq!(outcome["newValue"], "RESOLVED");
    assert_eq!(outcome["changedBy"], "S0002");
    let notes = history.iter().find(|h| h["field"] == "notes").unwrap();
    assert_eq!(notes["oldValue"], Value::Null);

    // Clearing the follow-up is a change too; repeating a value is not.
    let second = update(
        &app,
        json!({"id": id, "input": {"staffId": "S0003", "followUpAt": null, "outcome": "RESOLVED"}}),
    )
    .await;
    let updated = &second["data"]["updateInteraction"];
    assert_eq!(updated["followUpAt"], Value::Null, "{second}");
    assert_eq!(updated["revision"], 2);
    assert_eq!(
        updated["notes"], "Sent the rate sheet",
        "omitted fields stay"
    );
    let history = updated["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2]["field"], "followUpAt");
    assert_eq!(history[2]["newValue"], Value::Null);
    assert_eq!(history[2]["changedBy"], "S0003");

    let noop = update(
        &app,
        json!({"id": id, "input": {"staffId": "S0004", "outcome": "RESOLVED"}}),
    )
    .await;
    assert_eq!(noop["data"]["updateInteraction"]["revision"], 2, "{noop}");
    assert_eq!(
        noop["data"]["updateInteraction"]["history"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let missing = update(&app, json!({"id": uuid::Uuid::now_v7().to_string(), "input": {"staffId": "S1", "outcome": "RESOLVED"}}),
        )
        .await;
    assert_eq!(
        errors_with_code(&missing, "NOT_FOUND").len(),
        1,
        "{missing}"
    );
    let bad = update(&app, json!({"id": "nope", "input": {"staffId": "S1"}})).await;
    assert_eq!(field_error(&bad), ("BAD_USER_INPUT", "id"));

    let schema = c360::graphql::sdl();
    assert!(
        !schema.contains("deleteInteraction"),
        "no hard delete through the API"
    );
}

async fn timeline_paging_is_stable_under_concurrent_inserts(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000006";
    let now = Utc::now();
    let mut original = Vec::new();
    for i in 0..30 {
        // Two contacts share each minute, so the id breaks ties.
        let at = now - Duration::minutes(60 + (i / 2) as i64);
        let logged = app
            .log_ok(
                with(
                    interaction_input(cif, &format!("original {i}")),
                    json!({"occurredAt": at.to_rfc3339()}),
                ),
                None,
            )
            .await;
        original.push(logged["id"].as_str().unwrap().to_owned());
    }

    let mut seen: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    let mut round = 0;
    loop {
        let page = timeline_page(&app, cif, 7, after.as_deref()).await;
        for edge in page["edges"].as_array().unwrap() {
            seen.push((
                edge["node"]["id"].as_str().unwrap().to_owned(),
                edge["node"]["occurredAt"].as_str().unwrap().to_owned(),
            ));
        }
        // Between pages, others log contacts: new ones (before the first page),
        // backdated ones among the pages already read and among those still to come.
        let inserts = [
            now,
            now - Duration::minutes(61),
            now - Duration::minutes(200),
        ];
        join_all(inserts.iter().enumerate().map(|(j, at)| {
            app.log(
                with(
                    interaction_input(cif, &format!("inserted {round}-{j}")),
                    json!({"occurredAt": at.to_rfc3339()}),
                ),
                None,
            )
        }))
        .await;
        round += 1;
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    let distinct: HashSet<&&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "no item seen twice");
    for id in &original {
        assert!(
            ids.contains(&id),
            "every row that existed before paging was seen"
        );
    }
    for pair in seen.windows(2) {
        let a = chrono::DateTime::parse_from_rfc3339(&pair[0].1).unwrap();
        let b = chrono::DateTime::parse_from_rfc3339(&pair[1].1).unwrap();
        assert!(a >= b, "newest first");
    }

    let bad = app
        .graphql(TIMELINE, json!({"id": cif, "after": "garbage"}))
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "after", "{bad}");
}

const LIST: &str = r#"query List($filter: InteractionFilterInput, $first: Int) {
  interactions(filter: $filter, first: $first) { edges { node { subject } } }
}"#;

async fn subjects(app: &TestApp, filter: Value) -> BTreeSet<String> {
    let answer = app
        .graphql(LIST, json!({"filter": filter, "first": 100}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["interactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["subject"].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn lists_across_customers_filter_by_branch_staff_period_and_follow_ups(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let now = Utc::now();
    let rows = [
        (
            "1000000010",
            "a",
            "B100",
            "S100",
            1,
            None,
            "RESOLVED",
            "BRANCH",
        ),
        (
            "1000000011",
            "b",
            "B100",
            "S101",
            30,
            Some(-1),
            "PENDING",
            "CALL_CENTER",
        ),
        (
            "1000000012",
            "c",
            "B200",
            "S100",
            50,
            Some(-2),
            "RESOLVED",
            "BRANCH",
        ),
        (
            "1000000013",
            "d",
            "B200",
            "S102",
            3,
            Some(3),
            "ESCALATED",
            "EMAIL",
        ),
        (
            "1000000014",
            "e",
            "B100",
            "S100",
            2,
            Some(-5),
            "NO_RESPONSE",
            "SMS",
        ),
    ];
    for (cif, subject, branch, staff, days_ago, follow_up_days, outcome, channel) in rows {
        let occurred = now - Duration::days(days_ago);
        let follow_up =
            follow_up_days.map(|d| (occurred.max(now + Duration::days(d))).to_rfc3339());
        app.log_ok(
            with(
                interaction_input(cif, subject),
                json!({
                    "branchId": branch, "staffId": staff, "occurredAt": occurred.to_rfc3339(),
                    "followUpAt": follow_up, "outcome": outcome, "channel": channel,
                }),
            ),
            None,
        )
        .await;
    }
    assert_eq!(
        subjects(&app, json!({"branchId": "B100"})).await,
        set(&["a", "b", "e"])
    );
    assert_eq!(
        subjects(&app, json!({"staffId": "S100"})).await,
        set(&["a", "c", "e"])
    );
    assert_eq!(
        subjects(
            &app,
            json!({"from": (now - Duration::days(10)).to_rfc3339()})
        )
        .await,
        set(&["a", "d", "e"])
    );
    assert_eq!(
        subjects(&app, json!({"branchId": "B100", "from": (now - Duration::days(10)).to_rfc3339(), "to": (now - Duration::days(1)).to_rfc3339()})).await,
        set(&["e"])
    );
    // Open follow-ups due by now: b (pending) and e (no response); c is resolved, d
    // is not due yet, a has none.
    assert_eq!(
        subjects(&app, json!({"followUpDueBy": now.to_rfc3339()})).await,
        set(&["b", "e"])
    );
    assert_eq!(
        subjects(&app, json!({"channels": ["SMS", "EMAIL"]})).await,
        set(&["d", "e"])
    );
    assert_eq!(
        subjects(&app, json!({"customerId": "1000000012"})).await,
        set(&["c"])
    );
    let answer = app
        .graphql(LIST, json!({"filter": {"from": now.to_rfc3339(), "to": (now - Duration::days(1)).to_rfc3339()}}))
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
}

async fn stats_are_grouped_in_sql_with_beijing_days(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    // 2026-03-01 17:00 UTC is 2026-03-02 01:00 in Beijing.
    let late = "2026-03-01T17:00:00Z";
    let early = "2026-03-01T03:00:00Z";
    let rows = [
        ("BRANCH", Some(5), late, "RESOLVED"),
        ("BRANCH", Some(3), late, "RESOLVED"),
        ("BRANCH", None, early, "PENDING"),
        ("CALL_CENTER", Some(2), early, "RESOLVED"),
    ];
    for (i, (channel, satisfaction, at, outcome)) in rows.into_iter().enumerate() {
        app.log_ok(
            with(
                interaction_input(&format!("{}", 1_000_000_020 + i), "stats"),
                json!({"channel": channel, "satisfaction": satisfaction, "occurredAt": at, "outcome": outcome, "branchId": "STATS"}),
            ),
            None,
        )
        .await;
    }
    let query = r#"query($groupBy: [InteractionDimension!]!) {
      interactionStats(groupBy: $groupBy, filter: {branchId: "STATS"}) { key count averageSatisfaction }
    }"#;
    let by_channel = app
        .graphql(query, json!({"groupBy": ["CHANNEL", "OUTCOME"]}))
        .await;
    assert_eq!(
        by_channel["data"]["interactionStats"],
        json!([
            {"key": ["BRANCH", "PENDING"], "count": 1, "averageSatisfaction": null},
            {"key": ["BRANCH", "RESOLVED"], "count": 2, "averageSatisfaction": 4.0},
            {"key": ["CALL_CENTER", "RESOLVED"], "count": 1, "averageSatisfaction": 2.0},
        ]),
        "{by_channel}"
    );
    let by_day = app.graphql(query, json!({"groupBy": ["DAY"]})).await;
    assert_eq!(
        by_day["data"]["interactionStats"],
        json!([
            {"key": ["2026-03-01"], "count": 2, "averageSatisfaction": 2.0},
            {"key": ["2026-03-02"], "count": 2, "averageSatisfaction": 4.0},
        ]),
        "{by_day}"
    );
    let by_month = app
        .graphql(query, json!({"groupBy": ["MONTH", "BRANCH"]}))
        .await;
    assert_eq!(
        by_month["data"]["interactionStats"][0]["key"],
        json!(["2026-03", "STATS"])
    );
    let twice = app.graphql(query, json!({"groupBy": ["DAY", "DAY"]})).await;
    assert_eq!(twice["errors"][0]["extensions"]["field"], "groupBy");
    let none = app.graphql(query, json!({"groupBy": []})).await;
    assert_eq!(none["errors"][0]["extensions"]["field"], "groupBy");
}

/// `logInteraction` as `token`; returns the whole answer.
async fn log_as(app: &TestApp, token: &str, input: Value) -> Value {
    let (status, answer) = app
        .graphql_as(
            token,
            crate::common::LOG_INTERACTION,
            json!({"input": input}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The code of the first error and the extension `key` it carries.
fn refused_with(answer: &Value, key: &str) -> (String, String) {
    let extensions = &answer["errors"][0]["extensions"];
    (
        extensions["code"].as_str().unwrap_or_default().to_owned(),
        extensions[key].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn writes_are_recorded_as_the_token_says() {
    let app = TestApp::builder().spawn().await;
    let cif = "1000000011";
    let teller = token_for("teller", Some("T0007"), Some("B007"), None);
    let mut input = interaction_input(cif, "Counter visit");
    input.as_object_mut().unwrap().remove("staffId");
    input.as_object_mut().unwrap().remove("branchId");

    let logged = log_as(&app, &teller, input.clone()).await;
    let logged = &logged["data"]["logInteraction"];
    assert_eq!(logged["staffId"], "T0007", "{logged}");
    assert_eq!(logged["branchId"], "B007");
    let same = log_as(
        &app,
        &teller,
        with(
            input.clone(),
            json!({"staffId": "T0007", "branchId": "B007"}),
        ),
    )
    .await;
    assert!(same.get("errors").is_none(), "{same}");

    for (change, field) in [
        (json!({"staffId": "T0008"}), "staffId"),
        (json!({"branchId": "B008"}), "branchId"),
    ] {
        let answer = log_as(&app, &teller, with(input.clone(), change)).await;
        assert_eq!(
            refused_with(&answer, "field"),
            ("FORBIDDEN".to_owned(), field.to_owned()),
            "{answer}"
        );
    }
    // A token without a staff number writes as nobody, whatever it claims.
    let anonymous = log_as(
        &app,
        &crate::common::admin_token(),
        with(
            input.clone(),
            json!({"staffId": "S0001", "branchId": "B001"}),
        ),
    )
    .await;
    assert_eq!(
        refused_with(&anonymous, "claim"),
        ("FORBIDDEN".to_owned(), "staff_id".to_owned()),
        "{anonymous}"
    );

    // Updates: the change is the token's staff member's.
    let id = logged["id"].as_str().unwrap();
    let (_, answer) = app
        .graphql_as(
            &teller,
            UPDATE,
            json!({"id": id, "input": {"staffId": "T0008", "outcome": "ESCALATED"}}),
            &[],
        )
        .await;
    assert_eq!(
        refused_with(&answer, "field"),
        ("FORBIDDEN".to_owned(), "staffId".to_owned()),
        "{answer}"
    );
    let (_, answer) = app
        .graphql_as(
            &teller,
            UPDATE,
            json!({"id": id, "input": {"outcome": "ESCALATED"}}),
            &[],
        )
        .await;
    let history = &answer["data"]["updateInteraction"]["history"];
    assert_eq!(history[0]["changedBy"], "T0007", "{answer}");
    assert_eq!(history[0]["recordedBy"], Value::Null, "{answer}");

    // Timelines show nothing recorded under anyone else's number.
    let page = timeline_page(&app, cif, 10, None).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 2, "{page}");
}

#[tokio::test]
async fn acting_for_a_colleague_is_a_capability_and_keeps_both_names() {
    let (_policies, path) = policies_granting(&[("admin", "act_for_staff")]);
    let app = TestApp::builder()
        .config(move |c| c.access.policies = path)
        .spawn()
        .await;
    let cif = "1000000012";
    let back_office = token_for("admin", Some("A0001"), Some("HQ01"), None);
    let input = with(
        interaction_input(cif, "Paper form keyed in"),
        json!({"staffId": "T0002", "branchId": "B002"}),
    );
    let answer = log_as(&app, &back_office, input.clone()).await;
    let id = answer["data"]["logInteraction"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned();
    let read = app
        .graphql(
            "query($id: ID!) { interaction(id: $id) { staffId branchId recordedBy } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        read["data"]["interaction"],
        json!({"staffId": "T0002", "branchId": "B002", "recordedBy": "A0001"}),
        "{read}"
    );
    let (_, answer) = app
        .graphql_as(
            &back_office,
            UPDATE,
            json!({"id": id, "input": {"staffId": "T0002", "outcome": "PENDING"}}),
            &[],
        )
        .await;
    let change = &answer["data"]["updateInteraction"]["history"][0];
    assert_eq!(change["changedBy"], "T0002", "{answer}");
    assert_eq!(change["recordedBy"], "A0001", "{answer}");

    // The access audit names both: who typed it and whom it was recorded for.
    let auditor = token_for("auditor", Some("AU01"), None, None);
    let (_, trail) = app
        .graphql_as(
            &auditor,
            "query($cif: ID!) { accessAudit(filter: {customerId: $cif}, first: 20) {
               edges { node { actor actingFor } } } }",
            json!({"cif": cif}),
            &[],
        )
        .await;
    let rows: Vec<&Value> = trail["data"]["accessAudit"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"))
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert!(
        rows.iter()
            .filter(|r| r["actor"] == "A0001")
            .all(|r| r["actingFor"] == "T0002"),
        "{trail}"
    );
    assert_eq!(
        rows.iter().filter(|r| r["actingFor"] == "T0002").count(),
        2,
        "the log and the update each leave a row acting for T0002: {trail}"
    );

    // The same role without the capability (the shipped policies) may not.
    let plain = TestApp::builder().spawn().await;
    let refused = log_as(&plain, &back_office, input).await;
    assert_eq!(
        refused_with(&refused, "field"),
        ("FORBIDDEN".to_owned(), "staffId".to_owned()),
        "{refused}"
    );
}
