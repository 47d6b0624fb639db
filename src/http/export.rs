//! `GET /export?format=csv|parquet[&branch=…&tier=…&lifecycleStage=…&churnLevel=…]`:
//! the BI snapshot as one file, for BI tools (docs/bi.md#exports).
//!
//! It takes the stages every operation takes: the bearer token as for `/graphql`
//! ([`super::caller`]), admission with the rate limits ([`super::pipeline::admit`]),
//! the allowlist (a role it covers runs the manifest's operations and nothing else,
//! so it gets no export either), the role's field policy and de-identification ([`crate::export::Plan`]), and the
//! audit gate ([`super::audit`]) — one row for the whole export, with its row count,
//! committed before the first byte leaves. The body is then streamed a keyset page at
//! a time; the request deadline bounds everything before the first byte, not the
//! transfer of a large book, which a slow reader may take minutes over.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use futures::StreamExt;

use super::audit::{audit, audit_unavailable};
use super::pipeline::admit;
use super::protocol::{request_error, MediaType};
use super::{caller, trace, AppState};
use crate::export::{parse_filter, Export, ExportError, Format};

/// The header that tells a client how many rows the file holds before it reads them.
pub const ROWS_HEADER: &str = "x-c360-export-rows";

pub(super) async fn export(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(trace): Extension<trace::RequestTrace>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let media = MediaType::Json;
    let session = match caller::authenticate(&state, &headers, Some(peer), media, trace).await {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let viewer = match admit(&state, &session) {
        Ok(viewer) => viewer,
        Err(refusal) => {
            let mut response = request_error(media, refusal.error);
            if let Some((name, value)) = refusal.advice.map(|a| a.header()) {
                response.headers_mut().insert(name, value);
            }
            return response;
        }
    };
    if state
        .allowlist
        .as_ref()
        .is_some_and(|list| list.applies_to(&viewer.identity().role))
    {
        state
            .metrics
            .refused
            .with_label_values(&["not_allowlisted"])
            .inc();
        return request_error(
            media,
            crate::errors::ApiError::new(
                crate::errors::ErrorCode::OperationNotAllowed,
                "an export is not an operation of the persisted-query manifest, and only \
                 those may run for this caller (graphql.allowlist_roles)",
            ),
        );
    }
    let refuse = |e: ExportError| request_error(media, e.api_error());
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let format = match pairs.iter().find(|(name, _)| name == "format") {
        Some((_, raw)) => match Format::parse(raw) {
            Ok(format) => format,
            Err(e) => return refuse(e),
        },
        None => return refuse(ExportError::BadFormat(String::new())),
    };
    let filter = match parse_filter(
        pairs
            .iter()
            .filter(|(name, _)| name != "format")
            .map(|(n, v)| (n.as_str(), v.as_str())),
    ) {
        Ok(filter) => filter,
        Err(e) => return refuse(e),
    };
    let prepared = tokio::time::timeout_at(
        deadline,
        Export::prepare(&state.store, &viewer, format, filter),
    )
    .await;
    let export = match prepared {
        Ok(Ok(export)) => export,
        Ok(Err(e)) => return refuse(e),
        Err(_) => {
            return request_error(
                media,
                crate::errors::ApiError::new(
                    crate::errors::ErrorCode::RequestTimeout,
                    "the export could not start within server.request_timeout",
                ),
            )
        }
    };
    if let Err(refused) = audit(
        &state,
        &viewer,
        &export.access_summary(),
        &session.trace_id,
        deadline,
    )
    .await
    {
        return audit_unavailable(media, refused);
    }
    let rows = export.rows;
    let filename = format!(
        "customer-snapshot-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    let body = export.stream(state.store.clone()).map(|chunk| {
        chunk.map_err(|e| {
            tracing::warn!(error = %e, "export stopped before its end");
            std::io::Error::other(e.to_string())
        })
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(ROWS_HEADER, HeaderValue::from(rows));
    response
}
