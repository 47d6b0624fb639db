//! `POST /events`: upstream change notifications that invalidate cached data.
//!
//! A core banking system posting "balance changed on account X" or "profile updated
//! for CIF Y" makes every cached entity and every cached response containing that
//! record go at once, instead of living out its time to live. Events must be
//! authenticated: `X-C360-Signature: sha256=<hex HMAC-SHA256 of the body>` under the
//! shared secret (preferred: the secret never travels), or `Authorization: Bearer
//! <secret>`.
//!
//! A signature proves who wrote a body, not when: a body captured once (a proxy's
//! log, a mirrored port) would otherwise invalidate caches and notify open screens for
//! ever. So every body names its own `timestamp` and `id`, both under the signature:
//! the hub refuses a timestamp further than `events.max_age` from its clock, either
//! way, and an id it has already accepted within that window. The ids live in Redis
//! when it is configured, claimed with `SET NX`, so a body replayed to another hub
//! is refused too; otherwise in this process.
//!
//! This module is the framing only: authentication, the window, the body's shape.
//! What a change does (every tier of every hub, open screens, the snapshot) is
//! [`crate::feed::Changes::apply`], shared with the broker feed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::AppState;
use crate::cache::{short_hash, RedisTier};
use crate::domain::Cif;
use crate::errors::{ApiError, ErrorCode};
use crate::feed::{ChangeEvent, MAX_ID_LEN};

/// One change: `{"system":"core","entity":"account","keys":["6217…"]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    system: String,
    entity: String,
    keys: Vec<String>,
    /// The customer the change concerns, when the entity is not the customer itself
    /// (lets open screens of that customer refresh).
    #[serde(default, rename = "customerId")]
    customer_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Events {
    Many { events: Vec<WireEvent> },
    One(WireEvent),
}

/// Event ids one hub remembers without Redis. Past it the oldest go first, and could
/// be replayed within their window: more than three thousand events a second for the
/// default five minutes, a rate for which a bank runs Redis.
const LOCAL_IDS: u64 = 1_000_000;

/// The event ids accepted within the window, so that each is accepted once.
pub struct SeenEvents {
    window: Duration,
    redis: Option<Arc<RedisTier>>,
    /// Without Redis: hashes of the ids, each kept as long as it could come back.
    local: moka::sync::Cache<String, ()>,
}

/// What a hub knows of an event id.
enum Claim {
    /// Not seen within the window; now it is.
    First,
    /// Accepted before.
    Again,
    /// Redis, which holds the ids, did not answer.
    Unknown,
}

impl SeenEvents {
    /// Accepts timestamps up to `window` from the hub's clock, in Redis when given.
    pub fn new(window: Duration, redis: Option<Arc<RedisTier>>) -> SeenEvents {
        SeenEvents {
            window,
            redis,
            local: moka::sync::Cache::builder()
                .max_capacity(LOCAL_IDS)
                .time_to_live(Self::remember(window))
                .build(),
        }
    }

    /// How long an id is kept: a body stamped at the far end of the window in the
    /// future is accepted until twice the window from now.
    fn remember(window: Duration) -> Duration {
        (window * 2).max(Duration::from_secs(1))
    }

    async fn claim(&self, id: &str) -> Claim {
        let hashed = short_hash(id);
        match &self.redis {
            Some(redis) => {
                let key = format!("{}ev:{hashed}", redis.prefix());
                match redis.claim(&key, Self::remember(self.window)).await {
                    Some(true) => Claim::First,
                    Some(false) => Claim::Again,
                    None => Claim::Unknown,
                }
            }
            None => {
                if self.local.entry(hashed).or_insert(()).is_fresh() {
                    Claim::First
                } else {
                    Claim::Again
                }
            }
        }
    }
}

/// A refusal, counted under `reason` in `c360_events_refused_total`.
fn refuse(state: &AppState, reason: &str, error: ApiError) -> Response {
    state
        .metrics
        .events_refused
        .with_label_values(&[reason])
        .inc();
    error.into_response()
}

/// A malformed body, naming the field at fault.
fn bad(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message).with("field", field.to_owned())
}

/// The event id: printable ASCII without spaces, so that a refusal can quote it as
/// sent.
fn event_id(value: Option<serde_json::Value>) -> Result<String, ApiError> {
    let hint = format!("id: required, a string of 1 to {MAX_ID_LEN} printable ASCII characters without spaces, unique per event (a UUID)");
    match value {
        Some(serde_json::Value::String(id))
            if !id.is_empty()
                && id.len() <= MAX_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(id)
        }
        _ => Err(bad("id", hint)),
    }
}

/// When the sender wrote the body: RFC 3339 with an offset, or unix seconds.
fn event_time(value: Option<serde_json::Value>) -> Result<DateTime<Utc>, ApiError> {
    let hint = "timestamp: required, when the body was written, RFC 3339 with an offset (\"2026-11-26T08:00:00Z\") or unix seconds";
    let parsed = match value {
        Some(serde_json::Value::String(text)) => DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        _ => None,
    };
    parsed.ok_or_else(|| bad("timestamp", hint.to_owned()))
}

/// Refuses a timestamp further than `window` from `now`, either way.
fn within(window: Duration, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ApiError> {
    let skew = (now - at).abs().to_std().unwrap_or(Duration::MAX);
    if skew <= window {
        return Ok(());
    }
    let (how, side) = if at < now {
        ("old", "past")
    } else {
        ("far ahead", "future")
    };
    Err(bad(
        "timestamp",
        format!(
            "timestamp: {} is too {how}: more than {} in the {side} of the hub's clock ({}; events.max_age)",
            at.to_rfc3339(),
            humantime::format_duration(window),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ))
}

/// Whether the request carries a valid signature or bearer secret.
fn authentic(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    if let Some(signature) = headers
        .get("x-c360-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
    {
        let Ok(signature) = hex::decode(signature.trim()) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(body);
        return mac.verify_slice(&signature).is_ok();
    }
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        // Compared through HMACs of both, so the comparison takes the same time
        // wherever the first difference is.
        let digest = |text: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"c360-events").expect("any key length");
            mac.update(text.as_bytes());
            mac
        };
        return digest(token.trim())
            .verify_slice(&digest(secret).finalize().into_bytes())
            .is_ok();
    }
    false
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.events_secret.clone() else {
        return ApiError::new(
            ErrorCode::EventsDisabled,
            "events are disabled: set events.secret (C360_EVENTS__SECRET)",
        )
        .into_response();
    };
    if !authentic(&secret, &headers, &body) {
        return refuse(
            &state,
            "unauthenticated",
            ApiError::new(
                ErrorCode::Unauthenticated,
                "send X-C360-Signature: sha256=<HMAC-SHA256 of the body> or Authorization: Bearer <secret>",
            ),
        );
    }
    let shape = "expected {id, timestamp, system, entity, keys} or {id, timestamp, events: […]}";
    let mut object =
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(object) => object,
            Err(e) => {
                return refuse(
                    &state,
                    "bad_request",
                    ApiError::new(ErrorCode::BadRequest, format!("{shape}: {e}")),
                )
            }
        };
    let (id, at) = match (
        event_id(object.remove("id")),
        event_time(object.remove("timestamp")),
    ) {
        (Ok(id), Ok(at)) => (id, at),
        (Err(error), _) | (_, Err(error)) => return refuse(&state, "bad_request", error),
    };
    if let Err(error) = within(state.events_seen.window, at, Utc::now()) {
        return refuse(&state, "window", error);
    }
    let events = match serde_json::from_value::<Events>(serde_json::Value::Object(object)) {
        Ok(Events::Many { events }) => events,
        Ok(Events::One(event)) => vec![event],
        Err(e) => {
            return refuse(
                &state,
                "bad_request",
                ApiError::new(ErrorCode::BadRequest, format!("{shape}: {e}")),
            )
        }
    };
    let mut changes = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        // A customer that is not a CIF names nobody: the change still invalidates.
        let customer = event
            .customer_id
            .as_deref()
            .and_then(|c| Cif::parse(c).ok());
        match ChangeEvent::new(&event.system, &event.entity, event.keys, customer) {
            Ok(change) => changes.push(change),
            Err(invalid) => {
                return refuse(
                    &state,
                    "bad_request",
                    ApiError::new(ErrorCode::BadRequest, format!("events[{index}].{invalid}")),
                )
            }
        }
    }
    // Claimed last, so that a body refused for another reason can be corrected and
    // sent again under the same id.
    match state.events_seen.claim(&id).await {
        Claim::First => {}
        Claim::Again => {
            return refuse(
                &state,
                "replayed",
                ApiError::new(
                    ErrorCode::Conflict,
                    format!("id: event '{id}' was already received; send each event once, with an id of its own"),
                )
                .with("field", "id")
                .with_status(StatusCode::CONFLICT),
            )
        }
        Claim::Unknown => {
            return refuse(
                &state,
                "unavailable",
                ApiError::new(
                    ErrorCode::EventsUnavailable,
                    "the event ids received cannot be checked (Redis does not answer); nothing was invalidated: send the same body again",
                ),
            )
        }
    }
    match state.changes.apply(&changes).await {
        Ok(applied) => (
            StatusCode::ACCEPTED,
            Json(json!({"invalidated": {"l1": applied.l1, "l2": applied.l2, "response": applied.responses}})),
        )
            .into_response(),
        // The tiers were invalidated and cannot be asked again under this id; the
        // snapshot rows catch up with the next change or sweep.
        Err(error) => {
            tracing::warn!(%error, "change events applied without their snapshot refresh");
            (
                StatusCode::ACCEPTED,
                Json(json!({"invalidated": true, "snapshot": error.to_string()})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_reaches_max_age_both_ways_and_no_further() {
        let now = Utc::now();
        let window = Duration::from_secs(300);
        let seconds = chrono::Duration::seconds;
        assert!(within(window, now - seconds(300), now).is_ok());
        assert!(within(window, now + seconds(300), now).is_ok());
        let old = within(window, now - seconds(301), now).unwrap_err();
        assert!(old.message().starts_with("timestamp:"), "{old:?}");
        assert!(old.message().contains("in the past"), "{old:?}");
        let ahead = within(window, now + seconds(301), now).unwrap_err();
        assert!(ahead.message().contains("in the future"), "{ahead:?}");
    }

    #[test]
    fn timestamps_are_rfc3339_with_an_offset_or_unix_seconds() {
        let at = |v: serde_json::Value| event_time(Some(v)).map(|t| t.timestamp());
        assert_eq!(at(json!("2026-11-26T16:00:00+08:00")), Ok(1_795_680_000));
        assert_eq!(at(json!(1_795_680_000)), Ok(1_795_680_000));
        assert!(at(json!("2026-11-26 08:00:00")).is_err(), "no offset");
        assert!(at(json!(1.5e9)).is_err(), "not whole seconds");
        assert!(event_time(None).is_err());
    }
}
