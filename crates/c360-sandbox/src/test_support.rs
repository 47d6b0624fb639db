//! Helpers shared by the router tests of the four systems: a small sandbox without
//! latency and one-shot requests through its router (no socket).

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use serde_json::Value;
use tower::ServiceExt;

use super::{LatencyProfile, Sandbox, SandboxConfig};

/// Test bodies are small; anything larger is a bug.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig {
        customers: 2_000,
        seed: 42,
        latency: LatencyProfile::None,
        as_of: NaiveDate::from_ymd_opt(2025, 6, 30),
    })
    .expect("a valid sandbox")
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub(crate) async fn call(router: &Router, method: Method, uri: &str, body: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Body::from(body.unwrap_or_default().to_string()))
        .expect("a valid request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("routers are infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = to_bytes(response.into_body(), MAX_BODY)
        .await
        .expect("a readable body");
    Answer {
        status,
        content_type,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn get(router: &Router, uri: &str) -> Answer {
    call(router, Method::GET, uri, None).await
}

/// A comma-separated list of `n` CIFs starting at the first customer.
pub(crate) fn cif_list(n: u64) -> String {
    (1..=n)
        .map(|i| (1_000_000_000 + i).to_string())
        .collect::<Vec<_>>()
        .join(",")
}
