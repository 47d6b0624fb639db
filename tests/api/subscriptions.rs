//! `Subscription.interactionLogged` over `graphql-transport-ws` on `/graphql/ws`: a
//! screen open on a customer sees a contact logged elsewhere within a second, on the
//! same hub (in-process) and, with Redis, from another hub instance.

use std::time::{Duration, Instant};

use crate::common::{
    count_rows, interaction_input, policies_granting, redis_url, token_for, with,
    ws_next as next_message, ws_subscribe, ws_subscribe_as, Socket, TestApp, TestDb,
};
use serde_json::json;

on_both_backends!(
    a_subscriber_sees_a_contact_logged_for_its_customer_within_a_second,
    with_redis_a_contact_logged_on_one_instance_reaches_another
        if c360_redis "needs Redis: set C360_TEST_REDIS_URL",
);

/// How long delivery may take: the "within a second".
const DELIVERY: Duration = Duration::from_secs(1);

/// Opens a `graphql-transport-ws` connection and subscribes to `interactionLogged`.
async fn subscribe(app: &TestApp, customer: Option<&str>) -> Socket {
    ws_subscribe(
        &app.ws_url(),
        "subscription($id: ID) { interactionLogged(customerId: $id) { id customerId subject channel } }",
        json!({"id": customer}),
    )
    .await
}

async fn a_subscriber_sees_a_contact_logged_for_its_customer_within_a_second(db: TestDb) {
    // Following every customer is a capability no role has as shipped.
    let (_policies, path) = policies_granting(&[("admin", "watch_all_interactions")]);
    let app = TestApp::builder()
        .database(&db)
        .config(move |c| c.access.policies = path)
        .spawn()
        .await;
    let mut screen = subscribe(&app, Some("1000000201")).await;
    let mut all = subscribe(&app, None).await;

    app.log_ok(interaction_input("1000000202", "someone else"), None)
        .await;
    let started = Instant::now();
    let logged = app
        .log_ok(
            with(
                interaction_input("1000000201", "Branch visit"),
                json!({"channel": "BRANCH"}),
            ),
            None,
        )
        .await;
    let message = next_message(&mut screen, DELIVERY)
        .await
        .expect("delivered within a second");
    assert!(started.elapsed() < DELIVERY);
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "1");
    let delivered = &message["payload"]["data"]["interactionLogged"];
    assert_eq!(delivered["id"], logged["id"]);
    assert_eq!(delivered["subject"], "Branch visit");
    assert!(
        next_message(&mut screen, Duration::from_millis(200))
            .await
            .is_none(),
        "the other customer's contact is not shown on this screen"
    );

    let first = next_message(&mut all, DELIVERY).await.expect("delivered");
    let second = next_message(&mut all, DELIVERY).await.expect("delivered");
    assert_eq!(
        first["payload"]["data"]["interactionLogged"]["subject"],
        "someone else"
    );
    assert_eq!(
        second["payload"]["data"]["interactionLogged"]["subject"],
        "Branch visit"
    );

    // A retry of the same request is not a new contact: nothing is announced.
    let input = interaction_input("1000000201", "Retry me");
    app.log_ok(input.clone(), Some("sub-retry")).await;
    assert!(next_message(&mut screen, DELIVERY).await.is_some());
    app.log_ok(input, Some("sub-retry")).await;
    assert!(next_message(&mut screen, Duration::from_millis(300))
        .await
        .is_none());

    let refused = {
        let mut socket = subscribe(&app, Some("not-a-cif")).await;
        next_message(&mut socket, DELIVERY)
            .await
            .expect("an answer")
    };
    // async-graphql reports a failed subscription as a `next` with errors, then
    // `complete`.
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["field"], "customerId",
        "{refused}"
    );
}

async fn with_redis_a_contact_logged_on_one_instance_reaches_another(db: TestDb) {
    let redis = redis_url();
    // A prefix of its own, so that parallel tests sharing the Redis do not see each
    // other's messages.
    let prefix = format!("c360-test-{}:", uuid::Uuid::now_v7().simple());
    let configure = |config: &mut c360::config::Config| {
        config.redis.url = Some(redis.clone());
        config.redis.key_prefix = prefix.clone();
    };
    let hub_a = TestApp::builder()
        .database(&db)
        .config(configure)
        .spawn()
        .await;
    let hub_b = TestApp::builder()
        .database(&db)
        .config(configure)
        .spawn()
        .await;
    let mut on_b = subscribe(&hub_b, Some("1000000301")).await;
    let mut on_a = subscribe(&hub_a, Some("1000000301")).await;

    let started = Instant::now();
    let logged = hub_a
        .log_ok(interaction_input("1000000301", "Logged on A"), None)
        .await;
    let message = next_message(&mut on_b, DELIVERY)
        .await
        .expect("delivered to the other instance within a second");
    assert!(started.elapsed() < DELIVERY);
    assert_eq!(
        message["payload"]["data"]["interactionLogged"]["id"],
        logged["id"]
    );

    let local = next_message(&mut on_a, DELIVERY)
        .await
        .expect("delivered locally");
    assert_eq!(
        local["payload"]["data"]["interactionLogged"]["id"],
        logged["id"]
    );
    assert!(
        next_message(&mut on_a, Duration::from_millis(300))
            .await
            .is_none(),
        "an instance does not deliver its own message twice (once locally, once via Redis)"
    );
}

/// Subscribes to `interactionLogged` with `token`, selecting `fields`.
async fn subscribe_as(app: &TestApp, token: &str, customer: Option<&str>, fields: &str) -> Socket {
    ws_subscribe_as(
        &app.ws_url(),
        token,
        &format!("subscription($id: ID) {{ interactionLogged(customerId: $id) {{ {fields} }} }}"),
        json!({"id": customer}),
    )
    .await
}

/// The first error of a refused subscription: its code and the argument it names.
async fn refusal(socket: &mut Socket) -> (String, String) {
    let message = next_message(socket, DELIVERY).await.expect("an answer");
    let error = &message["payload"]["errors"][0]["extensions"];
    assert!(
        message["payload"]["data"].is_null(),
        "nothing delivered: {message}"
    );
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["field"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Two customers of the test bank at different home branches: (CIF, branch) each.
async fn customers_of_two_branches(app: &TestApp) -> ((String, String), (String, String)) {
    let first = app.core_customer("1000000001").await["BRCH_NO"]
        .as_str()
        .expect("a home branch")
        .to_owned();
    for i in 2..200u64 {
        let cif = (1_000_000_000 + i).to_string();
        let branch = app.core_customer(&cif).await["BRCH_NO"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !branch.is_empty() && branch != first {
            return (("1000000001".into(), first), (cif, branch));
        }
    }
    panic!("the test bank has customers at more than one branch");
}

/// Access-audit rows naming `customer` and `actor`, once the audit has written what
/// it holds (it commits in the background): polls until `expected` or a few seconds.
async fn audit_rows(db: &TestDb, customer: &str, actor: &str, expected: i64) -> i64 {
    let table = format!("access_audit WHERE customer_id = '{customer}' AND actor = '{actor}'");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = count_rows(db, &table).await;
        if rows >= expected || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_live_contact_feed_obeys_the_role_and_needs_a_capability_for_everyone() {
    let app = TestApp::builder().spawn().await;
    let ((cif, branch), _) = customers_of_two_branches(&app).await;

    // Denied the contact history in queries, denied it live, with or without a
    // customer.
    let risk = token_for("risk_officer", Some("K0001"), Some(&branch), None);
    let mut everyone = subscribe_as(&app, &risk, None, "id notes").await;
    let mut one = subscribe_as(&app, &risk, Some(&cif), "id notes").await;
    app.log_ok(
        with(
            interaction_input(&cif, "Complaint about fees"),
            json!({"notes": "angry"}),
        ),
        None,
    )
    .await;
    assert_eq!(refusal(&mut everyone).await.0, "FORBIDDEN");
    assert_eq!(refusal(&mut one).await.0, "FORBIDDEN");

    // Every contact in the bank is a capability, even for roles that read everyone.
    for role in ["teller", "relationship_manager", "admin"] {
        let token = token_for(role, Some("X0001"), Some(&branch), None);
        let mut socket = subscribe_as(&app, &token, None, "id").await;
        assert_eq!(
            refusal(&mut socket).await,
            ("FORBIDDEN".to_owned(), "customerId".to_owned()),
            "{role}"
        );
    }
    // A customer outside the subscriber's scope is refused as a query would be.
    let elsewhere = token_for("branch_manager", Some("M0001"), Some("NOWHERE"), None);
    let mut socket = subscribe_as(&app, &elsewhere, Some(&cif), "id").await;
    assert_eq!(refusal(&mut socket).await.0, "FORBIDDEN");
}

#[tokio::test]
async fn a_watcher_receives_only_its_scope_and_every_delivery_is_audited() {
    let db = TestDb::sqlite();
    let (_policies, path) =
        policies_granting(&[("relationship_manager", "watch_all_interactions")]);
    let app = TestApp::builder()
        .database(&db)
        .config(move |c| c.access.policies = path)
        .spawn()
        .await;
    let ((ours, branch), (theirs, _)) = customers_of_two_branches(&app).await;
    let rm = token_for("relationship_manager", Some("R0042"), Some(&branch), None);
    let mut watcher = subscribe_as(&app, &rm, None, "customerId subject").await;

    app.log_ok(interaction_input(&theirs, "Other branch"), None)
        .await;
    app.log_ok(interaction_input(&ours, "Our branch"), None)
        .await;
    let message = next_message(&mut watcher, DELIVERY)
        .await
        .expect("our branch's contact is delivered");
    assert_eq!(
        message["payload"]["data"]["interactionLogged"],
        json!({"customerId": ours, "subject": "Our branch"}),
        "{message}"
    );
    assert!(
        next_message(&mut watcher, Duration::from_millis(500))
            .await
            .is_none(),
        "the other branch's contact is never sent"
    );
    assert_eq!(audit_rows(&db, &ours, "R0042", 1).await, 1);
    assert_eq!(audit_rows(&db, &theirs, "R0042", 0).await, 0);
}

#[tokio::test]
async fn each_delivery_to_a_customer_screen_is_audited_and_policed() {
    let db = TestDb::sqlite();
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000007";
    let teller = token_for("teller", Some("T0042"), Some("B001"), None);
    let mut screen = subscribe_as(&app, &teller, Some(cif), "subject").await;
    // A role denied contact notes (the customer, in the portal) gets them as it would
    // in a query: FORBIDDEN at the field, the rest of the event standing.
    let own = token_for("customer", None, None, Some(cif));
    let mut analysis = subscribe_as(&app, &own, Some(cif), "channel notes").await;

    for subject in ["First call", "Second call"] {
        app.log_ok(
            with(interaction_input(cif, subject), json!({"notes": "private"})),
            None,
        )
        .await;
        let message = next_message(&mut screen, DELIVERY)
            .await
            .expect("delivered");
        assert_eq!(
            message["payload"]["data"]["interactionLogged"]["subject"], subject,
            "{message}"
        );
        let message = next_message(&mut analysis, DELIVERY)
            .await
            .expect("delivered");
        let payload = &message["payload"];
        assert_eq!(payload["data"]["interactionLogged"]["channel"], "BRANCH");
        assert_eq!(
            payload["data"]["interactionLogged"]["notes"],
            serde_json::Value::Null,
            "{message}"
        );
        assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(
            payload["errors"][0]["path"],
            json!(["interactionLogged", "notes"])
        );
    }
    // One row per delivery, beside nothing else: the subscriber read the customer
    // twice.
    assert_eq!(audit_rows(&db, cif, "T0042", 2).await, 2);
}
