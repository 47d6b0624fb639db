//! The audit gate: a staff read is answered only once its access audit is recorded.
//! HTTP requests, response-tier hits and every WebSocket answer pass it.

use axum::response::Response;

use super::protocol::{request_error, MediaType};
use super::AppState;
use crate::auth::{AccessSummary, Viewer};
use crate::errors::{ApiError, ErrorCode};

/// Why a read was not answered: its access audit could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuditRefused {
    /// The hub is shutting down.
    Closed,
    /// The audit had no room by the request's deadline: its database has not been
    /// taking writes for a while.
    Behind,
}

/// Writes the access audit of one request: a record per customer read, for roles
/// whose reads are audited. Waits while the audit is full, but not past `deadline`:
/// a read that cannot be recorded is not answered faster than it can be, and is
/// refused rather than left hanging while the audit's database is away.
pub(super) async fn audit(
    state: &AppState,
    viewer: &Viewer,
    summary: &AccessSummary,
    trace_id: &str,
    deadline: tokio::time::Instant,
) -> Result<(), AuditRefused> {
    if !viewer.policy().audited || summary.reads.is_empty() {
        return Ok(());
    }
    let at = chrono::Utc::now();
    let identity = viewer.identity();
    let records = summary
        .reads
        .iter()
        .map(|(cif, revealed)| crate::store::AccessRecord {
            at,
            actor: identity.subject.clone(),
            acting_for: summary.acting_for.clone(),
            role: identity.role.clone(),
            branch: identity.branch.clone(),
            customer_id: cif.clone(),
            operation: summary.operation.clone(),
            fields_revealed: revealed.names().into_iter().map(str::to_owned).collect(),
            purpose: viewer.purpose().map(|p| p.as_str().to_owned()),
            client: viewer.client().map(str::to_owned),
            trace_id: trace_id.to_owned(),
            row_count: summary.row_count,
        })
        .collect();
    match tokio::time::timeout_at(deadline, state.audit.record(records)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(crate::auth::AuditClosed)) => Err(AuditRefused::Closed),
        Err(_) => {
            state.metrics.audit_refused_reads.inc();
            tracing::warn!("read refused: the access audit had no room by the request's deadline");
            Err(AuditRefused::Behind)
        }
    }
}

impl AuditRefused {
    fn message(self) -> &'static str {
        match self {
            AuditRefused::Closed => {
                "the access audit cannot record this read (the hub is shutting down); try again"
            }
            AuditRefused::Behind => {
                "the access audit cannot record this read in time (its database is not \
                 taking writes); try again later"
            }
        }
    }
}

/// A read that could not be recorded is not answered.
pub(super) fn audit_unavailable(media: MediaType, refused: AuditRefused) -> Response {
    request_error(
        media,
        ApiError::new(ErrorCode::AuditUnavailable, refused.message()),
    )
}

/// The same refusal as a GraphQL answer, for a WebSocket operation.
pub(super) fn audit_unavailable_response(refused: AuditRefused) -> async_graphql::Response {
    let error = ApiError::new(ErrorCode::AuditUnavailable, refused.message());
    async_graphql::Response::from_errors(vec![error.into_server_error()])
}
