//! Change events: what the bank's systems say changed, from its message broker or from
//! `POST /events`, and the one path that applies them.
//!
//! A change drops what the hub holds of the records it names, everywhere: the shared
//! entity tier (Redis) and this hub's in-process tiers at once, every other hub's
//! through the bus; open screens of the customer are told; then the customer's
//! snapshot row is recomputed through the [`SnapshotRefresh`] hook. Sources differ in
//! framing only: [`amqp::RabbitFeed`] reads the broker (a [`ChangeFeed`]), the HTTP
//! handler reads a signed body, and both hand validated [`ChangeEvent`]s to
//! [`Changes::apply`].
//!
//! - `mapping`: the bindings from config, compiled: which deliveries the hub takes
//!   and where in each system's body the event's id, time, keys and customer are.
//! - `amqp`: the RabbitMQ consumer (manual acknowledgements, idempotent application,
//!   dead-lettering, reconnection, lag and age metrics).

pub mod amqp;
pub mod mapping;

use std::sync::{Arc, RwLock};

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::json;

use crate::auth::AccessSummary;
use crate::bus::Bus;
use crate::cache::{ResponseCache, INVALIDATE_CHANNEL};
use crate::domain::{Cif, System};
use crate::graphql::{CHANGE_ENTITIES, CUSTOMER_CHANGED_CHANNEL};
use crate::upstream::Upstreams;

pub use amqp::RabbitFeed;
pub use mapping::{Bindings, MappedEvent, Unmapped};

/// Most keys one event may name; bulk changes come as several events.
pub const MAX_KEYS: usize = 1_000;
/// Longest record key: account and card numbers, loan ids and CIFs are far shorter.
const MAX_KEY_LEN: usize = 64;
/// Longest event id: a UUID, a ULID or a sender's own sequence fits.
pub const MAX_ID_LEN: usize = 128;

/// A source of change events that runs beside the hub: the bank's broker now, another
/// broker later. It applies what it receives through [`Changes`] and returns once
/// `stop` turns true (the hub is shutting down), having left nothing it took on half
/// done: an event not yet acknowledged is delivered again.
pub trait ChangeFeed: Send + Sync + 'static {
    /// Consumes until `stop` turns true or its sender is dropped.
    fn run(self: Box<Self>, stop: tokio::sync::watch::Receiver<bool>) -> BoxFuture<'static, ()>;
}

/// Recomputes the snapshot rows (src/snapshot) of customers whose data changed. The
/// snapshot lives in the hub's database; a refresh that fails is tried again with the
/// event's redelivery, so it must be safe to run twice.
pub trait SnapshotRefresh: Send + Sync {
    fn refresh<'a>(&'a self, customers: &'a [Cif]) -> BoxFuture<'a, Result<(), String>>;
}

/// One validated change: `system` says its `entity` records with `keys` changed,
/// about `customer` when the mapping names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub system: System,
    /// One of [`CHANGE_ENTITIES`].
    pub entity: &'static str,
    pub keys: Vec<String>,
    /// The customer the change concerns: the keys themselves for a `customer` event,
    /// else whom the sender named.
    pub customer: Option<Cif>,
}

/// Why a change is refused, naming the part at fault (`system`, `entity`, `keys`)
/// without quoting personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidChange {
    pub field: &'static str,
    pub message: String,
}

impl InvalidChange {
    fn new(field: &'static str, message: impl Into<String>) -> InvalidChange {
        InvalidChange {
            field,
            message: message.into(),
        }
    }
}

impl ChangeEvent {
    /// Checks a change as `POST /events` and the broker bindings state it.
    pub fn new(
        system: &str,
        entity: &str,
        keys: Vec<String>,
        customer: Option<Cif>,
    ) -> Result<ChangeEvent, InvalidChange> {
        let system = system
            .parse::<System>()
            .map_err(|e| InvalidChange::new("system", e.to_string()))?;
        let entity = CHANGE_ENTITIES
            .iter()
            .map(|(name, _)| *name)
            .find(|name| *name == entity)
            .ok_or_else(|| {
                InvalidChange::new(
                    "entity",
                    format!(
                        "'{}' is not one of {}",
                        entity.chars().take(32).collect::<String>(),
                        CHANGE_ENTITIES
                            .iter()
                            .map(|(name, _)| *name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(InvalidChange::new(
                "keys",
                format!("give 1 to {MAX_KEYS} keys"),
            ));
        }
        if let Some(bad) = keys
            .iter()
            .find(|k| k.is_empty() || k.len() > MAX_KEY_LEN || k.contains(char::is_whitespace))
        {
            return Err(InvalidChange::new(
                "keys",
                format!(
                    "'{}' is not a record key",
                    bad.chars().take(MAX_KEY_LEN).collect::<String>()
                ),
            ));
        }
        Ok(ChangeEvent {
            system,
            entity,
            keys,
            customer,
        })
    }

    /// The cache tags of the records it names (`core:account:6217…`).
    fn tags(&self) -> impl Iterator<Item = String> + '_ {
        self.keys
            .iter()
            .map(|key| format!("{}:{}:{key}", self.system, self.entity))
    }

    /// The customers whose screens and snapshot rows it concerns.
    pub fn customers(&self) -> Vec<Cif> {
        if self.entity == "customer" {
            self.keys
                .iter()
                .filter_map(|k| Cif::parse(k).ok())
                .collect()
        } else {
            self.customer.iter().cloned().collect()
        }
    }
}

/// What applying changes dropped, per tier, and whom it concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub l1: usize,
    pub l2: usize,
    pub responses: usize,
    /// Customers told and refreshed, each once.
    pub customers: Vec<Cif>,
}

/// Why changes were not applied in full: the tiers were invalidated, but the snapshot
/// rows of the customers were not recomputed. The broker feed hands the event back
/// for another try; `POST /events` reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("the snapshot rows of {customers} customer(s) could not be refreshed: {reason}")]
    Snapshot { customers: usize, reason: String },
}

/// Applies changes, from whichever source: the one place that knows what a change
/// invalidates and whom it tells.
pub struct Changes {
    upstreams: Upstreams,
    responses: Option<Arc<ResponseCache<AccessSummary>>>,
    bus: Bus,
    snapshot: RwLock<Option<Arc<dyn SnapshotRefresh>>>,
}

impl Changes {
    pub fn new(
        upstreams: Upstreams,
        responses: Option<Arc<ResponseCache<AccessSummary>>>,
        bus: Bus,
        snapshot: Option<Arc<dyn SnapshotRefresh>>,
    ) -> Changes {
        Changes {
            upstreams,
            responses,
            bus,
            snapshot: RwLock::new(snapshot),
        }
    }

    /// Plugs (or replaces) the snapshot's refresher once it exists; until then a
    /// change only invalidates.
    pub fn set_snapshot_refresh(&self, refresh: Arc<dyn SnapshotRefresh>) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(refresh);
    }

    /// Invalidates what `events` name in every tier of every hub, tells the screens
    /// of their customers, then refreshes those customers' snapshot rows. Safe to
    /// run twice for one event: every step is idempotent.
    pub async fn apply(&self, events: &[ChangeEvent]) -> Result<Applied, ApplyError> {
        let tags: Vec<String> = events.iter().flat_map(ChangeEvent::tags).collect();
        // Redis first (shared), then this instance, then every other instance.
        let (l1, l2) = self.upstreams.cache().invalidate(&tags, true).await;
        let responses = self
            .responses
            .as_ref()
            .map(|r| r.invalidate(&tags))
            .unwrap_or(0);
        self.bus.publish(INVALIDATE_CHANNEL, json!({"tags": tags}));
        let mut customers: Vec<Cif> = Vec::new();
        for event in events {
            for cif in event.customers() {
                self.bus.publish(
                    CUSTOMER_CHANGED_CHANNEL,
                    json!({"id": cif, "system": event.system.as_str(), "entity": event.entity, "at": Utc::now()}),
                );
                if !customers.contains(&cif) {
                    customers.push(cif);
                }
            }
        }
        tracing::info!(
            events = events.len(),
            l1,
            l2,
            responses,
            "cache invalidated by change events"
        );
        let refresh = self
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(refresh) = refresh.filter(|_| !customers.is_empty()) {
            refresh
                .refresh(&customers)
                .await
                .map_err(|reason| ApplyError::Snapshot {
                    customers: customers.len(),
                    reason,
                })?;
        }
        Ok(Applied {
            l1,
            l2,
            responses,
            customers,
        })
    }
}

/// A `[feed]` setting that cannot work, named with its path (`feed.queue`,
/// `feed.bindings[1].fields.keys`); the hub does not start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct FeedSetupError {
    pub setting: String,
    pub problem: String,
}

impl FeedSetupError {
    pub(crate) fn new(setting: impl Into<String>, problem: impl Into<String>) -> FeedSetupError {
        FeedSetupError {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_names_the_part_at_fault() {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ChangeEvent::new("core", "account", keys(&["6217000000000000001"]), None).is_ok());
        assert_eq!(
            ChangeEvent::new("atm", "account", keys(&["1"]), None)
                .unwrap_err()
                .field,
            "system"
        );
        assert_eq!(
            ChangeEvent::new("core", "balance", keys(&["1"]), None)
                .unwrap_err()
                .field,
            "entity"
        );
        assert_eq!(
            ChangeEvent::new("core", "account", keys(&[]), None)
                .unwrap_err()
                .field,
            "keys"
        );
        assert_eq!(
            ChangeEvent::new("core", "account", keys(&["a b"]), None)
                .unwrap_err()
                .field,
            "keys"
        );
    }

    #[test]
    fn a_customer_event_concerns_its_keys_and_another_the_customer_named() {
        let cif = Cif::parse("1000000001").unwrap();
        let customer = ChangeEvent::new(
            "core",
            "customer",
            vec!["1000000001".into(), "1000000002".into()],
            None,
        )
        .unwrap();
        assert_eq!(customer.customers().len(), 2);
        let account =
            ChangeEvent::new("core", "account", vec!["62".into()], Some(cif.clone())).unwrap();
        assert_eq!(account.customers(), vec![cif]);
        assert_eq!(account.tags().collect::<Vec<_>>(), vec!["core:account:62"]);
        let anonymous = ChangeEvent::new("cards", "card", vec!["C1".into()], None).unwrap();
        assert!(anonymous.customers().is_empty());
    }
}
