//! What every request to a system goes through before its handler: the request counter,
//! the latency sleep and injected faults; plus the `/_sandbox/faults` and
//! `/_sandbox/stats` admin endpoints that tests and benchmarks use to make a system
//! slow or failing and to count upstream calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{cards, channels, core, loans, SharedState, System};

/// Injected latency is capped so a typo cannot hang a test run for hours.
const MAX_FAULT_LATENCY_MS: u64 = 600_000;
/// Injected failures answer with this status unless the fault names another.
const DEFAULT_FAULT_STATUS: u16 = 503;
const FAULT_FIELDS: &str = "system, latency_ms, error_rate, status, malformed";

/// The faults of one system, as set by `POST /_sandbox/faults`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Fault {
    /// Replaces the latency profile's delay when set.
    pub(crate) latency_ms: Option<u64>,
    /// Share of requests that fail, in `[0, 1]`.
    pub(crate) error_rate: f64,
    /// HTTP status of a failed request.
    pub(crate) status: u16,
    /// Failed requests answer 200 with a body that is not valid JSON.
    pub(crate) malformed: bool,
}

/// Per-system counters and faults, shared by all requests.
#[derive(Debug, Default)]
pub(crate) struct FaultBoard {
    faults: Mutex<[Option<Fault>; 4]>,
    requests: [AtomicU64; 4],
    /// The `traceparent` of each system's latest request, so that tests can see the
    /// hub propagate its callers' traces.
    traceparents: Mutex<[Option<String>; 4]>,
    /// Requests seen while a fault was set; spreads failures evenly at `error_rate`.
    decisions: [AtomicU64; 4],
}

impl FaultBoard {
    fn fault(&self, system: System) -> Option<Fault> {
        self.faults
            .lock()
            .map(|f| f[system.slot()].clone())
            .unwrap_or_default()
    }

    fn set(&self, system: System, fault: Fault) {
        if let Ok(mut faults) = self.faults.lock() {
            faults[system.slot()] = Some(fault);
        }
        self.decisions[system.slot()].store(0, Ordering::Relaxed);
    }

    fn clear(&self) {
        if let Ok(mut faults) = self.faults.lock() {
            *faults = Default::default();
        }
    }

    /// Whether this request fails: the n-th request under a fault fails exactly when
    /// `floor((n+1)·rate)` exceeds `floor(n·rate)`, so failures are evenly spread and
    /// their share is exact over any window.
    fn should_fail(&self, system: System, rate: f64) -> bool {
        let n = self.decisions[system.slot()].fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * rate).floor() > (n * rate).floor()
    }

    pub(crate) fn requests(&self, system: System) -> u64 {
        self.requests[system.slot()].load(Ordering::Relaxed)
    }
}

/// State of the per-system middleware.
#[derive(Clone)]
struct Gate {
    state: SharedState,
    system: System,
}

/// Wraps a system's routes (fallback included) with the counter, latency and faults.
pub(crate) fn gated(
    routes: Router<SharedState>,
    system: System,
    state: &SharedState,
) -> Router<SharedState> {
    let gate = Gate {
        state: state.clone(),
        system,
    };
    routes.layer(middleware::from_fn_with_state(gate, gate_request))
}

async fn gate_request(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let Gate { state, system } = gate;
    let arrived = tokio::time::Instant::now();
    state.faults.requests[system.slot()].fetch_add(1, Ordering::Relaxed);
    if let Some(traceparent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(mut seen) = state.faults.traceparents.lock() {
            seen[system.slot()] = Some(traceparent.to_owned());
        }
    }
    let fault = state.faults.fault(system);
    let delay = match fault.as_ref().and_then(|f| f.latency_ms) {
        Some(ms) => Duration::from_millis(ms),
        None => state.latency.delay(system),
    };
    let failure =
        fault.filter(|f| f.error_rate > 0.0 && state.faults.should_fail(system, f.error_rate));
    let response = match failure {
        Some(fault) => injected_failure(system, &fault, request.uri().path()),
        None => next.run(request).await,
    };
    // A system with a latency of L answers L after the request reached it: building the
    // answer is part of those L, as it is in a real system, and does not come on top.
    if !delay.is_zero() {
        tokio::time::sleep_until(arrived + delay).await;
    }
    response
}

fn injected_failure(system: System, fault: &Fault, path: &str) -> Response {
    if fault.malformed {
        // Truncated JSON, as a proxy that cuts a response short would deliver.
        let body = match system {
            System::Core => r#"{"header":{"retCode":"000000","retMsg":"#,
            System::Cards => r#"{"Data":{"Card":[{"cardId":"#,
            System::Loans => r#"{"data":[{"loan_id":"#,
            System::Channels => r#"{"code":"0","message":"ok","users":["#,
        };
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(body),
        )
            .into_response();
    }
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = "injected fault: the system is unavailable";
    match system {
        System::Core => core::fault(status, message),
        System::Cards => cards::error(status, message, path),
        System::Loans => loans::problem(status, message, path),
        System::Channels => channels::error(status, message),
    }
}

/// `/_sandbox/faults` and `/_sandbox/stats`.
pub(crate) fn admin_routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(set_fault).delete(clear_faults),
        )
        .route("/stats", get(stats).delete(reset_stats))
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn list_faults(State(state): State<SharedState>) -> Json<Value> {
    let mut body = Map::new();
    for system in System::ALL {
        let fault = state
            .faults
            .fault(system)
            .map(|f| json!(f))
            .unwrap_or(Value::Null);
        body.insert(system.name().to_string(), fault);
    }
    Json(Value::Object(body))
}

async fn set_fault(State(state): State<SharedState>, body: Bytes) -> Response {
    match parse_fault(&body) {
        Ok((system, fault)) => {
            state.faults.set(system, fault.clone());
            let mut answer = json!({ "system": system.name() });
            if let (Some(map), Value::Object(fields)) = (answer.as_object_mut(), json!(fault)) {
                map.extend(fields);
            }
            Json(answer).into_response()
        }
        Err(message) => admin_error(StatusCode::BAD_REQUEST, message),
    }
}

async fn clear_faults(State(state): State<SharedState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(state): State<SharedState>) -> Json<Value> {
    let mut body = Map::new();
    for system in System::ALL {
        body.insert(
            system.name().to_string(),
            json!({
                "requests": state.faults.requests(system),
                "last_traceparent": state
                    .faults
                    .traceparents
                    .lock()
                    .ok()
                    .and_then(|t| t[system.slot()].clone()),
            }),
        );
    }
    Json(Value::Object(body))
}

async fn reset_stats(State(state): State<SharedState>) -> StatusCode {
    for counter in &state.faults.requests {
        counter.store(0, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}

/// Reads a fault body, naming the offending field in every error.
fn parse_fault(body: &[u8]) -> Result<(System, Fault), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err(format!(
            "the body must be a JSON object with the fields {FAULT_FIELDS}"
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !FAULT_FIELDS.split(", ").any(|f| f == k.as_str()))
    {
        return Err(format!(
            "unknown field `{unknown}`; the fields are {FAULT_FIELDS}"
        ));
    }
    let system = match fields.get("system") {
        None => {
            return Err(
                "field `system` is required: one of core, cards, loans, channels".to_string(),
            )
        }
        Some(Value::String(name)) => System::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                format!("field `system` must be one of core, cards, loans, channels, got `{name}`")
            })?,
        Some(other) => return Err(format!("field `system` must be a string, got {other}")),
    };
    let latency_ms = match fields.get("latency_ms") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(ms) if ms <= MAX_FAULT_LATENCY_MS => Some(ms),
            _ => return Err(format!("field `latency_ms` must be an integer from 0 to {MAX_FAULT_LATENCY_MS}, got {value}")),
        },
    };
    let status = match fields.get("status") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(code @ 400..=599) => Some(code as u16),
            _ => {
                return Err(format!(
                    "field `status` must be an HTTP error status from 400 to 599, got {value}"
                ))
            }
        },
    };
    let malformed = match fields.get("malformed") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(format!(
                "field `malformed` must be true or false, got {other}"
            ))
        }
    };
    let error_rate = match fields.get("error_rate") {
        // A status or malformed answer without a rate means every request fails.
        None | Some(Value::Null) => {
            if status.is_some() || malformed {
                1.0
            } else {
                0.0
            }
        }
        Some(value) => match value.as_f64() {
            Some(rate) if (0.0..=1.0).contains(&rate) => rate,
            _ => {
                return Err(format!(
                    "field `error_rate` must be a number from 0 to 1, got {value}"
                ))
            }
        },
    };
    Ok((
        system,
        Fault {
            latency_ms,
            error_rate,
            status: status.unwrap_or(DEFAULT_FAULT_STATUS),
            malformed,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_bodies_are_validated_field_by_field() {
        let (system, fault) =
            parse_fault(br#"{"system":"cards","latency_ms":200,"error_rate":0.5,"status":503}"#)
                .expect("valid");
        assert_eq!(system, System::Cards);
        assert_eq!(
            fault,
            Fault {
                latency_ms: Some(200),
                error_rate: 0.5,
                status: 503,
                malformed: false
            }
        );
        let (_, fault) = parse_fault(br#"{"system":"core","status":500}"#).expect("valid");
        assert_eq!(fault.error_rate, 1.0);
        let (_, fault) = parse_fault(br#"{"system":"loans","latency_ms":10}"#).expect("valid");
        assert_eq!((fault.error_rate, fault.status), (0.0, 503));
        for (body, field) in [
            (r#"{"latency_ms":1}"#, "system"),
            (r#"{"system":"atm"}"#, "system"),
            (r#"{"system":"core","error_rate":1.5}"#, "error_rate"),
            (r#"{"system":"core","status":200}"#, "status"),
            (r#"{"system":"core","latency_ms":-5}"#, "latency_ms"),
            (r#"{"system":"core","malformed":"yes"}"#, "malformed"),
            (r#"{"system":"core","errorRate":1}"#, "errorRate"),
        ] {
            let message = parse_fault(body.as_bytes()).expect_err(body);
            assert!(message.contains(&format!("`{field}`")), "{message}");
        }
        assert!(parse_fault(b"not json").is_err());
        assert!(parse_fault(b"[1]").is_err());
    }

    #[test]
    fn failures_are_spread_at_the_exact_rate() {
        let board = FaultBoard::default();
        let failed = (0..1000)
            .filter(|_| board.should_fail(System::Cards, 0.25))
            .count();
        assert_eq!(failed, 250);
        assert!((0..10).all(|_| board.should_fail(System::Core, 1.0)));
    }
}

#[cfg(test)]
mod router_tests {
    use axum::http::Method;

    use super::super::test_support::{call, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn faults_fail_requests_in_each_dialect_and_stats_count_them() {
        let router = sandbox().router();
        assert_eq!(
            call(&router, Method::DELETE, "/_sandbox/stats", None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let set = call(
            &router,
            Method::POST,
            "/_sandbox/faults",
            Some(r#"{"system":"cards","status":502}"#),
        )
        .await;
        assert_eq!(set.status, StatusCode::OK);
        assert_eq!(set.json()["error_rate"], 1.0);

        let failed = get(&router, "/cards/v1/cards?customerId=1000000001").await;
        assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
        assert_eq!(failed.json()["Code"], "502");
        let core = get(&router, "/core/v1/customers/1000000001").await;
        assert_eq!(core.json()["header"]["retCode"], "000000");

        for (system, uri, check) in [
            ("core", "/core/v1/customers/1000000001", "E99999"),
            ("loans", "/loans/v1/loans/LN100000000100", "503"),
            ("channels", "/channels/v1/users/U0", "50300"),
        ] {
            let body = format!(r#"{{"system":"{system}","error_rate":1}}"#);
            call(&router, Method::POST, "/_sandbox/faults", Some(&body)).await;
            let answer = get(&router, uri).await;
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{system}");
            assert!(answer.text.contains(check), "{system}: {}", answer.text);
        }
        let listed = get(&router, "/_sandbox/faults").await.json();
        assert_eq!(listed["cards"]["status"], 502);

        call(
            &router,
            Method::POST,
            "/_sandbox/faults",
            Some(r#"{"system":"loans","malformed":true}"#),
        )
        .await;
        let answer = get(&router, "/loans/v1/loans/LN100000000100").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(serde_json::from_str::<Value>(&answer.text).is_err());

        assert_eq!(
            call(&router, Method::DELETE, "/_sandbox/faults", None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            get(&router, "/_sandbox/faults").await.json()["cards"],
            Value::Null
        );
        assert_eq!(
            get(&router, "/cards/v1/cards?customerId=1000000001")
                .await
                .status,
            StatusCode::OK
        );

        let stats = get(&router, "/_sandbox/stats").await.json();
        assert_eq!(stats["cards"]["requests"], 2);
        assert_eq!(stats["core"]["requests"], 2);
        assert_eq!(stats["loans"]["requests"], 2);
        assert_eq!(stats["channels"]["requests"], 1);
    }

    #[tokio::test]
    async fn invalid_fault_bodies_are_refused_naming_the_field() {
        let router = sandbox().router();
        let answer = call(
            &router,
            Method::POST,
            "/_sandbox/faults",
            Some(r#"{"system":"cards","error_rate":2}"#),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("error_rate"));
        let answer = call(&router, Method::POST, "/_sandbox/faults", Some("nope")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test(start_paused = true)]
    async fn injected_latency_replaces_the_profile_latency() {
        let router = sandbox().router();
        call(
            &router,
            Method::POST,
            "/_sandbox/faults",
            Some(r#"{"system":"core","latency_ms":5000}"#),
        )
        .await;
        let started = tokio::time::Instant::now();
        let answer = get(&router, "/core/v1/customers/1000000001").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(5000));
    }
}
