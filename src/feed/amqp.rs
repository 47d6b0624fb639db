//! The bank's broker as a [`ChangeFeed`]: a RabbitMQ (AMQP 0-9-1) consumer.
//!
//! Delivery is at least once, so the hub acknowledges a message only after its effect
//! is durable (the tiers invalidated, the snapshot hook returned) and applies each
//! event once by claiming its id in the hub's database first (`feed_events`): a
//! redelivery, a publisher's duplicate, or the same event taken by another hub on the
//! shared queue finds the claim and is acknowledged without effect. A transient
//! failure (database, snapshot) hands the message back with a growing pause; a body
//! that cannot be read goes to the dead-letter exchange, since it would fail the same
//! way for ever. When the broker goes away the hub reconnects with a capped
//! exponential backoff and resumes; whatever it had not acknowledged comes again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::watch;

use super::mapping::{Bindings, Unmapped};
use super::{ChangeFeed, Changes, FeedSetupError, MappedEvent};
use crate::config::{redact_url, FeedConfig};
use crate::metrics::Metrics;
use crate::store::{EventClaim, Store};

/// The first pause before reconnecting; it doubles up to `feed.reconnect_max`.
const FIRST_RECONNECT: Duration = Duration::from_millis(500);
/// The first pause before handing back an event that could not be applied; it
/// doubles up to `feed.retry_max` while failures follow each other.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// A broker that does not complete the handshake and the declarations within this
/// is treated as unreachable (a black-holed address would otherwise hang the feed).
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often applied event ids older than `feed.retain` are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// The RabbitMQ consumer of one hub.
pub struct RabbitFeed {
    url: String,
    config: FeedConfig,
    bindings: Arc<Bindings>,
    store: Store,
    changes: Arc<Changes>,
    metrics: Arc<Metrics>,
    /// This hub's consumer tag, shown in the broker's management UI.
    tag: String,
}

/// How one connection to the broker ended.
enum Ended {
    /// The hub is shutting down.
    Stopped,
    /// The connection or the channel went away, or the broker cancelled us.
    Lost(String),
}

/// What became of one event.
enum Outcome {
    Applied,
    Duplicate,
}

impl RabbitFeed {
    /// The consumer `config` describes, checked; `None` while `feed.url` is unset.
    pub fn from_config(
        config: &FeedConfig,
        store: Store,
        changes: Arc<Changes>,
        metrics: Arc<Metrics>,
    ) -> Result<Option<RabbitFeed>, FeedSetupError> {
        Ok(checked(config)?.map(|(url, bindings)| RabbitFeed {
            url,
            config: config.clone(),
            bindings: Arc::new(bindings),
            store,
            changes,
            metrics,
            tag: format!("c360-{}", uuid::Uuid::now_v7().simple()),
        }))
    }

    /// Connects, consumes, reconnects, until `stop`.
    async fn consume(self: Box<Self>, mut stop: watch::Receiver<bool>) {
        let broker = redact_url(&self.url);
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let mut consuming = false;
            let ended = self.session(&mut stop, &mut consuming).await;
            self.metrics.feed_connected.set(0);
            if consuming {
                failures = 0;
            }
            match ended {
                Ok(Ended::Stopped) => break,
                Ok(Ended::Lost(reason)) => {
                    tracing::warn!(%broker, %reason, "lost the broker; reconnecting")
                }
                Err(error) => tracing::warn!(
                    %broker,
                    queue = %self.config.queue,
                    %error,
                    "cannot consume change events (feed.url, feed.queue, feed.bindings); retrying"
                ),
            }
            failures = failures.saturating_add(1);
            let wait = backoff(FIRST_RECONNECT, failures, self.config.reconnect_max);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stopped(&mut stop) => break,
            }
        }
        tracing::info!("change feed stopped");
    }

    /// One connection: declares the topology, consumes until the connection goes or
    /// the hub stops. `consuming` turns true once deliveries can flow.
    async fn session(
        &self,
        stop: &mut watch::Receiver<bool>,
        consuming: &mut bool,
    ) -> Result<Ended, lapin::Error> {
        let setup = async {
            let connection = Connection::connect(
                &self.url,
                ConnectionProperties::default().with_connection_name("c360 hub".into()),
            )
            .await?;
            let channel = connection.create_channel().await?;
            self.declare(&channel).await?;
            channel
                .basic_qos(self.config.prefetch, BasicQosOptions::default())
                .await?;
            let consumer = channel
                .basic_consume(
                    self.config.queue.as_str().into(),
                    self.tag.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let sampler = connection.create_channel().await?;
            Ok::<_, lapin::Error>((connection, channel, consumer, sampler))
        };
        let (connection, channel, mut consumer, sampler) =
            match tokio::time::timeout(SETUP_TIMEOUT, setup).await {
                Ok(ready) => ready?,
                Err(_) => {
                    return Ok(Ended::Lost(format!(
                        "no answer from the broker within {SETUP_TIMEOUT:?}"
                    )))
                }
            };
        *consuming = true;
        self.metrics.feed_connected.set(1);
        tracing::info!(
            broker = %redact_url(&self.url),
            queue = %self.config.queue,
            "consuming change events"
        );
        let sampling = tokio::spawn(sample_lag(
            sampler,
            self.config.queue.clone(),
            self.config.lag_interval,
            self.config.retain,
            self.store.clone(),
            self.metrics.clone(),
        ));
        // Deliveries are handled side by side, as many as the broker hands out
        // unacknowledged (`feed.prefetch`): each event waits mostly on the systems its
        // snapshot row is recomputed from, so one at a time would cap a hub at a few
        // dozen events a second. Their order does not matter: each invalidates and
        // recomputes from what the systems say now, and a row is only replaced by one
        // read later (see the snapshot's upsert).
        let failures = AtomicU32::new(0);
        let mut in_flight = FuturesUnordered::new();
        let limit = usize::from(self.config.prefetch.max(1));
        let ended = loop {
            tokio::select! {
                biased;
                () = stopped(stop) => break Ended::Stopped,
                Some(carry_on) = in_flight.next(), if !in_flight.is_empty() => {
                    let carry_on: bool = carry_on;
                    if !carry_on {
                        break Ended::Stopped;
                    }
                }
                next = consumer.next(), if in_flight.len() < limit => match next {
                    Some(Ok(delivery)) => {
                        in_flight.push(self.handle(delivery, stop.clone(), &failures));
                    }
                    Some(Err(error)) => break Ended::Lost(error.to_string()),
                    None => break Ended::Lost("the broker cancelled the consumer".into()),
                },
            }
        };
        // What is still in flight is neither acknowledged nor applied twice: the
        // deliveries go back to the queue when the channel closes, and an event whose
        // claim was taken is recognised by it when it comes back.
        drop(in_flight);
        sampling.abort();
        if matches!(ended, Ended::Stopped) {
            // Whatever was delivered and not acknowledged goes back to the queue when
            // the channel closes, for another hub or the next start.
            let _ = channel
                .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
                .await;
            let _ = channel.close(200, "hub shutting down".into()).await;
            let _ = connection.close(200, "hub shutting down".into()).await;
        }
        Ok(ended)
    }

    /// Declares what the hub consumes from (idempotent; a queue that exists with
    /// other arguments is refused by the broker, naming them): the bindings' topic
    /// exchanges, the dead-letter exchange and queue, the durable queue and its
    /// bindings.
    async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let mut exchanges: Vec<&str> = self.bindings.iter().map(|m| m.exchange()).collect();
        exchanges.sort_unstable();
        exchanges.dedup();
        for exchange in exchanges {
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Topic,
                    durable,
                    FieldTable::default(),
                )
                .await?;
        }
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.config.queue_type.as_str().into()),
        );
        let dead_letters = self.config.dead_letter_exchange.trim();
        if !dead_letters.is_empty() {
            channel
                .exchange_declare(
                    dead_letters.into(),
                    ExchangeKind::Fanout,
                    durable,
                    FieldTable::default(),
                )
                .await?;
            channel
                .queue_declare(
                    self.config.dead_letter_queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            channel
                .queue_bind(
                    self.config.dead_letter_queue.as_str().into(),
                    dead_letters.into(),
                    "".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(dead_letters.into()),
            );
        }
        channel
            .queue_declare(
                self.config.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await?;
        for mapping in self.bindings.iter() {
            channel
                .queue_bind(
                    self.config.queue.as_str().into(),
                    mapping.exchange().into(),
                    mapping.routing_key().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Maps, applies and settles one delivery; false when the hub began stopping
    /// while the delivery waited to be handed back (it goes back as the channel
    /// closes).
    async fn handle(
        &self,
        delivery: Delivery,
        mut stop: watch::Receiver<bool>,
        failures: &AtomicU32,
    ) -> bool {
        let Some(mapping) = self
            .bindings
            .find(delivery.exchange.as_str(), delivery.routing_key.as_str())
        else {
            let why = Unmapped {
                reason: "no_binding",
                message: "no binding takes this exchange and routing key".into(),
            };
            self.dead_letter(&delivery, "unknown", &why).await;
            return true;
        };
        let system = mapping.system().as_str();
        self.count(system, "consumed");
        let event = match mapping.map(&delivery.data) {
            Ok(event) => event,
            Err(why) => {
                self.dead_letter(&delivery, system, &why).await;
                return true;
            }
        };
        let key = format!("{system}:{}", event.id);
        match self.apply(&key, system, &event).await {
            Ok(outcome) => {
                failures.store(0, Ordering::Relaxed);
                if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
                    // The broker delivers it again; its claim makes that a duplicate.
                    tracing::warn!(delivery_tag = delivery.delivery_tag, %error, "acknowledgement not sent");
                }
                match outcome {
                    Outcome::Applied => {
                        self.count(system, "applied");
                        let age = (Utc::now() - event.at).to_std().unwrap_or_default();
                        self.metrics
                            .feed_event_age
                            .with_label_values(&[system])
                            .observe(age.as_secs_f64());
                    }
                    Outcome::Duplicate => {
                        self.count(system, "duplicate");
                        tracing::debug!(event = %event.id, system, "duplicate change event acknowledged");
                    }
                }
            }
            Err(reason) => {
                let failed = failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                self.count(system, "retried");
                let wait = backoff(FIRST_RETRY, failed, self.config.retry_max);
                tracing::warn!(
                    exchange = %delivery.exchange,
                    routing_key = %delivery.routing_key,
                    delivery_tag = delivery.delivery_tag,
                    event = %event.id,
                    system,
                    %reason,
                    retry_in = ?wait,
                    "change event not applied; handing it back to the broker"
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopped(&mut stop) => return false,
                }
                if let Err(error) = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await
                {
                    tracing::warn!(delivery_tag = delivery.delivery_tag, %error, "negative acknowledgement not sent");
                }
            }
        }
        true
    }

    /// Applies `event` once across every hub sharing the database; `Err` names a
    /// transient failure, after which nothing stays claimed.
    async fn apply(&self, key: &str, system: &str, event: &MappedEvent) -> Result<Outcome, String> {
        match self
            .store
            .claim_event(key, system, self.config.claim_lease)
            .await
        {
            Err(error) => Err(error.to_string()),
            Ok(EventClaim::Applied) => Ok(Outcome::Duplicate),
            Ok(EventClaim::InProgress) => {
                Err("another delivery of this event is being applied".into())
            }
            Ok(EventClaim::Claimed) => {
                if let Err(error) = self
                    .changes
                    .apply(std::slice::from_ref(&event.change))
                    .await
                {
                    if let Err(release) = self.store.release_event(key).await {
                        tracing::warn!(error = %release, "claim not released; it lapses after feed.claim_lease");
                    }
                    return Err(error.to_string());
                }
                if let Err(error) = self.store.event_applied(key).await {
                    // The effect is durable; only the record of it is missing, so a
                    // redelivery after the lease applies it again (idempotent).
                    tracing::warn!(%error, event = %event.id, "change event applied but not recorded as applied");
                }
                Ok(Outcome::Applied)
            }
        }
    }

    /// Rejects a delivery that cannot be read to the dead-letter exchange. Logged
    /// with where it came from and why, never with its body.
    async fn dead_letter(&self, delivery: &Delivery, system: &str, why: &Unmapped) {
        self.count(system, "dead_lettered");
        self.metrics
            .feed_dead_lettered
            .with_label_values(&[why.reason])
            .inc();
        tracing::warn!(
            exchange = %delivery.exchange,
            routing_key = %delivery.routing_key,
            delivery_tag = delivery.delivery_tag,
            system,
            reason = %why,
            "change event dead-lettered"
        );
        if let Err(error) = delivery.reject(BasicRejectOptions { requeue: false }).await {
            tracing::warn!(delivery_tag = delivery.delivery_tag, %error, "rejection not sent");
        }
    }

    fn count(&self, system: &str, outcome: &str) {
        self.metrics
            .feed_events
            .with_label_values(&[system, outcome])
            .inc();
    }
}

impl ChangeFeed for RabbitFeed {
    fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(stop))
    }
}

/// Checks `[feed]` without reaching the broker (`c360 check`).
pub fn check(config: &FeedConfig) -> Result<(), FeedSetupError> {
    checked(config).map(|_| ())
}

/// The URL and the compiled bindings when the feed is on; the first setting that
/// cannot work otherwise.
fn checked(config: &FeedConfig) -> Result<Option<(String, Bindings)>, FeedSetupError> {
    let Some(url) = config
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    url.parse::<lapin::uri::AMQPUri>().map_err(|e| {
        FeedSetupError::new(
            "feed.url",
            format!(
                "{}: {e} (expected amqp://user:password@host:5672/vhost, the / vhost as %2f)",
                redact_url(url)
            ),
        )
    })?;
    let required = |setting: &str, value: &str| {
        if value.trim().is_empty() {
            Err(FeedSetupError::new(
                format!("feed.{setting}"),
                "required when feed.url is set",
            ))
        } else {
            Ok(())
        }
    };
    required("queue", &config.queue)?;
    if !config.dead_letter_exchange.trim().is_empty() {
        required("dead_letter_queue", &config.dead_letter_queue)?;
    }
    if config.prefetch == 0 {
        return Err(FeedSetupError::new(
            "feed.prefetch",
            "must be at least 1: with 0 the broker would send everything at once",
        ));
    }
    for (setting, value) in [
        ("claim_lease", config.claim_lease),
        ("lag_interval", config.lag_interval),
        ("reconnect_max", config.reconnect_max),
        ("retry_max", config.retry_max),
    ] {
        if value.is_zero() {
            return Err(FeedSetupError::new(
                format!("feed.{setting}"),
                "must be longer than zero",
            ));
        }
    }
    if config.retain < config.claim_lease {
        return Err(FeedSetupError::new(
            "feed.retain",
            "must be at least feed.claim_lease: an id forgotten while claimed would be applied twice",
        ));
    }
    Ok(Some((url.to_owned(), Bindings::compile(&config.bindings)?)))
}

/// Completes when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|down| *down).await;
}

/// `first`, doubled for each attempt after the first, at most `max`, give or take a
/// fifth so that hubs that failed together do not retry together.
fn backoff(first: Duration, attempt: u32, max: Duration) -> Duration {
    let doubled = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    doubled.min(max).mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// Samples the queue's depth (a passive declare, on a channel of its own so that a
/// refusal cannot close the consumer's) and forgets old event ids now and then.
async fn sample_lag(
    channel: Channel,
    queue: String,
    every: Duration,
    retain: Duration,
    store: Store,
    metrics: Arc<Metrics>,
) {
    let mut ticker = tokio::time::interval(every);
    let mut forgotten: Option<tokio::time::Instant> = None;
    loop {
        ticker.tick().await;
        match channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(declared) => metrics.feed_lag.set(i64::from(declared.message_count())),
            Err(_) => return,
        }
        if forgotten.is_none_or(|at| at.elapsed() >= FORGET_EVERY) {
            forgotten = Some(tokio::time::Instant::now());
            match store
                .forget_events(crate::store::before(Utc::now(), retain))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::debug!(forgotten = n, "old change event ids forgotten"),
                Err(error) => tracing::warn!(%error, "old change event ids not forgotten"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_stops_the_start_naming_it() {
        let on = |change: fn(&mut FeedConfig)| {
            let mut config = FeedConfig {
                url: Some("amqp://guest:guest@127.0.0.1:5672/%2f".into()),
                ..FeedConfig::default()
            };
            change(&mut config);
            check(&config).err().map(|e| e.setting)
        };
        assert_eq!(on(|_| {}), None);
        assert_eq!(on(|c| c.queue = " ".into()), Some("feed.queue".into()));
        assert_eq!(
            on(|c| c.dead_letter_queue = String::new()),
            Some("feed.dead_letter_queue".into())
        );
        assert_eq!(on(|c| c.prefetch = 0), Some("feed.prefetch".into()));
        assert_eq!(on(|c| c.bindings.clear()), Some("feed.bindings".into()));
        assert_eq!(
            on(|c| c.url = Some("http://mq".into())),
            Some("feed.url".into())
        );
        let refused = check(&FeedConfig {
            url: Some("amqp://c360:s3cret@[::1".into()),
            ..FeedConfig::default()
        })
        .unwrap_err();
        assert!(!refused.to_string().contains("s3cret"), "{refused}");
        assert!(check(&FeedConfig::default()).is_ok(), "off without a URL");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let max = Duration::from_secs(30);
        let first = Duration::from_millis(500);
        let around = |d: Duration, expected: Duration| {
            d >= expected.mul_f64(0.8) && d <= expected.mul_f64(1.2)
        };
        assert!(around(backoff(first, 1, max), first));
        assert!(around(backoff(first, 3, max), Duration::from_secs(2)));
        assert!(around(backoff(first, 40, max), max));
    }
}
