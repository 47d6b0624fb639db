//! The shared tier against a real Redis (`C360_TEST_REDIS_URL`, which CI sets): hub
//! instances sharing entities, sealed values, a Redis that dies and comes back, and
//! single flight across instances. Each test uses its own key prefix.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::redis_server::{free_port, listening, OwnRedis};
use crate::common::*;
use base64::Engine;
use c360::config::Config;
use serde_json::json;

fn prefix() -> String {
    format!("c360test:{}:{}:", std::process::id(), fastrand::u64(..))
}

fn shared(url: &str, prefix: &str) -> impl Fn(&mut Config) {
    let (url, prefix) = (url.to_owned(), prefix.to_owned());
    move |config: &mut Config| {
        config.redis.url = Some(url.clone());
        config.redis.key_prefix = prefix.clone();
        config.redis.timeout = Duration::from_millis(500);
    }
}

async fn redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn keys(url: &str, prefix: &str) -> Vec<String> {
    let mut connection = redis(url).await;
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn a_second_hub_serves_the_first_ones_customer_from_redis() {
    let url = redis_url();
    let prefix = prefix();
    let config = shared(&url, &prefix);
    second_hub_reads_what_the_first_cached(|c: &mut Config| config(c)).await;
}

/// A hub reads a customer; a second hub configured alike (sharing its Redis) serves
/// the same customer with zero upstream calls. Returns the first hub.
async fn second_hub_reads_what_the_first_cached(config: impl Fn(&mut Config) + Copy) -> TestApp {
    let app = TestApp::builder().config(config).spawn().await;
    let first = app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
    assert!(first.get("errors").is_none(), "{first}");
    let second = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(config)
        .spawn()
        .await;
    app.reset_stats().await;
    let second = app
        .graphql_at(&second.hub, PROFILE_360, json!({"id": "1000000001"}))
        .await;
    assert_eq!(
        app.total_requests().await,
        0,
        "served from Redis: {}",
        app.stats().await
    );
    assert_eq!(
        first["data"]["customer"]["accounts"],
        second["data"]["customer"]["accounts"]
    );
    assert_eq!(second["data"]["customer"]["sources"][0]["fromCache"], true);
    app
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn sealed_values_show_no_personal_data_in_redis() {
    let url = redis_url();
    let raw_customer = {
        let app = TestApp::builder().spawn().await;
        app.core_customer("1000000001").await
    };
    let name = raw_customer["CUST_NM"].as_str().unwrap().to_owned();
    let id_number = raw_customer["CERT_NO"].as_str().unwrap().to_owned();

    for sealed in [false, true] {
        let prefix = prefix();
        let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
        let app = TestApp::builder()
            .config(|config| {
                shared(&url, &prefix)(config);
                if sealed {
                    config.cache.encryption_key = Some(key.clone());
                }
            })
            .spawn()
            .await;
        app.graphql(PROFILE_360, json!({"id": "1000000001"})).await;
        let names = keys(&url, &prefix).await;
        assert!(names.len() >= 5, "entries written: {names:?}");
        let mut connection = redis(&url).await;
        let mut plaintext = false;
        for key in &names {
            assert!(
                !key.contains(&id_number),
                "key names carry no ID number: {key}"
            );
            let kind: String = redis::cmd("TYPE")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            if kind != "string" {
                continue;
            }
            let value: Vec<u8> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&value);
            plaintext |= text.contains(&name) || text.contains(&id_number);
        }
        assert_eq!(plaintext, !sealed, "sealed: {sealed}");
    }
}

#[tokio::test]
#[cfg_attr(
    not(c360_redis),
    ignore = "needs Redis: set C360_TEST_REDIS_URL (and redis-server on PATH)"
)]
async fn redis_dying_and_returning_fails_no_request() {
    let port = free_port();
    let own = OwnRedis::start(port)
        .expect("redis-server (on PATH) listening: this test kills and restarts its own");
    let url = own.url();
    let prefix = prefix();
    let app = TestApp::builder()
        .config(|config| {
            shared(&url, &prefix)(config);
            config.cache.response_enabled = false;
        })
        .spawn()
        .await;
    let query = "query($id: ID!) { customer(id: $id) { id accounts { number } cards { number } } }";
    for i in 1..=5 {
        let answer = app
            .graphql(query, json!({"id": format!("{}", 1_000_000_000 + i)}))
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    drop(own);
    for i in 1..=10 {
        let answer = app
            .graphql(query, json!({"id": format!("{}", 1_000_000_000 + i)}))
            .await;
        assert!(
            answer.get("errors").is_none(),
            "Redis down must not fail a request: {answer}"
        );
    }
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/readyz", app.hub))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["cache"]["redis"]["status"], "degraded",
        "{ready}"
    );

    let _again = OwnRedis::start(port).expect("redis restarts on its port");
    let mut resumed = false;
    for attempt in 0..60 {
        let answer = app
            .graphql(query, json!({"id": format!("{}", 1_000_000_100 + attempt)}))
            .await;
        assert!(answer.get("errors").is_none(), "{answer}");
        if !keys(&url, &prefix).await.is_empty() {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resumed, "the hub writes to Redis again once it is back");
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn two_instances_cold_at_once_call_each_system_once() {
    let url = redis_url();
    let prefix = prefix();
    let no_responses = |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.cache.response_enabled = false;
    };
    let app = TestApp::builder().config(no_responses).spawn().await;
    let second = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(no_responses)
        .spawn()
        .await;
    // Slow upstreams, so that both instances are in flight together.
    for system in ["core", "cards", "loans", "channels"] {
        app.set_fault(json!({"system": system, "latency_ms": 150}))
            .await;
    }
    app.reset_stats().await;
    let query = "query($id: ID!) { customer(id: $id) { id accounts { number } cards { number } loans { id } onlineBanking { userId } } }";
    let mut all = Vec::new();
    for i in 0..40 {
        let hub: &str = if i % 2 == 0 { &app.hub } else { &second.hub };
        all.push(app.graphql_at(hub, query, json!({"id": "1000000005"})));
    }
    for answer in futures::future::join_all(all).await {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    assert_one_call_per_system_and_entity(&app.stats().await);
}

/// A three-node Redis Cluster of the test's own, on free ports.
struct OwnCluster {
    nodes: Vec<OwnRedis>,
    dir: std::path::PathBuf,
}

impl OwnCluster {
    fn start() -> Option<OwnCluster> {
        let dir = std::env::temp_dir().join(format!(
            "c360-cluster-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let config_file = format!("nodes-{port}.conf");
            nodes.push(OwnRedis::start_with(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &config_file,
                ],
                Some(&dir),
            )?);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !created.success() {
            return None;
        }
        // Wait until every node agrees that all slots are served.
        for _ in 0..100 {
            let ok = nodes.iter().all(|n| {
                Command::new("redis-cli")
                    .args(["-p", &n.port.to_string(), "cluster", "info"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                    .unwrap_or(false)
            });
            if ok {
                return Some(OwnCluster { nodes, dir });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
#[cfg_attr(
    not(c360_redis),
    ignore = "needs Redis: set C360_TEST_REDIS_URL (and redis-server, redis-cli on PATH)"
)]
async fn a_redis_cluster_shares_entities_across_slots() {
    let cluster = OwnCluster::start()
        .expect("a Redis Cluster of the test's own: redis-server and redis-cli on PATH");
    let url = cluster.url();
    let on_cluster = |config: &mut Config| {
        config.redis.url = Some(url.clone());
        config.redis.cluster = true;
        config.redis.timeout = Duration::from_millis(500);
        config.cache.response_enabled = false;
    };
    let app = TestApp::builder().config(on_cluster).spawn().await;
    let ids: Vec<String> = (1..=20).map(|i| format!("{}", 1_000_000_000 + i)).collect();
    let query =
        "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { number } cards { number } } }";
    let first = app.graphql(query, json!({"ids": ids})).await;
    assert!(first.get("errors").is_none(), "{first}");

    let second = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(on_cluster)
        .spawn()
        .await;
    app.reset_stats().await;
    let second = app
        .graphql_at(&second.hub, query, json!({"ids": ids}))
        .await;
    assert_eq!(first["data"], second["data"]);
    assert_eq!(
        app.total_requests().await,
        0,
        "keys in many slots, one MGET: {}",
        app.stats().await
    );
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn an_event_sent_to_one_instance_evicts_on_both_and_tells_open_screens() {
    let url = redis_url();
    let prefix = prefix();
    let with_secret = |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.events.secret = Some("s3cret".into());
    };
    let app = TestApp::builder().config(with_secret).spawn().await;
    let second = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(with_secret)
        .spawn()
        .await;
    let query = "query($id: ID!) { customer(id: $id) { id status } }";
    for hub in [&app.hub, &second.hub] {
        app.graphql_at(hub, query, json!({"id": "1000000007"}))
            .await;
    }
    let ws = format!("{}/graphql/ws", second.hub.replacen("http://", "ws://", 1));
    let mut screen = ws_subscribe(
        &ws,
        "subscription { customerChanged(id: \"1000000007\") { id system entity } }",
        json!({}),
    )
    .await;

    let response = app
        .client
        .post(format!("{}/events", app.hub))
        .header("authorization", "Bearer s3cret")
        .json(&stamped(
            json!({"system": "core", "entity": "customer", "keys": ["1000000007"]}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let notice = ws_next(&mut screen, Duration::from_secs(2))
        .await
        .expect("a change notice within 2 s");
    assert_eq!(
        notice["payload"]["data"]["customerChanged"],
        json!({"id": "1000000007", "system": "core", "entity": "customer"})
    );
    // The second instance's own tiers dropped the customer: it reads core again.
    app.reset_stats().await;
    app.graphql_at(&second.hub, query, json!({"id": "1000000007"}))
        .await;
    assert_eq!(
        requests(&app.stats().await, "core"),
        1,
        "evicted on the other instance too"
    );
}

/// A TLS-only redis-server of the test's own, presenting a certificate signed by the
/// test CA in tests/fixtures/redis-tls.
struct OwnTlsRedis {
    child: Child,
    port: u16,
}

impl OwnTlsRedis {
    fn start() -> Option<OwnTlsRedis> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redis-tls");
        let port = free_port();
        let file = |name: &str| dir.join(name).display().to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                &file("server.pem"),
                "--tls-key-file",
                &file("server.key"),
            ])
            .args([
                "--tls-ca-cert-file",
                &file("ca.pem"),
                "--tls-auth-clients",
                "no",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = OwnTlsRedis { child, port };
        listening(port).then_some(redis)
    }
}

impl Drop for OwnTlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[cfg_attr(
    not(c360_redis),
    ignore = "needs Redis: set C360_TEST_REDIS_URL (and redis-server on PATH)"
)]
async fn rediss_with_the_banks_own_ca_shares_the_cache() {
    let own = OwnTlsRedis::start()
        .expect("a TLS redis-server of the test's own: redis-server built with TLS on PATH");
    let ca =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redis-tls/ca.pem");
    let url = format!("rediss://127.0.0.1:{}", own.port);
    let prefix = prefix();
    let tls = |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.redis.ca_file = Some(ca.clone());
    };
    let app = second_hub_reads_what_the_first_cached(tls).await;

    // Without the CA the server's certificate is not trusted: Redis is degraded, and
    // every request is still answered.
    let untrusting = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(|config: &mut Config| {
            shared(&url, &prefix)(config);
        })
        .spawn()
        .await;
    let answer = app
        .graphql_at(&untrusting.hub, PROFILE_360, json!({"id": "1000000002"}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/readyz", untrusting.hub))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["cache"]["redis"]["status"], "degraded",
        "{ready}"
    );
}

/// A hub with its own key prefix, sealing with `key`, whose reads go to Redis: no
/// in-process entity tier and no response tier in front of it.
fn sealed_l2_only(url: &str, prefix: &str, key: &str) -> impl Fn(&mut Config) {
    let (url, prefix, key) = (url.to_owned(), prefix.to_owned(), key.to_owned());
    move |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.cache.encryption_key = Some(key.clone());
        config.cache.l1_max_bytes = 0;
        config.cache.response_enabled = false;
    }
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn a_sealed_value_copied_to_another_customers_key_is_a_miss() {
    let url = redis_url();
    let prefix = prefix();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let app = TestApp::builder()
        .config(sealed_l2_only(&url, &prefix, &key))
        .spawn()
        .await;
    let query = "query($id: ID!) { customer(id: $id) { id name idDocument { number } mobile } }";
    let (a, b) = ("1000000001", "1000000002");
    let a_answer = app.graphql(query, json!({"id": a})).await;
    let b_answer = app.graphql(query, json!({"id": b})).await;
    assert!(b_answer.get("errors").is_none(), "{b_answer}");
    assert_ne!(a_answer["data"], b_answer["data"]);

    // Someone who can write to Redis (but holds no key) puts A's sealed profile
    // under B's key names.
    let mut connection = redis(&url).await;
    let a_keys: Vec<String> = keys(&url, &prefix)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&format!("{prefix}e:core:")) && k.ends_with(&format!(":{a}")))
        .collect();
    assert!(!a_keys.is_empty(), "A's core entries are in Redis");
    for a_key in &a_keys {
        let sealed: Vec<u8> = redis::cmd("GET")
            .arg(a_key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let b_key = format!("{}{b}", a_key.strip_suffix(a).unwrap());
        let _: () = redis::cmd("SET")
            .arg(&b_key)
            .arg(sealed)
            .arg("PX")
            .arg(60_000)
            .query_async(&mut connection)
            .await
            .unwrap();
    }

    app.reset_stats().await;
    let again = app.graphql(query, json!({"id": b})).await;
    assert_eq!(
        again["data"], b_answer["data"],
        "B's own data, not the copy of A's"
    );
    assert!(
        requests(&app.stats().await, "core") >= 1,
        "the moved value was a miss: B read from core banking again"
    );
    let metrics = app.metrics().await;
    let rejected = sample(
        &metrics,
        "c360_cache_seal_rejected_total{reason=\"authentication\"}",
    )
    .unwrap_or(0.0);
    assert!(
        rejected >= a_keys.len() as f64,
        "each moved value counted: {rejected}"
    );
}

/// Listens to every bus channel under `prefix` as any Redis client can.
async fn eavesdrop(url: &str, prefix: &str) -> redis::aio::PubSub {
    let mut pubsub = redis::Client::open(url)
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub.psubscribe(format!("{prefix}*")).await.unwrap();
    pubsub
}

/// The next message on `channel` the eavesdropper hears within 2 s.
async fn overheard(pubsub: &mut redis::aio::PubSub, channel: &str) -> Vec<u8> {
    use futures::StreamExt;
    let mut messages = pubsub.on_message();
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let message = messages.next().await.expect("subscribed");
            if message.get_channel_name() == channel {
                return message.get_payload::<Vec<u8>>().unwrap();
            }
        }
    })
    .await
    .expect("a message on the channel within 2 s")
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn with_a_key_bus_messages_cross_redis_sealed_and_forged_ones_are_dropped() {
    let url = redis_url();
    let subscription =
        "subscription($id: ID) { interactionLogged(customerId: $id) { id subject notes } }";
    let channel = |prefix: &str| format!("{prefix}{}", c360::graphql::INTERACTIONS_CHANNEL);
    let notes = "Customer mentioned a hospital stay; wants the card limit raised";

    // What a message looks like in clear: a deployment without a key, overheard.
    let clear_prefix = prefix();
    let clear_hub = TestApp::builder()
        .config(shared(&url, &clear_prefix))
        .spawn()
        .await;
    let mut listener = eavesdrop(&url, &clear_prefix).await;
    clear_hub
        .log_ok(
            with(
                interaction_input("1000000401", "Clear"),
                json!({"notes": notes}),
            ),
            None,
        )
        .await;
    let clear = overheard(&mut listener, &channel(&clear_prefix)).await;
    assert!(String::from_utf8_lossy(&clear).contains(notes));
    let mut forged: serde_json::Value = serde_json::from_slice(&clear).unwrap();
    forged["origin"] = json!(uuid::Uuid::now_v7());
    forged["payload"]["subject"] = json!("Forged: call this number to unlock your card");

    // A deployment with a key: two hubs, a screen open on the second.
    let prefix = prefix();
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let sealed = |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.cache.encryption_key = Some(key.clone());
    };
    let hub_a = TestApp::builder().config(sealed).spawn().await;
    let hub_b = TestApp::builder()
        .sandbox(&hub_a.sandbox)
        .config(sealed)
        .spawn()
        .await;
    let mut screen = ws_subscribe(&hub_b.ws_url(), subscription, json!({"id": "1000000401"})).await;
    let mut listener = eavesdrop(&url, &prefix).await;
    let logged = hub_a
        .log_ok(
            with(
                interaction_input("1000000401", "Limit request"),
                json!({"notes": notes}),
            ),
            None,
        )
        .await;
    let on_the_wire = overheard(&mut listener, &channel(&prefix)).await;
    let text = String::from_utf8_lossy(&on_the_wire);
    assert!(
        !text.contains("hospital")
            && !text.contains("Limit request")
            && !text.contains("1000000401"),
        "nothing of the interaction in clear on Redis: {text}"
    );
    let delivered = ws_next(&mut screen, Duration::from_secs(2))
        .await
        .expect("the other hub opens and delivers it");
    assert_eq!(
        delivered["payload"]["data"]["interactionLogged"]["id"],
        logged["id"]
    );
    assert_eq!(
        delivered["payload"]["data"]["interactionLogged"]["notes"],
        notes
    );

    // Whoever can publish on Redis sends a clear message in the hubs' format.
    let mut connection = redis(&url).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel(&prefix))
        .arg(forged.to_string())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        ws_next(&mut screen, Duration::from_millis(500))
            .await
            .is_none(),
        "a forged clear message reaches no screen"
    );
    let metrics = hub_b.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "c360_bus_messages_rejected_total{reason=\"format\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
#[cfg_attr(not(c360_redis), ignore = "needs Redis: set C360_TEST_REDIS_URL")]
async fn an_event_accepted_by_one_hub_is_refused_when_replayed_to_another() {
    let url = redis_url();
    let prefix = prefix();
    let with_secret = |config: &mut Config| {
        shared(&url, &prefix)(config);
        config.events.secret = Some("s3cret".into());
    };
    let app = TestApp::builder().config(with_secret).spawn().await;
    let second = TestApp::builder()
        .sandbox(&app.sandbox)
        .config(with_secret)
        .spawn()
        .await;
    let body = stamped(json!({"system": "core", "entity": "customer", "keys": ["1000000008"]}));
    let send = |hub: String| {
        let request = app
            .client
            .post(format!("{hub}/events"))
            .header("authorization", "Bearer s3cret")
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(app.hub.clone()).await, 202);
    assert_eq!(
        send(second.hub.clone()).await,
        409,
        "the id is remembered in Redis, for every hub"
    );
}
