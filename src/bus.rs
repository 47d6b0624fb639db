//! Publish/subscribe between the parts of a hub and across hub instances: GraphQL
//! subscriptions (`interactionLogged`) today, cache invalidation events tomorrow.
//!
//! Channels are plain strings and payloads JSON. Every message is delivered to the
//! local subscribers at once (a tokio broadcast per channel), so a hub without Redis,
//! or with Redis down, still serves its own subscribers. With Redis configured, each
//! message is also published to `<key_prefix><channel>`, and a background task
//! subscribed to `<key_prefix>*` hands messages from other instances to the local
//! subscribers. Each message carries its origin instance, so an instance ignores its
//! own echo. Both Redis tasks reconnect by themselves; a Redis outage costs
//! cross-instance delivery for its duration, never a publisher's call.
//!
//! Messages carry interaction notes and invalidations, so with a [`Seal`] (the cache's
//! encryption key, when one is set) they cross Redis sealed for their channel, and a
//! message from Redis that does not open (a clear one forged by whoever can publish
//! there, or one replayed onto another channel) is dropped, never delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::BroadcastStream;
use uuid::Uuid;

use crate::config::RedisConfig;

/// Messages a slow local subscriber may fall behind by before it skips some: a
/// subscription screen that stalls for this many events has lost track anyway.
const LOCAL_CAPACITY: usize = 1024;
/// Messages waiting for Redis. While Redis is down they pile up to this many, then
/// new ones are dropped (and counted in the log) rather than held without bound.
const OUTBOX_CAPACITY: usize = 10_000;
/// First wait before reconnecting to Redis; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long [`Bus::connect`] waits for the first Redis subscription, so that a hub
/// that reports itself started already receives other instances' messages.
const FIRST_SUBSCRIBE_WAIT: Duration = Duration::from_secs(3);
/// A PUBLISH that takes longer than this counts as a Redis failure.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// Seals messages for the channel they are published on, and opens them. The app
/// provides it, so that the bus holds no keys of its own.
pub trait Seal: Send + Sync + 'static {
    /// `message` sealed for `channel` (the full Redis channel name).
    fn seal(&self, channel: &str, message: &[u8]) -> Vec<u8>;
    /// The message sealed for `channel`, or `None` when it does not open there; the
    /// implementation counts and logs what it refuses.
    fn open(&self, channel: &str, message: &[u8]) -> Option<Vec<u8>>;
}

/// What travels through Redis: the payload and the instance that sent it.
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: Uuid,
    payload: Value,
}

/// The hub's message bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    /// This instance, to recognise its own messages coming back from Redis.
    origin: Uuid,
    prefix: String,
    channels: Mutex<HashMap<String, broadcast::Sender<Value>>>,
    /// Messages for the Redis publisher task, as they go on the wire; `None` without
    /// Redis.
    outbox: Option<mpsc::Sender<(String, Vec<u8>)>>,
    /// Seals what goes to Redis and opens what comes from it; `None`: clear JSON.
    seal: Option<Arc<dyn Seal>>,
    /// Whether the Redis subscriber is currently subscribed.
    subscribed: watch::Receiver<bool>,
}

impl Bus {
    /// A bus for this process only.
    pub fn in_process() -> Bus {
        let (_, subscribed) = watch::channel(false);
        Bus {
            inner: Arc::new(Inner {
                origin: Uuid::now_v7(),
                prefix: String::new(),
                channels: Mutex::new(HashMap::new()),
                outbox: None,
                seal: None,
                subscribed,
            }),
        }
    }

    /// A bus shared with other hub instances through Redis when `config.url` is set,
    /// else [`Bus::in_process`]; messages cross Redis sealed by `seal` when given.
    /// Waits briefly for the first Redis subscription; if Redis is not there, logs it
    /// and keeps trying in the background.
    pub async fn connect(
        config: &RedisConfig,
        seal: Option<Arc<dyn Seal>>,
    ) -> Result<Bus, redis::RedisError> {
        let Some(url) = config.url.as_deref() else {
            return Ok(Bus::in_process());
        };
        // On a cluster, classic (unsharded) pub/sub reaches every node's subscribers,
        // so one node serves: the first one listed.
        let url = if config.cluster {
            url.split(',').next().unwrap_or(url).trim()
        } else {
            url
        };
        let ca = match &config.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "cannot read redis.ca_file",
                    format!("{}: {e}", path.display()),
                ))
            })?),
            None => None,
        };
        let client = crate::redis_client::client(url, ca.as_deref())?;
        let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let (subscribed_tx, subscribed) = watch::channel(false);
        let bus = Bus {
            inner: Arc::new(Inner {
                origin: Uuid::now_v7(),
                prefix: config.key_prefix.clone(),
                channels: Mutex::new(HashMap::new()),
                outbox: Some(outbox_tx),
                seal,
                subscribed,
            }),
        };
        tokio::spawn(publish_loop(client.clone(), outbox_rx));
        tokio::spawn(subscribe_loop(
            client,
            Arc::downgrade(&bus.inner),
            subscribed_tx,
        ));
        let mut ready = bus.inner.subscribed.clone();
        if tokio::time::timeout(FIRST_SUBSCRIBE_WAIT, ready.wait_for(|s| *s))
            .await
            .is_err()
        {
            tracing::warn!("redis pub/sub not reachable yet; delivering in-process meanwhile");
        }
        Ok(bus)
    }

    /// Whether messages from other instances arrive (always false without Redis).
    pub fn shared(&self) -> bool {
        *self.inner.subscribed.borrow()
    }

    /// Sends `payload` to every subscriber of `channel`, here and (with Redis) on
    /// every other instance. Never fails and never waits on Redis.
    pub fn publish(&self, channel: &str, payload: Value) {
        self.inner.deliver(channel, payload.clone());
        if let Some(outbox) = &self.inner.outbox {
            let envelope = Envelope {
                origin: self.inner.origin,
                payload,
            };
            let message = serde_json::to_vec(&envelope).expect("envelopes serialize");
            let name = format!("{}{channel}", self.inner.prefix);
            let message = match &self.inner.seal {
                Some(seal) => seal.seal(&name, &message),
                None => message,
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = outbox.try_send((name, message)) {
                tracing::warn!(
                    channel,
                    "redis publisher is behind; message delivered in-process only"
                );
            }
        }
    }

    /// Messages published on `channel` from now on. A subscriber that falls more than
    /// [`LOCAL_CAPACITY`] messages behind skips the oldest.
    pub fn subscribe(&self, channel: &str) -> impl Stream<Item = Value> + Send + 'static {
        let receiver = self.inner.sender(channel).subscribe();
        BroadcastStream::new(receiver).filter_map(|message| async move {
            match message {
                Ok(value) => Some(value),
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "bus subscriber fell behind");
                    None
                }
            }
        })
    }
}

impl Inner {
    fn sender(&self, channel: &str) -> broadcast::Sender<Value> {
        let mut channels = self.channels.lock().expect("bus lock");
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(LOCAL_CAPACITY).0)
            .clone()
    }

    /// Hands a message to the local subscribers of `channel` (none is fine).
    fn deliver(&self, channel: &str, payload: Value) {
        let sender = self
            .channels
            .lock()
            .expect("bus lock")
            .get(channel)
            .cloned();
        if let Some(sender) = sender {
            let _ = sender.send(payload);
        }
    }
}

fn backoff(previous: Duration) -> Duration {
    (previous * 2).min(MAX_BACKOFF)
}

/// Publishes queued messages to Redis, reconnecting as needed. Ends when the bus is
/// dropped (the outbox closes).
async fn publish_loop(client: redis::Client, mut outbox: mpsc::Receiver<(String, Vec<u8>)>) {
    let mut wait = MIN_BACKOFF;
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    let mut dropped: u64 = 0;
    while let Some((channel, message)) = outbox.recv().await {
        if connection.is_none() {
            match tokio::time::timeout(PUBLISH_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(c)) => {
                    if dropped > 0 {
                        tracing::info!(dropped, "redis publisher reconnected");
                    }
                    connection = Some(c);
                    wait = MIN_BACKOFF;
                    dropped = 0;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "redis publisher cannot connect; message delivered in-process only");
                }
                Err(_) => {
                    tracing::warn!(
                        "redis publisher connect timed out; message delivered in-process only"
                    );
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            dropped += 1;
            tokio::time::sleep(wait).await;
            wait = backoff(wait);
            continue;
        };
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&message)
                .query_async::<i64>(conn),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis publish failed; reconnecting");
                connection = None;
                dropped += 1;
            }
            Err(_) => {
                tracing::warn!("redis publish timed out; reconnecting");
                connection = None;
                dropped += 1;
            }
        }
    }
}

/// Subscribes to every channel under the prefix and delivers other instances'
/// messages locally, resubscribing after any failure. Ends when the bus is dropped.
async fn subscribe_loop(
    client: redis::Client,
    bus: std::sync::Weak<Inner>,
    subscribed: watch::Sender<bool>,
) {
    let mut wait = MIN_BACKOFF;
    loop {
        let Some(pattern) = bus.upgrade().map(|b| format!("{}*", b.prefix)) else {
            return;
        };
        let pubsub = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, pubsub).await {
            Ok(Ok(pubsub)) => {
                tracing::info!(pattern, "redis pub/sub subscribed");
                subscribed.send_replace(true);
                wait = MIN_BACKOFF;
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(inner) = bus.upgrade() else {
                        return;
                    };
                    let name = message.get_channel_name();
                    let Some(channel) = name.strip_prefix(inner.prefix.as_str()) else {
                        continue;
                    };
                    let Ok(bytes) = message.get_payload::<Vec<u8>>() else {
                        continue;
                    };
                    let bytes = match &inner.seal {
                        Some(seal) => match seal.open(name, &bytes) {
                            Some(opened) => opened,
                            None => continue,
                        },
                        None => bytes,
                    };
                    match serde_json::from_slice::<Envelope>(&bytes) {
                        Ok(envelope) if envelope.origin == inner.origin => {}
                        Ok(envelope) => inner.deliver(channel, envelope.payload),
                        Err(e) => tracing::warn!(channel, error = %e, "unreadable bus message"),
                    }
                }
                subscribed.send_replace(false);
                tracing::warn!("redis pub/sub connection lost; resubscribing");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis pub/sub cannot subscribe; retrying");
            }
            Err(_) => tracing::warn!("redis pub/sub subscribe timed out; retrying"),
        }
        if bus.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = backoff(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn in_process_subscribers_get_what_is_published_after_they_subscribe() {
        let bus = Bus::in_process();
        bus.publish("events", json!({"n": 0}));
        let mut a = Box::pin(bus.subscribe("events"));
        let mut b = Box::pin(bus.clone().subscribe("events"));
        let mut other = Box::pin(bus.subscribe("other"));
        bus.publish("events", json!({"n": 1}));
        assert_eq!(a.next().await, Some(json!({"n": 1})));
        assert_eq!(b.next().await, Some(json!({"n": 1})));
        let nothing = tokio::time::timeout(Duration::from_millis(50), other.next()).await;
        assert!(nothing.is_err(), "other channels stay quiet");
    }

    #[tokio::test]
    async fn an_unreachable_redis_does_not_fail_publishers() {
        let config = RedisConfig {
            url: Some("redis://127.0.0.1:1".into()),
            key_prefix: "c360-test:".into(),
            ..RedisConfig::default()
        };
        let bus = tokio::time::timeout(Duration::from_secs(10), Bus::connect(&config, None))
            .await
            .expect("connect gives up waiting")
            .expect("a well-formed URL");
        assert!(!bus.shared());
        let mut events = Box::pin(bus.subscribe("events"));
        bus.publish("events", json!(1));
        assert_eq!(events.next().await, Some(json!(1)));
    }
}
