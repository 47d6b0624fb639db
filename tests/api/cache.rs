//! The cache tiers in one hub: responses, in-process entities, stale serving, single
//! flight, invalidation events and persisted queries.

use std::time::Duration;

use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SECRET: &str = "test-events-secret";

fn with_events(config: &mut c360::config::Config) {
    config.events.secret = Some(SECRET.into());
}

/// Sends `body`, stamped with a fresh id and the time, signed.
async fn send_event(app: &TestApp, body: &Value) -> (u16, Value) {
    send_signed(app, &stamped(body.clone()).to_string()).await
}

/// Sends `raw` as it is, signed.
async fn send_signed(app: &TestApp, raw: &str) -> (u16, Value) {
    let raw = raw.to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let response = app
        .client
        .post(format!("{}/events", app.hub))
        .header("content-type", "application/json")
        .header("x-c360-signature", format!("sha256={signature}"))
        .body(raw)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// An answer with what its headers say about the cache: `Cache-Status`, and `Age`
/// when there is one.
struct Served {
    answer: Value,
    cache_status: String,
    age: Option<u64>,
}

/// POSTs a query as [`TestApp::graphql`] does, keeping the cache headers.
async fn served(app: &TestApp, query: &str, variables: Value) -> Served {
    let response = app
        .client
        .post(format!("{}/graphql", app.hub))
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("hub answers");
    assert_eq!(response.status(), 200, "status for {query}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let cache_status = header("cache-status").expect("every answer says how it was served");
    let age = header("age").map(|a| a.parse().expect("Age is whole seconds"));
    Served {
        answer: response.json().await.expect("JSON answer"),
        cache_status,
        age,
    }
}

/// `fromCache` of each system in one customer's `sources`.
fn from_cache(customer: &Value) -> Vec<bool> {
    customer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["fromCache"].as_bool().unwrap())
        .collect()
}

#[tokio::test]
async fn a_second_identical_360_query_is_replayed_and_says_so() {
    let app = TestApp::builder().spawn().await;
    let first = served(&app, PROFILE_360, json!({"id": "1000000001"})).await;
    // What this request fetched is not reported as a cache hit, though the entity
    // tier holds it by the time the products are resolved.
    let customer = &first.answer["data"]["customer"];
    assert_eq!(from_cache(customer), vec![false; 4], "{customer}");
    assert!(
        first
            .cache_status
            .starts_with("c360; fwd=miss; stored; ttl="),
        "{}",
        first.cache_status
    );
    assert_eq!(first.age, None, "fetched for this answer");

    app.reset_stats().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = served(&app, PROFILE_360, json!({"id": "1000000001"})).await;
    assert_eq!(app.total_requests().await, 0);
    let customer = &second.answer["data"]["customer"];
    assert_eq!(from_cache(customer), vec![true; 4], "{customer}");
    assert!(
        second.cache_status.starts_with("c360; hit; ttl=")
            && second.cache_status.ends_with("; detail=response"),
        "{}",
        second.cache_status
    );
    let age = second.age.expect("a replay says how old it is");
    assert!((1..5).contains(&age), "fetched over a second ago: {age}");

    // Apart from where it came from, the replay is the answer.
    let mut replayed = second.answer.clone();
    for source in replayed["data"]["customer"]["sources"]
        .as_array_mut()
        .unwrap()
    {
        source["fromCache"] = json!(false);
    }
    assert_eq!(first.answer, replayed);
}

#[tokio::test]
async fn a_replay_says_from_cache_under_any_alias() {
    let app = TestApp::builder().spawn().await;
    let query = "query($id: ID!) { customer(id: $id) { cards { number } \
                 sources { system cached: fromCache } also: sources { fromCache } } }";
    let first = app.graphql(query, json!({"id": "1000000002"})).await;
    assert_eq!(
        first["data"]["customer"]["sources"][1],
        json!({"system": "cards", "cached": false}),
        "{first}"
    );
    let second = app.graphql(query, json!({"id": "1000000002"})).await;
    let customer = &second["data"]["customer"];
    assert_eq!(
        customer["sources"],
        json!([
            {"system": "core", "cached": true},
            {"system": "cards", "cached": true}
        ]),
        "{second}"
    );
    assert_eq!(
        customer["also"],
        json!([{"fromCache": true}, {"fromCache": true}])
    );
}

#[tokio::test]
async fn a_mutation_bypasses_the_caches() {
    let db = TestDb::sqlite();
    let app = TestApp::builder().database(&db).spawn().await;
    let input = interaction_input("1000000001", "Cache status");
    let response = app
        .bare
        .post(format!("{}/graphql", app.hub))
        .bearer_auth(staff_token_for(&input))
        .json(&json!({"query": LOG_INTERACTION, "variables": {"input": input}}))
        .send()
        .await
        .expect("hub answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-status"], "c360; fwd=bypass");
    assert!(response.headers().get("age").is_none());
    let answer: Value = response.json().await.expect("JSON answer");
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn an_answer_about_a_hundred_customers_is_rebuilt_from_the_entity_tier() {
    // About a thousand records: far over `cache.response_max_entry_bytes` (128 KiB).
    let app = TestApp::builder().spawn().await;
    let ids: Vec<String> = (1..=100)
        .map(|i| (1_000_000_000u64 + i).to_string())
        .collect();
    let query = "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { number } \
                 cards { number } loans { id } onlineBanking { userId } \
                 sources { system fromCache } } }";
    let first = app.graphql(query, json!({"ids": ids})).await;
    assert!(first.get("errors").is_none(), "{first}");
    app.reset_stats().await;
    let second = app.graphql(query, json!({"ids": ids})).await;
    assert_eq!(app.total_requests().await, 0, "served from memory");
    // A replay of the stored answer would repeat the first one's sources (fetched from
    // the systems); an execution from the entity tier says they came from the cache.
    let from_cache = |answer: &Value| -> Vec<bool> {
        answer["data"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["sources"].as_array().unwrap().clone())
            .map(|s| s["fromCache"].as_bool().unwrap())
            .collect()
    };
    assert!(from_cache(&first).iter().all(|cached| !cached), "{first}");
    let second_sources = from_cache(&second);
    assert_eq!(second_sources.len(), 100 * 4, "{second}");
    assert!(second_sources.iter().all(|cached| *cached), "{second}");
    assert_eq!(
        first["data"]["customers"][99]["accounts"],
        second["data"]["customers"][99]["accounts"]
    );
}

#[tokio::test]
async fn without_the_response_tier_entities_come_from_memory() {
    let app = TestApp::builder()
        .config(|c| c.cache.response_enabled = false)
        .spawn()
        .await;
    let first = served(&app, PROFILE_360, json!({"id": "1000000001"})).await;
    assert_eq!(
        (first.cache_status.as_str(), first.age),
        ("c360; fwd=miss", None),
        "nothing stored, nothing from a cache"
    );
    app.reset_stats().await;
    let second = served(&app, PROFILE_360, json!({"id": "1000000001"})).await;
    assert_eq!(app.total_requests().await, 0);
    let answer = &second.answer;
    for source in answer["data"]["customer"]["sources"].as_array().unwrap() {
        assert_eq!(source["fromCache"], true, "{source}");
        assert_eq!(source["stale"], false, "{source}");
    }
    assert!(
        second.cache_status.starts_with("c360; hit; ttl=")
            && second.cache_status.ends_with("; detail=entity"),
        "{}",
        second.cache_status
    );
    assert!(
        second.age.is_some_and(|age| age < 5),
        "as old as the entities: {:?}",
        second.age
    );
    // A different query over the same customer shares the entities.
    app.reset_stats().await;
    app.graphql(
        "query($id: ID!) { customer(id: $id) { cards { kind } loans { id } } }",
        json!({"id": "1000000001"}),
    )
    .await;
    assert_eq!(app.total_requests().await, 0);
}

/// The in-process tier's default size holds 50,000 customers' full profiles. What a
/// profile weighs is read from `/metrics` after reading real sandbox customers.
#[tokio::test]
async fn the_default_entity_tier_holds_fifty_thousand_profiles() {
    let app = TestApp::builder()
        .config(|c| {
            with_events(c);
            c.cache.response_enabled = false;
        })
        .spawn()
        .await;
    let default_bytes = c360::config::Config::default().cache.l1_max_bytes;
    let query = "query($ids: [ID!]!) { customers(ids: $ids) { id name accounts { number } \
                 cards { number } loans { id } onlineBanking { userId } } }";
    let pool: Vec<String> = (1..=300)
        .map(|i| (1_000_000_000u64 + i).to_string())
        .collect();
    for ids in pool.chunks(100) {
        let answer = app.graphql(query, json!({"ids": ids})).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let metrics = app.metrics().await;
    let l1 =
        |series: &str| sample(&metrics, series).unwrap_or_else(|| panic!("{series}\n{metrics}"));
    // Customer, accounts, cards, loans and online banking: five entries a profile.
    assert_eq!(
        l1(r#"c360_cache_entries{tier="l1"}"#),
        5.0 * pool.len() as f64
    );
    let per_profile = l1(r#"c360_cache_bytes{tier="l1"}"#) / pool.len() as f64;
    assert!(
        per_profile * 50_000.0 <= default_bytes as f64,
        "{per_profile:.0} bytes a profile: 50,000 take {:.0} MB, over the default {} MB",
        per_profile * 50_000.0 / 1e6,
        default_bytes / 1_000_000
    );
    assert_eq!(
        l1(r#"c360_cache_evictions_total{cause="size",tier="l1"}"#),
        0.0
    );

    app.reset_stats().await;
    for ids in pool.chunks(100) {
        app.graphql(query, json!({"ids": ids})).await;
    }
    assert_eq!(app.total_requests().await, 0, "every profile is still held");

    // A change to one customer drops its entries, counted as invalidated.
    let (status, answer) = send_event(
        &app,
        &json!({"system": "core", "entity": "customer", "keys": ["1000000001"]}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let metrics = app.metrics().await;
    let invalidated = sample(
        &metrics,
        r#"c360_cache_evictions_total{cause="invalidation",tier="l1"}"#,
    );
    assert!(invalidated >= Some(2.0), "customer and accounts: {metrics}");
    assert_eq!(
        sample(&metrics, r#"c360_cache_entries{tier="l1"}"#),
        Some(5.0 * pool.len() as f64 - invalidated.unwrap()),
    );
}

#[tokio::test]
async fn a_failing_system_is_served_stale_and_says_so() {
    let app = TestApp::builder()
        .config(|c| {
            c.cache.response_enabled = false;
            c.connectors.cards.cache_ttl = Some(Duration::from_millis(100));
            c.connectors.cards.retry_attempts = Some(1);
        })
        .spawn()
        .await;
    let fresh = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.set_fault(json!({"system": "cards", "status": 503}))
        .await;
    let stale = served(&app, PROFILE_360, json!({"id": "1000000001"})).await;
    assert_eq!(
        stale.cache_status, "c360; fwd=stale; detail=entity",
        "stale data is never stored"
    );
    assert!(stale.age.is_some(), "the stale data's age");
    let answer = stale.answer;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert_eq!(
        answer["data"]["customer"]["cards"],
        fresh["data"]["customer"]["cards"]
    );
    let cards = answer["data"]["customer"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == "cards")
        .unwrap()
        .clone();
    assert_eq!(
        (cards["stale"].clone(), cards["fromCache"].clone()),
        (json!(true), json!(true)),
        "{cards}"
    );
    assert_eq!(
        answer["extensions"]["warnings"][0]["code"], "STALE_DATA",
        "{answer}"
    );
    assert_eq!(answer["extensions"]["warnings"][0]["source"], "cards");
}

#[tokio::test]
async fn a_failing_system_with_nothing_cached_is_an_error() {
    let app = TestApp::builder().spawn().await;
    app.set_fault(json!({"system": "cards", "status": 503}))
        .await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    assert!(answer["data"]["customer"]["cards"].is_null());
    assert_eq!(
        errors_with_code(&answer, "UPSTREAM_UNAVAILABLE").len(),
        1,
        "{answer}"
    );
    // And a failed answer is not cached: the next one, once cards recover, is whole.
    app.clear_faults().await;
    let answer = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn a_hundred_concurrent_cold_queries_make_one_call_per_system() {
    let app = TestApp::builder().spawn().await;
    app.reset_stats().await;
    let query = "query($id: ID!) { customer(id: $id) { id accounts { number } cards { number } loans { id } onlineBanking { userId } } }";
    let queries: Vec<_> = (0..100)
        .map(|_| app.graphql(query, json!({"id": "1000000002"})))
        .collect();
    for answer in futures::future::join_all(queries).await {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    assert_one_call_per_system_and_entity(&app.stats().await);
}

#[tokio::test]
async fn an_account_event_drops_the_responses_containing_it_and_no_other() {
    let app = TestApp::builder().config(with_events).spawn().await;
    let query =
        "query($id: ID!) { customer(id: $id) { id accounts { number balance { amount } } } }";
    app.graphql(query, json!({"id": "1000000001"})).await;
    app.graphql(query, json!({"id": "1000000002"})).await;
    let raw: Value = app
        .client
        .get(format!(
            "{}/core/v1/customers/1000000001/accounts",
            app.sandbox
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = raw["body"]["ACCT_LIST"][0]["ACCT_NO"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, answer) = send_event(
        &app,
        &json!({"system": "core", "entity": "account", "keys": [account]}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert!(
        answer["invalidated"]["response"].as_u64().unwrap() >= 1,
        "{answer}"
    );

    app.reset_stats().await;
    app.graphql(query, json!({"id": "1000000002"})).await;
    assert_eq!(
        app.total_requests().await,
        0,
        "customer 2's response is untouched"
    );
    app.graphql(query, json!({"id": "1000000001"})).await;
    let stats = app.stats().await;
    assert_eq!(
        requests(&stats, "core"),
        1,
        "only the accounts are read again: {stats}"
    );
}

#[tokio::test]
async fn events_must_be_authenticated_and_well_formed() {
    let app = TestApp::builder().spawn().await;
    let event = stamped(json!({"system": "core", "entity": "customer", "keys": ["1000000001"]}));
    let response = app
        .client
        .post(format!("{}/events", app.hub))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "no secret configured: refused");

    let app = TestApp::builder().config(with_events).spawn().await;
    for (headers, status) in [
        (vec![], 401),
        (vec![("x-c360-signature", "sha256=00ff")], 401),
        (vec![("authorization", "Bearer wrong")], 401),
        (vec![("authorization", "Bearer test-events-secret")], 202),
    ] {
        let mut request = app.client.post(format!("{}/events", app.hub)).json(&event);
        for (name, value) in headers.clone() {
            request = request.header(name, value);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            status,
            "{headers:?}"
        );
    }
    for bad in [
        json!({"system": "mainframe", "entity": "customer", "keys": ["1"]}),
        json!({"system": "core", "entity": "balance", "keys": ["1"]}),
        json!({"system": "core", "entity": "customer", "keys": []}),
    ] {
        let (status, answer) = send_event(&app, &bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("events[0]."),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_signed_event_is_accepted_once_and_only_near_the_hubs_clock() {
    let app = TestApp::builder().config(with_events).spawn().await;
    let change = json!({"system": "core", "entity": "customer", "keys": ["1000000001"]});
    let at = |offset: chrono::Duration| {
        let mut body = stamped(change.clone());
        body["timestamp"] = json!((chrono::Utc::now() + offset).to_rfc3339());
        body.to_string()
    };
    let refused = |answer: &Value, field: &str| {
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["field"], field, "{answer}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}:")),
            "{answer}"
        );
    };

    let fresh = at(chrono::Duration::zero());
    let (status, answer) = send_signed(&app, &fresh).await;
    assert_eq!(status, 202, "a fresh event is accepted: {answer}");
    let (status, answer) = send_signed(&app, &fresh).await;
    assert_eq!(status, 409, "the same signed body again: {answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "CONFLICT");
    refused(&answer, "id");

    for (offset, what) in [
        (
            chrono::Duration::minutes(-6),
            "a body written 6 minutes ago",
        ),
        (chrono::Duration::minutes(6), "a body dated 6 minutes ahead"),
    ] {
        let (status, answer) = send_signed(&app, &at(offset)).await;
        assert_eq!(status, 400, "{what}: {answer}");
        refused(&answer, "timestamp");
    }
    let mut unix = stamped(change.clone());
    unix["timestamp"] = json!(chrono::Utc::now().timestamp() - 60);
    let (status, answer) = send_signed(&app, &unix.to_string()).await;
    assert_eq!(status, 202, "unix seconds, a minute old: {answer}");

    let (status, answer) = send_signed(&app, &change.to_string()).await;
    assert_eq!(status, 400, "an unstamped body: {answer}");
    refused(&answer, "id");
    let mut no_time = stamped(change.clone());
    no_time.as_object_mut().unwrap().remove("timestamp");
    let (status, answer) = send_signed(&app, &no_time.to_string()).await;
    assert_eq!(status, 400, "{answer}");
    refused(&answer, "timestamp");

    let metrics = app.metrics().await;
    for (reason, count) in [("replayed", 1.0), ("window", 2.0)] {
        assert_eq!(
            sample(
                &metrics,
                &format!("c360_events_refused_total{{reason=\"{reason}\"}}")
            ),
            Some(count),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn persisted_queries_follow_the_apollo_protocol() {
    let app = TestApp::builder().spawn().await;
    let query = "{ customer(id: \"1000000003\") { id } }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let post = |body: Value| {
        let client = app.client.clone();
        let url = format!("{}/graphql", app.hub);
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let unknown = post(json!({"extensions": extensions})).await;
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    let registered = post(json!({"query": query, "extensions": extensions})).await;
    assert_eq!(registered["data"]["customer"]["id"], "1000000003");
    let by_hash = post(json!({"extensions": extensions})).await;
    assert_eq!(by_hash["data"]["customer"]["id"], "1000000003");
    let mismatch = post(json!({"query": "{ __typename }", "extensions": extensions})).await;
    assert!(
        mismatch["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{mismatch}"
    );
}

#[tokio::test]
async fn metrics_count_cache_use_per_tier_and_system() {
    let no_response_tier = |c: &mut c360::config::Config| c.cache.response_enabled = false;
    let app = TestApp::builder().config(no_response_tier).spawn().await;
    // A second hub in the same process, against the same sandbox, asked nothing.
    let idle = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(no_response_tier)
        .spawn()
        .await;
    let l1 = |result: &str, system: &str| {
        format!(r#"c360_cache_lookups_total{{result="{result}",system="{system}",tier="l1"}}"#)
    };

    app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    let first = app.metrics().await;
    app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    let second = app.metrics().await;

    for system in ["core", "cards", "loans", "channels"] {
        let misses = sample(&first, &l1("miss", system)).unwrap_or(0.0);
        assert!(misses >= 1.0, "{system}: the first read misses\n{first}");
        assert_eq!(
            sample(&second, &l1("miss", system)),
            Some(misses),
            "{system}: the second read misses nothing\n{second}"
        );
        let hits = |text: &str| sample(text, &l1("hit", system)).unwrap_or(0.0);
        assert!(
            hits(&second) > hits(&first),
            "{system}: the second read hits L1\n{second}"
        );
    }
    let idle = app
        .client
        .get(format!("{}/metrics", idle.hub))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !idle.contains("c360_cache_lookups_total{"),
        "the idle hub counted no lookups\n{idle}"
    );
    assert!(
        idle.contains("\nc360_subscriptions_open 0\n"),
        "a metrics page: {idle}"
    );
}

/// A change notice says which kind of record moved ("the deposits changed"), which is
/// data of that kind: a role denied deposits learns of a card's change, never of an
/// account's.
#[tokio::test]
async fn change_notices_are_withheld_from_roles_denied_their_kind_of_record() {
    let app = TestApp::builder().config(with_events).spawn().await;
    let cif = "1000000007";
    let query = "subscription($id: ID!) { customerChanged(id: $id) { system entity } }";
    let risk = token_for("risk_officer", Some("R0001"), Some("B001"), None);
    let mut risk_screen = ws_subscribe_as(&app.ws_url(), &risk, query, json!({"id": cif})).await;
    let mut admin_screen = ws_subscribe(&app.ws_url(), query, json!({"id": cif})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    for (system, entity) in [("core", "account"), ("cards", "card")] {
        let (status, answer) = send_event(
            &app,
            &json!({"system": system, "entity": entity, "keys": [cif], "customerId": cif}),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    let mut admin_saw = Vec::new();
    while let Some(notice) = ws_next(&mut admin_screen, Duration::from_secs(2)).await {
        admin_saw.push(notice["payload"]["data"]["customerChanged"]["entity"].clone());
        if admin_saw.len() == 2 {
            break;
        }
    }
    assert_eq!(admin_saw, [json!("account"), json!("card")]);
    let notice = ws_next(&mut risk_screen, Duration::from_secs(2))
        .await
        .expect("the card's change reaches the risk officer");
    assert_eq!(
        notice["payload"]["data"]["customerChanged"],
        json!({"system": "cards", "entity": "card"}),
        "the account's change is never sent: {notice}"
    );
    assert!(
        ws_next(&mut risk_screen, Duration::from_millis(500))
            .await
            .is_none(),
        "nothing else arrives"
    );
}
