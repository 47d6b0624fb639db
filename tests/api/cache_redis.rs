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
        .json(&json!({"system": "core", "entity": "customer", "keys": ["1000000007"]}))
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
