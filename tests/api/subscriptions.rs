//! `Subscription.interactionLogged` over `graphql-transport-ws` on `/graphql/ws`: a
//! screen open on a customer sees a contact logged elsewhere within a second, on the
//! same hub (in-process) and, with Redis, from another hub instance.

use std::time::{Duration, Instant};

use crate::common::{
    interaction_input, redis_url, with, ws_next as next_message, ws_subscribe, Socket, TestApp,
    TestDb,
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
    let app = TestApp::builder().database(&db).spawn().await;
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
