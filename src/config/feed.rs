//! `[feed]`: change events from the bank's message broker (RabbitMQ, AMQP 0-9-1).
//!
//! Each system publishes its changes in its own dialect, as it answers reads in its
//! own dialect; the bindings say which exchange and routing keys the hub listens to and
//! where, in each body, the event's id, time, keys and customer are. Like the
//! connector files, this is data a bank changes without a new build. docs/feed.md.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The broker feed. Off while `url` is unset.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// `amqp://user:password@host:5672/vhost` (`amqps://` for TLS); the `/` vhost is
    /// `%2f`. Unset: the hub consumes nothing (`C360_FEED__URL`). Never logged with
    /// its password.
    pub url: Option<String>,
    /// The queue this deployment's hubs share: each event goes to one of them
    /// (competing consumers), which tells the others through the bus.
    pub queue: String,
    /// `quorum` (replicated, the broker's recommendation for data that must not be
    /// lost) or `classic`.
    pub queue_type: QueueType,
    /// Deliveries the broker sends ahead of acknowledgements, per hub.
    pub prefetch: u16,
    /// Where bodies that cannot be read or mapped go (a fanout exchange the hub
    /// declares), instead of coming back for ever; empty: they are dropped.
    pub dead_letter_exchange: String,
    /// The queue bound to `dead_letter_exchange`, where an operator reads them.
    pub dead_letter_queue: String,
    /// How long a hub's claim on an event it is applying holds before another
    /// delivery of it may take over (its hub having died mid-way).
    #[serde(with = "humantime_serde")]
    pub claim_lease: Duration,
    /// How long applied event ids are remembered; a redelivery after that would be
    /// applied again (harmless: invalidations are idempotent).
    #[serde(with = "humantime_serde")]
    pub retain: Duration,
    /// How often the queue's depth is sampled for `c360_feed_lag_messages`.
    #[serde(with = "humantime_serde")]
    pub lag_interval: Duration,
    /// Longest wait between two attempts to reach the broker (the wait doubles from
    /// half a second up to this).
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// Longest wait before an event that could not be applied (database or snapshot
    /// unavailable) is handed back to the broker for another try.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Which messages the hub takes and how it reads them; the first binding whose
    /// exchange and routing key match a delivery maps it.
    pub bindings: Vec<FeedBinding>,
}

/// The kind of queue the hub declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

/// One stream of events: an exchange and routing-key pattern, the system that
/// publishes it and how its bodies map onto a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedBinding {
    /// A topic exchange (declared durable when it does not exist).
    pub exchange: String,
    /// A topic pattern: words separated by dots, `*` one word, `#` any number.
    pub routing_key: String,
    /// `core`, `cards`, `loans` or `channels`.
    pub system: String,
    /// The kind of record every event of this binding is about (`account`, `card`,
    /// …), when the body does not say; otherwise `fields.entity` and `entities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// How `fields.timestamp` is written: `rfc3339` (with an offset), `unix`
    /// (seconds), `unix_ms`, or a chrono pattern such as `%Y%m%d%H%M%S` read as
    /// Beijing time (the bank's clock).
    #[serde(default = "rfc3339")]
    pub timestamp_format: String,
    pub fields: FeedFields,
    /// The body's values of `fields.entity`, each with the hub's entity name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub entities: std::collections::BTreeMap<String, String>,
}

fn rfc3339() -> String {
    "rfc3339".into()
}

/// Where each part of a change is in a body: a JSON pointer (`/EVT_ID`,
/// `/data/cardId`) or the name of a top-level field (`EVT_ID`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedFields {
    /// The event's own id, unique per event (duplicates are recognised by it).
    pub id: String,
    /// When the system wrote the event (event age in `/metrics`).
    pub timestamp: String,
    /// The record keys that changed: a string, a number or an array of them.
    pub keys: String,
    /// The customer (CIF) the change concerns, when the record is not the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The kind of record, mapped through the binding's `entities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

/// A broker redelivers within seconds; a claim held this long means its hub died.
const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);
/// A week: longer than any broker outage a redelivery could come back from.
const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Prefetch: enough to keep one hub busy between round trips, few enough that a hub
/// that dies hands little back.
const DEFAULT_PREFETCH: u16 = 32;

/// The exchange the sandbox publishes on (`c360 sandbox --broker`), and the default
/// bindings read its three dialects.
pub const DEFAULT_EXCHANGE: &str = "bank.changes";

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            url: None,
            queue: "c360.changes".into(),
            queue_type: QueueType::Quorum,
            prefetch: DEFAULT_PREFETCH,
            dead_letter_exchange: "c360.changes.dlx".into(),
            dead_letter_queue: "c360.changes.dead".into(),
            claim_lease: DEFAULT_CLAIM_LEASE,
            retain: DEFAULT_RETAIN,
            lag_interval: Duration::from_secs(5),
            reconnect_max: Duration::from_secs(30),
            retry_max: Duration::from_secs(10),
            bindings: default_bindings(),
        }
    }
}

/// What the sandbox publishes: core banking's balance changes (upper snake, Beijing
/// time without an offset), the card system's status changes (camelCase, RFC 3339)
/// and the loan system's repayments (snake_case, unix seconds).
fn default_bindings() -> Vec<FeedBinding> {
    let binding = |routing_key: &str,
                   system: &str,
                   entity: &str,
                   timestamp_format: &str,
                   [id, timestamp, keys, customer]: [&str; 4]| FeedBinding {
        exchange: DEFAULT_EXCHANGE.into(),
        routing_key: routing_key.into(),
        system: system.into(),
        entity: Some(entity.into()),
        timestamp_format: timestamp_format.into(),
        fields: FeedFields {
            id: id.into(),
            timestamp: timestamp.into(),
            keys: keys.into(),
            customer: Some(customer.into()),
            entity: None,
        },
        entities: Default::default(),
    };
    vec![
        binding(
            "core.account.*",
            "core",
            "account",
            "%Y%m%d%H%M%S",
            ["/EVT_ID", "/EVT_TM", "/ACCT_NO", "/CUST_NO"],
        ),
        binding(
            "cards.card.*",
            "cards",
            "card",
            "rfc3339",
            ["/eventId", "/eventTime", "/cardId", "/customerId"],
        ),
        binding(
            "loans.loan.*",
            "loans",
            "loan",
            "unix",
            ["/event_id", "/occurred_at", "/loan_id", "/customer_id"],
        ),
    ]
}

/// The URL without its password, for messages and `{config:?}`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<not a URL>".into(),
    }
}

impl std::fmt::Debug for FeedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("queue", &self.queue)
            .field("queue_type", &self.queue_type)
            .field("prefetch", &self.prefetch)
            .field("dead_letter_exchange", &self.dead_letter_exchange)
            .field("dead_letter_queue", &self.dead_letter_queue)
            .field("claim_lease", &self.claim_lease)
            .field("retain", &self.retain)
            .field("lag_interval", &self.lag_interval)
            .field("reconnect_max", &self.reconnect_max)
            .field("retry_max", &self.retry_max)
            .field("bindings", &self.bindings)
            .finish()
    }
}
