//! `POST /events`: upstream change notifications that invalidate cached data.
//!
//! A core banking system posting "balance changed on account X" or "profile updated
//! for CIF Y" makes every cached entity and every cached response containing that
//! record go at once, instead of living out its time to live. Events must be
//! authenticated: `X-C360-Signature: sha256=<hex HMAC-SHA256 of the body>` under the
//! shared secret (preferred: the secret never travels), or `Authorization: Bearer
//! <secret>`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::AppState;
use crate::cache::INVALIDATE_CHANNEL;
use crate::domain::{Cif, System};
use crate::errors::{ApiError, ErrorCode};
use crate::graphql::CUSTOMER_CHANGED_CHANNEL;

/// Most keys one request may name; bulk changes come as several events.
const MAX_KEYS: usize = 1_000;
/// Entities an event may name, each a kind of upstream record the cache tags.
const ENTITIES: &[&str] = &[
    "customer",
    "account",
    "card",
    "loan",
    "online_user",
    "relationship",
    "party",
    "activity",
];

/// One change: `{"system":"core","entity":"account","keys":["6217…"]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeEvent {
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
    Many { events: Vec<ChangeEvent> },
    One(ChangeEvent),
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
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "send X-C360-Signature: sha256=<HMAC-SHA256 of the body> or Authorization: Bearer <secret>",
        )
        .into_response();
    }
    let events = match serde_json::from_slice::<Events>(&body) {
        Ok(Events::Many { events }) => events,
        Ok(Events::One(event)) => vec![event],
        Err(e) => {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!("expected {{system, entity, keys}} or {{events: […]}}: {e}"),
            )
            .into_response()
        }
    };
    let mut tags = Vec::new();
    let mut changes = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let system = match event.system.parse::<System>() {
            Ok(system) => system,
            Err(e) => {
                return ApiError::new(
                    ErrorCode::BadRequest,
                    format!("events[{index}].system: {e}"),
                )
                .into_response()
            }
        };
        if !ENTITIES.contains(&event.entity.as_str()) {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "events[{index}].entity: '{}' is not one of {}",
                    event.entity,
                    ENTITIES.join(", ")
                ),
            )
            .into_response();
        }
        if event.keys.is_empty() || event.keys.len() > MAX_KEYS {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!("events[{index}].keys: give 1 to {MAX_KEYS} keys"),
            )
            .into_response();
        }
        if let Some(bad) = event
            .keys
            .iter()
            .find(|k| k.is_empty() || k.len() > 64 || k.contains(char::is_whitespace))
        {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "events[{index}].keys: '{}' is not a record key",
                    bad.chars().take(64).collect::<String>()
                ),
            )
            .into_response();
        }
        tags.extend(
            event
                .keys
                .iter()
                .map(|key| format!("{system}:{}:{key}", event.entity)),
        );
        // Which customers' open screens to tell: the keys themselves for a customer
        // event, else the customer the event names.
        let customers: Vec<&String> = if event.entity == "customer" {
            event.keys.iter().collect()
        } else {
            event.customer_id.iter().collect()
        };
        for cif in customers.into_iter().filter(|c| Cif::parse(c).is_ok()) {
            changes.push(json!({"id": cif, "system": system.as_str(), "entity": event.entity, "at": Utc::now()}));
        }
    }
    // Redis first (shared), then this instance, then every other instance.
    let (l1, l2) = state.upstreams.cache().invalidate(&tags, true).await;
    let responses = state
        .responses
        .as_ref()
        .map(|r| r.invalidate(&tags))
        .unwrap_or(0);
    state.bus.publish(INVALIDATE_CHANNEL, json!({"tags": tags}));
    for change in changes {
        state.bus.publish(CUSTOMER_CHANGED_CHANNEL, change);
    }
    tracing::info!(
        events = events.len(),
        l1,
        l2,
        responses,
        "cache invalidated by change events"
    );
    (
        StatusCode::ACCEPTED,
        Json(json!({"invalidated": {"l1": l1, "l2": l2, "response": responses}})),
    )
        .into_response()
}
