//! The change events a hub has taken on from the bank's broker (`feed_events`), so that
//! each is applied once however often the broker delivers it.
//!
//! A broker delivers at least once: a message whose acknowledgement was lost (the hub
//! died, the connection dropped) comes again, possibly to another hub sharing the
//! queue, and a sender may publish one event twice. Before applying an event a hub
//! claims its key with an `INSERT` that a second claimant cannot repeat; it marks the
//! row applied once the effect is durable, and deletes it when applying failed so that
//! the redelivery applies it. A claim that is never finished (its hub died mid-way)
//! lapses after a lease, and the next delivery takes it over.

use chrono::{DateTime, Utc};

use super::{classify, now, on_pool, Store, StoreError};

/// What a hub may do with an event it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClaim {
    /// Nobody has applied it nor is applying it: it is this hub's to apply now.
    Claimed,
    /// It was applied before: acknowledge it and do nothing.
    Applied,
    /// Another delivery of it is being applied (by this hub or another) and its claim
    /// has not lapsed: try again later.
    InProgress,
}

/// `at` less `span`, or the earliest time when that is out of range.
pub fn before(at: DateTime<Utc>, span: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(span)
        .ok()
        .and_then(|span| at.checked_sub_signed(span))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Store {
    /// Claims the event `key` (its system and its own id) for this hub, taking over a
    /// claim older than `lease` that was never finished.
    pub async fn claim_event(
        &self,
        key: &str,
        system: &str,
        lease: std::time::Duration,
    ) -> Result<EventClaim, StoreError> {
        let at = now();
        let lapsed = before(at, lease);
        on_pool!(self, p => {
            let inserted = sqlx::query(
                "INSERT INTO feed_events (event_key, system, claimed_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (event_key) DO NOTHING",
            )
            .bind(key)
            .bind(system)
            .bind(at)
            .execute(p)
            .await
            .map_err(classify)?
            .rows_affected();
            if inserted == 1 {
                return Ok(EventClaim::Claimed);
            }
            let taken_over = sqlx::query(
                "UPDATE feed_events SET claimed_at = $2 \
                 WHERE event_key = $1 AND applied_at IS NULL AND claimed_at < $3",
            )
            .bind(key)
            .bind(at)
            .bind(lapsed)
            .execute(p)
            .await
            .map_err(classify)?
            .rows_affected();
            if taken_over == 1 {
                return Ok(EventClaim::Claimed);
            }
            let applied: Option<Option<DateTime<Utc>>> =
                sqlx::query_scalar("SELECT applied_at FROM feed_events WHERE event_key = $1")
                    .bind(key)
                    .fetch_optional(p)
                    .await
                    .map_err(classify)?;
            Ok(match applied {
                Some(Some(_)) => EventClaim::Applied,
                Some(None) => EventClaim::InProgress,
                // Forgotten between the two statements (past the retention window):
                // the next delivery claims it afresh.
                None => EventClaim::InProgress,
            })
        })
    }

    /// Marks a claimed event applied: later deliveries of it are duplicates.
    pub async fn event_applied(&self, key: &str) -> Result<(), StoreError> {
        let at = now();
        on_pool!(self, p => sqlx::query("UPDATE feed_events SET applied_at = $2 WHERE event_key = $1")
            .bind(key)
            .bind(at)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(classify)
    }

    /// Gives up a claim whose application failed, so that the redelivery applies it.
    pub async fn release_event(&self, key: &str) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query(
            "DELETE FROM feed_events WHERE event_key = $1 AND applied_at IS NULL",
        )
        .bind(key)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(classify)
    }

    /// Forgets events claimed before `before`; returns how many. A broker redelivers
    /// within minutes, so ids older than the retention window are not needed.
    pub async fn forget_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_pool!(self, p => sqlx::query("DELETE FROM feed_events WHERE claimed_at < $1")
            .bind(before)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(classify)
    }
}
