//! The change feed against a real RabbitMQ (`C360_TEST_AMQP_URL`, which CI sets): the
//! sandbox publishes its changes, hubs consume them. A change reaches the `customer`
//! and `segmentSummary` answers of two hubs sharing a database and Redis within a
//! second; a duplicated event is applied once; a body
//! that cannot be read is dead-lettered; a broker restarted mid-stream loses nothing.
//!
//! Each test declares an exchange and queues of its own. They share one broker, and
//! one of them restarts it, so they take turns ([`BROKER`]).

use std::str::FromStr;
use std::time::{Duration, Instant};

use c360::config::Config;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::common::process::C360Process;
use crate::common::*;

/// One feed test at a time: one of them stops the broker, which the others would
/// see as a failure of their own.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The customer whose balances the tests move.
const CIF: &str = "1000000042";

/// An exchange and queues of one test's own, deleted afterwards.
struct Topology {
    exchange: String,
    queue: String,
    dead_letters: String,
    dead_letter_queue: String,
}

impl Topology {
    fn new() -> Topology {
        let name = format!("c360test.{}.{}", std::process::id(), fastrand::u64(..));
        Topology {
            exchange: format!("{name}.changes"),
            queue: format!("{name}.hub"),
            dead_letters: format!("{name}.dlx"),
            dead_letter_queue: format!("{name}.dead"),
        }
    }

    /// The hub's `[feed]` on this topology: the shipped bindings, on its exchange.
    fn feed(&self) -> impl Fn(&mut Config) + Clone + '_ {
        move |config: &mut Config| {
            config.feed.url = Some(amqp_url());
            config.feed.queue = self.queue.clone();
            config.feed.dead_letter_exchange = self.dead_letters.clone();
            config.feed.dead_letter_queue = self.dead_letter_queue.clone();
            config.feed.lag_interval = Duration::from_millis(500);
            config.feed.reconnect_max = Duration::from_secs(2);
            config.feed.retry_max = Duration::from_secs(1);
            for binding in &mut config.feed.bindings {
                binding.exchange = self.exchange.clone();
            }
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let (queues, exchanges) = (
            [self.queue.clone(), self.dead_letter_queue.clone()],
            [self.exchange.clone(), self.dead_letters.clone()],
        );
        // Drop runs inside the test's runtime, which cannot block on itself.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let Ok(connection) =
                    Connection::connect(&amqp_url(), ConnectionProperties::default()).await
                else {
                    return;
                };
                let Ok(channel) = connection.create_channel().await else {
                    return;
                };
                for queue in queues {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                for exchange in exchanges {
                    let _ = channel
                        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
                let _ = connection.close(200, "test done".into()).await;
            });
        })
        .join();
    }
}

/// Publishes `body` as a system would: persistent, confirmed by the broker.
async fn publish(exchange: &str, routing_key: &str, body: &[u8]) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ at C360_TEST_AMQP_URL");
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let confirmation = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirmation.is_ack(), "the broker took the message");
    let _ = connection.close(200, "published".into()).await;
}

/// A `c360_feed_events_total` sample of `app`.
async fn feed_events(app: &TestApp, system: &str, outcome: &str) -> u64 {
    labelled(
        &app.metrics().await,
        "c360_feed_events_total{",
        &[("system", system), ("outcome", outcome)],
    )
}

/// The value of the sample of `family` whose labels include every pair of `labels`.
fn labelled(metrics: &str, family: &str, labels: &[(&str, &str)]) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(family))
        .find(|line| {
            labels
                .iter()
                .all(|(name, value)| line.contains(&format!("{name}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// Waits until `check` holds, for at most `limit`; false if it never did.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the hub consumes from the broker (its queue and bindings declared).
async fn consuming(app: &TestApp) {
    let connected = eventually(Duration::from_secs(15), || async {
        sample(&app.metrics().await, "c360_feed_connected") == Some(1.0)
    })
    .await;
    assert!(connected, "the hub consumes from the broker");
}

/// The sum of the customer's account balances as the hub at `hub` answers.
async fn total_balance(app: &TestApp, hub: &str) -> Decimal {
    let answer = app
        .graphql_at(
            hub,
            "query($id: ID!) { customer(id: $id) { accounts { balance { amount } } } }",
            json!({"id": CIF}),
        )
        .await;
    answer["data"]["customer"]["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("accounts: {answer}"))
        .iter()
        .map(|a| Decimal::from_str(a["balance"]["amount"].as_str().unwrap()).unwrap())
        .sum()
}

/// The customer's deposits in CNY, as the hub at `hub` answers.
async fn deposits(app: &TestApp, hub: &str) -> Decimal {
    let answer = app
        .graphql_at(
            hub,
            "query($id: ID!) { customer(id: $id) { holdings { deposits { amount } } } }",
            json!({"id": CIF}),
        )
        .await;
    let amount = answer["data"]["customer"]["holdings"]["deposits"]["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("deposits: {answer}"));
    Decimal::from_str(amount).unwrap()
}

/// The book's deposits in CNY, as `segmentSummary` at `hub` totals them (from the
/// snapshot once a sweep has completed).
async fn book_deposits(app: &TestApp, hub: &str) -> Decimal {
    let answer = app
        .graphql_at(
            hub,
            "{ segmentSummary(groupBy: [TIER, BRANCH]) { deposits { amount } } }",
            json!({}),
        )
        .await;
    answer["data"]["segmentSummary"]
        .as_array()
        .unwrap_or_else(|| panic!("segments: {answer}"))
        .iter()
        .map(|s| Decimal::from_str(s["deposits"]["amount"].as_str().unwrap()).unwrap())
        .sum()
}

/// Moves `delta` on the customer's first account through the sandbox, which
/// publishes the change on the broker; returns the sandbox's answer.
async fn move_balance(app: &TestApp, delta: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/_sandbox/changes", app.sandbox))
        .json(&json!({"cif": CIF, "kind": "balance", "delta": delta}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "change made: {answer}");
    assert_eq!(answer["published"], true, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(c360_amqp, c360_postgres, c360_redis)),
    ignore = "needs RabbitMQ, PostgreSQL and Redis: set C360_TEST_AMQP_URL, C360_TEST_DATABASE_URL and C360_TEST_REDIS_URL"
)]
async fn a_change_on_the_broker_changes_the_answer_of_two_hubs_within_a_second() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let db = TestDb::postgres().await;
    let prefix = format!("c360test:{}:{}:", std::process::id(), fastrand::u64(..));
    let redis = redis_url();
    let shared = |config: &mut Config| {
        topology.feed()(config);
        config.redis.url = Some(redis.clone());
        config.redis.key_prefix = prefix.clone();
        config.redis.timeout = Duration::from_millis(500);
    };
    let first = TestApp::builder()
        .database(&db)
        .broker(&amqp_url(), &topology.exchange)
        .config(shared)
        .spawn()
        .await;
    let second = TestApp::builder()
        .sandbox(&first.sandbox)
        .database(&db)
        .config(shared)
        .spawn()
        .await;
    consuming(&first).await;
    consuming(&second).await;
    let report = sweep(&db, &first.sandbox, Default::default()).await;
    assert!(report.complete && report.failed == 0, "{report:?}");
    let hubs = [first.hub.clone(), second.hub.clone()];
    let book_before = book_deposits(&first, &hubs[0]).await;
    assert_eq!(book_deposits(&first, &hubs[1]).await, book_before);
    let deposits_before = deposits(&first, &hubs[0]).await;
    // Both hubs answer from their tiers before the change: what changes their answer
    // is the event, not a cache that had nothing.
    let before = total_balance(&first, &hubs[0]).await;
    assert_eq!(total_balance(&first, &hubs[1]).await, before);
    first.reset_stats().await;
    for hub in &hubs {
        assert_eq!(total_balance(&first, hub).await, before);
    }
    assert_eq!(
        requests(&first.stats().await, "core"),
        0,
        "both hubs answer from their tiers"
    );

    move_balance(&first, "100.00").await;
    let published = Instant::now();
    let expected = before + Decimal::new(10_000, 2);
    for hub in &hubs {
        let changed = eventually(Duration::from_secs(1), || async {
            total_balance(&first, hub).await == expected
        })
        .await;
        assert!(
            changed,
            "{hub} answers the new balance within a second of the change (after {:?})",
            published.elapsed()
        );
        // The snapshot row was recomputed before the event was acknowledged: the
        // book's totals move by what the customer's deposits moved, on either hub.
        let summed = |seen: (Decimal, Decimal)| {
            seen.0 != deposits_before && seen.1 == book_before - deposits_before + seen.0
        };
        let mut seen = (deposits_before, book_before);
        while !summed(seen) && published.elapsed() < Duration::from_secs(1) {
            seen = (
                deposits(&first, hub).await,
                book_deposits(&first, hub).await,
            );
        }
        assert!(
            summed(seen),
            "{hub}'s segmentSummary counts the change within a second (after {:?}): \
             customer's deposits {deposits_before} -> {}, book {book_before} -> {}",
            published.elapsed(),
            seen.0,
            seen.1
        );
    }
    assert!(published.elapsed() < Duration::from_secs(1));

    // Competing consumers: each event is applied by one hub, once.
    for _ in 0..5 {
        move_balance(&first, "1.00").await;
    }
    let all_applied = eventually(Duration::from_secs(10), || async {
        feed_events(&first, "core", "applied").await + feed_events(&second, "core", "applied").await
            == 6
    })
    .await;
    assert!(all_applied, "six events applied across the two hubs");
    assert_eq!(
        feed_events(&first, "core", "duplicate").await
            + feed_events(&second, "core", "duplicate").await,
        0
    );
    assert_eq!(count_rows(&db, "feed_events").await, 6);
    let expected = expected + Decimal::new(500, 2);
    for hub in &hubs {
        assert!(
            eventually(Duration::from_secs(1), || async {
                total_balance(&first, hub).await == expected
            })
            .await,
            "{hub} shows every change"
        );
    }
    let metrics = format!("{}{}", first.metrics().await, second.metrics().await);
    assert!(
        labelled(
            &metrics,
            "c360_feed_event_age_seconds_count{",
            &[("system", "core")]
        ) >= 1,
        "event ages observed"
    );
    assert!(
        metrics.contains("\nc360_feed_lag_messages "),
        "lag exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(c360_amqp), ignore = "needs RabbitMQ: set C360_TEST_AMQP_URL")]
async fn a_duplicated_event_is_applied_once() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let db = TestDb::sqlite();
    let app = TestApp::builder()
        .database(&db)
        .config(topology.feed())
        .spawn()
        .await;
    consuming(&app).await;
    let body = json!({
        "EVT_ID": "dup-0001",
        "EVT_TM": chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .format("%Y%m%d%H%M%S")
            .to_string(),
        "EVT_TYP": "ACCT_BAL_CHG",
        "CUST_NO": CIF,
        "ACCT_NO": "6013547120548116162",
        "TXN_AMT": "5.00",
    })
    .to_string();
    publish(&topology.exchange, "core.account.balance", body.as_bytes()).await;
    publish(&topology.exchange, "core.account.balance", body.as_bytes()).await;
    let both = eventually(Duration::from_secs(10), || async {
        feed_events(&app, "core", "consumed").await == 2
    })
    .await;
    assert!(both, "both deliveries consumed");
    assert!(
        eventually(Duration::from_secs(5), || async {
            feed_events(&app, "core", "applied").await
                + feed_events(&app, "core", "duplicate").await
                == 2
        })
        .await,
        "both settled"
    );
    assert_eq!(feed_events(&app, "core", "applied").await, 1);
    assert_eq!(feed_events(&app, "core", "duplicate").await, 1);
    assert_eq!(count_rows(&db, "feed_events").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(c360_amqp), ignore = "needs RabbitMQ: set C360_TEST_AMQP_URL")]
async fn a_body_that_cannot_be_read_is_dead_lettered_and_counted() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let app = TestApp::builder()
        .broker(&amqp_url(), &topology.exchange)
        .config(topology.feed())
        .spawn()
        .await;
    consuming(&app).await;
    let garbled = b"{\"EVT_ID\": \"E1\", \"CUST_NM\": \"\xe5\xbc\xa0\xe4\xb8\x89\"".to_vec();
    let without_id =
        br#"{"EVT_TM":"20261203160000","ACCT_NO":"6013547120548116162","CUST_NM":"Zhang San"}"#
            .to_vec();
    publish(&topology.exchange, "core.account.balance", &garbled).await;
    publish(&topology.exchange, "core.account.balance", &without_id).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            feed_events(&app, "core", "dead_lettered").await == 2
        })
        .await,
        "both dead-lettered"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        labelled(
            &metrics,
            "c360_feed_dead_lettered_total{",
            &[("reason", "not_json")]
        ),
        1
    );
    assert_eq!(
        labelled(
            &metrics,
            "c360_feed_dead_lettered_total{",
            &[("reason", "missing")]
        ),
        1
    );
    assert_eq!(feed_events(&app, "core", "applied").await, 0);

    // Both wait in the dead-letter queue as they were sent.
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut dead = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while dead.len() < 2 && Instant::now() < deadline {
        match channel
            .basic_get(
                topology.dead_letter_queue.as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
        {
            Ok(Some(message)) => dead.push(message.delivery.data.clone()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let read = dead.len() == 2;
    assert!(read, "two messages in the dead-letter queue");
    assert!(dead.contains(&garbled) && dead.contains(&without_id));
    let _ = connection.close(200, "read".into()).await;

    // The consumer goes on: the next readable change is applied.
    let before = total_balance(&app, &app.hub).await;
    move_balance(&app, "7.00").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            total_balance(&app, &app.hub).await == before + Decimal::new(700, 2)
        })
        .await,
        "a good event after the bad ones is applied"
    );
}

/// Stops the local broker's application; starts it again when dropped, whatever the
/// test did in between.
struct StoppedBroker;

impl StoppedBroker {
    fn stop() -> StoppedBroker {
        rabbitmqctl("stop_app");
        StoppedBroker
    }
}

impl Drop for StoppedBroker {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
    }
}

fn rabbitmqctl(command: &str) {
    let status = std::process::Command::new("rabbitmqctl")
        .args(["-q", command])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("rabbitmqctl runs (the broker of C360_TEST_AMQP_URL is local)");
    assert!(status.success(), "rabbitmqctl {command}");
}

/// Waits until the broker takes connections and declarations again.
async fn broker_back() {
    let back = eventually(Duration::from_secs(60), || async {
        match Connection::connect(&amqp_url(), ConnectionProperties::default()).await {
            Ok(connection) => {
                let ready = connection.create_channel().await.is_ok();
                let _ = connection.close(200, "ready".into()).await;
                ready
            }
            Err(_) => false,
        }
    })
    .await;
    assert!(back, "the broker came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(c360_amqp),
    ignore = "needs RabbitMQ: set C360_TEST_AMQP_URL (and rabbitmqctl for the local broker)"
)]
async fn the_broker_restarted_mid_stream_loses_no_event() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let app = TestApp::builder()
        .broker(&amqp_url(), &topology.exchange)
        .config(topology.feed())
        .spawn()
        .await;
    consuming(&app).await;
    let before = total_balance(&app, &app.hub).await;
    for _ in 0..3 {
        move_balance(&app, "1.00").await;
    }
    {
        let _stopped = StoppedBroker::stop();
        let lost = eventually(Duration::from_secs(10), || async {
            sample(&app.metrics().await, "c360_feed_connected") == Some(0.0)
        })
        .await;
        assert!(lost, "the hub noticed the broker going away");
    }
    broker_back().await;
    // Published while the hub is still reconnecting: they wait in the durable queue.
    for _ in 0..3 {
        move_balance(&app, "1.00").await;
    }
    consuming(&app).await;
    let expected = before + Decimal::new(600, 2);
    let caught_up = eventually(Duration::from_secs(20), || async {
        total_balance(&app, &app.hub).await == expected
    })
    .await;
    assert!(
        caught_up,
        "every change before, during and after the restart shows"
    );
    // The answer can show a change before its own event is applied (an earlier event's
    // refetch reads it): the count says that every event arrived, each applied once.
    let all = eventually(Duration::from_secs(10), || async {
        feed_events(&app, "core", "applied").await >= 6
    })
    .await;
    assert!(all, "six events applied");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        feed_events(&app, "core", "applied").await,
        6,
        "each event applied once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(c360_amqp), ignore = "needs RabbitMQ: set C360_TEST_AMQP_URL")]
async fn the_demo_with_a_broker_shows_a_change_and_logs_no_event_body() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let data = tempfile::tempdir().unwrap();
    let demo = C360Process::demo(
        &[
            "--customers",
            "200",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--broker",
            &amqp_url(),
            "--broker-exchange",
            &topology.exchange,
        ],
        &[
            ("RUST_LOG", "debug".into()),
            ("C360_FEED__QUEUE", topology.queue.clone()),
            (
                "C360_FEED__DEAD_LETTER_EXCHANGE",
                topology.dead_letters.clone(),
            ),
            (
                "C360_FEED__DEAD_LETTER_QUEUE",
                topology.dead_letter_queue.clone(),
            ),
        ],
    );
    assert!(demo.banner.contains("/_sandbox/changes"), "{}", demo.banner);
    let (hub, sandbox, token) = (demo.hub(), demo.sandbox(), demo.token("admin"));
    let client = client_with(&token);
    let metrics = || async {
        client
            .get(format!("{hub}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(15), || async {
            sample(&metrics().await, "c360_feed_connected") == Some(1.0)
        })
        .await,
        "the demo's hub consumes what its sandbox publishes"
    );
    let cif = "1000000003";
    let raw: Value = client
        .get(format!("{sandbox}/core/v1/customers/{cif}/accounts"))
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
    let person: Value = client
        .get(format!("{sandbox}/core/v1/customers/{cif}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (name, mobile) = (
        person["body"]["CUST_NM"].as_str().unwrap().to_owned(),
        person["body"]["MOB_NO"].as_str().unwrap().to_owned(),
    );
    let query = json!({"query": "query($id: ID!) { customer(id: $id) { accounts { balance { amount } } } }", "variables": {"id": cif}});
    let total = || async {
        let answer: Value = client
            .post(format!("{hub}/graphql"))
            .json(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["data"]["customer"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| Decimal::from_str(a["balance"]["amount"].as_str().unwrap()).unwrap())
            .sum::<Decimal>()
    };
    let before = total().await;
    let changed: Value = client
        .post(format!("{sandbox}/_sandbox/changes"))
        .json(&json!({"cif": cif, "kind": "balance", "account": account, "delta": "-20.00"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["published"], true, "{changed}");
    assert!(
        eventually(Duration::from_secs(2), || async {
            total().await == before - Decimal::new(2_000, 2)
        })
        .await,
        "the hub answers the debited balance"
    );
    // A body the binding cannot read, full of personal data.
    let unreadable = json!({"CUST_NO": cif, "CUST_NM": name, "MOB_NO": mobile, "ACCT_NO": account});
    publish(
        &topology.exchange,
        "core.account.balance",
        unreadable.to_string().as_bytes(),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            labelled(
                &metrics().await,
                "c360_feed_events_total{",
                &[("system", "core"), ("outcome", "dead_lettered")],
            ) == 1
        })
        .await,
        "dead-lettered"
    );
    let output = demo.stop();
    assert!(output.contains("change event dead-lettered"), "{output}");
    assert!(
        output.contains("change feed stopped"),
        "a clean stop: {output}"
    );
    for secret in [&name, &mobile, &account] {
        assert!(
            !output.contains(secret.as_str()),
            "the log holds {secret}:\n{output}"
        );
    }
}

on_both_backends!(an_event_is_claimed_once_and_an_abandoned_claim_lapses);

/// The claims behind "applied once", on each database: a second claim of an event
/// being applied waits, an applied one is a duplicate, a failed one can be claimed
/// again, and one whose hub died is taken over after the lease.
async fn an_event_is_claimed_once_and_an_abandoned_claim_lapses(db: TestDb) {
    use c360::store::EventClaim::{Applied, Claimed, InProgress};
    let store = c360::store::Store::connect(
        &c360::config::DatabaseConfig {
            url: db.url.clone(),
            ..c360::config::DatabaseConfig::default()
        },
        &c360::metrics::Metrics::new(),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let lease = Duration::from_secs(3600);
    let claim = |key: &'static str, lease: Duration| {
        let store = store.clone();
        async move { store.claim_event(key, "core", lease).await.unwrap() }
    };
    assert_eq!(claim("core:E1", lease).await, Claimed);
    assert_eq!(claim("core:E1", lease).await, InProgress, "being applied");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        claim("core:E1", Duration::from_millis(10)).await,
        Claimed,
        "its hub died: taken over after the lease"
    );
    store.event_applied("core:E1").await.unwrap();
    assert_eq!(claim("core:E1", Duration::from_millis(10)).await, Applied);
    store.release_event("core:E1").await.unwrap();
    assert_eq!(
        claim("core:E1", lease).await,
        Applied,
        "an applied event stays"
    );

    assert_eq!(claim("core:E2", lease).await, Claimed);
    store.release_event("core:E2").await.unwrap();
    assert_eq!(claim("core:E2", lease).await, Claimed, "a failed one again");
    assert_eq!(count_rows(&db, "feed_events").await, 2);
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.forget_events(later).await.unwrap(), 2);
    assert_eq!(
        claim("core:E1", lease).await,
        Claimed,
        "forgotten after retain"
    );
}

/// A snapshot that cannot refresh for its first `failures` calls, as a database that
/// is briefly away; it records whom it was asked about.
struct FlakySnapshot {
    failures: std::sync::atomic::AtomicUsize,
    asked: std::sync::Mutex<Vec<String>>,
}

impl c360::feed::SnapshotRefresh for FlakySnapshot {
    fn refresh<'a>(
        &'a self,
        customers: &'a [c360::domain::Cif],
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.asked
                .lock()
                .unwrap()
                .extend(customers.iter().map(|c| c.as_str().to_owned()));
            let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.failures
                    .store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err("the snapshot table is unavailable".into());
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(c360_amqp), ignore = "needs RabbitMQ: set C360_TEST_AMQP_URL")]
async fn an_event_whose_snapshot_refresh_fails_comes_back_until_it_succeeds() {
    let _turn = BROKER.lock().await;
    let topology = Topology::new();
    let db = TestDb::sqlite();
    let snapshot = std::sync::Arc::new(FlakySnapshot {
        failures: std::sync::atomic::AtomicUsize::new(2),
        asked: std::sync::Mutex::default(),
    });
    let app = TestApp::builder()
        .database(&db)
        .broker(&amqp_url(), &topology.exchange)
        .config(topology.feed())
        .snapshot_refresh(snapshot.clone())
        .spawn()
        .await;
    consuming(&app).await;
    move_balance(&app, "3.00").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            feed_events(&app, "core", "applied").await == 1
        })
        .await,
        "applied once the snapshot refreshed"
    );
    assert_eq!(feed_events(&app, "core", "retried").await, 2);
    assert_eq!(
        feed_events(&app, "core", "consumed").await,
        3,
        "delivered three times"
    );
    assert_eq!(
        *snapshot.asked.lock().unwrap(),
        vec![CIF.to_owned(); 3],
        "the account's customer, each time"
    );
    assert_eq!(count_rows(&db, "feed_events").await, 1);
}
