//! What operators and load balancers poll: `/healthz` (the process is up), `/readyz`
//! (what the hub depends on answers) and `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::AppState;

/// Up as soon as the process serves HTTP; what it depends on is `/readyz`'s concern.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers; the connectors were checked at start. A hub
/// whose database is down still serves upstream reads, but a load balancer should
/// prefer an instance that can also write. A degraded Redis costs speed, not
/// answers: it is reported but does not make the hub unready.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let database = match state.store.ping().await {
        Ok(()) => json!({"status": "ok", "backend": state.store.backend().as_str()}),
        Err(e) => {
            json!({"status": "unavailable", "backend": state.store.backend().as_str(), "code": e.code().as_str()})
        }
    };
    let redis = match &state.redis {
        None => json!({"status": "disabled"}),
        Some(redis) if redis.ping().await => json!({"status": "ok"}),
        Some(_) => {
            json!({"status": "degraded", "detail": "unreachable; serving from the in-process tier and upstreams"})
        }
    };
    let circuits: Map<String, Value> = state
        .upstreams
        .circuits()
        .into_iter()
        .map(|(system, circuit)| (system.as_str().to_owned(), json!(circuit.as_str())))
        .collect();
    let all_closed = circuits.values().all(|c| c == "closed");
    let ready = database["status"] == "ok";
    let body = Json(json!({
        "status": if ready { "ready" } else { "degraded" },
        "checks": {
            // An open circuit costs that system's fields, not the hub's answers: it is
            // reported, and the hub stays ready.
            "connectors": {
                "status": if all_closed { "ok" } else { "degraded" },
                "files": *state.connector_files,
                "circuits": circuits,
            },
            "database": database,
            "cache": { "redis": redis, "response_tier": state.responses.is_some() }
        }
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// Prometheus text of the hub's metrics, with the database pool's connections and
/// what the in-process cache tiers hold read at the moment of the scrape.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.connections();
    state
        .metrics
        .db_connections
        .with_label_values(&["open"])
        .set(i64::from(open));
    state
        .metrics
        .db_connections
        .with_label_values(&["idle"])
        .set(idle as i64);
    let tiers = [
        ("l1", state.upstreams.cache().l1_usage()),
        ("response", state.responses.as_ref().map(|r| r.usage())),
    ];
    for (tier, usage) in tiers {
        if let Some(usage) = usage {
            let gauge = |g: &prometheus::IntGaugeVec, v: u64| {
                g.with_label_values(&[tier])
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            gauge(&state.metrics.cache_bytes, usage.bytes);
            gauge(&state.metrics.cache_entries, usage.entries);
        }
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
